"""Per-frame orientation for the stitcher: lock, smooth or off.

Conventions (``geometry.rotation``'s): rotations map rig directions to the reference
frame. ``orientation_for_frames`` gives the camera orientation ``O(t)``: the rig at
frame t seen from the rig at the first frame (``ref = O(t) rig``).

``estimate_orientation`` gives what the stitcher applies, one rotation ``M`` per frame:
**the output pixel looking along direction d shows the stitched rig sphere at M(d)**
(rotate the output pixel directions by M, then look them up in the lenses).

- ``lock``: ``M = (W O)⁻¹``; every output frame keeps the reference's horizon and
  heading. ``W`` levels the reference: from gravity when ACCL measures ~1 g, else the
  user's ``horizon``, else identity (the first frame is the reference).
- ``smooth``: ``M = (W O)⁻¹ S`` with ``S`` the low-passed ``W O``: the output follows
  the camera's slow turns but not its shake.
- ``off``: identity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._types import StrPath
from ..errors import TelemetryError
from ..geometry import Rotation
from ..telemetry import GpmdSample, GpmdTrack, Telemetry, parse_samples, read_telemetry
from ._imu import OrientationTrack, cori_track, gyro_track, specific_force
from .modes import TELEMETRY_MODES, OrientMode
from ..geometry.quaternions import from_matrices, qconj, qmul, to_matrices
from ._smooth import DEFAULT_SMOOTHING_S, local_linear_lowpass, smooth_quaternions
from ._video import VideoMotion, estimate_axes, estimate_gyro_bias, estimate_time_offset

__all__ = [
    "OrientMode",
    "OrientationPlan",
    "TelemetrySource",
    "orientation_track",
    "orientation_for_frames",
    "estimate_orientation",
    "plan_orientation",
    "gravity_level",
]

TelemetrySource = StrPath | Telemetry | GpmdTrack | Sequence[GpmdSample]
"""A recording's path, its parsed telemetry, its gpmd track (``read_gpmd``) or samples."""

G = 9.80665
GRAVITY_WINDOW_S = 2.0
"""Sigma (s) over which ACCL is averaged into "up". Shorter follows gyro drift more closely
(0.16° worst tilt at 1 s, 0.44° at 2 s on a test with 0.7°/s of bias); longer resists a
sustained push (a car in a bend) that would otherwise tilt the horizon."""


def _telemetry(source: TelemetrySource) -> Telemetry:
    if isinstance(source, Telemetry):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_telemetry(source)
    if isinstance(source, GpmdTrack):
        return parse_samples(source.samples)
    return parse_samples(list(source))


def orientation_track(
    source: TelemetrySource, *, prefer: str = "auto", imu_to_rig: ArrayLike | None = None
) -> OrientationTrack:
    """The camera's orientation track: CORI where the camera writes it (``prefer="auto"``
    or ``"cori"``), else the integrated gyro (``"gyro"`` forces it). Raises
    TelemetryError when the recording has neither."""
    tel = _telemetry(source)
    track = None
    if prefer in ("auto", "cori"):
        track = cori_track(tel, imu_to_rig)
    if track is None and prefer in ("auto", "gyro"):
        track = gyro_track(tel, imu_to_rig)
    if track is None:
        raise TelemetryError("no camera orientation in the telemetry (neither CORI nor GYRO)")
    return track


def _relative(q: NDArray[np.float64]) -> NDArray[np.float64]:
    return qmul(qconj(q[0]), q)


def orientation_for_frames(
    source: TelemetrySource | OrientationTrack,
    frame_times: ArrayLike,
    *,
    time_offset: float = 0.0,
    prefer: str = "auto",
    imu_to_rig: ArrayLike | None = None,
) -> list[Rotation]:
    """Camera orientation at each video frame time, relative to the first frame.

    ``time_offset`` (s) is added to video times to read the telemetry clock (see
    ``estimate_time_offset``). The first rotation is the identity.
    """
    track = source if isinstance(source, OrientationTrack) else orientation_track(source, prefer=prefer, imu_to_rig=imu_to_rig)
    times = np.atleast_1d(np.asarray(frame_times, dtype=np.float64))
    if times.size == 0:
        return []
    q = _relative(track.at(times + time_offset))
    return [Rotation(m) for m in to_matrices(q)]


