"""Self-calibration of a dual-fisheye rig from its footage alone (no target).

Three stages, each on physics the footage constrains:

1. **Image circles** (``stitch.circle``). Outside its circle a fisheye records (nearly)
   black. On the brightest value of each pixel over the calibration frames, the drops
   along rays from the expected centre that lie on one circle (RANSAC, then least
   squares) give centre and radius per lens; only the part of the circle inside the frame
   counts. A circle that cannot be seen keeps the camera's nominal geometry, and the
   result says which was used.
2. **Geometry.** The directions about 90° off the axes are seen by both lenses. Both
   lenses' views of that band are unrolled into the overlap ring (``_ring``), contrast
   normalised (so exposure and vignetting do not matter), and corners tracked from one
   view into the other with pyramidal Lucas-Kanade, checked forwards and backwards. Each
   track is a pair of fisheye pixels that see the same direction. A robust least-squares
   fit (``scipy.optimize.least_squares``, soft-L1, then plain least squares on the
   inliers) over all frames gives the back lens' rotation relative to the front lens and
   the field of view (shared by both lenses: the same optics); the track-and-fit loop
   runs again from the new estimate until the update is negligible. The FOV starts from a
   coarse search (normalised correlation of the two views, 186° to 232°), trying its
   best few candidates until one's tracks fit.
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
from ..geometry import Rotation, distort_theta
from ..profile import LAYOUT_DUAL_FISHEYE_SBS, RigProfile
from ._ring import lens_project, lens_unproject, ring_dirs, ring_point_dirs
from .circle import find_image_circle


def least_squares(*args: Any, **kwargs: Any) -> Any:
    """``scipy.optimize.least_squares``, imported on first use (half a second that a stitch
    with a given rig, and every segment worker, would otherwise pay)."""
    from scipy.optimize import least_squares as solve

    return solve(*args, **kwargs)

__all__ = ["CalibrationResult", "calibrate_rig", "fit_image_circle", "srgb_lut", "read_calibration_frames", "load_prior"]

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
    :param photometric_rms: RMS of the log-ratio residuals (natural log units; 0.01 = 1%).
    :param motion_deg: largest camera rotation found between calibration frames; under a
        few degrees the vignetting depth is not observable and comes from the prior.
    :param vignetting_observed: True when camera motion constrained the vignetting.
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

    def summary(self) -> str:
        """A few human-readable lines: the estimates and the residuals."""
        lines = [
            f"frames {self.frames}, overlap tracks {self.matches}, ray residual {self.residual_deg:.4f} deg",
            "image circles: " + ", ".join(
                f"lens {i} {src}" + (f" (rms {rms:.2f}px)" if src == "fitted" else " (camera geometry)")
                for i, (src, rms) in enumerate(zip(self.circle_source or ("fitted",) * len(self.circle_rms_px), self.circle_rms_px))
            ),
        ]
        for i, lens in enumerate(self.rig.lenses):
            y, p, r = lens.rotation_ypr
            lines.append(
                f"lens {i}: centre ({lens.center[0]:.2f}, {lens.center[1]:.2f}) radius {lens.radius:.2f} "
                f"fov {lens.fov_deg:.3f} ypr ({y:.3f}, {p:.3f}, {r:.3f}) exposure {lens.exposure:.4f} "
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


# ---- stage 2: geometry ----------------------------------------------------------------------
def _normalise(gray: NDArray[np.float32], sigma: float) -> NDArray[np.uint8]:
    """Local contrast normalisation, as uint8 around 128 (for Lucas-Kanade)."""
    mean = cv2.GaussianBlur(gray, (0, 0), sigma)
    d = gray - mean
    sd = np.sqrt(cv2.GaussianBlur(d * d, (0, 0), sigma * 1.5)) + 2.0
    return np.clip(128.0 + 40.0 * d / sd, 0, 255).astype(np.uint8)


def _ring_size(rig: RigProfile, scale: float = 1.25) -> tuple[int, int, float]:
    focal = float(np.mean([l.focal for l in rig.lenses]))
    overlap = max(1.0, max(l.fov_deg for l in rig.lenses) - 180.0)
    half = math.radians(overlap / 2.0 + 1.5)
    width = int(round(2.0 * np.pi * focal * scale / 8.0)) * 8
    rows = int(round(2.0 * half * focal * scale))
    return width, rows, half


def _track_overlap(frames: list[NDArray[np.uint8]], rig: RigProfile, max_corners: int = 500) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pairs of frame positions (N, 2), (N, 2): front and back lens pixels seeing one direction."""
    width, rows, half = _ring_size(rig)
    dirs = ring_dirs(width, rows, half)
    maps, valids = [], []
    for lens in rig.lenses:
        xy, valid, _ = lens_project(lens, dirs, margin_px=3.0)
        maps.append((xy[..., 0].astype(np.float32) - 0.5, xy[..., 1].astype(np.float32) - 0.5))
        valids.append(valid)
    both = (valids[0] & valids[1]).astype(np.uint8)
    both = cv2.erode(both, np.ones((9, 9), np.uint8))
    both[:, :12] = 0
    both[:, -12:] = 0
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.003))
    front_pts, back_pts = [], []
    for frame in frames:
        views = []
        for mx, my in maps:
            strip = cv2.remap(frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            views.append(_normalise(strip.astype(np.float32) @ _LUMA, 2.5))
        p0 = cv2.goodFeaturesToTrack(views[0], max_corners, 0.02, 6, mask=both, blockSize=7)
        if p0 is None or len(p0) < 4:
            continue
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(views[0], views[1], p0, None, **lk)
        p0r, st2, _ = cv2.calcOpticalFlowPyrLK(views[1], views[0], p1, None, **lk)
        ok = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((p0r - p0)[:, 0], axis=1) < 0.1)
        a, b = p0[ok, 0].astype(np.float64), p1[ok, 0].astype(np.float64)
        inside = (b[:, 0] > 8) & (b[:, 0] < width - 8) & (b[:, 1] > 2) & (b[:, 1] < rows - 2)
        a, b = a[inside], b[inside]
        bi = np.clip(np.round(b).astype(int), 0, [width - 1, rows - 1])
        keep = both[bi[:, 1], bi[:, 0]] > 0
        a, b = a[keep], b[keep]
        # cv2 point (x, y) is pixel x's centre: strip coordinate x + 0.5
        fa, _, _ = lens_project(rig.lenses[0], ring_point_dirs(a + 0.5, width, rows, half))
        fb, _, _ = lens_project(rig.lenses[1], ring_point_dirs(b + 0.5, width, rows, half))
        front_pts.append(fa)
        back_pts.append(fb)
    if not front_pts:
        return np.empty((0, 2)), np.empty((0, 2))
    return np.concatenate(front_pts), np.concatenate(back_pts)


