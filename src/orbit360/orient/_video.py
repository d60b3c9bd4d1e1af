"""Frame-to-frame camera rotation measured from the pictures, and the telemetry-to-video
time offset found by matching it against the gyro.

Rotation between two equirect frames: corners tracked with pyramidal Lucas-Kanade,
turned into unit directions on the sphere, and the rotation that best maps one set onto
the other found in closed form (Kabsch/SVD), refitted on the inliers. A static point
seen at rig direction ``d_i`` in frame i is at ``Δ⁻¹ d_i`` in frame i+1, where ``Δ`` is
the camera's body-frame rotation between the frames, as the gyro integrates it.

The offset: the angle the camera turned between consecutive frames, from the video and
from the gyro track shifted by each candidate offset, correlated over the clip; the
best candidate is refined by a parabola through its neighbours. Angles do not depend on
how the IMU axes sit in the rig, so the offset is found before the axes are known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..geometry import equirect_to_dirs, kabsch

if TYPE_CHECKING:
    from ..profile import RigProfile
from ._imu import OrientationTrack
from ..geometry.quaternions import angle_between, matrix_to_rotvec, qconj, qmul, to_rotvec

__all__ = [
    "VideoMotion",
    "measure_video_motion",
    "rotation_between",
    "estimate_time_offset",
    "estimate_axes",
    "estimate_gyro_bias",
    "measure_rig_motion",
]

# Equirect frames are reduced to this width before tracking: rotation needs geometry,
# not detail, and it keeps a 5.7K stream cheap.
TRACK_WIDTH = 512
MAX_PAIRS = 1500


@dataclass(frozen=True, eq=False)
class VideoMotion:
    """Rotation between consecutive frames: ``rotvecs[i]`` (rig frame, radians) turns the
    camera from frame i to frame i+1; ``t0``/``t1`` are their times (s, video clock).
    ``valid[i]`` is False where too few points were tracked."""

    t0: NDArray[np.float64]
    t1: NDArray[np.float64]
    rotvecs: NDArray[np.float64]
    valid: NDArray[np.bool_]

    @property
    def angles(self) -> NDArray[np.float64]:
        return np.linalg.norm(self.rotvecs, axis=1)


def _gray_small(frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if gray.shape[1] > TRACK_WIDTH:
        gray = cv2.resize(gray, (TRACK_WIDTH, TRACK_WIDTH // 2), interpolation=cv2.INTER_AREA)
    return gray


def _fit_rotation(da: NDArray[np.float64], db: NDArray[np.float64], tol: float, min_points: int) -> NDArray[np.float64] | None:
    """Body rotation ``Δ`` from matched rig directions (``db ≈ Δ⁻¹ da``), refitted on
    inliers so moving objects and bad tracks drop out; None with too few points."""
    if da.shape[0] < min_points:
        return None
    keep = np.ones(da.shape[0], bool)
    r = kabsch(da, db)
    for _ in range(3):
        err = np.linalg.norm(da @ r.T - db, axis=1)
        new_keep = err <= max(3.0 * np.median(err[keep]), tol)
        if new_keep.sum() < min_points or np.array_equal(new_keep, keep):
            break
        keep = new_keep
        r = kabsch(da[keep], db[keep])
    # Points move by Δ⁻¹: the fitted r is Δ⁻¹, so Δ = rᵀ.
    return r.T


def _track(prev: NDArray[np.uint8], nxt: NDArray[np.uint8], mask: NDArray[np.uint8]) -> tuple[NDArray, NDArray]:
    """Corners of ``prev`` and where they went in ``nxt`` (OpenCV pixel coordinates)."""
    p0 = cv2.goodFeaturesToTrack(prev, maxCorners=400, qualityLevel=0.01, minDistance=6, mask=mask)
    if p0 is None:
        return np.zeros((0, 2)), np.zeros((0, 2))
    p1, status, _ = cv2.calcOpticalFlowPyrLK(prev, nxt, p0, None, winSize=(21, 21), maxLevel=3)
    ok = status[:, 0] == 1
    return p0[ok, 0].astype(np.float64), p1[ok, 0].astype(np.float64)


def rotation_between(prev: NDArray[np.uint8], nxt: NDArray[np.uint8], *, min_points: int = 12) -> NDArray[np.float64] | None:
    """Body rotation matrix ``Δ`` of the camera from equirect frame ``prev`` to ``nxt``
    (gray, as ``_gray_small`` makes them), or None when too few points track."""
    h, w = prev.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[h // 6 : h - h // 6] = 255  # poles are stretched: trackable corners there mislead
    a, b = _track(prev, nxt, mask)
    if a.shape[0] < min_points:
        return None
    # OpenCV puts pixel centres at integers; geometry at +0.5.
    da, db = equirect_to_dirs(a + 0.5, (w, h)), equirect_to_dirs(b + 0.5, (w, h))
    return _fit_rotation(da, db, 2.0 * np.pi / w, min_points)


def measure_video_motion(frames: Iterable[NDArray[np.uint8]], times: ArrayLike) -> VideoMotion:
    """Rotation between each pair of consecutive equirect frames (RGB or gray, rig frame)."""
    times = np.asarray(times, dtype=np.float64)
    rotvecs: list[NDArray[np.float64]] = []
    valid: list[bool] = []
    prev = None
    for frame in frames:
        small = _gray_small(np.asarray(frame))
        if prev is not None:
            delta = rotation_between(prev, small)
            valid.append(delta is not None)
            rotvecs.append(np.zeros(3) if delta is None else matrix_to_rotvec(delta))
        prev = small
    n = len(rotvecs)
    if times.shape[0] < n + 1:
        raise ValueError(f"{n + 1} frames but {times.shape[0]} times")
    return VideoMotion(times[:n], times[1 : n + 1], np.array(rotvecs).reshape(n, 3), np.array(valid, bool))


def _gyro_steps(track: OrientationTrack, t0: NDArray, t1: NDArray) -> NDArray[np.float64]:
    """Body rotation quaternions of the track between t0[i] and t1[i]."""
    return qmul(qconj(track.at(t0)), track.at(t1))


def estimate_time_offset(
    track: OrientationTrack, motion: VideoMotion, *, search_s: float = 1.0, step_s: float = 0.002
) -> tuple[float, float]:
    """Offset (s) to add to video times to get telemetry times, and the correlation at it.

    Candidates every ``step_s`` within ±``search_s``; the peak is refined by a parabola.
    """
    ok = motion.valid
    t0, t1, video = motion.t0[ok], motion.t1[ok], motion.angles[ok]
    if video.shape[0] < 4 or video.std() == 0:
        return 0.0, 0.0
    if video.shape[0] > MAX_PAIRS:  # a long clip: evenly spaced pairs are plenty
        pick = np.linspace(0, video.shape[0] - 1, MAX_PAIRS).round().astype(int)
        t0, t1, video = t0[pick], t1[pick], video[pick]
    offsets = np.arange(-search_s, search_s + step_s / 2, step_s)
    # Vectorised slerps for (offset, frame pair) rows, in chunks that bound memory.
    gyro = np.empty((offsets.shape[0], t0.shape[0]))
    per_chunk = max(1, 200_000 // t0.shape[0])
    for c in range(0, offsets.shape[0], per_chunk):
        a = np.repeat(offsets[c : c + per_chunk], t0.shape[0])
        reps = a.shape[0] // t0.shape[0]
        gyro[c : c + reps] = angle_between(track.at(np.tile(t0, reps) + a), track.at(np.tile(t1, reps) + a)).reshape(reps, -1)
    v = (video - video.mean()) / video.std()
    g = gyro - gyro.mean(axis=1, keepdims=True)
    g_std = g.std(axis=1)
    score = np.where(g_std > 0, (g @ v) / (np.maximum(g_std, 1e-12) * v.shape[0]), -1.0)
    k = int(np.argmax(score))
    best = offsets[k]
    if 0 < k < offsets.shape[0] - 1:
        y0, y1, y2 = score[k - 1 : k + 2]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            best += step_s * 0.5 * (y0 - y2) / denom
    return float(best), float(score[k])


def estimate_axes(track: OrientationTrack, motion: VideoMotion, offset: float) -> NDArray[np.float64] | None:
    """Rotation A that best maps the track's body rotations onto the video's (rig frame):
    the IMU's true orientation in the rig when ``imu_to_rig`` was wrong. None when the
    motion does not turn about at least two axes (A is then not determined)."""
    ok = motion.valid
    gyro = to_rotvec(_gyro_steps(track, motion.t0[ok] + offset, motion.t1[ok] + offset))
    video = motion.rotvecs[ok]
    if gyro.shape[0] < 4:
        return None
    s = np.linalg.svd(gyro, compute_uv=False)
    if s.shape[0] < 2 or s[1] < 0.05 * s[0] or s[1] == 0:
        return None
    return kabsch(gyro, video)


def estimate_gyro_bias(
    track: OrientationTrack, motion: VideoMotion, offset: float, axes: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Constant gyro bias (rad/s, in the track's axes): the median over frame pairs of the
    gyro's turn minus the video's, per second. ``axes`` maps the track's axes to the
    video's (``estimate_axes``), identity when None.

    A component is reported only where it stands out of the noise (beyond 3 standard
    errors of the median): on a short clip the video's per-frame noise (0.02° a frame is
    0.6°/s) would otherwise pass for a bias and tilt the lock it was meant to fix.
    """
    ok = motion.valid
    if ok.sum() < 8:
        return np.zeros(3)
    t0, t1 = motion.t0[ok] + offset, motion.t1[ok] + offset
    gyro = to_rotvec(_gyro_steps(track, t0, t1))
    video = motion.rotvecs[ok] if axes is None else motion.rotvecs[ok] @ np.asarray(axes)  # Aᵀ v, row-wise
    per_pair = (gyro - video) / (t1 - t0)[:, None]
    bias = np.median(per_pair, axis=0)
    # Standard error of a median: 1.2533 sigma / sqrt(n), sigma from the MAD (robust).
    sigma = 1.4826 * np.median(np.abs(per_pair - bias), axis=0)
    standard_error = 1.2533 * sigma / np.sqrt(per_pair.shape[0])
    return np.where(np.abs(bias) > 3.0 * standard_error, bias, 0.0)


