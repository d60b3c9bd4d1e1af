"""Stage 2 of self-calibration: both lenses' intrinsics and the back lens' rotation.

**What the footage constrains.** A track across the overlap is a front pixel and a back
pixel that see one direction, 80-100° off both axes. Such tracks fix the back lens'
rotation and how the two lenses' mappings relate *in that band*: theta_back(r_b) as a
function of theta_front(r_f), their radial slopes, and the centres (a centre offset turns
the band's azimuths, which a tilt does not). They do not fix either mapping on its own:
adding an angle c to every front ray's incidence angle and taking it from every back ray's
leaves every overlap track consistent (to second order in the misalignment), so from a
still camera the lenses' focal lengths can only be split by a prior, and nothing at all
is learnt about the mapping inside 80°. A camera that turns between calibration frames
removes both gaps: a scene point seen by one lens in two frames lies on two rays related
by a rigid rotation, which no reshaping of the mapping imitates, and such tracks cover
the whole image circle. So the fit uses both kinds of tracks when it has them:

- overlap tracks: ``R_f u_f(p_f) = R_b u_b(p_b)``, one frame;
- motion tracks: ``M_a R_i u_i(p_a) = M_b R_i u_i(p_b)``, one lens i in frames a and b,
  with the camera's turn ``M_j`` per frame as a further unknown (frame 0: identity);

and a prior (regularisation residuals) holds what they leave open near the camera's
nominal values: each lens' focal length (2%), k1..k4 (each term's effect at the rim
within 3%, 1%, 0.3%, 0.1%), and the centre (near the image-circle fit, by how well that
circle fitted). Unknowns: per lens focal, k1..k4 and centre; the back lens' rotation; the
camera turns. The front lens defines the rig frame (rotation fixed). The field of view
is then where the fitted mapping reaches the image circle: ``2 theta(radius)``.

Everything is measured in angles, not pixels: the overlap ring is sampled at a fixed
number of pixels per degree (from a pyramid level of the frame that is not coarser),
motion features are found at a fixed angular scale, and noise levels and outlier limits
are angles, so 480 px and 5.7K lenses calibrate alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import Rotation, distort_theta, kabsch, undistort_theta
from ..profile import LensProfile, RigProfile
from ._ring import lens_project, lens_unproject, ring_dirs, ring_point_dirs

__all__ = ["LensPrior", "Tracks", "MotionMatches", "track_overlap", "fit_lenses", "ring_geometry", "RING_PX_PER_DEG"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)

RING_PX_PER_DEG = 6.0
"""Sampling of the overlap ring: LK windows (21 px = 3.5°) and corner spacing (1°) follow."""
MOTION_PX_PER_DEG = (4.0, 8.0)
"""Scales (at the lens axis) at which motion features are detected: the lens' own, within
these bounds (a coarser lens is upsampled, at most 2x; a finer one reduced)."""


def _motion_scale(focal: float) -> float:
    """Resampling of a lens image for motion features (see ``MOTION_PX_PER_DEG``)."""
    ppd = focal * math.pi / 180.0
    lo, hi = MOTION_PX_PER_DEG
    return float(min(2.0, max(lo / ppd, min(1.0, hi / ppd))))
K_RIM_SIGMA = (0.03, 0.01, 0.003, 0.001)
"""Prior spread of k1..k4 as each term's relative effect on the radius at the rim."""
MAX_OVERLAP_TRACKS = 1000
MAX_MOTION_TRACKS = 1500
FOCAL_SIGMA = 0.02
"""Prior spread of each lens' focal length (relative)."""


def _px_per_deg(lens: LensProfile) -> float:
    """Image pixels per degree of incidence angle around 90° off the axis."""
    k = lens.distortion
    t = math.pi / 2
    dd = 1.0 + t * t * (3 * k[0] + t * t * (5 * k[1] + t * t * (7 * k[2] + t * t * 9 * k[3])))
    return lens.focal * max(dd, 0.2) * math.pi / 180.0


