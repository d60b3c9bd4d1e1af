"""What a stitch job feeds its pipeline: the recorded frames and the per-frame stitch.

Where the source can give its frames as decoded yuv420p planes (8-bit 4:2:0, BT.601 or
BT.709) and the plan can stitch planes (``StitchPlan.yuv420``: a width that is a
multiple of 4), the job stitches YUV to YUV: no colour conversion after
decoding or before encoding, and the output keeps the recording's matrix. Otherwise
(other camera formats, 10-bit or BT.2020 video) it stitches RGB. Single
runs and segments both come through here, so a segment matches an unsegmented run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._orient import OrientedStitch, OrientedYuvStitch

__all__ = ["FrameWork", "frame_work"]


@dataclass(frozen=True)
class FrameWork:
    """``frames`` (what ``run_stages`` iterates), ``stitch`` (applied to each) and the
    matrix of the stitched frames for the writer ("bt601" for RGB frames, which the
    writer converts so)."""

    frames: Iterable[Any]
    stitch: Callable[..., NDArray[np.uint8]]
    yuv_matrix: str = "bt601"
    yuv: bool = False


def frame_work(
    source: Any,
    plan: Any,
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
    observed in the decoding thread, in order (``_observed``): the stitch then takes the
    observed frame and touches no state, so it may run in several threads."""
    reset = getattr(plan, "reset_seam", None)
    if reset is not None:
        reset()
    memory = int(getattr(plan, "memory_frames", 0)) if getattr(plan, "stateful", False) else 0
    first = max(0, start - memory)
    fmt = getattr(source, "yuv_format", None)
    yuv_ok = (
        yuv
        and fmt is not None
        and hasattr(source, "yuv420_frames")
        and hasattr(plan, "yuv420")
        and plan.size[0] % 4 == 0
    )
    if yuv_ok:
        stitch: Any = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range)
        frames: Any = _observed(source.yuv420_frames(first, stop), start - first, stitch)
        if rotations is not None:
            return FrameWork(OrientedStitch.number(frames, start), OrientedYuvStitch(stitch, rotations), fmt.matrix, True)
        return FrameWork(frames, stitch.apply, fmt.matrix, True)
    frames = _observed(source.frames(first, stop), start - first, plan)
    if rotations is not None:
        return FrameWork(OrientedStitch.number(frames, start), OrientedStitch(plan, rotations))
    return FrameWork(frames, plan.apply)


def _observed(frames: Iterable[Any], pre_roll: int, stitch: Any) -> Iterable[Any]:
    """``frames`` as ``stitch.observe`` returns them (a stateful ``StitchPlan`` or
    ``YuvStitch``; as they are otherwise), after the first ``pre_roll``, which are only
    observed. Runs where the frames are iterated (the decoding thread): in order, and
    before the frame is handed on to the stitch."""
    if not getattr(stitch, "stateful", False):
        return frames

    def observed() -> Iterator[Any]:
        it = iter(frames)
        try:
            for k, frame in enumerate(it):
                seen = stitch.observe(frame)
                if k >= pre_roll:
                    yield seen
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    return observed()