def measure_rig_motion(
    frames: Iterable[NDArray[np.uint8]], times: ArrayLike, rig: "RigProfile", *, max_width: int = 1024, min_points: int = 12
) -> VideoMotion:
    """``measure_video_motion`` on the camera's own side-by-side dual-fisheye frames:
    corners are tracked in each lens and turned into rig directions through the lens
    model, so no stitch is needed before the orientation is known."""
    from ..geometry import fisheye_to_dirs

    times = np.asarray(times, dtype=np.float64)
    w_full, h_full = rig.frame_size
    scale = min(1.0, max_width / w_full)
    size = (max(1, round(w_full * scale)), max(1, round(h_full * scale)))
    half = w_full / 2.0
    # Inside each image circle (shrunk 3% away from the rim, where tracking is poor).
    mask = np.zeros((size[1], size[0]), np.uint8)
    for lens in rig.lenses:
        cx, cy = (lens.center[0] * scale, lens.center[1] * scale)
        cv2.circle(mask, (round(cx), round(cy)), int(lens.radius * scale * 0.97), 255, -1)

    def to_rig(points_small: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        full = (points_small + 0.5) / scale  # geometry's pixel centres at +0.5, full size
        dirs = np.zeros((full.shape[0], 3))
        valid = np.zeros(full.shape[0], bool)
        for i, lens in enumerate(rig.lenses):
            mine = (full[:, 0] >= half) if i == 1 else (full[:, 0] < half)
            if mine.any():
                d, ok = fisheye_to_dirs(full[mine], lens.model(), lens.max_theta)
                dirs[mine] = lens.rotation()(d)
                valid[mine] = ok
        return dirs, valid

    rotvecs: list[NDArray[np.float64]] = []
    valid_pairs: list[bool] = []
    prev = None
    for frame in frames:
        f = np.asarray(frame)
        gray = f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
        if prev is not None:
            a, b = _track(prev, small, mask)
            same_lens = (a[:, 0] < size[0] / 2) == (b[:, 0] < size[0] / 2)
            da, va = to_rig(a[same_lens])
            db, vb = to_rig(b[same_lens])
            ok = va & vb
            delta = _fit_rotation(da[ok], db[ok], 2.0 * np.pi / size[0], min_points)
            valid_pairs.append(delta is not None)
            rotvecs.append(np.zeros(3) if delta is None else matrix_to_rotvec(delta))
        prev = small
    n = len(rotvecs)
    if times.shape[0] < n + 1:
        raise ValueError(f"{n + 1} frames but {times.shape[0]} times")
    return VideoMotion(times[:n], times[1 : n + 1], np.array(rotvecs).reshape(n, 3), np.array(valid_pairs, bool))