def _search_fov(frames: list[NDArray[np.uint8]], rig: RigProfile, lo: float = 186.0, hi: float = 232.0) -> list[float]:
    """Coarse FOVs (shared) at which the two lenses' views of the overlap agree best (NCC),
    best first: the best refined by a parabola, then the next local maxima."""
    fov0 = 0.5 * (rig.lenses[0].fov_deg + rig.lenses[1].fov_deg)
    cands = np.arange(lo, hi + 0.01, 1.0)
    scores = []
    width, rows, half = _ring_size(rig.replace(lenses=tuple(l.replace(fov_deg=hi) for l in rig.lenses)), scale=0.6)
    dirs = ring_dirs(width, rows, half)
    for fov in cands:
        r = rig.replace(lenses=tuple(l.replace(fov_deg=l.fov_deg - fov0 + fov) for l in rig.lenses))
        views, valids = [], []
        for lens in r.lenses:
            xy, valid, _ = lens_project(lens, dirs, margin_px=10.0)
            mx, my = xy[..., 0].astype(np.float32) - 0.5, xy[..., 1].astype(np.float32) - 0.5
            acc = [cv2.remap(f, mx, my, cv2.INTER_LINEAR).astype(np.float32) @ _LUMA for f in frames]
            views.append([_normalise(a, 3.0).astype(np.float32) - 128.0 for a in acc])
            valids.append(valid)
        m = valids[0] & valids[1]
        if m.sum() < 3 * width:  # a sliver of overlap correlates by chance
            scores.append(-1.0)
            continue
        num = sum(float(np.sum(a[m] * b[m])) for a, b in zip(*views))
        den = math.sqrt(sum(float(np.sum(a[m] ** 2)) for a in views[0]) * sum(float(np.sum(b[m] ** 2)) for b in views[1]))
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


