"""What a stitch job feeds its pipeline: the recorded frames and the per-frame stitch.

Where the source can give its frames as decoded yuv420p planes (8-bit 4:2:0, BT.601 or
BT.709) and the plan can stitch planes (``FramePlan.stitches_yuv420``: e.g. a width
that is a multiple of 4), the job stitches YUV to YUV: no colour conversion after
decoding or before encoding, and the output keeps the recording's matrix. Otherwise
(other camera formats, 10-bit or BT.2020 video) it stitches RGB. Single
runs and segments both come through here, so a segment matches an unsegmented run.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ..cameras import RigSource
from ..stitch import FramePlan, YuvFrame, YuvPlan
from ._orient import OrientedPlan

__all__ = ["FrameWork", "frame_work", "Numbered"]

F = TypeVar("F")

Numbered = tuple[int, YuvFrame]
"""A recorded frame (RGB, or yuv420p planes) and its number in the recording."""


@dataclass(frozen=True)
class FrameWork:
    """``frames`` (what ``run_stages`` iterates: numbered recorded frames), the plan that
    stitches each (``stitch``), and the matrix of the stitched frames for the writer
    ("bt601" for RGB frames, which the writer converts so)."""

    frames: Iterator[Numbered]
    plan: FramePlan | YuvPlan
    yuv_matrix: str = "bt601"
    yuv: bool = False

    def stitch(self, item: Numbered, out: YuvFrame | None = None) -> YuvFrame:
        """The equirect of one numbered frame, into ``out`` when given (``run_stages``' ``apply``)."""
        index, frame = item
        return self.plan.apply(frame, out, index=index)  # type: ignore[arg-type]  # RGB plan: RGB frames


def frame_work(
    source: RigSource,
    plan: FramePlan,
    rotations: NDArray[np.float64] | None = None,
    *,
    start: int = 0,
    stop: int | None = None,
    yuv: bool = True,
) -> FrameWork:
    """The frames [start, stop) of ``source`` and how to stitch them with ``plan`` (then
    rotate by ``rotations[index]`` when given); ``yuv=False`` forces the RGB path.

    A plan with temporal state (followed exposure, tracked seam) starts from none, and
    decoding starts ``plan.memory_frames`` earlier: those frames are observed, not
    stitched, so frame ``start`` comes out as in a run from frame 0. Every frame is
    observed in the decoding thread, in order (``observed``): the stitch then takes the
    observed frame and touches no state, so it may run in several threads."""
    if rotations is not None:
        plan = OrientedPlan(plan, rotations)
    plan.reset()
    first = max(0, start - plan.memory_frames)
    fmt = source.yuv_format
    if yuv and fmt is not None and plan.stitches_yuv420:
        planes = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range)
        return FrameWork(observed(source.yuv420_frames(first, stop), planes, first, start), planes, fmt.matrix, True)
    return FrameWork(observed(source.frames(first, stop), plan, first, start), plan)


def observed(frames: Iterator[F], plan: FramePlan | YuvPlan, first: int, start: int) -> Iterator[tuple[int, object]]:
    """``frames`` (numbered from ``first``) as ``plan.observe`` returns them, from number
    ``start`` on; the ones before are only observed (the pre-roll). Runs where the frames
    are iterated (the decoding thread): in order, before a frame is handed on to the
    stitch. Closes ``frames`` (a reader) when it is closed."""
    try:
        for index, frame in enumerate(frames, first):
            seen = plan.observe(frame)  # type: ignore[arg-type]  # RGB plan: RGB frames
            if index >= start:
                yield index, seen
    finally:
        if isinstance(frames, Generator):
            frames.close()
