"""A no-reference report of a rig's photometry on its own footage: what any footage can
tell without ground truth.

- **exposure kept**, per lens: mean code value (luma) of the compensated frame over the
  middle of the lens' image circle (within 20% of its radius of the optical axis) over
  the recorded one's. 1.0: the lens comes out as bright as it was recorded.
- **brightness**: the stitched frame's mean luma (weighted by solid angle) over the same
  stitch without compensation (each direction as its lens recorded it): the exposure of
  the 360 frame against the footage's.
- **seam step**, in code values: along the geometric seam (both lenses equally far off
  axis), the mean difference front minus back of the compensated lenses, per channel,
  where both are unclipped and agree within ``PARALLAX_CODES`` (smoothed over 0.4°): a
  colour step the blend must hide. The mean absolute difference is given too.
- **rejected**: of the seam samples both lenses see, the fraction clipped (either lens
  at or over ``CODE_HI``, or black) and the fraction where they disagree by more than
  ``PARALLAX_CODES`` (parallax of near things, motion, flare, misregistration).
- **seam crops**: ``seam_crops`` cuts pieces of the stitch along the seam, full size,
  with the seam marked, for a person to look at (``orbit360 calibrate --preview``).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..profile import RigProfile
from ._ring import seam_samples
from .photometry import CODE_HI, CODE_LO
from .plan import StitchPlan

__all__ = ["photometric_report", "seam_crops", "summary_line", "fit_summary_line", "PARALLAX_CODES"]

PARALLAX_CODES = 16.0
"""Smoothed lenses further apart than this (code values, worst channel) are taken to see
different things there (parallax, motion), not the same thing differently exposed."""
_LUMA = np.array([0.299, 0.587, 0.114])


def _frame_brightness(img: NDArray[np.uint8]) -> float:
    h = img.shape[0]
    lat = np.cos((np.arange(h) + 0.5) / h * np.pi - np.pi / 2.0)[:, None]
    y = img.astype(np.float64) @ _LUMA
    return float((y * lat).sum() / (lat.sum() * img.shape[1]))


def _sample(img: NDArray[np.float32], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    m = (xy - 0.5).astype(np.float32)
    return cv2.remap(img, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)


def photometric_report(rig: RigProfile, frames: list[NDArray[np.uint8]], *, width: int = 1024, follow: bool = False) -> dict[str, Any]:
    """The report (a JSON-able dict) of ``rig`` on ``frames`` (recorded RGB frames).
    ``follow``: each frame stitched with its own exposure following (``_follow``, measured
    on that frame alone: the frames need not be consecutive)."""
    plan = StitchPlan.build(rig, width, follow=follow)
    plain = StitchPlan.build(rig, width, compensate=False)
    xys, _, seen = seam_samples(rig, 2048)  # (within about 0.25 degrees of the seam)
    focal = float(np.mean([l.focal for l in rig.lenses]))
    sigma = max(1.0, math.radians(0.4) * focal)
    fw, fh = rig.frame_size
    ys, xs = np.mgrid[0:fh, 0:fw]
    centre_masks = [np.hypot(xs + 0.5 - l.center[0], ys + 0.5 - l.center[1]) < 0.2 * l.radius for l in rig.lenses]
    kept: list[list[float]] = [[] for _ in rig.lenses]
    ratios, diffs, absdiffs, steps, mads, factors = [], [], [], [], [], []
    n_seen = n_clipped = n_parallax = 0
    for frame in frames:
        plan.reset()  # (following: each frame on its own)
        f = plan.frame_factors(frame)
        factors.append(f)
        comp = plan.compensated(frame, f)
        for i, m in enumerate(centre_masks):
            rec = float((frame[m].astype(np.float64) @ _LUMA).mean())
            out = float((comp[m].astype(np.float64) @ _LUMA).mean())
            if rec > 1.0:
                kept[i].append(out / rec)
        ratios.append(_frame_brightness(plan.apply(frame)) / max(_frame_brightness(plain.apply(frame)), 1e-6))
        raw = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), sigma)
        smooth = cv2.GaussianBlur(comp.astype(np.float32), (0, 0), sigma)
        r = [_sample(raw, xy)[seen] for xy in xys]
        c = [_sample(smooth, xy)[seen] for xy in xys]
        usable = np.all((r[0] > CODE_LO) & (r[0] < CODE_HI) & (r[1] > CODE_LO) & (r[1] < CODE_HI), axis=1)
        d = c[0] - c[1]
        agree = usable & (np.abs(d).max(axis=1) <= PARALLAX_CODES)
        n_seen += int(len(usable))
        n_clipped += int((~usable).sum())
        n_parallax += int((usable & ~agree).sum())
        diffs.append(d[agree])
        absdiffs.append(np.abs(d[agree]))
        steps.append(float(np.abs(d[agree].mean(axis=0)).max()) if agree.any() else None)
        mads.append(float(np.abs(d[agree]).mean()) if agree.any() else None)
    d_all = np.concatenate(diffs) if diffs else np.zeros((0, 3))
    step = d_all.mean(axis=0) if len(d_all) else np.full(3, np.nan)
    cal = rig.notes.get("calibration", {}) if isinstance(rig.notes, dict) else {}
    return {
        "frames": len(frames),
        "response": list(rig.response),
        "lenses": [
            {"lens": i, "exposure_kept": float(np.mean(k)) if k else None, "exposure": lens.exposure, "colour_gain": list(lens.color_gain)}
            for i, (lens, k) in enumerate(zip(rig.lenses, kept))
        ],
        "brightness_vs_footage": float(np.mean(ratios)),
        "brightness_vs_footage_per_frame": [float(x) for x in ratios],
        "seam_step_codes": [float(x) for x in step],
        "seam_step_max_codes": float(np.nanmax(np.abs(step))) if len(d_all) else None,
        "seam_step_max_codes_per_frame": steps,
        "seam_mean_abs_difference_codes_per_frame": mads,
        "follow_factors_per_frame": [None if f is None else [float(x) for x in f] for f in factors],
        "seam_mean_abs_difference_codes": float(np.concatenate(absdiffs).mean()) if len(d_all) else None,
        "seam_samples": n_seen,
        "rejected_clipped_fraction": n_clipped / max(1, n_seen),
        "rejected_parallax_fraction": n_parallax / max(1, n_seen),
        "fit": cal.get("photometry", {}),
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for a person: the figures of ``photometric_report``."""
    kept = ", ".join(f"lens {l['lens']} {l['exposure_kept']:.2f}x" for l in report["lenses"] if l["exposure_kept"] is not None)
    step = report["seam_step_max_codes"]
    return (
        f"photometry: exposure kept {kept}; frame {report['brightness_vs_footage']:.2f}x the footage's; "
        f"seam step {'n/a' if step is None else f'{step:.1f}'} codes; overlap rejected "
        f"{100 * report['rejected_clipped_fraction']:.0f}% clipped, {100 * report['rejected_parallax_fraction']:.0f}% parallax"
    )


