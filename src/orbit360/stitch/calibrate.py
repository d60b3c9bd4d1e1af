"""Self-calibration of a dual-fisheye rig from its footage alone (no target).

Three stages, each on physics the footage constrains:

1. **Image circles.** Outside its circle a fisheye records black. The brightest value of
   each pixel over the calibration frames separates inside from outside; the edge points
   (midpoints between an inside pixel and its outside neighbour) are fitted with a circle
   by robust least squares: centre and radius per lens.
2. **Geometry** (``_lensfit``). Each lens' focal length, Kannala-Brandt k1..k4 and
   centre, and the back lens' rotation, fitted jointly (bundle adjustment over matched
   rays, robust loss) with a prior that holds what the footage leaves open near the
   nominal values. Overlap tracks (the band about 90° off both axes, unrolled into the
   overlap ring at a fixed 6 px/degree, corners tracked from one lens' view into the
   other's with Lucas-Kanade) fix the rotation and how the two mappings relate in that
   band, not either mapping alone; when the camera turns between calibration frames,
   features each lens sees in two frames (SIFT at 4-8 px/degree) fix each lens' whole
   mapping. A still camera keeps the prior's distortion and the lenses' focal relation
   (a warning says so). The start FOV comes from a coarse search (normalised correlation
   of the two views, 186° to 232°, and a 4° grid), the start that tracks best winning;
   the track-and-fit loop runs again from each new estimate until the update is
   negligible. All thresholds are angles, so any resolution calibrates alike.
3. **Photometry.** In linear light, a scene point recorded by lens i at normalised radius
   r has value ``L = scene * gain_i[c] * V(r)``. Log ratios of two observations of one
   direction (both lenses in one frame, and, when the camera moves, either lens in two
   frames, registered by a rotation fitted to SIFT matches) give the back lens' gain per
   channel and the vignetting polynomial V (shared by both lenses). The front lens is the
   reference (gain 1). Without camera motion only the overlap constrains V, which fixes
   its slope near the rim but not its depth; V then keeps the nominal profile's shape
   scaled to that slope, or 1 + v1 r^2 when the nominal has none.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import CalibrationError, InputError
from ..geometry import Rotation
from ..profile import LAYOUT_DUAL_FISHEYE_SBS, RigProfile
from ._lensfit import FitReport, LensPrior, MotionMatches, Tracks, _normalise, _Pyramid, fit_lenses, priors_for, ring_geometry, ring_views, track_overlap
from ._ring import lens_project


def least_squares(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.least_squares``, imported on first use (half a second that a stitch
    with a given rig, and every segment worker, would otherwise pay)."""
    from scipy.optimize import least_squares as solve

    return solve(*args, **kwargs)

__all__ = ["CalibrationResult", "calibrate_rig", "fit_image_circle", "srgb_lut", "read_calibration_frames", "load_prior"]

_MAX_PAIRS = 120_000