def _rotvec_matrix(w: NDArray[np.float64]) -> NDArray[np.float64]:
    angle = float(np.linalg.norm(w))
    if angle < 1e-15:
        return np.eye(3)
    return Rotation.from_axis_angle(w / angle, angle).matrix


def _fit_geometry(
    rig: RigProfile, pf: NDArray[np.float64], pb: NDArray[np.float64], *, fit_fov: bool
) -> tuple[RigProfile, float, int]:
    """Least-squares fit of the back lens' rotation and the shared FOV to overlap tracks."""
    front, back = rig.lenses
    rf = front.rotation().matrix
    rb0 = back.rotation().matrix
    kf, kb = tuple(front.distortion), tuple(back.distortion)
    fov0 = 0.5 * (front.fov_deg + back.fov_deg)
    dfov = (front.fov_deg - fov0, back.fov_deg - fov0)

    # parameters: the back lens' rotation vector (radians, applied in its own frame) and,
    # when fitted, the shared field of view (degrees)
    def rays(
        x: NDArray[np.float64], pf: NDArray[np.float64], pb: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        fov = x[3] if fit_fov else fov0
        ff = front.radius / float(distort_theta(math.radians(fov + dfov[0]) / 2.0, kf))
        fb = back.radius / float(distort_theta(math.radians(fov + dfov[1]) / 2.0, kb))
        a = lens_unproject(pf, front.center, ff, kf) @ rf.T  # type: ignore[arg-type]
        b = lens_unproject(pb, back.center, fb, kb) @ (rb0 @ _rotvec_matrix(x[:3])).T  # type: ignore[arg-type]
        return a, b

    def resid(x: NDArray[np.float64], pf: NDArray[np.float64], pb: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = rays(x, pf, pb)
        return (a - b).ravel()

    x0 = np.array([0.0, 0.0, 0.0, fov0] if fit_fov else [0.0, 0.0, 0.0])
    x_scale = [1e-3, 1e-3, 1e-3, 0.1][: len(x0)]
    scale = 0.3 / front.focal  # about 0.3 px, in radians
    x = least_squares(resid, x0, args=(pf, pb), loss="soft_l1", f_scale=scale, x_scale=x_scale).x
    a, b = rays(x, pf, pb)
    err = np.linalg.norm(a - b, axis=1)
    inl = err < max(4.0 * scale, 3.0 * float(np.median(err)))
    # refit on the inliers with a plain (Gaussian) loss: unbiased once outliers are gone
    if inl.sum() >= 20:
        pf, pb = pf[inl], pb[inl]
        x = least_squares(resid, x, args=(pf, pb), x_scale=x_scale).x
        a, b = rays(x, pf, pb)
        err = np.linalg.norm(a - b, axis=1)
    fov = float(x[3]) if fit_fov else fov0
    rb = Rotation(rb0 @ _rotvec_matrix(x[:3]))
    new = rig.with_lens(0, front.replace(fov_deg=fov + dfov[0])).with_lens(
        1, back.replace(fov_deg=fov + dfov[1], rotation_ypr=rb.as_ypr())
    )
    return new, float(np.degrees(np.sqrt(np.mean(err * err)))), int(len(err))


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
) -> CalibrationResult:
    """Estimate a side-by-side dual-fisheye rig from its frames.

    :param frames: RGB uint8 frames (h, w, 3) of the recording; the first ``max_frames``
        are used, so pass frames spread over the recording (and, for vignetting, ones
        where the camera turns).
    :param frame_size: (width, height) of the frames.
    :param nominal: starting rig (circle guesses, distortion, FOV, vignetting shape);
        default ``RigProfile.nominal(frame_size)``.
    :param fit_fov: estimate the field of view (shared by both lenses); otherwise keep the
        nominal's.
    :param photometric: estimate exposure, colour gain and vignetting.
    :param iterations: track-and-fit rounds of the geometric stage (at most).
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
    circle_rms: list[float] = []
    circle_source: list[str] = []
    half = w // 2
    for i, lens in enumerate(nominal.lenses):
        x0 = 0 if lens.center[0] < half else half
        fit = find_image_circle(peak[:, x0 : x0 + half], (lens.center[0] - x0, lens.center[1], lens.radius))
        if fit.found:
            lenses.append(lens.replace(center=(fit.center[0] + x0, fit.center[1]), radius=fit.radius))
            if fit.rms > 1.5:
                warnings.append(f"lens {i}: ragged image circle (rms {fit.rms:.2f} px)")
        else:  # the camera's own geometry: a wrong guessed circle is worse than the nominal
            lenses.append(lens)
            warnings.append(f"lens {i}: image circle not seen ({fit.reason}); using the camera's nominal circle")
        circle_rms.append(fit.rms)
        circle_source.append("fitted" if fit.found else "nominal")
    rig = nominal.replace(lenses=tuple(lenses))

    # stage 2: rotation and FOV from overlap tracks, re-tracked from each new estimate
    residual, n = float("nan"), 0
    geo_frames = picked[:: max(1, len(picked) // 6)][:6]
    fov0 = 0.5 * (rig.lenses[0].fov_deg + rig.lenses[1].fov_deg)
    starts = [rig]
    if fit_fov:  # the best coarse FOVs first, the nominal's last
        starts = [rig.replace(lenses=tuple(l.replace(fov_deg=l.fov_deg - fov0 + f) for l in rig.lenses)) for f in _search_fov(geo_frames[:3], rig)]
        starts.append(rig)
    chosen: tuple[RigProfile, float, int] | None = None
    most = 0
    for start in starts:  # first start whose tracks fit well; else the best fitting one
        pf, pb = _track_overlap(geo_frames, start)
        most = max(most, len(pf))
        if len(pf) < 30:
            continue
        fitted = _fit_geometry(start, pf, pb, fit_fov=fit_fov)
        if chosen is None or fitted[1] < chosen[1]:
            chosen = fitted
        if fitted[1] < 0.25:
            break
    if chosen is None:
        raise CalibrationError(f"only {most} feature tracks across the lens overlap: too little texture to calibrate")
    rig, residual, n = chosen
    for _ in range(1, iterations):
        pf, pb = _track_overlap(geo_frames, rig)
        if len(pf) < 30:
            break  # keep the estimate the previous round reached
        new, residual, n = _fit_geometry(rig, pf, pb, fit_fov=fit_fov)
        change = Rotation(new.lenses[1].rotation().matrix @ rig.lenses[1].rotation().matrix.T).angle
        dfov = abs(new.lenses[0].fov_deg - rig.lenses[0].fov_deg)
        rig = new
        if math.degrees(change) < 0.005 and dfov < 0.01:
            break
    if residual > 0.25:
        warnings.append(f"large ray residual {residual:.3f} deg: parallax, rolling shutter or a distortion the model lacks")

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
        "frames": len(picked),
        "photometric_rms": phot_rms,
        "motion_deg": motion,
        "vignetting_observed": observed,
        "image_circles": list(circle_source),
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
    )


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
        return gyroflow_rig(d, frame_size, fov_deg=fov_deg or 195.0)
    rig = RigProfile.from_dict(d, path=p)
    if tuple(rig.frame_size) != tuple(frame_size):
        raise InputError(f"prior rig is for {rig.frame_size[0]}x{rig.frame_size[1]} frames, video is {frame_size[0]}x{frame_size[1]}", path=p)
    if fov_deg:
        rig = rig.replace(lenses=tuple(l.replace(fov_deg=fov_deg) for l in rig.lenses))
    return rig
