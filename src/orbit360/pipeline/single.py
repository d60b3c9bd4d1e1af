"""Stitch one dual-fisheye recording to a publishable 360 MP4 on this machine.

decode (PyAV, threaded) → ``StitchPlan.apply`` → encode (libx264/libx265) → spherical
metadata (V1 + V2). Audio is copied through unchanged. The output appears at its final
name only when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._files import atomic_output, check_output_dir
from .._types import StrPath
from ..errors import InputError
from ..profile import RigProfile
from ..video import EncodeOptions, VideoWriter, open_reader

__all__ = ["StitchJob", "StitchResult", "stitch_video", "check_dual_fisheye", "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(frames_done, frames_total)``."""


@dataclass(frozen=True)
class StitchJob:
    """What to stitch and how."""

    input: Path
    output: Path
    rig: RigProfile
    width: int
    options: EncodeOptions = field(default_factory=EncodeOptions)


@dataclass(frozen=True)
class StitchResult:
    output: Path
    frames: int
    size: tuple[int, int]
    encoder: str
    rig: RigProfile


def check_dual_fisheye(path: StrPath, size: tuple[int, int]) -> None:
    """Refuse video that is not a 2:1 side-by-side dual-fisheye frame."""
    w, h = size
    if h <= 0 or abs(w / h - 2.0) > 0.02:
        raise InputError(
            f"video is {w}x{h}, not a 2:1 side-by-side dual-fisheye frame (single-lens or already stitched?)",
            path=path,
        )


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

    :param rig: the rig profile; None uses the nominal rig for the frame size.
    :param width: output width (height = width / 2); None keeps the input width.
    """
    from ..isobmff.spherical import inject_spherical
    from ..stitch import StitchPlan

    check_output_dir(output)
    reader = open_reader(input)
    with reader:
        check_dual_fisheye(input, reader.size)
        if rig is None:
            rig = RigProfile.nominal(reader.size)
        elif tuple(rig.frame_size) != reader.size:
            raise InputError(
                f"rig profile is for {rig.frame_size[0]}x{rig.frame_size[1]} frames, the video is {reader.size[0]}x{reader.size[1]}",
                path=input,
            )
        out_w = int(width or reader.size[0])
        out_w -= out_w % 2
        plan = StitchPlan.build(rig, out_w)
        total = reader.frame_count
        # encode to a hidden file beside the output, then add metadata into the final name
        out = Path(output)
        fd, encoded = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".enc.mp4", dir=out.parent or ".")
        os.close(fd)
        try:
            done = 0
            with VideoWriter(encoded, size=plan.size, fps=reader.fps, options=options, audio_from=input) as writer:
                for frame in reader.frames():
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
    return StitchResult(Path(output), done, plan.size, encoder, rig)
