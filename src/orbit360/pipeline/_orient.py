"""Orientation for a stitch job: per-frame sphere rotations from the camera's telemetry.

``job_rotations`` runs once per job (like calibration): it reads the source's gpmd
telemetry, measures the camera's own motion from the video (to estimate the telemetry
clock's offset and the gyro's bias), and returns one rotation matrix per output frame
for ``--orient lock|smooth``. ``OrientedPlan`` applies plan + rotation per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..cameras import RigSource
from ..errors import InputError, TelemetryError
from ..geometry import Rotation
from ..orient import OrientMode
from ..profile import RigProfile
from ..stitch import FramePlan, Observed, YuvFrame, YuvPlan

__all__ = ["job_rotations", "OrientedPlan", "OrientedYuvPlan", "MOTION_FRAMES"]

MOTION_FRAMES = 240
"""Frames from the start of the recording whose motion is measured from the video."""


def job_rotations(
    source: RigSource, rig: RigProfile | None, mode: OrientMode | str, *, log: Callable[[str], None] | None = None, video_motion: bool = True,
    frames: tuple[int, int] | None = None,
) -> NDArray[np.float64] | None:
    """(frame_count, 3, 3) rotations M (output direction d shows the stitched sphere at
    M d), or None for ``mode == "off"``. Raises InputError when the source has no
    usable motion telemetry. ``frames``: the [start, stop) the job stitches (``earth``
    looks at those only; the rotations outside them are the range's first and last)."""
    try:
        mode = OrientMode(mode)
    except ValueError:
        raise ValueError(f"orient mode must be one of {tuple(m.value for m in OrientMode)}, got {mode!r}") from None
    if mode == OrientMode.OFF:
        return None
    if mode == OrientMode.EARTH:
        return earth_job_rotations(source, rig, log=log, frames=frames)
    from ..orient import measure_rig_motion, plan_orientation
    from ..telemetry import read_gpmd

    path = source.telemetry_path
    if path is None:
        raise InputError(f"--orient {mode} needs the camera's motion telemetry (GoPro gpmd); this recording has none", path=source.paths[0])
    try:
        track = read_gpmd(path)
    except (InputError, TelemetryError) as exc:
        raise InputError(f"--orient {mode}: cannot read motion telemetry ({exc.message})", path=path) from None
    if track is None:
        raise InputError(f"--orient {mode} needs the camera's motion telemetry (GoPro gpmd); this recording has none", path=path)
    n = int(source.frame_count)
    times = np.arange(n, dtype=np.float64) / float(source.fps)
    motion = None
    if video_motion and rig is not None and tuple(rig.frame_size) == tuple(source.frame_size):
        m = min(n, MOTION_FRAMES)
        motion = measure_rig_motion(source.frames(0, m), times[:m], rig)
    try:
        plan = plan_orientation(track, times, mode=mode, video_motion=motion)
    except TelemetryError as exc:
        raise InputError(f"--orient {mode}: {exc.message}", path=path) from None
    if log is not None:
        log(f"orientation: {mode} from {plan.source}, telemetry offset {plan.time_offset * 1000:+.1f} ms")
    return np.stack([r.matrix for r in plan.rotations])


def earth_sightings(
    source: RigSource, rig: RigProfile | None, frames: "list[int] | None" = None, *, span: tuple[int, int] | None = None
) -> tuple[list[int], list[NDArray[np.float64] | None]]:
    """(frames looked at, the Earth's centre on the rig sphere in each or None), each frame
    stitched at ``DETECT_WIDTH``. ``frames``: which (decoded from their key frames when
    they are key frames, else exactly); None: every frame of ``span`` (default all),
    decoded in one pass."""
    from ..orient import DETECT_WIDTH, find_earth
    from ..overview import key_frame_at

    plan = source.plan(DETECT_WIDTH, rig)
    looked: list[int] = []
    nadirs: list[NDArray[np.float64] | None] = []

    def look(index: int, frame: NDArray[np.uint8]) -> None:
        fix = find_earth(plan.apply(frame))
        looked.append(index)
        nadirs.append(None if fix is None else fix.nadir)

    if frames is None:
        start, stop = span if span is not None else (0, None)
        for index, frame in enumerate(source.frames(start, stop), start):
            look(index, frame)
        return looked, nadirs
    for index in frames:
        frame, _ = key_frame_at(source, index)
        if frame is not None:
            look(index, frame)
    return looked, nadirs


EARTH_LOOK_S = 1.0
"""With a gyro, the Earth is looked for about once a second (at key frames, which cost one
decode each): between looks the gyro carries the orientation, and what the Earth's
direction does in the gyro-locked view (orbital motion, 0.07°/s; gyro drift) is slow."""


def earth_job_rotations(
    source: RigSource, rig: RigProfile | None, *, log: Callable[[str], None] | None = None, frames: tuple[int, int] | None = None
) -> NDArray[np.float64]:
    """``--orient earth``: rotations putting the Earth's centre straight down, the heading
    from the gyro when the recording has one (else from the previous frame), looking only
    at ``frames`` [start, stop) (default all: a short cut of a long recording looks at its
    own frames only). Raises InputError when no frame looked at shows the Earth."""
    from ..orient import earth_rotations
    from ..overview import key_frame_indices

    n = int(source.frame_count)
    a, b = frames if frames is not None else (0, n)
    fps = float(source.fps)
    lock = None
    if source.telemetry_path is not None:
        try:
            # no clock offset from the video's motion: it is measured on features, and
            # black space with stars has too few (it found 0.9 s where there was none)
            lock = job_rotations(source, rig, OrientMode.LOCK, video_motion=False)
        except InputError as exc:
            if log is not None and "has none" not in exc.message:
                log(f"orientation: earth: the gyro is not usable ({exc.message}); heading from the previous frame")
    if lock is not None:
        try:
            keys = key_frame_indices(source)
        except InputError:
            keys = np.arange(n)
        # about one look per EARTH_LOOK_S, on the key frame at or before each (the one
        # before the range included), and the range's last frame
        step = max(1, int(round(EARTH_LOOK_S * fps)))
        wanted = np.arange(a, b, step)
        near = keys[np.clip(np.searchsorted(keys, wanted, side="right") - 1, 0, len(keys) - 1)] if len(keys) else wanted
        picks = sorted(set(int(i) for i in near) | {b - 1})
        looked, nadirs = earth_sightings(source, rig, picks)
    else:
        looked, nadirs = earth_sightings(source, rig, span=(a, b))
    if not any(x is not None for x in nadirs):
        raise InputError(
            f"--orient earth: the Earth (a bright disc against black space) is not in any of the {len(looked)} frames looked at",
            path=source.paths[0],
        )
    lo = min(a, min(looked))  # rotations for [lo, b), then held outside
    local_lock = lock[lo:b] if lock is not None else None
    part, summary = earth_rotations(
        nadirs, [i - lo for i in looked], b - lo, lock=local_lock, smoothing_frames=0.5 * EARTH_LOOK_S * fps
    )
    if log is not None:
        from dataclasses import replace

        log(replace(summary, missing=tuple(m + lo for m in summary.missing)).line(fps))
    if lock is not None:  # outside the range: the gyro carries the range's edge corrections
        edge_first, edge_last = lock[lo].T @ part[0], lock[b - 1].T @ part[-1]
        return np.concatenate([lock[:lo] @ edge_first, part, lock[b:] @ edge_last])
    return np.concatenate([np.repeat(part[:1], lo, axis=0), part, np.repeat(part[-1:], n - b, axis=0)])


class OrientedPlan:
    """A ``FramePlan``: ``plan`` followed by the frame's rotation, ``rotations[index]``
    (the last one past the end); ``apply`` needs the frame's ``index``."""

    def __init__(self, plan: FramePlan, rotations: NDArray[np.float64]) -> None:
        from ..orient import SphereRotator

        self.plan = plan
        self.rotations = rotations
        self.rotator = SphereRotator(plan.size)

    @property
    def size(self) -> tuple[int, int]:
        return self.plan.size

    @property
    def rig(self) -> RigProfile | None:
        return self.plan.rig

    @property
    def memory_frames(self) -> int:
        return self.plan.memory_frames

    @property
    def stitches_yuv420(self) -> bool:
        return self.plan.stitches_yuv420

    def rotation(self, index: int | None) -> Rotation:
        if index is None:
            raise ValueError("a rotating plan needs each frame's index")
        return Rotation(self.rotations[min(index, len(self.rotations) - 1)])

    def apply(self, frame: NDArray[np.uint8] | Observed, out: NDArray[np.uint8] | None = None, *, index: int | None = None) -> NDArray[np.uint8]:
        """The stitched, rotated frame; into ``out`` when given (a frame the writer is done with)."""
        rotation = self.rotation(index)
        return self.rotator.apply(self.plan.apply(frame, index=index), rotation, out=out)

    def observe(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8] | Observed:
        return self.plan.observe(frame)

    def reset(self) -> None:
        self.plan.reset()

    def yuv420(self, *, matrix: str = "bt601", full_range: bool = False) -> "OrientedYuvPlan":
        return OrientedYuvPlan(self.plan.yuv420(matrix=matrix, full_range=full_range), self)


class _Scratch(threading.local):
    """A thread's scratch frame (stitch threads run at once)."""

    frame: NDArray[np.uint8] | None = None


class OrientedYuvPlan:
    """``OrientedPlan`` for yuv420p frames (a ``YuvPlan``): the plan's ``YuvPlan`` then the
    frame's rotation, luma at full and chroma at half size."""

    def __init__(self, stitch: YuvPlan, oriented: OrientedPlan) -> None:
        from ..orient import SphereRotator

        w, h = stitch.size
        self.size = (w, h)
        self.stitch = stitch
        self.oriented = oriented
        self._local = _Scratch()
        self.luma = SphereRotator((w, h))
        self.chroma = SphereRotator((w // 2, h // 2))

    @property
    def memory_frames(self) -> int:
        return self.stitch.memory_frames

    def observe(self, frame: YuvFrame) -> YuvFrame | Observed:
        return self.stitch.observe(frame)

    def apply(self, frame: YuvFrame | Observed, out: YuvFrame | None = None, *, index: int | None = None) -> YuvFrame:
        """The stitched, rotated frame; into ``out`` when given (an array of the output's
        layout or (Y, U, V) plane views, as ``YuvStitch.apply`` takes)."""
        from ..video import yuv420p_planes

        rotation = self.oriented.rotation(index)
        if rotation.angle < 1e-9:
            return self.stitch.apply(frame, out=out, index=index)
        # stitched into this thread's scratch frame, then turned into ``out``
        w, h = self.size
        stitched = self._local.frame
        if stitched is None:
            stitched = self._local.frame = np.empty((h * 3 // 2, w), np.uint8)
        self.stitch.apply(frame, out=stitched, index=index)
        if out is None:
            out = np.empty_like(stitched)
        for rotator, src, dst in zip((self.luma, self.chroma, self.chroma), yuv420p_planes(stitched), yuv420p_planes(out)):
            rotator.apply(src, rotation, out=dst)
        return out
