"""Stitch one dual-fisheye recording to a publishable 360 MP4 on this machine.

decode (PyAV, threaded) → ``StitchPlan.apply`` → encode (libx264/libx265/NVENC) →
spherical metadata (V1 + V2), the three stages overlapped in threads (``_stages``). Audio
and telemetry tracks are copied through unchanged (the same join as segments use). The
output appears at its final name only when complete.
For segments, process pools, clusters and resume, see ``segmented.stitch_segmented``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._files import check_output_dir, reported_as, within_job
from .._types import StrPath
from ..errors import InputError
from ..orient import OrientMode
from ..profile import RigProfile
from ..video import EncodeOptions
from ._encode import encode_range
from ._orient import job_rotations
from ._stages import StageTimings

__all__ = ["StitchResult", "stitch_video", "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(frames_done, frames_total)``."""


@dataclass(frozen=True)
class StitchResult:
    output: Path
    frames: int
    size: tuple[int, int]
    encoder: str
    rig: RigProfile | None
    """The rig stitched with (None for a layout that needs none, e.g. GoPro MAX EAC)."""
    timings: StageTimings = field(default_factory=StageTimings)
    """Busy seconds of the decode, stitch and encode stages, and the wall time."""

    def summary(self) -> str:
        """What was written, in a line (and the lens fit's line when the rig has one)."""
        from ..stitch.report import fit_summary_line

        line = f"wrote {self.output}: {self.frames} frames, {self.size[0]}x{self.size[1]}, {self.encoder}, spherical metadata V1+V2"
        return line + "".join(f"\n{fit}" for fit in [fit_summary_line(self.rig)] if fit)


@within_job
def stitch_video(
    input: StrPath,
    output: StrPath,
    *,
    rig: RigProfile | None = None,
    width: int | None = None,
    options: EncodeOptions = EncodeOptions(),
    progress: ProgressCallback | None = None,
    calibrate: bool = False,
    log: Callable[[str], None] | None = None,
    orient: OrientMode | str = OrientMode.OFF,
    yuv: bool = True,
    start_s: float | None = None,
    stop_s: float | None = None,
) -> StitchResult:
    """Stitch ``input`` (side-by-side dual fisheye) to an equirect MP4 at ``output``.

    :param rig: the rig profile; None: self-calibrate from the footage (``calibrate``),
        else the source's nominal rig.
    :param log: receives one-line warnings (a failed calibration).
    :param width: output width (height = width / 2), rounded down to a multiple of 4;
        None keeps the input width.
    :param orient: an ``OrientMode``: "off", "lock" (horizon and heading held) or "smooth"
        (shake removed, turns kept), from the camera's motion telemetry; "earth" (in orbit:
        the Earth's centre straight down, found in the frames).
    :param yuv: stitch the decoded yuv420p planes without colour conversion where the
        source and plan allow (``_frames``); False: always through RGB.
    :param start_s, stop_s: stitch only the frames of [start_s, stop_s) seconds
        (``timerange.frame_span``; None: from the start / to the end), decoding from the
        key frame before; audio and telemetry are cut to the same instants. A range outside
        the recording raises InputError before anything is written.
    """
    from ..cameras import open_rig
    from ..isobmff.spherical import inject_spherical

    from ..timerange import frame_span

    check_output_dir(output)
    source = open_rig(input)
    try:
        span = frame_span(start_s, stop_s, fps=source.fps, frame_count=source.frame_count, path=input)
        ranged = span.frames != source.frame_count
        check_output_dir(output)  # again, now that the input files (a pair, chapters) are known
        if rig is None and calibrate:
            from ._rig import calibrate_source

            rig, _ = calibrate_source(source, warn=log)
        plan = source.plan(output_width(width or source.frame_size[0], source=input), rig)
        rotations = job_rotations(source, plan.rig, orient, log=log, frames=(span.start, span.stop))
        total = span.frames
        # encode to a hidden file beside the output, then add metadata into the final name
        out = Path(output)
        fd, encoded = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".enc.mp4", dir=out.parent or ".")
        os.close(fd)
        try:
            report = (lambda n: progress(n, total)) if progress is not None else None
            # audio and telemetry tracks of MP4/MOV sources go to the join (bytes copied
            # once, as for segments); audio in any other container: FFmpeg copies it
            audio, telemetry = source.audio_path, source.telemetry_path
            join = audio is None or _isobmff(audio) is not None
            if ranged and not join:  # FFmpeg's copy cannot cut: leave such audio out of a range
                audio, join = None, True
                if log is not None:
                    log("the audio is not in an MP4/MOV: a time range is written without it")
            with reported_as(encoded, output):
                done_range = encode_range(
                    source, plan, Path(encoded), fps=source.fps, options=options, start=span.start, stop=span.stop,
                    rotations=rotations, yuv=yuv, progress=report, audio_from=None if join else audio,
                )
            timings, encoder = done_range.timings, done_range.encoder
            done = timings.frames
            if done == 0:
                raise InputError("no video frame could be decoded", path=input)
            if done != total and ranged:
                raise InputError(f"decoded {done} frames of the range, expected {total} (the recording is shorter than its index says)", path=input)
            if join:
                from ..video import concat_segments

                concat_segments(
                    [encoded], output, audio_from=audio, telemetry_from=telemetry, span=span.seconds if ranged else None
                )
            else:
                inject_spherical(encoded, output)
        finally:
            Path(encoded).unlink(missing_ok=True)
    finally:
        source.close()
    return StitchResult(Path(output), done, plan.size, encoder, plan.rig, timings)


def _isobmff(path: Path | None) -> Path | None:
    """``path`` when it is an MP4/MOV with a readable moov, else None."""
    if path is None:
        return None
    from ..errors import Orbit360Error
    from ..isobmff import read_movie

    try:
        read_movie(path)
    except (Orbit360Error, OSError):
        return None
    return Path(path)


MIN_OUTPUT_WIDTH = 64


def output_width(n: int, *, source: StrPath | None = None) -> int:
    """``n`` rounded down to a multiple of 4: yuv420p needs an even width and an even
    height (width / 2). Raises Orbit360Error, before anything is allocated, when the
    width is under 64 pixels (a 2x1 input video) or its stitch would not fit in memory."""
    from .._budget import BYTES_PER_STITCH_PIXEL, check_memory

    width = int(n) - int(n) % 4
    if width < MIN_OUTPUT_WIDTH:
        raise InputError(f"the output would be {max(width, 0)} pixels wide (from {int(n)}): "
                         f"at least {MIN_OUTPUT_WIDTH} needed", path=source)
    check_memory(BYTES_PER_STITCH_PIXEL * width * (width // 2), f"a {width}x{width // 2} stitch", "choose a smaller --width")
    return width