@dataclass(frozen=True)
class CalibrationResult:
    """What ``calibrate_rig`` estimated and how well the footage supports it.

    :param rig: the calibrated rig (front lens = reference orientation and exposure).
    :param residual_deg: RMS angle between the two lenses' rays of each overlap track
        after the fit, degrees (inlier tracks).
    :param matches: number of overlap tracks used in the final geometric fit.
    :param frames: number of frames used.
    :param circle_rms_px: RMS distance of the edge points to each fitted image circle.
    :param photometric_rms: RMS of the log-ratio residuals (natural log units; 0.01 = 1%).
    :param motion_deg: largest camera rotation found between calibration frames; under a
        few degrees the vignetting depth is not observable and comes from the prior.
    :param vignetting_observed: True when camera motion constrained the vignetting.
    :param motion_residual_deg: RMS angle of the motion tracks (one lens, two frames the
        camera turned between) after the fit; nan without any.
    :param motion_tracks: number of motion tracks in the final fit.
    """

    rig: RigProfile
    residual_deg: float
    matches: int
    frames: int
    circle_rms_px: tuple[float, ...]
    photometric_rms: float = float("nan")
    motion_deg: float = 0.0
    vignetting_observed: bool = False
    warnings: tuple[str, ...] = field(default=())
    motion_residual_deg: float = float("nan")
    motion_tracks: int = 0

    def summary(self) -> str:
        """A few human-readable lines: the estimates and the residuals."""
        motion = f"{self.motion_tracks} motion tracks, residual {self.motion_residual_deg:.4f} deg" if self.motion_tracks else "no motion tracks"
        lines = [
            f"frames {self.frames}, overlap tracks {self.matches}, ray residual {self.residual_deg:.4f} deg; {motion}",
            "circle fit rms " + ", ".join(f"{v:.2f}px" for v in self.circle_rms_px),
        ]
        for i, lens in enumerate(self.rig.lenses):
            y, p, r = lens.rotation_ypr
            lines.append(
                f"lens {i}: centre ({lens.center[0]:.2f}, {lens.center[1]:.2f}) radius {lens.radius:.2f} "
                f"focal {lens.focal:.2f} fov {lens.fov_deg:.3f} k ({', '.join(f'{k:.5f}' for k in lens.distortion)}) "
                f"ypr ({y:.3f}, {p:.3f}, {r:.3f}) exposure {lens.exposure:.4f} "
                f"colour ({', '.join(f'{g:.3f}' for g in lens.color_gain)}) "
                f"vignetting ({', '.join(f'{v:.3f}' for v in lens.vignetting)})"
            )
        obs = "observed" if self.vignetting_observed else "from prior (camera did not move)"
        lines.append(f"photometric rms {self.photometric_rms:.4f}, camera motion {self.motion_deg:.1f} deg, vignetting {obs}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---- sRGB -----------------------------------------------------------------------------------
def srgb_lut() -> NDArray[np.float32]:
    """Linear light of each of the 256 sRGB-encoded values."""
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


# ---- stage 1: image circles -----------------------------------------------------------------
def fit_image_circle(
    peak: NDArray[np.floating], *, guess: tuple[float, float, float], threshold: float | None = None
) -> tuple[float, float, float, float]:
    """Fit the image circle of one lens.

    :param peak: (h, w) brightest luma of each pixel over the frames, frame coordinates.
    :param guess: (cx, cy, radius) starting estimate in pixels (pixel centres at i + 0.5).
    :param threshold: luma separating inside from outside; default from the dark level
        well outside the guessed circle.
    :returns: (cx, cy, radius, rms) in pixels.
    """
    h, w = peak.shape
    gx, gy, gr = guess
    ys, xs = np.mgrid[0:h, 0:w]
    dist = np.hypot(xs + 0.5 - gx, ys + 0.5 - gy)
    if threshold is None:
        outside = peak[dist > gr * 1.06]
        floor = float(np.percentile(outside, 99.0)) if outside.size > 100 else 0.0
        inside = peak[(dist < gr * 0.9) & (dist > gr * 0.6)]
        level = float(np.percentile(inside, 10.0)) if inside.size else 255.0
        threshold = max(floor + 4.0, min(floor + 0.3 * (level - floor), 24.0), 5.0)
    inside_mask = peak > threshold
    pts = []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        a = inside_mask[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        b = inside_mask[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        yy, xx = np.nonzero(a & ~b)
        yy = yy + max(0, -dy)
        xx = xx + max(0, -dx)
        # midpoint between the inside pixel centre and its outside neighbour's centre
        pts.append(np.stack([xx + 0.5 + dx / 2.0, yy + 0.5 + dy / 2.0], -1))
    p = np.concatenate(pts).astype(np.float64)
    if p.size:
        rp = np.hypot(p[:, 0] - gx, p[:, 1] - gy)
        # edges of the circle only: not dark patches inside it, not the frame border
        keep = (rp > 0.85 * gr) & (rp < 1.15 * gr) & (p[:, 0] > 1) & (p[:, 0] < w - 1) & (p[:, 1] > 1) & (p[:, 1] < h - 1)
        p = p[keep]
        # the circle is the outermost inside/outside edge on each ray from the centre:
        # dark scene patches near the rim make edges inside it, never outside
        if len(p):
            rp = np.hypot(p[:, 0] - gx, p[:, 1] - gy)
            az = np.floor((np.arctan2(p[:, 1] - gy, p[:, 0] - gx) + np.pi) / (2 * np.pi) * 720).astype(np.int64) % 720
            order = np.lexsort((-rp, az))
            first = np.ones(len(order), bool)
            first[1:] = az[order][1:] != az[order][:-1]
            p = p[order[first]]
    if len(p) < 50:
        raise CalibrationError(f"image circle not found (only {len(p)} edge points at threshold {threshold:.0f})")

    def resid(q: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.hypot(pts[:, 0] - q[0], pts[:, 1] - q[1]) - q[2]

    q = np.array([gx, gy, gr], np.float64)
    for scale in (3.0, 0.7):
        sol = least_squares(resid, q, args=(p,), loss="soft_l1", f_scale=scale)
        q = sol.x
        r = resid(q, p)
        p = p[np.abs(r) < max(4.0 * scale, 3.0 * float(np.median(np.abs(r))) + 0.5)]
    r = resid(q, p)
    return float(q[0]), float(q[1]), float(q[2]), float(np.sqrt(np.mean(r * r)))


def _half_light_radius(peak: NDArray[np.floating], circle: tuple[float, float, float]) -> float:
    """The circle's radius where the light falls to half (in linear light) between the
    inside and the outside, the median over azimuths; the circle's own radius where that
    cannot be read (cut by the frame, or no clear step).

    The edge points of ``fit_image_circle`` sit where the brightest value first rises off
    the dark floor, about half a pixel outside the rim; the field of view is where the
    image ends, which the half-light radius marks to a tenth of a pixel. The FOV follows
    from the radius through the lens' mapping, so this half pixel is 0.1-0.3° of FOV.
    """
    cx, cy, r0 = circle
    h, w = peak.shape
    lin = srgb_lut()[np.clip(peak, 0, 255).astype(np.uint8)]
    n_az = 720
    offsets = np.arange(-6.0, 6.01, 0.25)
    az = (np.arange(n_az) + 0.5) / n_az * 2 * np.pi
    rr = r0 + offsets
    mx = (cx + np.cos(az)[:, None] * rr[None, :] - 0.5).astype(np.float32)
    my = (cy + np.sin(az)[:, None] * rr[None, :] - 0.5).astype(np.float32)
    prof = cv2.remap(lin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
    inside_frame = np.all((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1), axis=1)
    inner = np.median(prof[:, offsets <= -3.0], axis=1)
    outer = np.median(prof[:, offsets >= 3.0], axis=1)
    ok = inside_frame & (inner > 4.0 * outer + 0.02)
    if ok.sum() < 36:
        return r0
    p = prof[ok]
    half_level = 0.5 * (inner[ok] + outer[ok])
    below = p < half_level[:, None]
    # the first offset (from the inside out) below half light, and linear interpolation
    # with the sample before it
    k = np.argmax(below & (offsets[None, :] > -3.0), axis=1)
    valid = (k > 0) & below[np.arange(len(k)), k]
    if valid.sum() < 36:
        return r0
    rows = np.nonzero(valid)[0]
    k = k[valid]
    a, b = p[rows, k - 1], p[rows, k]
    t = (a - half_level[rows]) / np.maximum(a - b, 1e-9)
    return float(r0 + np.median(offsets[k - 1] + t * (offsets[1] - offsets[0])))


# ---- stage 2: geometry (see ``_lensfit``) ---------------------------------------------------
_SEARCH_PX_PER_DEG = 3.0


def _search_fov(pyramids: list[_Pyramid], rig: RigProfile, lo: float = 186.0, hi: float = 232.0) -> list[float]:
    """Coarse FOVs (shared) at which the two lenses' views of the overlap agree best (NCC),
    best first: the best refined by a parabola, then the next local maxima."""
    fov0 = 0.5 * (rig.lenses[0].fov_deg + rig.lenses[1].fov_deg)
    cands = np.arange(lo, hi + 0.01, 1.0)
    scores = []
    # the ring of the widest candidate, so every candidate is scored on the same band
    ring = ring_geometry(rig.replace(lenses=tuple(l.replace(fov_deg=hi) for l in rig.lenses)), _SEARCH_PX_PER_DEG)
    for fov in cands:
        r = rig.replace(lenses=tuple(l.replace(fov_deg=l.fov_deg - fov0 + fov) for l in rig.lenses))
        views, valids, (width, _, _) = ring_views(pyramids, r, _SEARCH_PX_PER_DEG, margin_deg=2.0, ring=ring)
        m = valids[0] & valids[1]
        if m.sum() < 3 * width:  # a sliver of overlap correlates by chance
            scores.append(-1.0)
            continue
        a = [_normalise(v[0], 0.5 * _SEARCH_PX_PER_DEG).astype(np.float32) - 128.0 for v in views]
        b = [_normalise(v[1], 0.5 * _SEARCH_PX_PER_DEG).astype(np.float32) - 128.0 for v in views]
        num = sum(float(np.sum(x[m] * y[m])) for x, y in zip(a, b))
        den = math.sqrt(sum(float(np.sum(x[m] ** 2)) for x in a) * sum(float(np.sum(y[m] ** 2)) for y in b))
        scores.append(num / den if den > 0 else -1.0)
    sc = np.asarray(scores)
    peaks = [k for k in range(len(sc)) if sc[k] > -1.0 and (k == 0 or sc[k] >= sc[k - 1]) and (k == len(sc) - 1 or sc[k] >= sc[k + 1])]
    peaks.sort(key=lambda k: -sc[k])
    out = []
    for k in peaks[:3]:
        fov = float(cands[k])
        if 0 < k < len(cands) - 1:
            d = sc[k - 1] - 2 * sc[k] + sc[k + 1]
            fov += 0.5 * (sc[k - 1] - sc[k + 1]) / d if d < 0 else 0.0
        out.append(fov)
    return out


MAX_AXIS_TURN_DEG = 10.0
"""Largest turn of the back lens from its nominal axis a calibration may report."""
MAX_RESIDUAL_DEG = 0.5
"""Largest RMS ray residual of the overlap tracks a calibration may end with."""
MOTION_RMS_LIMIT_DEG = 0.2
"""Motion tracks fitting worse than this are not a pure camera turn (SIFT's own noise is
under 0.1°; a few centimetres of camera travel near things give tenths of a degree)."""


def _refine(
    start: FitReport, pyramids: list[_Pyramid], matches: MotionMatches | None, priors: tuple[LensPrior, LensPrior],
    iterations: int, fit_fov: bool,
) -> tuple[RigProfile, FitReport]:
    """Track and fit again from each new estimate until the update is negligible."""
    rig, report = start.rig, start
    for round_ in range(iterations):
        pf, pb, _ = track_overlap(pyramids, rig)
        if len(pf) < 30:
            break  # keep the estimate the previous round reached
        # motion tracks re-selected under each new model, more strictly once it has them
        motion_tracks, turns = matches.tracks(rig, tol_deg=1.5 if round_ == 0 else 0.5) if matches else ([], {})
        new = fit_lenses(rig, Tracks(pf, pb, motion_tracks, turns), priors, fit_intrinsics=fit_fov)
        change = Rotation(new.rig.lenses[1].rotation().matrix @ rig.lenses[1].rotation().matrix.T).angle
        dfocal = max(abs(a.focal / b.focal - 1.0) for a, b in zip(new.rig.lenses, rig.lenses))
        rig, report = new.rig, new
        if math.degrees(change) < 0.005 and dfocal < 1e-4:
            break
    return rig, report


def _with_fov(rig: RigProfile, fov: float) -> RigProfile:
    """``rig`` with its mean FOV moved to ``fov`` (lenses keep their difference)."""
    fov0 = 0.5 * (rig.lenses[0].fov_deg + rig.lenses[1].fov_deg)
    return rig.replace(lenses=tuple(l.replace(fov_deg=l.fov_deg - fov0 + fov) for l in rig.lenses))


# ---- stage 3: photometry --------------------------------------------------------------------
def _fibonacci_dirs(n: int) -> NDArray[np.float64]:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], -1)


def _sift(eq: NDArray[np.uint8]) -> tuple[Any, Any, tuple[int, int]]:
    h, w = eq.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[h // 8 : h - h // 8] = 255
    k, d = cv2.SIFT_create(nfeatures=3000).detectAndCompute(cv2.cvtColor(eq, cv2.COLOR_RGB2GRAY), mask)
    return k, d, (w, h)


def _frame_rotation(fa: tuple[Any, Any, tuple[int, int]], fb: tuple[Any, Any, tuple[int, int]]) -> tuple[NDArray[np.float64] | None, int]:
    """Rotation M with ``dir_b = M dir_a`` between two equirect stitches (SIFT + RANSAC Kabsch)."""
    from ..geometry import equirect_to_dirs

    ka, da, (w, h) = fa
    kb, db, _ = fb
    if da is None or db is None or len(ka) < 10 or len(kb) < 10:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.7 * m[1].distance]
    if len(good) < 12:
        return None, 0
    pa = np.array([ka[m.queryIdx].pt for m in good]) + 0.5
    pb = np.array([kb[m.trainIdx].pt for m in good]) + 0.5
    va, vb = equirect_to_dirs(pa, (w, h)), equirect_to_dirs(pb, (w, h))

    def kabsch(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        u, _, vt = np.linalg.svd(b.T @ a)
        d = np.sign(np.linalg.det(u @ vt))
        return u @ np.diag([1.0, 1.0, d]) @ vt

    rng = np.random.default_rng(0)
    tol = 3.0 * 2.0 * np.pi / w
    best = np.zeros(len(good), bool)
    for _ in range(200):
        idx = rng.choice(len(good), 3, replace=False)
        m = kabsch(va[idx], vb[idx])
        inl = np.linalg.norm(va @ m.T - vb, axis=1) < tol
        if inl.sum() > best.sum():
            best = inl
    if best.sum() < 10:
        return None, 0
    m = kabsch(va[best], vb[best])
    inl = np.linalg.norm(va @ m.T - vb, axis=1) < tol
    return kabsch(va[inl], vb[inl]), int(inl.sum())


def _vig_log(r: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    r2 = r * r
    return np.log(np.maximum(1.0 + r2 * (v[0] + r2 * (v[1] + r2 * v[2])), 1e-3))


def _log_poly_to_vignetting(coef: NDArray[np.float64]) -> NDArray[np.float64]:
    """(v1, v2, v3) of ``1 + v1 r^2 + v2 r^4 + v3 r^6`` closest to exp(sum coef_j r^2j) over r in [0, 1]."""
    r = np.linspace(0.0, 1.0, 101)
    lv = sum(c * r ** (2 * (j + 1)) for j, c in enumerate(coef))
    basis = np.stack([r**2, r**4, r**6], -1)
    return np.linalg.lstsq(basis, np.exp(lv) - 1.0, rcond=None)[0]


def _fit_photometry(
    frames: list[NDArray[np.uint8]], rig: RigProfile, nominal: RigProfile
) -> tuple[RigProfile, float, float, bool]:
    """Back lens' per-channel gain and the shared vignetting from repeated observations."""
    from .plan import StitchPlan

    lut = srgb_lut()
    n_dirs = 24000
    base = _fibonacci_dirs(n_dirs)
    # camera motion between frames (frame 0 as reference) from geometry-only stitches
    eq_w = 768
    plan = StitchPlan.build(rig.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses)), eq_w, compensate=False)
    step = max(1, len(frames) // 6)
    picked = frames[::step][:6]
    feats = [_sift(plan.apply(f)) for f in picked]
    rots: list[NDArray[np.float64]] = [np.eye(3)]
    motion = 0.0
    used = [0]
    for j in range(1, len(picked)):
        m, _n = _frame_rotation(feats[0], feats[j])
        if m is None:
            continue
        ang = math.degrees(Rotation(m).angle)
        if ang < 0.5:
            continue  # no parallax of radius: adds nothing the overlap does not give
        motion = max(motion, ang)
        rots.append(m)
        used.append(j)
    # observations: (frame, lens, r, linear rgb) for each direction
    obs_lin = []
    for k, (fi, m) in enumerate(zip(used, rots)):
        lin = lut[picked[fi]]
        lin = cv2.GaussianBlur(lin, (0, 0), 1.2)
        d = base @ m.T
        per_lens = []
        for i, lens in enumerate(rig.lenses):
            xy, valid, r = lens_project(lens, d, margin_px=4.0)
            vals = cv2.remap(lin, (xy[:, 0] - 0.5).astype(np.float32)[None], (xy[:, 1] - 0.5).astype(np.float32)[None], cv2.INTER_LINEAR)[0]
            ok = valid & np.all((vals > 0.004) & (vals < 0.85), axis=1)
            per_lens.append((ok, r, vals))
        obs_lin.append(per_lens)
    # pairs of observations of one direction: all (frame, lens) combinations that differ
    keys = [(k, i) for k in range(len(used)) for i in range(2)]
    pa_k, pa_i, pa_r, pb_k, pb_i, pb_r, lr = [], [], [], [], [], [], []
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            (ka, ia), (kb, ib) = keys[a], keys[b]
            oka, ra, va = obs_lin[ka][ia]
            okb, rb, vb = obs_lin[kb][ib]
            both = oka & okb
            if both.sum() < 20:
                continue
            pa_k.append(np.full(both.sum(), ka)); pa_i.append(np.full(both.sum(), ia)); pa_r.append(ra[both])
            pb_k.append(np.full(both.sum(), kb)); pb_i.append(np.full(both.sum(), ib)); pb_r.append(rb[both])
            lr.append(np.log(va[both]) - np.log(vb[both]))
    if not lr:
        raise CalibrationError("no direction seen twice with usable brightness: cannot match exposure")
    ak, ai, ar = np.concatenate(pa_k), np.concatenate(pa_i), np.concatenate(pa_r)
    bk, bi, br = np.concatenate(pb_k), np.concatenate(pb_i), np.concatenate(pb_r)
    y = np.concatenate(lr)  # (N, 3)
    if len(y) > _MAX_PAIRS:  # plenty for a dozen parameters; keeps the solve fast
        pick = np.random.default_rng(0).choice(len(y), _MAX_PAIRS, replace=False)
        ak, ai, ar, bk, bi, br, y = ak[pick], ai[pick], ar[pick], bk[pick], bi[pick], br[pick], y[pick]
    nk = len(used)
    observed = motion >= 3.0
    prior = np.asarray(nominal.lenses[0].vignetting, np.float64)
    has_prior_shape = bool(np.any(prior != 0))
    # The model is linear in its parameters once log V(r) is a polynomial in r^2:
    # log La - log Lb = fg[a] - fg[b] + g_c ([a is back] - [b is back]) + logV(ra) - logV(rb)
    # parameters: back lens log gain per channel (3), frame log gains (nk - 1), log V terms
    # parameters: back lens log gain per channel (3), frame log gains (nk - 1), and V.
    # Moving camera: log V(r) = a1 r^2 + a2 r^4 + a3 r^6, linear in a. Static camera:
    # V = 1 + s P(r), P the nominal's vignetting polynomial (r^2 when it has none), s found
    # by a 1-D search (the overlap fixes the slope of V near the rim, P its shape).
    n = len(ak)
    frame_cols = np.zeros((n, max(nk - 1, 0)))
    for k in range(1, nk):
        frame_cols[:, k - 1] = (ak == k).astype(float) - (bk == k).astype(float)
    back = (ai == 1).astype(float) - (bi == 1).astype(float)

    def design(vig_cols: NDArray[np.float64]) -> NDArray[np.float64]:
        blocks = []
        for c in range(3):
            gcols = np.zeros((n, 3))
            gcols[:, c] = back
            blocks.append(np.concatenate([gcols, frame_cols, vig_cols], axis=1))
        return np.concatenate(blocks)

    y_all = np.concatenate([y[:, c] for c in range(3)])

    def solve(a_mat: NDArray[np.float64], target: NDArray[np.float64], rounds: int = 6) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        wts = np.ones(len(target))
        for _ in range(rounds):  # iteratively reweighted least squares, Huber weights
            aw = a_mat * wts[:, None]
            lhs = aw.T @ a_mat + 1e-9 * np.eye(a_mat.shape[1])
            x = np.linalg.solve(lhs, aw.T @ target)
            r = a_mat @ x - target
            wts = np.minimum(1.0, 0.02 / np.maximum(np.abs(r), 1e-9))
        return x, r

    shape = prior if has_prior_shape else np.array([1.0, 0.0, 0.0])
    if observed:
        x, r = solve(design(np.stack([ar ** (2 * j) - br ** (2 * j) for j in (1, 2, 3)], -1)), y_all)
        v = _log_poly_to_vignetting(x[3 + nk - 1 :])
    else:
        base_mat = design(np.zeros((n, 0)))

        def cost(scale: float) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
            vv = shape * scale
            lv = np.tile(_vig_log(ar, vv) - _vig_log(br, vv), 3)
            x, r = solve(base_mat, y_all - lv, rounds=3)
            return float(np.sum(np.minimum(r * r, 0.02**2))), x, r

        grid = np.linspace(-0.5, 2.5, 41) if has_prior_shape else np.linspace(-0.9, 0.3, 41)
        costs = [cost(float(sv))[0] for sv in grid]
        kbest = int(np.argmin(costs))
        sbest = float(grid[kbest])
        if 0 < kbest < len(grid) - 1:
            c0, c1, c2 = costs[kbest - 1], costs[kbest], costs[kbest + 1]
            d = c0 - 2 * c1 + c2
            if d > 0:
                sbest += 0.5 * (c0 - c2) / d * (grid[1] - grid[0])
        _, x, r = cost(sbest)
        v = shape * sbest
    inl = np.abs(r) < max(0.1, 4.0 * float(np.median(np.abs(r))))
    rms = float(np.sqrt(np.mean(r[inl] ** 2)))
    g = x[:3]
    gains = np.exp(g)
    exposure = float(np.exp(np.mean(g)))
    color = tuple(float(c) for c in gains / exposure)
    vig = tuple(float(c) for c in v)
    front = rig.lenses[0].replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=vig)
    back = rig.lenses[1].replace(exposure=exposure, color_gain=color, vignetting=vig)
    return rig.replace(lenses=(front, back)), rms, motion, observed


# ---- the whole calibration ------------------------------------------------------------------
def calibrate_rig(
    frames: Iterable[NDArray[np.uint8]],
    frame_size: tuple[int, int],
    *,
    nominal: RigProfile | None = None,
    max_frames: int = 12,
    fit_fov: bool = True,
    photometric: bool = True,
    iterations: int = 4,
    motion_intrinsics: bool = True,
) -> CalibrationResult:
    """Estimate a side-by-side dual-fisheye rig from its frames.

    :param frames: RGB uint8 frames (h, w, 3) of the recording; the first ``max_frames``
        are used, so pass frames spread over the recording (and, for vignetting, ones
        where the camera turns).
    :param frame_size: (width, height) of the frames.
    :param nominal: starting rig (circle guesses, distortion, FOV, vignetting shape);
        default ``RigProfile.nominal(frame_size)``.
    :param fit_fov: estimate each lens' focal length, distortion and centre (hence its
        field of view); otherwise keep the nominal's FOV and distortion and the circle
        fit's centres, and fit the rotation alone.
    :param photometric: estimate exposure, colour gain and vignetting.
    :param iterations: track-and-fit rounds of the geometric stage (at most).
    :param motion_intrinsics: also track features each lens sees in two frames between which
        the camera turned (they observe each lens' whole mapping; see ``_lensfit``).
    :raises CalibrationError: when no image circle or too few overlap tracks are found.
    """
    w, h = int(frame_size[0]), int(frame_size[1])
    nominal = nominal if nominal is not None else RigProfile.nominal((w, h))
    if nominal.layout != LAYOUT_DUAL_FISHEYE_SBS:
        raise CalibrationError(f"calibration needs a side-by-side dual-fisheye rig, not {nominal.layout}")
    if tuple(nominal.frame_size) != (w, h):
        raise CalibrationError(f"nominal rig is for {nominal.frame_size[0]}x{nominal.frame_size[1]} frames, footage is {w}x{h}")
    picked: list[NDArray[np.uint8]] = []
    for f in frames:
        f = np.asarray(f)
        if f.shape != (h, w, 3) or f.dtype != np.uint8:
            raise InputError(f"calibration frame is {f.shape} {f.dtype}, expected ({h}, {w}, 3) uint8")
        picked.append(f)
        if len(picked) >= max_frames:
            break
    if not picked:
        raise CalibrationError("no frames to calibrate from")
    warnings: list[str] = []

    # stage 1: image circles
    peak = np.zeros((h, w), np.float32)
    for f in picked:
        np.maximum(peak, f.max(axis=2).astype(np.float32), out=peak)
    lenses = []
    circle_rms = []
    half = w // 2
    for i, lens in enumerate(nominal.lenses):
        x0 = 0 if lens.center[0] < half else half
        cx, cy, r, rms = fit_image_circle(peak[:, x0 : x0 + half], guess=(lens.center[0] - x0, lens.center[1], lens.radius))
        r = _half_light_radius(peak[:, x0 : x0 + half], (cx, cy, r))
        lenses.append(lens.replace(center=(cx + x0, cy), radius=r))
        circle_rms.append(rms)
        if rms > 1.5:
            warnings.append(f"lens {i}: ragged image circle (rms {rms:.2f} px)")
    rig = nominal.replace(lenses=tuple(lenses))

    # stage 2: both lenses' intrinsics and the back lens' rotation (``_lensfit``)
    geo_frames = _spread(picked, 6)
    pyramids = [_Pyramid(f) for f in geo_frames]
    starts = [rig]
    if fit_fov:  # the best coarse (shared) FOVs first, the nominal's last
        starts = [_with_fov(rig, f) for f in _search_fov(pyramids[:3], rig)] + [rig]
    # the start whose overlap tracks most (a wrong FOV leaves LK a few chance matches):
    # the correlation's best FOVs, the nominal's and a coarse grid, scored on one frame
    if fit_fov:
        starts += [_with_fov(rig, f) for f in np.arange(186.0, 232.0, 4.0)]
    counts = [len(track_overlap(pyramids[:1], start)[0]) for start in starts]
    best = [starts[k] for k in np.argsort(counts)[::-1][:2]]
    tracked = [(start, *track_overlap(pyramids, start)) for start in best]
    most = max(len(t[1]) for t in tracked)
    chosen: FitReport | None = None
    chosen_priors = None
    for start, pf, pb, _ in sorted(tracked, key=lambda t: -len(t[1]))[:2]:
        if len(pf) < max(30, 0.5 * most):
            continue
        # each lens' focal closes its mapping at the start's FOV on its own circle
        priors = priors_for(start, start, tuple(circle_rms))
        fitted = fit_lenses(start, Tracks(pf, pb), priors, fit_intrinsics=fit_fov)
        if chosen is None or fitted.overlap_rms_deg < chosen.overlap_rms_deg:
            chosen, chosen_priors = fitted, priors
    if chosen is None or chosen_priors is None:
        raise CalibrationError(f"only {most} feature tracks across the lens overlap: too little texture to calibrate")
    # a camera that turns between frames shows each lens' whole mapping (module _lensfit)
    matches = MotionMatches(geo_frames, chosen.rig) if motion_intrinsics and fit_fov and len(geo_frames) > 1 else None
    rig, report = _refine(chosen, pyramids, matches, chosen_priors, iterations, fit_fov)
    if report.motion_tracks and report.motion_rms_deg > MOTION_RMS_LIMIT_DEG:
        # not a pure turn: the camera also moved near things (parallax), or something moved
        # with it; such tracks would bend the mapping, so the overlap alone decides
        warnings.append(
            f"motion tracks left out: rms {report.motion_rms_deg:.3f} deg is more than a camera turn explains "
            "(parallax from moving near things)"
        )
        rig, report = _refine(chosen, pyramids, None, chosen_priors, iterations, fit_fov)
    residual, n = report.overlap_rms_deg, report.overlap_tracks
    # a camera's lenses sit within a degree or two of their nominal axes: an estimate far
    # from it, or whose rays still disagree by most of a degree, is a failed fit
    turn = math.degrees(Rotation(rig.lenses[1].rotation().matrix @ nominal.lenses[1].rotation().matrix.T).angle)
    if turn > MAX_AXIS_TURN_DEG or residual > MAX_RESIDUAL_DEG:
        raise CalibrationError(
            f"calibration did not converge (back lens {turn:.1f} deg off its nominal axis, ray residual "
            f"{residual:.2f} deg over {n} overlap tracks)"
        )
    if residual > 0.25:
        warnings.append(f"large ray residual {residual:.3f} deg: parallax, rolling shutter or a distortion the model lacks")
    if not report.motion_tracks and not any(w.startswith("motion tracks left out") for w in warnings):
        warnings.append("camera did not turn between calibration frames: each lens' focal length is split by the prior (only their relation is observed)")

    phot_rms, motion, observed = float("nan"), 0.0, False
    if photometric:
        try:
            rig, phot_rms, motion, observed = _fit_photometry(picked, rig, nominal)
        except (CalibrationError, np.linalg.LinAlgError) as exc:
            # the geometry stands on its own: keep it, with the nominal photometry
            msg = exc.message if isinstance(exc, CalibrationError) else "singular photometric system"
            warnings.append(f"photometric calibration failed ({msg}); exposure and vignetting left at the nominal's")
        if not observed and any(v != 0 for v in rig.lenses[0].vignetting):
            warnings.append("camera did not move: vignetting depth extrapolated from the overlap slope")
    notes = dict(rig.notes)
    notes["calibration"] = {
        "residual_deg": residual,
        "matches": n,
        "motion_residual_deg": report.motion_rms_deg,
        "motion_tracks": report.motion_tracks,
        "frames": len(picked),
        "photometric_rms": phot_rms,
        "motion_deg": motion,
        "vignetting_observed": observed,
    }
    rig = rig.replace(notes=notes)
    return CalibrationResult(
        rig=rig,
        residual_deg=residual,
        matches=n,
        frames=len(picked),
        circle_rms_px=tuple(circle_rms),
        photometric_rms=phot_rms,
        motion_deg=motion,
        vignetting_observed=observed,
        warnings=tuple(warnings),
        motion_residual_deg=report.motion_rms_deg,
        motion_tracks=report.motion_tracks,
    )


def _spread(frames: list[NDArray[np.uint8]], count: int) -> list[NDArray[np.uint8]]:
    """``count`` of ``frames`` spread evenly over them (first and last included)."""
    if len(frames) <= count:
        return list(frames)
    return [frames[int(round(i))] for i in np.linspace(0, len(frames) - 1, count)]


# ---- from a file ----------------------------------------------------------------------------
def read_calibration_frames(path: str | os.PathLike[str], count: int = 12) -> tuple[list[NDArray[np.uint8]], tuple[int, int]]:
    """``count`` frames spread evenly over a video's first stream, and the frame size."""
    from ..video import open_reader

    with open_reader(path) as reader:
        size = reader.size
        total = reader.frame_count
        frames: list[NDArray[np.uint8]] = []
        if total and total > count * 8:
            for idx in np.linspace(0, total - 1, count).round().astype(int):
                frames.extend(reader.frames(start=int(idx), stop=int(idx) + 1))
        else:
            step = max(1, (total or count) // count)
            for i, f in enumerate(reader.frames()):
                if i % step == 0:
                    frames.append(f)
                if len(frames) >= count:
                    break
    if not frames:
        raise InputError("no frames could be decoded", path=path)
    return frames, size


def load_prior(path: str | os.PathLike[str], frame_size: tuple[int, int], *, fov_deg: float | None = None) -> RigProfile:
    """A starting rig from an orbit360 rig JSON or a Gyroflow lens profile."""
    import json

    from .._files import check_input_file
    from .interop import gyroflow_rig

    p = check_input_file(path)
    try:
        d = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("not a rig profile or Gyroflow lens profile (invalid JSON)", path=p) from None
    if isinstance(d, dict) and "fisheye_params" in d:
        # NAME_front.json written by ``write_gyroflow``: its NAME_back.json is the back lens
        back = p.with_name(p.name.replace("_front.json", "_back.json")) if p.name.endswith("_front.json") else None
        rig = gyroflow_rig(d, frame_size, fov_deg=fov_deg or 195.0, back=back if back is not None and back.is_file() else None)
        if fov_deg:
            rig = rig.replace(lenses=tuple(l.replace(fov_deg=fov_deg) for l in rig.lenses))
        return rig
    rig = RigProfile.from_dict(d, path=p)
    rig = rig.scaled_to(frame_size, path=p)  # the same camera at another resolution
    if fov_deg:
        rig = rig.replace(lenses=tuple(l.replace(fov_deg=fov_deg) for l in rig.lenses))
    return rig
