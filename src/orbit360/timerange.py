"""Time ranges of a recording (``--from``/``--to``): parsing, and the frames they select.

A range ``[from, to)`` selects the frames whose index ``i`` satisfies
``round(from * fps) <= i < round(to * fps)``: the output starts on the frame shown at
``from`` and holds ``to - from`` seconds of frames (to the nearest frame). The cut instants
of the other tracks (audio, telemetry) are those frames' own times, ``start / fps`` and
``stop / fps``, so every track is cut at the same instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ._types import StrPath
from .errors import InputError

__all__ = ["parse_time", "parse_duration", "format_time", "FrameSpan", "frame_span"]

_CLOCK = re.compile(r"\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)\s*")


def parse_time(text: str) -> float:
    """Seconds of ``"75.5"``, ``"1:15.5"`` (m:ss.fff) or ``"0:01:15.500"`` (h:mm:ss.fff).

    Raises ValueError for anything else (negative, minutes or seconds >= 60 after a colon).
    """
    match = _CLOCK.fullmatch(text)
    if not match:
        raise ValueError(f"not a time: {text!r} (seconds, m:ss.fff or h:mm:ss.fff)")
    a, b, s = match.groups()
    hours, minutes = (int(a), int(b)) if b is not None else (0, int(a) if a is not None else 0)
    seconds = float(s)
    if (a is not None and seconds >= 60) or (b is not None and minutes >= 60):
        raise ValueError(f"not a time: {text!r} (minutes and seconds after a colon must be below 60)")
    return hours * 3600.0 + minutes * 60.0 + seconds


def parse_duration(text: str) -> float:
    """Seconds of a positive length: ``"30"``, ``"30s"``, ``"2m"``, ``"1h"`` or any form
    ``parse_time`` reads (``"0:30"``)."""
    t = text.strip().lower()
    unit = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(t[-1:], None)
    value = float(t[:-1]) * unit if unit is not None and re.fullmatch(r"\d+(\.\d*)?|\.\d+", t[:-1]) else parse_time(t)
    if value <= 0:
        raise ValueError(f"not a positive length of time: {text!r}")
    return value


def format_time(seconds: float) -> str:
    """``h:mm:ss.fff`` of ``seconds`` (the form ``parse_time`` reads back)."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{h}:{m:02d}:{rest / 1000:06.3f}"


@dataclass(frozen=True)
class FrameSpan:
    """Frames [start, stop) of a recording at ``fps``; ``seconds`` are their instants."""

    start: int
    stop: int
    fps: Fraction

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def seconds(self) -> tuple[float, float]:
        return float(self.start / self.fps), float(self.stop / self.fps)


def frame_span(
    start_s: float | None, stop_s: float | None, *, fps: Fraction, frame_count: int, path: StrPath
) -> FrameSpan:
    """The frames ``[start_s, stop_s)`` select in a recording of ``frame_count`` frames.

    None: from the start / to the end. Raises InputError naming ``path`` when the range
    lies outside the recording, is empty, or ends before it starts.
    """
    fps = Fraction(fps)
    length = frame_count / fps
    start = 0 if start_s is None else int(round(start_s * fps))
    stop = frame_count if stop_s is None else int(round(stop_s * fps))
    if start_s is not None and stop_s is not None and stop_s <= start_s:
        raise InputError(f"--to {format_time(stop_s)} is not after --from {format_time(start_s)}", path=path)
    if start_s is not None and (start_s < 0 or start >= frame_count):
        raise InputError(
            f"--from {format_time(start_s)} is outside the recording (0:00:00.000 to {format_time(float(length))})", path=path
        )
    if stop_s is not None and (stop_s < 0 or stop > frame_count):
        raise InputError(
            f"--to {format_time(stop_s)} is outside the recording (0:00:00.000 to {format_time(float(length))})", path=path
        )
    if stop <= start:
        raise InputError(f"the range {format_time(start / fps)} to {format_time(stop / fps)} holds no frame", path=path)
    return FrameSpan(start, stop, fps)