def fit_summary_line(rig: RigProfile | None) -> str | None:
    """One line from what calibration recorded of its photometric fit (``rig.notes``), for
    a stitch's summary; None when the rig was not calibrated here (or there is no rig:
    a source already on the sphere)."""
    if rig is None:
        return None
    cal = rig.notes.get("calibration", {}) if isinstance(rig.notes, dict) else {}
    st = cal.get("photometry") if isinstance(cal, dict) else None
    if not st or "exposure_kept" not in st:
        return None
    kept = ", ".join(f"lens {i} {k:.2f}x" for i, k in enumerate(st["exposure_kept"]))
    step = max((abs(v) for v in st.get("seam_step_codes", []) if v == v), default=float("nan"))
    return (
        f"photometry: exposure kept {kept} (at the optical axis); seam step {step:.1f} codes; overlap rejected "
        f"{100 * st.get('clipped_fraction', 0):.0f}% clipped, {100 * st.get('rejected_fraction', 0):.0f}% parallax; "
        f"fit applied {100 * st.get('trust', 0):.0f}%"
    )


def seam_crops(
    rig: RigProfile, frame: NDArray[np.uint8], *, width: int | None = None, crop: int = 256, count: int = 8, follow: bool = False, compensate: bool = True
) -> NDArray[np.uint8]:
    """Pieces (``crop`` x ``crop``, at the stitch's full size) of the stitch of ``frame``
    along its seam at ``count`` longitudes, the seam's pixels marked in red at the crop's
    edges only (ticks, so the seam itself stays visible), tiled in two rows. ``follow``:
    the frame's own exposure followed (``StitchPlan.build(follow=True)``)."""
    fw, _ = rig.frame_size
    w = int(width or max(1024, min(8192, 2 * (fw // 2) // 2 * 2)))
    w -= w % 2
    plan = StitchPlan.build(rig, w, follow=follow, compensate=compensate)
    out = plan.apply(frame)
    front = plan.weight >= 0.5
    h = out.shape[0]
    tiles = []
    # rows a third and two thirds of the way down, and the equator, in turn
    for k in range(count):
        y = int(h * (0.3 + 0.4 * ((k % 3) / 2.0)))
        col_changes = np.flatnonzero(front[y, 1:] != front[y, :-1])
        if len(col_changes) == 0:
            continue
        x = int(col_changes[(k // 3) % len(col_changes)])
        y0 = int(np.clip(y - crop // 2, 0, h - crop))
        x0 = int(np.clip(x - crop // 2, 0, w - crop))
        tile = out[y0 : y0 + crop, x0 : x0 + crop].copy()
        side = front[y0 : y0 + crop, x0 : x0 + crop]
        seam = np.zeros_like(side)
        seam[:, 1:] = side[:, 1:] != side[:, :-1]
        ticks = np.zeros_like(side)
        ticks[:6] = ticks[-6:] = True  # marked at the top and bottom edges only
        tile[cv2.dilate((seam & ticks).astype(np.uint8), np.ones((1, 3), np.uint8)) > 0] = (255, 0, 0)
        tiles.append(tile)
    if not tiles:
        return out
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    half = len(tiles) // 2
    sep = np.full((crop, 4, 3), 255, np.uint8)
    row = lambda ts: np.concatenate(sum(([t, sep] for t in ts), [])[:-1], axis=1)  # noqa: E731
    return np.concatenate([row(tiles[:half]), np.full((4, row(tiles[:half]).shape[1], 3), 255, np.uint8), row(tiles[half:])], axis=0)
