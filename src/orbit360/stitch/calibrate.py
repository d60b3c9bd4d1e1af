"""Self-calibration of a dual-fisheye rig from its footage alone (no target).

Three stages, each on physics the footage constrains:

1. **Image circles** (``stitch.circle``). Outside its circle a fisheye records (nearly)
   black. On the brightest value of each pixel over the calibration frames, the drops
   along rays from the expected centre that lie on one circle (RANSAC, then least
   squares) give centre and radius per lens; only the part of the circle inside the frame
   counts. A circle that cannot be seen keeps the camera's nominal geometry, and the
   result says which was used.
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
3. **Photometry** (``photometry``). Pairs of observations of one direction (both lenses
   in every frame, over the whole overlap; and, when the camera turns, either lens in two
   frames, registered by a rotation fitted to SIFT matches), smoothed over 0.4°, only
   where every channel is unclipped in both and inside 0.97 of the radius, weighted
   down where the image is busy. They fit, robustly (Huber, then without the pairs past 3
   MADs, in code values), the back lens' gain per channel over the front's, the
   vignetting V shared by both lenses and the offset of the camera's response curve
   (``_response``: the prior's curve unless another explains the overlap clearly
   better). The reference is between the lenses (neither is boosted or darkened alone),
   placed so that the stitched frame is as bright as the footage; a fit the overlap does
   not support (few pairs, no better than no compensation, halves of the overlap that
   disagree) shrinks towards no compensation. Without camera motion only the overlap
   constrains V, which fixes its slope near the rim but not its depth; V then keeps the
   nominal profile's shape scaled to that slope (bounded), or 1 + v1 r^2 when the nominal
   has none. Where the lens brought down clips (more than it records near white with
   texture), ``keep_white`` keeps its white white.
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

from ..colour import SRGB_DECODE_LUT
from ..errors import CalibrationError, InputError
from ..geometry import Rotation, fibonacci_dirs, kabsch
from ..profile import RigLayout, RigProfile
from ._lensfit import FitReport, _ransac_rotation, LensPrior, MotionMatches, Tracks, _normalise, _Pyramid, fit_lenses, priors_for, ring_geometry, ring_views, track_overlap
from ._ring import lens_project, ring_dirs
from .circle import find_image_circle
from .gains import WHITE_KNEE
from .photometry import CODE_HI, CODE_LO, PairObservations, fit_pairs, reference_split


def least_squares(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.least_squares``, imported on first use (half a second that a stitch
    with a given rig, and every segment worker, would otherwise pay)."""
    from scipy.optimize import least_squares as solve

    return solve(*args, **kwargs)