def _normalise(gray: NDArray[np.float32], sigma: float) -> NDArray[np.uint8]:
    """Local contrast normalisation, as uint8 around 128 (for Lucas-Kanade)."""
    mean = cv2.GaussianBlur(gray, (0, 0), sigma)
    d = gray - mean
    sd = np.sqrt(cv2.GaussianBlur(d * d, (0, 0), sigma * 1.5)) + 2.0
    return np.clip(128.0 + 40.0 * d / sd, 0, 255).astype(np.uint8)


def ring_geometry(rig: RigProfile, px_per_deg: float = RING_PX_PER_DEG) -> tuple[int, int, float]:
    """(width, rows, half-height in radians) of the overlap ring at ``px_per_deg``."""
    overlap = max(1.0, max(l.fov_deg for l in rig.lenses) - 180.0)
    half_deg = overlap / 2.0 + 1.5
    width = int(round(360.0 * px_per_deg / 8.0)) * 8
    rows = int(round(2.0 * half_deg * px_per_deg))
    return width, rows, math.radians(half_deg)


class _Pyramid:
    """A frame's Gaussian pyramid, built as deep as a sampling asks for."""

    def __init__(self, frame: NDArray[np.uint8]) -> None:
        self.levels = [frame]

    def level_for(self, lens_px_per_deg: float, want_px_per_deg: float) -> tuple[NDArray[np.uint8], int]:
        """The coarsest level still at least as fine as ``want`` (no aliasing when sampled)."""
        lvl = 0
        while lens_px_per_deg / 2 ** (lvl + 1) >= want_px_per_deg and lvl < 5:
            lvl += 1
        while len(self.levels) <= lvl:
            self.levels.append(cv2.pyrDown(self.levels[-1]))
        return self.levels[lvl], lvl


def ring_views(
    pyramids: list[_Pyramid], rig: RigProfile, px_per_deg: float, margin_deg: float = 0.5,
    ring: tuple[int, int, float] | None = None,
) -> tuple[list[list[NDArray[np.float32]]], list[NDArray[np.bool_]], tuple[int, int, float]]:
    """Each frame's two views of the overlap ring (luma, float32) and where each lens sees
    it; ``ring`` (width, rows, half) defaults to ``rig``'s overlap at ``px_per_deg``."""
    width, rows, half = ring if ring is not None else ring_geometry(rig, px_per_deg)
    dirs = ring_dirs(width, rows, half)
    per_lens = []
    valids = []
    for lens in rig.lenses:
        ppd = _px_per_deg(lens)
        xy, valid, _ = lens_project(lens, dirs, margin_px=margin_deg * ppd)
        per_lens.append((xy, ppd))
        valids.append(valid)
    views: list[list[NDArray[np.float32]]] = []
    for pyr in pyramids:
        vs = []
        for xy, ppd in per_lens:
            img, lvl = pyr.level_for(ppd, px_per_deg)
            # pyrDown centres level pixel i on frame pixel 2i (not between 2i and 2i+1):
            # frame position x is level position (x + (2^L - 1) / 2) / 2^L
            s = 2.0**lvl
            off = 0.5 * (s - 1.0)
            mx = ((xy[..., 0] + off) / s - 0.5).astype(np.float32)
            my = ((xy[..., 1] + off) / s - 0.5).astype(np.float32)
            strip = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            vs.append(strip.astype(np.float32) @ _LUMA)
        views.append(vs)
    return views, valids, (width, rows, half)


