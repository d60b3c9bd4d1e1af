"""Stitch one dual-fisheye recording to a publishable 360 MP4 on this machine.

decode (PyAV, threaded) → ``StitchPlan.apply`` → encode (libx264/libx265) → spherical
metadata (V1 + V2). Audio is copied through unchanged. The output appears at its final
name only when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._files import check_output_dir
from .._types import StrPath
from ..errors import InputError
from ..profile import RigProfile
from ..video import EncodeOptions, VideoWriter

__all__ = ["StitchResult", "stitch_video", "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(frames_done, frames_total)``."""


@dataclass(frozen=True)
class StitchResult:
    output: Path
    frames: int
    size: tuple[int, int]
    encoder: str
    rig: RigProfile


def stitch_video(
    input: StrPath,
    output: StrPath,
    *,
    rig: RigProfile | None = None,
    width: int | None = None,
    options: EncodeOptions = EncodeOptions(),
    progress: ProgressCallback | None = None,
) -> StitchResult:
    """Stitch ``input`` (side-by-side dual fisheye) to an equirect MP4 at ``output``.

    :param rig: the rig profile; None uses the source's nominal rig.
    :param width: output width (height = width / 2); None keeps the input width.
    """
    from ..cameras import open_rig
    from ..isobmff.spherical import inject_spherical

    check_output_dir(output)
    source = open_rig(input)
    try:
        plan = source.plan(_even(width or source.frame_size[0]), rig)
        total = source.frame_count
        # encode to a hidden file beside the output, then add metadata into the final name
        out = Path(output)
        fd, encoded = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".enc.mp4", dir=out.parent or ".")
        os.close(fd)
        try:
            done = 0
            with VideoWriter(encoded, size=plan.size, fps=source.fps, options=options, audio_from=source.audio_path) as writer:
                for frame in source.frames():
                    writer.write(plan.apply(frame))
                    done += 1
                    if progress is not None:
                        progress(done, total)
                encoder = writer.encoder
            if done == 0:
                raise InputError("no video frame could be decoded", path=input)
            inject_spherical(encoded, output)
        finally:
            Path(encoded).unlink(missing_ok=True)
    finally:
        source.close()
    return StitchResult(Path(output), done, plan.size, encoder, getattr(plan, "rig", rig))


def _even(n: int) -> int:
    return int(n) - int(n) % 2