def gravity_level(
    tel: Telemetry,
    q: NDArray[np.float64],
    times: NDArray[np.float64],
    imu_to_rig: ArrayLike | None = None,
    *,
    window_s: float = GRAVITY_WINDOW_S,
) -> NDArray[np.float64] | None:
    """Per-frame rotations W (N, 3, 3) that turn the reference frame so gravity's "up" is
    +y, or None when ACCL does not measure about 1 g (no ACCL, free fall, orbit).

    ``q`` are the frames' orientations relative to the first frame at ``times`` (the
    telemetry clock). The specific force (which points up at rest) is brought into the
    reference frame sample by sample and low-passed over ``window_s`` (Gaussian sigma):
    the camera's own accelerations average out, and when the gyro drifts, the "up" it
    implies drifts with it, so W follows the drift and the horizon stays level. W is
    the smallest such rotation, so the heading is untouched.
    """
    t, f = specific_force(tel, imu_to_rig)
    if t.shape[0] < 3 or times.shape[0] == 0:
        return None
    track = OrientationTrack(times, q, "frames")
    f_ref = np.einsum("nij,nj->ni", to_matrices(track.at(t)), f)
    inside = (t >= times[0]) & (t <= times[-1])
    mean = f_ref[inside].mean(axis=0) if inside.sum() >= 3 else f_ref.mean(axis=0)
    if not (0.7 * G <= float(np.linalg.norm(mean)) <= 1.3 * G):
        return None
    rate = (t.shape[0] - 1) / max(t[-1] - t[0], 1e-9)
    up = local_linear_lowpass(f_ref, window_s * rate)
    up_at = np.stack([np.interp(times, t, up[:, k]) for k in range(3)], axis=1)
    up_at /= np.linalg.norm(up_at, axis=1, keepdims=True)
    return np.stack([_min_rotation(u, np.array([0.0, 1.0, 0.0])) for u in up_at])


