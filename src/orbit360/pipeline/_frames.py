"""What a stitch job feeds its pipeline: the recorded frames and the per-frame stitch.

Where the source can give its frames as decoded yuv420p planes (8-bit 4:2:0, BT.601 or
BT.709) and the plan can stitch planes (``FramePlan.stitches_yuv420``: e.g. a geometric
seam, a width that is a multiple of 4), the job stitches YUV to YUV: no colour conversion
after decoding or before encoding, and the output keeps the recording's matrix. Otherwise
(other camera formats, a tracked seam, 10-bit or BT.2020 video) it stitches RGB. Single
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
    rotate by ``rotations[index]`` when given); ``yuv=False`` forces the RGB path."""
    if rotations is not None:
        plan = OrientedPlan(plan, rotations)
    fmt = source.yuv_format
    if yuv and fmt is not None and plan.stitches_yuv420:
        planes = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range)
        return FrameWork(numbered(source.yuv420_frames(start, stop), start), planes, fmt.matrix, True)
    return FrameWork(numbered(source.frames(start, stop), start), plan)


def numbered(frames: Iterator[F], start: int = 0) -> Iterator[tuple[int, F]]:
    """``enumerate(frames, start)`` that closes ``frames`` (a reader) when it is closed."""
    try:
        yield from enumerate(frames, start)
    finally:
        if isinstance(frames, Generator):
            frames.close()