def track_overlap(
    pyramids: list[_Pyramid], rig: RigProfile, max_corners: int = 600
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Front and back frame positions (N, 2) that see one direction, and each one's frame."""
    views, valids, (width, rows, half) = ring_views(pyramids, rig, RING_PX_PER_DEG)
    ppd = RING_PX_PER_DEG
    both = (valids[0] & valids[1]).astype(np.uint8)
    k = int(round(1.5 * ppd)) | 1  # 1.5° clear of where either lens stops
    both = cv2.erode(both, np.ones((k, k), np.uint8))
    win = int(round(3.5 * ppd)) | 1
    lk = dict(winSize=(win, win), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.003))
    fronts, backs, which = [], [], []
    for j, (vf, vb) in enumerate(views):
        a_img, b_img = _normalise(vf, 0.4 * ppd), _normalise(vb, 0.4 * ppd)
        p0 = cv2.goodFeaturesToTrack(a_img, max_corners, 0.02, ppd, mask=both, blockSize=7)
        if p0 is None or len(p0) < 4:
            continue
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(a_img, b_img, p0, None, **lk)
        p0r, st2, _ = cv2.calcOpticalFlowPyrLK(b_img, a_img, p1, None, **lk)
        # forward-backward agreement within 0.02°
        ok = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((p0r - p0)[:, 0], axis=1) < 0.02 * ppd)
        a, b = p0[ok, 0].astype(np.float64), p1[ok, 0].astype(np.float64)
        bi = np.round(b).astype(int)
        inside = (bi[:, 0] >= 0) & (bi[:, 0] < width) & (bi[:, 1] >= 0) & (bi[:, 1] < rows)
        a, b, bi = a[inside], b[inside], bi[inside]
        keep = both[bi[:, 1], bi[:, 0]] > 0
        a, b = a[keep], b[keep]
        # cv2 point (x, y) is pixel x's centre: strip coordinate x + 0.5
        fa, _, _ = lens_project(rig.lenses[0], ring_point_dirs(a + 0.5, width, rows, half))
        fb, _, _ = lens_project(rig.lenses[1], ring_point_dirs(b + 0.5, width, rows, half))
        fronts.append(fa)
        backs.append(fb)
        which.append(np.full(len(fa), j, np.int64))
    if not fronts:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0, np.int64)
    return np.concatenate(fronts), np.concatenate(backs), np.concatenate(which)


# ---- motion tracks ------------------------------------------------------------------------------
@dataclass
class _LensFeatures:
    points: NDArray[np.float64]  # frame positions (N, 2)
    desc: Any