def _min_rotation(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smallest rotation taking unit vector a to unit vector b (keeps the heading)."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # upside down: half turn about x
        return np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


@dataclass(frozen=True, eq=False)
class OrientationPlan:
    """Per-frame stitch rotations and how they were found."""

    rotations: list[Rotation]
    """``M`` per frame: output direction d shows the rig sphere at ``M(d)``."""
    camera: list[Rotation]
    """``O`` per frame: camera orientation relative to the first frame."""
    source: str
    """"CORI" or "GYRO"."""
    time_offset: float
    """Seconds added to video times to read telemetry (estimated or given)."""
    offset_score: float | None
    """Correlation of video and gyro turn angles at the offset (None when given)."""
    levelled_by: str
    """"gravity", "horizon" or "first frame"."""
    axes_correction: NDArray[np.float64] | None = None
    """Rotation applied to the IMU axes, measured from video (``fit_axes``)."""
    gyro_bias: NDArray[np.float64] | None = None
    """Gyro bias removed (rad/s, rig frame), measured from video."""


def plan_orientation(
    source: TelemetrySource,
    frame_times: ArrayLike,
    *,
    mode: OrientMode | str = OrientMode.LOCK,
    video_motion: VideoMotion | None = None,
    time_offset: float | None = None,
    prefer: str = "auto",
    imu_to_rig: ArrayLike | None = None,
    fit_axes: bool = False,
    smoothing_s: float = DEFAULT_SMOOTHING_S,
    level: bool = True,
    horizon: Rotation | None = None,
    search_s: float = 1.0,
    correct_bias: bool = True,
) -> OrientationPlan:
    """Everything ``estimate_orientation`` decides, with the evidence.

    The offset is estimated from ``video_motion`` (see ``measure_video_motion``) unless
    ``time_offset`` is given; with neither it is 0 and ``offset_score`` is None.
    ``fit_axes`` also measures the IMU's orientation in the rig from the video and
    corrects the track with it (for a camera whose IMU axes are not the default).
    With ``video_motion`` and a gyro track, the gyro's bias is measured against the
    video and removed (``correct_bias``). With gravity, the horizon follows the
    low-passed ACCL "up" frame by frame, which also takes out the gyro's tilt drift.
    """
    mode = OrientMode(mode)
    if mode not in TELEMETRY_MODES:
        raise ValueError(f"orient mode {mode} is not computed from telemetry alone (see orient._earth)")
    tel = _telemetry(source)
    times = np.atleast_1d(np.asarray(frame_times, dtype=np.float64))
    track = orientation_track(tel, prefer=prefer, imu_to_rig=imu_to_rig)
    if times.size == 0:
        return OrientationPlan([], [], track.source, time_offset or 0.0, None, "first frame")
    score = None
    if time_offset is None:
        time_offset = 0.0
        if video_motion is not None:
            # On the track that will be used: CORI and the gyro do not share a clock
            # exactly (CORI lags the payload-spread gyro by 20 ms on the MAX sample).
            time_offset, score = estimate_time_offset(track, video_motion, search_s=search_s)
    correction = None
    if fit_axes and video_motion is not None:
        correction = estimate_axes(track, video_motion, time_offset)
    bias = None
    if track.source == "GYRO" and video_motion is not None and correct_bias:
        # A gyro's constant bias turns an integrated lock by bias x duration; the video
        # sees the true rotation, so the difference between the two is the bias.
        bias = estimate_gyro_bias(track, video_motion, time_offset, correction)
        track = gyro_track(tel, imu_to_rig, bias=bias) or track
    q = _relative(track.at(times + time_offset))
    if correction is not None:
        cq = from_matrices(correction)
        q = qmul(qmul(cq, q), qconj(cq))  # the same motion seen in the corrected axes
    camera = [Rotation(m) for m in to_matrices(q)]
    if mode is OrientMode.OFF or times.size == 0:
        return OrientationPlan(
            [Rotation.identity() for _ in times], camera, track.source, time_offset, score, "first frame", correction, bias
        )

    world = None
    levelled_by = "first frame"
    if horizon is not None:
        world, levelled_by = horizon.matrix, "horizon"
    elif level:
        w = gravity_level(tel, q, times + time_offset, imu_to_rig)
        if w is not None:
            world, levelled_by = w, "gravity"
    if world is not None:
        q = qmul(from_matrices(world) if world.ndim == 3 else from_matrices(world)[None], q)
    rotations = to_matrices(qconj(q))
    if mode is OrientMode.SMOOTH:
        fps = (times.shape[0] - 1) / (times[-1] - times[0]) if times.shape[0] > 1 and times[-1] > times[0] else 30.0
        smooth = smooth_quaternions(q, fps, smoothing_s)
        rotations = to_matrices(qmul(qconj(q), smooth))
    return OrientationPlan(
        [Rotation(m) for m in rotations], camera, track.source, time_offset, score, levelled_by, correction, bias
    )


def estimate_orientation(
    source: TelemetrySource,
    frame_times: ArrayLike,
    *,
    mode: OrientMode | str = OrientMode.LOCK,
    video_motion: VideoMotion | None = None,
    time_offset: float | None = None,
    **options: object,
) -> list[Rotation]:
    """The rotation to apply to each output frame for ``mode`` (lock, smooth, off):
    output direction d shows the stitched rig sphere at ``M(d)``. See ``plan_orientation``
    for the options and the evidence (offset found, source, levelling)."""
    return plan_orientation(
        source, frame_times, mode=mode, video_motion=video_motion, time_offset=time_offset, **options  # type: ignore[arg-type]
    ).rotations
