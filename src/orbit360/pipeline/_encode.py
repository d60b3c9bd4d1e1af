"""One range of a recording decoded, stitched and encoded into one video file.

The single pass (``single.stitch_video``: the whole range, into a hidden file beside the
output) and each segment of a segmented job (``_segment.run_segment``: into the work
folder) both come through ``encode_range``, so the two write the same frames with the
same encoder settings: the writer, the stage threads (``_stages``) and the OpenCV thread
count chosen the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..cameras import RigSource
from ..stitch import FramePlan
from ..video import EncodeOptions, VideoWriter
from ._frames import frame_work
from ._stages import StageTimings, default_stitchers, run_stages, stitch_threads

__all__ = ["EncodedRange", "encode_range"]


@dataclass(frozen=True)
class EncodedRange:
    """What ``encode_range`` wrote: frames, the encoder that wrote them, stage timings."""

    frames: int
    encoder: str
    timings: StageTimings


def encode_range(
    source: RigSource,
    plan: FramePlan,
    output: Path,
    *,
    fps: Fraction,
    options: EncodeOptions,
    start: int = 0,
    stop: int | None = None,
    rotations: NDArray[np.float64] | None = None,
    yuv: bool = True,
    stitchers: int = 0,
    progress: Callable[[int], None] | None = None,
    audio_from: StrPath | None = None,
) -> EncodedRange:
    """Frames [start, stop) of ``source`` stitched by ``plan`` (then rotated by
    ``rotations[index]`` when given) and encoded into ``output`` at ``fps``.

    :param yuv: stitch decoded yuv420p planes where the source and plan allow (``_frames``).
    :param stitchers: stitch threads; 0: ``default_stitchers`` (a plan's state from frame
        to frame is advanced in the decoding thread, ``_frames``: any number stitch).
    :param progress: ``progress(frames_written)``.
    :param audio_from: a file whose audio FFmpeg copies into ``output`` (None: no audio).

    Returns what was written; fewer frames than asked when the recording is shorter than
    its index says (the caller decides whether that is an error).
    """
    work = frame_work(source, plan, rotations, start=start, stop=stop, yuv=yuv)
    threads = stitchers or default_stitchers(plan)
    with VideoWriter(output, size=plan.size, fps=fps, options=options, audio_from=audio_from, yuv_matrix=work.yuv_matrix) as writer:
        with stitch_threads(writer.encoder, options.preset):
            timings = run_stages(
                work.frames, work.stitch, writer.write, stitchers=threads, progress=progress, finish=writer.close,
                new_buffer=writer.new_frame if work.yuv else None,
            )
        encoder = writer.encoder
    return EncodedRange(timings.frames, encoder, timings)