def _lens_features(frame: NDArray[np.uint8], lens: LensProfile, x0: int, half_w: int) -> _LensFeatures:
    """SIFT features inside one lens' circle, found at ``MOTION_PX_PER_DEG`` on the axis."""
    scale = _motion_scale(lens.focal)
    gray = cv2.cvtColor(np.ascontiguousarray(frame[:, x0 : x0 + half_w]), cv2.COLOR_RGB2GRAY)
    h = gray.shape[0]
    small = cv2.resize(gray, (max(8, int(round(half_w * scale))), max(8, int(round(h * scale)))), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    sx, sy = small.shape[1] / half_w, small.shape[0] / h
    mask = np.zeros(small.shape, np.uint8)
    cv2.circle(mask, (int(round((lens.center[0] - x0) * sx)), int(round(lens.center[1] * sy))), int(lens.radius * sx * 0.97), 255, -1)
    kp, desc = cv2.SIFT_create(nfeatures=2500).detectAndCompute(small, mask)
    if desc is None or len(kp) == 0:
        return _LensFeatures(np.empty((0, 2)), None)
    pts = np.array([k.pt for k in kp], np.float64)
    pts = np.stack([(pts[:, 0] + 0.5) / sx + x0, (pts[:, 1] + 0.5) / sy], -1)
    return _LensFeatures(pts, desc)


def _ransac_rotation(va: NDArray[np.float64], vb: NDArray[np.float64], tol_rad: float, rng: np.random.Generator) -> NDArray[np.bool_]:
    best = np.zeros(len(va), bool)
    for _ in range(300):
        idx = rng.choice(len(va), 3, replace=False)
        m = kabsch(va[idx], vb[idx])
        inl = np.linalg.norm(va @ m.T - vb, axis=1) < tol_rad
        if inl.sum() > best.sum():
            best = inl
    return best


@dataclass
class MotionTrack:
    """Positions (N, 2) in frames a and b of points one lens saw in both."""

    lens: int
    frame_a: int
    frame_b: int
    pa: NDArray[np.float64]
    pb: NDArray[np.float64]


class MotionMatches:
    """Features each lens saw in two calibration frames (SIFT, ratio test), found once;
    ``tracks(rig)`` keeps the ones a camera turn explains under the current model."""

    def __init__(self, frames: list[NDArray[np.uint8]], rig: RigProfile) -> None:
        half_w = rig.frame_size[0] // 2
        feats = [[_lens_features(f, lens, 0 if lens.center[0] < half_w else half_w, half_w) for lens in rig.lenses] for f in frames]
        matcher = cv2.BFMatcher(cv2.NORM_L2)
        self.frames = len(frames)
        self.pairs: list[tuple[int, int, int, NDArray[np.float64], NDArray[np.float64]]] = []
        for a in range(len(frames)):
            for b in range(a + 1, len(frames)):
                for i in range(len(rig.lenses)):
                    fa, fb = feats[a][i], feats[b][i]
                    if fa.desc is None or fb.desc is None or len(fa.points) < 20 or len(fb.points) < 20:
                        continue
                    knn = matcher.knnMatch(fa.desc, fb.desc, k=2)
                    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
                    if len(good) >= 20:
                        self.pairs.append((a, b, i, fa.points[[m.queryIdx for m in good]], fb.points[[m.trainIdx for m in good]]))

    def tracks(self, rig: RigProfile, *, tol_deg: float, min_turn_deg: float = 3.0) -> tuple[list[MotionTrack], dict[int, NDArray[np.float64]]]:
        """The matches within ``tol_deg`` of a rigid camera turn (RANSAC over both lenses'
        rays) for frame pairs that turned at least ``min_turn_deg`` (a still camera's
        repeated views add nothing the overlap does not), and each frame's turn from frame 0
        (world dir = M_j rig dir); frames not linked to frame 0 are left out."""
        rng = np.random.default_rng(0)
        tracks: list[MotionTrack] = []
        turns: dict[tuple[int, int], NDArray[np.float64]] = {}
        for a in range(self.frames):
            for b in range(a + 1, self.frames):
                per_lens = [(i, pa, pb) for (fa, fb, i, pa, pb) in self.pairs if (fa, fb) == (a, b)]
                if not per_lens:
                    continue
                rays_a, rays_b = [], []
                for i, pa, pb in per_lens:
                    lens = rig.lenses[i]
                    rot = lens.rotation().matrix
                    rays_a.append(lens_unproject(pa, lens.center, lens.focal, lens.distortion) @ rot.T)  # type: ignore[arg-type]
                    rays_b.append(lens_unproject(pb, lens.center, lens.focal, lens.distortion) @ rot.T)  # type: ignore[arg-type]
                va, vb = np.concatenate(rays_a), np.concatenate(rays_b)
                inl = _ransac_rotation(va, vb, math.radians(tol_deg), rng)
                if inl.sum() < 20:
                    continue
                m = kabsch(va[inl], vb[inl])  # rig_b = m rig_a for one world point
                if math.degrees(Rotation(m).angle) < min_turn_deg:
                    continue
                turns[(a, b)] = m
                start = 0
                for i, pa, pb in per_lens:
                    sel = inl[start : start + len(pa)]
                    start += len(pa)
                    if sel.sum() >= 8:
                        tracks.append(MotionTrack(i, a, b, pa[sel], pb[sel]))
        # each frame's turn from frame 0, through any chain of linked pairs
        motion: dict[int, NDArray[np.float64]] = {0: np.eye(3)}
        for _ in range(self.frames):
            for (a, b), m in turns.items():
                # a world direction d: rig_a = M_a^T d, rig_b = M_b^T d = m rig_a -> M_b = M_a m^T
                if a in motion and b not in motion:
                    motion[b] = motion[a] @ m.T
                elif b in motion and a not in motion:
                    motion[a] = motion[b] @ m
        tracks = [t for t in tracks if t.frame_a in motion and t.frame_b in motion]
        return tracks, motion


# ---- the joint fit -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LensPrior:
    """Where a lens' intrinsics are expected and how far they may stray."""

    focal: float
    distortion: tuple[float, float, float, float]
    center: tuple[float, float]
    center_sigma_px: float
    focal_sigma: float = FOCAL_SIGMA
    k_rim_sigma: tuple[float, float, float, float] = K_RIM_SIGMA


@dataclass
class Tracks:
    """Everything the fit matches: overlap tracks and motion tracks with the frames' turns."""

    front: NDArray[np.float64]
    back: NDArray[np.float64]
    motion: list[MotionTrack] = field(default_factory=list)
    turns: dict[int, NDArray[np.float64]] = field(default_factory=dict)


@dataclass(frozen=True)
class FitReport:
    """A fitted rig and how well its tracks agree (RMS angles in degrees, inlier counts)."""

    rig: RigProfile
    overlap_rms_deg: float
    overlap_tracks: int
    motion_rms_deg: float
    motion_tracks: int


def _rotvec(w: NDArray[np.float64]) -> NDArray[np.float64]:
    angle = float(np.linalg.norm(w))
    if angle < 1e-15:
        return np.eye(3)
    return Rotation.from_axis_angle(w / angle, angle).matrix


def _monotone(k: tuple[float, ...], theta_max: float) -> bool:
    t = np.linspace(0.0, theta_max, 200)
    t2 = t * t
    dd = 1.0 + t2 * (3 * k[0] + t2 * (5 * k[1] + t2 * (7 * k[2] + t2 * 9 * k[3])))
    return bool(np.all(dd > 0.05))


def fit_lenses(
    rig: RigProfile,
    tracks: Tracks,
    priors: tuple[LensPrior, LensPrior],
    *,
    fit_intrinsics: bool = True,
    fit_fov: bool = True,
) -> FitReport:
    """Least-squares fit of both lenses' intrinsics, the back lens' rotation and the camera
    turns to the tracks, with the priors (see the module docstring).

    ``fit_fov`` False keeps each lens' FOV and distortion (only centres, rotation and, through
    them, nothing else change); ``fit_intrinsics`` False fits the rotation alone.
    """
    lenses = rig.lenses
    rf = lenses[0].rotation().matrix
    rb0 = lenses[1].rotation().matrix
    ppd = min(_px_per_deg(l) for l in lenses)
    # track noise: LK's precision in the ring, or a tenth of a lens pixel when coarser
    sig_o = math.radians(max(0.01, 0.1 / ppd))
    # SIFT keypoints: about 0.3 px at the scale they were found at
    f_min = min(l.focal for l in lenses)
    sig_m = math.radians(max(0.02, 0.3 / (f_min * math.pi / 180.0 * _motion_scale(f_min))))
    frames_m = sorted(j for j in tracks.turns if j != 0)
    mt = [t for t in tracks.motion if t.frame_a in tracks.turns and t.frame_b in tracks.turns] if fit_intrinsics else []
    if not mt:
        frames_m = []
    n_lens = 7 if fit_intrinsics else 0
    n_par = 3 + 2 * n_lens + 3 * len(frames_m)
    fidx = {j: 3 + 2 * n_lens + 3 * q for q, j in enumerate(frames_m)}
    th_max = [l.max_theta for l in lenses]
    # without motion tracks the overlap sees only a band of incidence angles, where a
    # k-term and the focal length act alike: the distortion stays at the prior's (50x
    # firmer) and the focal lengths take what the band shows
    firm = (0.02, 0.02, 0.02, 0.02) if not mt else (1.0, 1.0, 1.0, 1.0)
    k_scale = [np.array([s * g / th**(2 * (n + 1)) for n, (s, g) in enumerate(zip(p.k_rim_sigma, firm))]) for p, th in zip(priors, th_max)]

    def intr(x: NDArray[np.float64], i: int) -> tuple[tuple[float, float], float, tuple[float, float, float, float]]:
        lens = lenses[i]
        if not fit_intrinsics:
            return lens.center, lens.focal, lens.distortion  # type: ignore[return-value]
        o = 3 + n_lens * i
        f = priors[i].focal * math.exp(x[o])
        if fit_fov:
            k = tuple(float(v) for v in x[o + 1 : o + 5])
        else:
            k = tuple(lens.distortion)
            f = lens.focal
        return (float(x[o + 5]), float(x[o + 6])), f, k  # type: ignore[return-value]

    def turn(x: NDArray[np.float64], j: int) -> NDArray[np.float64]:
        o = fidx.get(j)
        if o is None:  # frame 0 (the reference), or a frame number no motion track uses
            return np.eye(3)
        return tracks.turns[j] @ _rotvec(x[o : o + 3])

    # a few thousand tracks pin some 30 unknowns; more only slow the solver (rng: reproducible)
    rng = np.random.default_rng(1)
    pf, pb = tracks.front, tracks.back
    if len(pf) > MAX_OVERLAP_TRACKS:
        pick = np.sort(rng.choice(len(pf), MAX_OVERLAP_TRACKS, replace=False))
        pf, pb = pf[pick], pb[pick]
    n_motion = sum(len(t.pa) for t in mt)
    if n_motion > MAX_MOTION_TRACKS:
        share = MAX_MOTION_TRACKS / n_motion
        thinned = []
        for t in mt:
            pick = np.sort(rng.choice(len(t.pa), max(8, int(len(t.pa) * share)), replace=False))
            thinned.append(MotionTrack(t.lens, t.frame_a, t.frame_b, t.pa[pick], t.pb[pick]))
        mt = thinned

    n_frames = max([0, *tracks.turns]) + 1
    groups: list[tuple[int, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]]] = []

    def regroup(mt: list[MotionTrack]) -> None:
        """One array per lens of all its motion tracks (in ``mt``'s order, which is by lens)."""
        groups.clear()
        for i in range(2):
            ts = [t for t in mt if t.lens == i]
            if ts:
                groups.append((i, (
                    np.concatenate([t.pa for t in ts]), np.concatenate([t.pb for t in ts]),
                    np.concatenate([np.full(len(t.pa), t.frame_a) for t in ts]),
                    np.concatenate([np.full(len(t.pa), t.frame_b) for t in ts]),
                )))

    mt = sorted(mt, key=lambda t: t.lens)
    regroup(mt)

    def residuals(x: NDArray[np.float64], parts: bool = False) -> Any:
        c0, f0, k0 = intr(x, 0)
        c1, f1, k1 = intr(x, 1)
        rb = rb0 @ _rotvec(x[:3])
        rots = (rf, rb)
        intrs = ((c0, f0, k0), (c1, f1, k1))
        a = lens_unproject(pf, c0, f0, k0) @ rf.T
        b = lens_unproject(pb, c1, f1, k1) @ rb.T
        r_o = ((a - b) / sig_o).ravel()
        r_m = []
        if groups:
            turns_x = np.stack([turn(x, j) for j in range(n_frames)])
        for i, (qa, qb, fa, fb) in groups:
            c, f, k = intrs[i]
            da = lens_unproject(qa, c, f, k) @ rots[i].T
            db = lens_unproject(qb, c, f, k) @ rots[i].T
            da = np.einsum("nij,nj->ni", turns_x[fa], da)
            db = np.einsum("nij,nj->ni", turns_x[fb], db)
            r_m.append(((da - db) / sig_m).ravel())
        r_m_all = np.concatenate(r_m) if r_m else np.empty(0)
        r_p = []
        if fit_intrinsics:
            for i in range(2):
                o = 3 + n_lens * i
                p = priors[i]
                r_p.append([x[o] / p.focal_sigma])
                if fit_fov:
                    r_p.append((x[o + 1 : o + 5] - np.asarray(p.distortion)) / k_scale[i])
                r_p.append((x[o + 5 : o + 7] - np.asarray(p.center)) / p.center_sigma_px)
        if fit_intrinsics and fit_fov and not mt:
            # a still camera: the overlap cannot split the lenses (module docstring); keep
            # their focal lengths and distortions as the prior relates them (same design)
            o0, o1 = 3, 3 + n_lens
            r_p.append([(x[o0] - x[o1]) / 1e-3])
            dk = (x[o0 + 1 : o0 + 5] - np.asarray(priors[0].distortion)) - (x[o1 + 1 : o1 + 5] - np.asarray(priors[1].distortion))
            r_p.append(dk / (0.1 * k_scale[0]))
        r_prior = np.concatenate([np.atleast_1d(np.asarray(v, np.float64)) for v in r_p]) if r_p else np.empty(0)
        if parts:
            return r_o, r_m_all, r_prior
        return np.concatenate([r_o, r_m_all, r_prior])

    x0 = np.zeros(n_par)
    xs = np.full(n_par, 1e-3)
    for i in range(2 if fit_intrinsics else 0):
        o = 3 + n_lens * i
        x0[o] = math.log(lenses[i].focal / priors[i].focal)
        x0[o + 1 : o + 5] = lenses[i].distortion
        x0[o + 5 : o + 7] = lenses[i].center
        xs[o] = 1e-3
        xs[o + 1 : o + 5] = k_scale[i] * 0.1
        xs[o + 5 : o + 7] = 0.1
    r_o0, r_m0, _ = residuals(x0, parts=True)
    x = _levenberg_marquardt(residuals, x0, xs, n_robust=len(r_o0) + len(r_m0))
    r_o, r_m, _ = residuals(x, parts=True)
    e_o = np.linalg.norm(r_o.reshape(-1, 3), axis=1)
    keep_o = e_o < max(4.0, 3.0 * float(np.median(e_o))) if len(e_o) else np.zeros(0, bool)
    e_m_list, start = [], 0
    for t in mt:
        n = len(t.pa)
        e = np.linalg.norm(r_m[start * 3 : (start + n) * 3].reshape(-1, 3), axis=1)
        e_m_list.append(e)
        start += n
    med_m = float(np.median(np.concatenate(e_m_list))) if e_m_list else 0.0
    if keep_o.sum() >= 20:
        pf, pb = pf[keep_o], pb[keep_o]
    new_mt = []
    for t, e in zip(mt, e_m_list):
        sel = e < max(4.0, 3.0 * med_m)
        if sel.sum() >= 8:
            new_mt.append(MotionTrack(t.lens, t.frame_a, t.frame_b, t.pa[sel], t.pb[sel]))
    if len(new_mt) == len(mt):
        mt = new_mt
        regroup(mt)
    x = _levenberg_marquardt(residuals, x, xs, n_robust=0)
    r_o, r_m, _ = residuals(x, parts=True)
    e_o = np.linalg.norm(r_o.reshape(-1, 3), axis=1) * sig_o
    e_m = np.linalg.norm(r_m.reshape(-1, 3), axis=1) * sig_m if len(r_m) else np.empty(0)

    out = []
    for i, lens in enumerate(lenses):
        c, f, k = intr(x, i)
        if fit_intrinsics and fit_fov:
            if not _monotone(k, math.radians(120.0)):
                k = tuple(lens.distortion)  # type: ignore[assignment]
            fov = math.degrees(2.0 * float(undistort_theta(lens.radius / f, k)))
        else:
            fov = lens.fov_deg
        new = lens.replace(center=c, distortion=k, fov_deg=fov)
        if i == 1:
            new = new.replace(rotation_ypr=Rotation(rb0 @ _rotvec(x[:3])).as_ypr())
        out.append(new)
    fitted = rig.replace(lenses=tuple(out))
    return FitReport(
        fitted,
        float(np.degrees(np.sqrt(np.mean(e_o**2)))) if len(e_o) else float("nan"),
        int(len(e_o)),
        float(np.degrees(np.sqrt(np.mean(e_m**2)))) if len(e_m) else float("nan"),
        int(len(e_m)),
    )