__all__ = ["CalibrationResult", "calibrate_rig", "fit_image_circle", "read_calibration_frames", "load_prior"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
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
    :param photometric_rms: RMS residual (code values) of the photometric fit's inlier pairs.
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
    circle_source: tuple[str, ...] = field(default=())
    """Per lens, where its image circle came from: "fitted" (seen in the footage) or
    "nominal" (the camera's geometry: the circle could not be seen; ``warnings`` says why)."""
    motion_residual_deg: float = float("nan")
    motion_tracks: int = 0

    def summary(self) -> str:
        """A few human-readable lines: the estimates and the residuals."""
        motion = f"{self.motion_tracks} motion tracks, residual {self.motion_residual_deg:.4f} deg" if self.motion_tracks else "no motion tracks"
        lines = [
            f"frames {self.frames}, overlap tracks {self.matches}, ray residual {self.residual_deg:.4f} deg; {motion}",
            "image circles: " + ", ".join(
                f"lens {i} {src}" + (f" (rms {rms:.2f}px)" if src == "fitted" else " (camera geometry)")
                for i, (src, rms) in enumerate(zip(self.circle_source or ("fitted",) * len(self.circle_rms_px), self.circle_rms_px))
            ),
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
        lines.append(f"photometric rms {self.photometric_rms:.2f} code values, camera motion {self.motion_deg:.1f} deg, vignetting {obs}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---- stage 1: image circles -----------------------------------------------------------------
def fit_image_circle(
    peak: NDArray[np.floating], *, guess: tuple[float, float, float], threshold: float | None = None
) -> tuple[float, float, float, float]:
    """Fit the image circle of one lens (``stitch.circle.find_image_circle``).

    :param peak: (h, w) brightest luma of each pixel over the frames, frame coordinates.
    :param guess: (cx, cy, radius) starting estimate in pixels (pixel centres at i + 0.5).
    :param threshold: ignored (kept for callers of the former threshold fit: edges are
        now found from the radial gradient).
    :returns: (cx, cy, radius, rms) in pixels.
    :raises CalibrationError: when the circle cannot be seen.
    """
    fit = find_image_circle(peak, guess)
    if not fit.found:
        raise CalibrationError(f"image circle not found ({fit.reason})")
    return fit.center[0], fit.center[1], fit.radius, fit.rms


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
    lin = SRGB_DECODE_LUT[np.clip(peak, 0, 255).astype(np.uint8)]
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

    tol = 3.0 * 2.0 * np.pi / w
    best = _ransac_rotation(va, vb, tol, np.random.default_rng(0))
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


def _sample(img: NDArray[np.float32], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bilinear samples of ``img`` at frame positions ``xy`` (N, 2), pixel centres at i + 0.5
    (remap's maps are kept under its 32767-column limit)."""
    n = len(xy)
    cols = 4096
    pad = (-n) % cols
    m = np.concatenate([xy - 0.5, np.zeros((pad, 2))]).astype(np.float32).reshape(-1, cols, 2)
    out = cv2.remap(img, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((-1,) + img.shape[2:])[:n].astype(np.float64)


def _fit_photometry(
    frames: list[NDArray[np.uint8]], rig: RigProfile, nominal: RigProfile
) -> tuple[RigProfile, float, float, bool, dict[str, Any]]:
    """Per-lens exposure and colour (geometric-mean reference), the shared vignetting and
    the response curve's offset (``photometry.fit_pairs``), from repeated observations of
    one direction: both lenses in the overlap, and either lens in two frames when the
    camera turns. Returns the rig, the inlier rms, the camera motion, whether vignetting
    was observed, and the fit's statistics (for the report)."""
    from .plan import StitchPlan

    n_dirs = 24000
    base = fibonacci_dirs(n_dirs)
    # camera motion between frames (frame 0 as reference) from geometry-only stitches
    eq_w = 768
    plan = StitchPlan.build(rig.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses)), eq_w, compensate=False)
    step = max(1, len(frames) // 6)
    picked = frames[::step][:6]
    feats = [_sift(plan.apply(f)) for f in picked]
    rots: list[NDArray[np.float64]] = [np.eye(3)]
    motion = 0.0
    used = [0]
    turned = [True]  # whether a frame pairs with the others across frames
    for j in range(1, len(picked)):
        m, _n = _frame_rotation(feats[0], feats[j])
        ang = math.degrees(Rotation(m).angle) if m is not None else 0.0
        # every frame gives both lenses' view of the overlap; only a frame turned (and
        # registered) gives new radii of one direction across frames
        moved = m is not None and ang >= 0.5
        motion = max(motion, ang if moved else 0.0)
        rots.append(m if moved else np.eye(3))
        used.append(j)
        turned.append(moved)
    # observations: (frame, lens) -> (usable, r, codes, busyness) for each direction: the
    # whole sphere sparsely (pairs across frames) and the overlap densely (both lenses)
    overlap = max(0.5, min(l.fov_deg for l in rig.lenses) - 180.0)
    ring_half = math.radians(overlap / 2.0)
    dirs = np.concatenate([base, ring_dirs(1024, max(8, int(overlap * 4)), ring_half).reshape(-1, 3)])
    usable_total = clipped_total = 0
    # how much of each lens' circle the camera clipped, and how much it recorded near white
    # with texture (the range keep_white's stretch bends), for keep_white
    white, near_white = [0.0, 0.0], [0.0, 0.0]
    for f in picked:
        for i, lens in enumerate(rig.lenses):
            x0, x1 = max(0, int(lens.center[0] - lens.radius)), int(lens.center[0] + lens.radius)
            y0, y1 = max(0, int(lens.center[1] - lens.radius)), int(lens.center[1] + lens.radius)
            top = f[y0:y1, x0:x1].max(axis=2)
            white[i] += float((top >= 254).mean()) / len(picked)
            near_white[i] += float(((top >= WHITE_KNEE) & (top < 254)).mean()) / len(picked)
    # smoothed over about 0.4 degree: a misregistration of that order (parallax, an
    # imperfect lens model) then changes smooth areas little; busy ones are weighted down
    blur = max(1.2, math.radians(0.4) * float(np.mean([l.focal for l in rig.lenses])))
    obs = []
    for k, (fi, m) in enumerate(zip(used, rots)):
        frame = picked[fi]
        codes = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), blur)
        luma = codes @ _LUMA
        busy = cv2.GaussianBlur(np.abs(cv2.Laplacian(luma, cv2.CV_32F, ksize=3)), (0, 0), 2.0)
        d = dirs @ m.T
        per_lens = []
        for i, lens in enumerate(rig.lenses):
            xy, valid, r = lens_project(lens, d, margin_px=4.0)
            vals = _sample(codes, xy)
            bz = _sample(busy, xy)
            inside = valid & (r < 0.97)  # away from the rim (flare, the lens' own edge)
            unclipped = np.all((vals > CODE_LO) & (vals < CODE_HI), axis=1)
            per_lens.append((inside, inside & unclipped, r, vals, bz))
        obs.append(per_lens)
        both = per_lens[0][0] & per_lens[1][0]
        usable_total += int(both.sum())
        clipped_total += int((both & ~(per_lens[0][1] & per_lens[1][1])).sum())
    # pairs of observations of one direction: all (frame, lens) combinations that differ
    keys = [(k, i) for k in range(len(used)) for i in range(2)]
    cols: dict[str, list[NDArray[Any]]] = {n: [] for n in ("va", "vb", "ka", "kb", "ia", "ib", "ra", "rb", "weight", "group")}
    # sectors of 20 degrees of azimuth about the front axis (halves for the stability check)
    sector = (np.floor((np.arctan2(dirs[:, 1], dirs[:, 0]) + np.pi) / np.radians(20.0))).astype(np.int64)
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            (ka, ia), (kb, ib) = keys[a], keys[b]
            if ka != kb and not (turned[ka] and turned[kb]):
                continue
            _, oka, ra, va, za = obs[ka][ia]
            _, okb, rb, vb, zb = obs[kb][ib]
            both = oka & okb
            cnt = int(both.sum())
            if cnt < 20:
                continue
            for name, val in (("va", va[both]), ("vb", vb[both]), ("ka", np.full(cnt, ka)), ("kb", np.full(cnt, kb)),
                              ("ia", np.full(cnt, ia)), ("ib", np.full(cnt, ib)), ("ra", ra[both]), ("rb", rb[both]),
                              ("weight", 1.0 / (1.0 + (za[both] + zb[both]) / 8.0)), ("group", sector[both])):
                cols[name].append(val)
    if not cols["va"]:
        raise CalibrationError("no direction seen twice with usable brightness: cannot match exposure")
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    if len(arrays["va"]) > _MAX_PAIRS:  # plenty for a dozen parameters; keeps the solve fast
        pick = np.random.default_rng(0).choice(len(arrays["va"]), _MAX_PAIRS, replace=False)
        arrays = {k: v[pick] for k, v in arrays.items()}
    pairs = PairObservations(**arrays)
    nk = len(used)
    observed = motion >= 3.0
    prior = np.asarray(nominal.lenses[0].vignetting, np.float64)
    has_prior_shape = bool(np.any(prior != 0))
    # ln V(r): moving camera, a polynomial in r^2 (3 terms); static camera, the overlap
    # fixes only the slope near the rim, so one term: the nominal's shape ln(1 + P(r))
    # scaled (r^2 when the nominal has none)
    if observed:
        fit = fit_pairs(pairs, nk, lambda r: np.stack([r**2, r**4, r**6], -1), 3, prior=nominal.response)
        v = _log_poly_to_vignetting(fit.vignetting_log)
    else:
        if has_prior_shape:
            shape = lambda r: np.log(np.maximum(1.0 + (r * r) * (prior[0] + (r * r) * (prior[1] + (r * r) * prior[2])), 1e-3))[:, None]  # noqa: E731
        else:
            shape = lambda r: (r * r)[:, None]  # noqa: E731
        fit = fit_pairs(pairs, nk, shape, 1, prior=nominal.response)
        rr = np.linspace(0.0, 1.0, 101)
        # extrapolated from the slope at the rim: bounded to what lenses show (at the rim
        # 0.5 to 1.05 of the centre's light), the nominal's shape when it has one
        scale_v = float(fit.vignetting_log[0])
        edge = float(shape(np.array([1.0]))[0, 0])
        if edge != 0:
            scale_v = float(np.clip(scale_v, math.log(0.5) / edge if edge > 0 else math.log(1.05) / edge, math.log(1.05) / edge if edge > 0 else math.log(0.5) / edge))
        target_v = np.exp(scale_v * shape(rr)[:, 0]) - 1.0
        v = np.linalg.lstsq(np.stack([rr**2, rr**4, rr**6], -1), target_v, rcond=None)[0]
    # a poorly supported fit shrinks towards no compensation (never worse than none)
    t = fit.trust
    log_gain = fit.log_gain * t
    v = np.asarray(v) * t
    response = fit.response if t > 0 else nominal.response
    vig = tuple(float(c) for c in v)

    # recorded white stays white where the compensation darkens a lens that clips (the
    # lens recorded brighter is brought down), when what it clipped outweighs the textured
    # near-white it recorded: the stretch that keeps white white bends every code value
    # from WHITE_KNEE up, so a bright but unclipped sky with a few clipped specks would be
    # blown out to keep the specks white (real GoPro Fusion frames: clouds at 233-247)
    down = 1 if float(np.mean(log_gain)) > 0 else 0
    keep_white = bool(white[down] > 0.002 and white[down] >= near_white[down]) and abs(float(np.mean(log_gain))) > 0.05

    def with_split(shift: float) -> RigProfile:
        (ef, cf), (eb, cb) = reference_split(log_gain)
        k = math.exp(shift)
        return rig.replace(
            lenses=(rig.lenses[0].replace(exposure=ef * k, color_gain=cf, vignetting=vig), rig.lenses[1].replace(exposure=eb * k, color_gain=cb, vignetting=vig)),
            response=response,
            keep_white=keep_white,
        )

    final = with_split(_brightness_shift(with_split, picked[:: max(1, len(picked) // 3)][:3], float(np.mean(log_gain))))
    stats = {
        "response": list(response),
        "exposure_kept": [_axis_gain(final, i) for i in range(2)],
        "seam_step_codes": [v * t for v in fit.step_codes],
        "pairs": fit.inliers + fit.rejected,
        "inliers": fit.inliers,
        "rejected_fraction": fit.rejected / max(1, fit.inliers + fit.rejected),
        "clipped_fraction": clipped_total / max(1, usable_total),
        "trust": t,
        "white_fraction": white,
        "near_white_fraction": near_white,
        "residual_codes": fit.rms,
        "raw_difference_codes": fit.raw_codes,
        "split_half_codes": fit.split_codes,
        "frame_exposure_spread": float(np.exp(np.ptp(fit.frame_log_gain))) if len(fit.frame_log_gain) > 1 else 1.0,
    }
    return final, fit.rms, motion, observed, stats


def _brightness_shift(with_split: Any, frames: list[NDArray[np.uint8]], log_gain: float) -> float:
    """The common exposure (ln, added to both lenses) that keeps the stitched frame as
    bright as the footage (each direction as its lens recorded it; mean luma weighted by
    solid angle), within the range where neither lens is boosted or darkened alone: from
    the geometric mean (0) at most half the lenses' gap either way, so one lens is always
    brought up and the other down (or kept)."""
    from .plan import StitchPlan

    width = 512
    lat = np.cos((np.arange(width // 2) + 0.5) / (width // 2) * np.pi - np.pi / 2.0)[:, None]
    # frames and rig at a quarter of the size at most (the level of a 512-wide stitch)
    fw, fh = with_split(0.0).frame_size
    k = max(1, min(4, fw // 1024))
    small = [cv2.resize(f, (fw // k, fh // k), interpolation=cv2.INTER_AREA) for f in frames]

    def level(rig_x: RigProfile, compensate: bool) -> float:
        if k > 1:
            rig_x = rig_x.replace(
                frame_size=(fw // k, fh // k),
                lenses=tuple(l.replace(center=(l.center[0] / k, l.center[1] / k), radius=l.radius / k) for l in rig_x.lenses),
            )
        plan = StitchPlan.build(rig_x, width, compensate=compensate)
        return float(np.mean([((plan.apply(f).astype(np.float64) @ _LUMA) * lat).sum() for f in small]))

    target = level(with_split(0.0), False)
    lim = abs(log_gain) / 2.0
    if target <= 0 or lim < 1e-4:
        return 0.0
    lo, hi = -lim, lim  # a larger shift darkens: exposure is divided out
    for _ in range(7):  # to 1/128 of the gap: well under 1% of brightness
        mid = 0.5 * (lo + hi)
        if level(with_split(mid), True) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _axis_gain(rig: RigProfile, lens: int, code: float = 118.0) -> float:
    """What the compensation does at ``lens``' optical axis to a mid-grey code value:
    output over recorded (the exposure the stitch keeps of that lens)."""
    from ._response import code_to_u, u_to_code

    l = rig.lenses[lens]
    g = (l.exposure * float(np.exp(np.mean(np.log(l.color_gain))))) ** (-1.0 / rig.response[0])
    return float(u_to_code(code_to_u(code / 255.0, rig.response) * g, rig.response) * 255.0 / code)


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
    if nominal.layout != RigLayout.SIDE_BY_SIDE:
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
    circle_rms: list[float] = []
    circle_source: list[str] = []
    half = w // 2
    for i, lens in enumerate(nominal.lenses):
        x0 = 0 if lens.center[0] < half else half
        fit = find_image_circle(peak[:, x0 : x0 + half], (lens.center[0] - x0, lens.center[1], lens.radius))
        if fit.found:
            # the rim where the light falls to half: the edge drops sit a fraction of a pixel off it
            r = _half_light_radius(peak[:, x0 : x0 + half], (fit.center[0], fit.center[1], fit.radius))
            lenses.append(lens.replace(center=(fit.center[0] + x0, fit.center[1]), radius=r))
            if fit.rms > 1.5:
                warnings.append(f"lens {i}: ragged image circle (rms {fit.rms:.2f} px)")
        else:  # the camera's own geometry: a wrong guessed circle is worse than the nominal
            lenses.append(lens)
            warnings.append(f"lens {i}: image circle not seen ({fit.reason}); using the camera's nominal circle")
        circle_rms.append(fit.rms)
        circle_source.append("fitted" if fit.found else "nominal")
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
    phot_stats: dict[str, Any] = {}
    if photometric:
        try:
            rig, phot_rms, motion, observed, phot_stats = _fit_photometry(picked, rig, nominal)
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
        "image_circles": list(circle_source),
        "photometry": phot_stats,
    }
    rig = rig.replace(notes=notes)
    return CalibrationResult(
        rig=rig,
        residual_deg=residual,
        matches=n,
        frames=len(picked),
        circle_rms_px=tuple(circle_rms),
        circle_source=tuple(circle_source),
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