def _levenberg_marquardt(
    fun: Any, x0: NDArray[np.float64], scale: NDArray[np.float64], *, n_robust: int, iterations: int = 30
) -> NDArray[np.float64]:
    """Minimise the sum of squares of ``fun(x)`` (residuals in units of their sigma) by
    Levenberg-Marquardt with forward-difference Jacobians; the first ``n_robust`` residuals
    (track residuals, in 3-vectors) get soft-L1 weights (scale 3 sigma) by reweighting each
    iteration, the rest (the prior) plain squares.

    Written out rather than ``scipy.optimize.least_squares``: that one factors the whole
    Jacobian by SVD every step, which on a few thousand tracks with BLAS threads fighting
    over two cores took seconds a step; here the normal equations are 30 x 30.
    """

    def weights(r: NDArray[np.float64]) -> NDArray[np.float64]:
        w = np.ones(len(r))
        if n_robust:
            e = np.linalg.norm(r[:n_robust].reshape(-1, 3), axis=1)
            w[:n_robust] = np.repeat(1.0 / np.sqrt(np.sqrt(1.0 + (e / 3.0) ** 2)), 3)
        return w

    x = np.asarray(x0, np.float64).copy()
    lam = 1e-3
    r = fun(x)
    for _ in range(iterations):
        w = weights(r)
        rw = r * w
        h = scale * 1e-3
        jac = np.empty((len(r), len(x)))
        for j in range(len(x)):
            xj = x.copy()
            xj[j] += h[j]
            jac[:, j] = (fun(xj) - r) * w / h[j]
        a = jac.T @ jac
        g = jac.T @ rw
        cost = float(rw @ rw)
        d = np.diag(a).copy() + 1e-12
        improved = False
        for _ in range(10):
            dx = np.linalg.solve(a + lam * np.diag(d), -g)
            r_new = fun(x + dx)
            if float(((r_new * w) ** 2).sum()) < cost:
                x, r = x + dx, r_new
                lam = max(lam / 3.0, 1e-7)
                improved = True
                break
            lam *= 4.0
        if not improved or float(np.max(np.abs(dx) / scale)) < 1e-3:
            break
    return x


def priors_for(rig: RigProfile, nominal: RigProfile, circle_rms: tuple[float, ...]) -> tuple[LensPrior, LensPrior]:
    """Each lens' prior: the nominal's distortion and the focal length that closes its mapping
    at the nominal FOV on the fitted circle; the centre at the circle fit's, held as firmly
    as the circle fitted (a ragged circle leaves the centre to the tracks)."""
    out = []
    for lens, nom, rms in zip(rig.lenses, nominal.lenses, circle_rms):
        focal = lens.radius / float(distort_theta(nom.max_theta, nom.distortion))
        # the optical centre is the image circle's (the lens barrel centres both); a clean
        # circle fit places it to a fraction of its edge scatter, a ragged one hardly at all
        sigma = float(np.clip(0.25 * rms, 0.05, 0.05 * lens.radius))
        out.append(LensPrior(focal=focal, distortion=tuple(nom.distortion), center=lens.center, center_sigma_px=sigma))  # type: ignore[arg-type]
    return out[0], out[1]
