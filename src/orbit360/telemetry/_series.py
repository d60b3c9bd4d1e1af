"""Streams of a whole recording: every payload parsed, placed in time, grouped by FourCC.

Timing follows issue 7: the ``n`` instants one gpmd sample holds for a stream get
``t = start + k * duration / n`` (k = 0..n-1), with start and duration of that gpmd
sample from the track's sample table. The same FourCC from several devices is one
series, in file order (gpmd sample, then DEVC order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..errors import TelemetryError, file_context
from ..isobmff import Track
from ._streams import Stream, parse_payload
from ._track import GpmdSample, read_gpmd

__all__ = ["TimedStream", "Series", "Telemetry", "parse_samples", "read_telemetry"]


@dataclass(frozen=True, eq=False)
class TimedStream:
    """One payload's stream with the timing of the gpmd sample that carried it."""

    stream: Stream
    sample_index: int
    start: float
    duration: float

    @property
    def t(self) -> NDArray[np.float64]:
        return self.stream.times(self.start, self.duration)


@dataclass(frozen=True, eq=False)
class Series:
    """All samples of one FourCC over the recording, as blocks (one per payload and device).

    ``t`` and ``values`` join the blocks; ``values`` raises TelemetryError when devices
    wrote the same FourCC with different widths (the blocks stay usable).
    """

    key: str
    blocks: tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]
    name: str = ""
    units: tuple[str, ...] = ()

    def __len__(self) -> int:
        return sum(int(t.shape[0]) for t, _ in self.blocks)

    @cached_property
    def t(self) -> NDArray[np.float64]:
        return np.concatenate([t for t, _ in self.blocks]) if self.blocks else np.zeros(0)

    @cached_property
    def values(self) -> NDArray[np.float64]:
        widths = {v.shape[1] for _, v in self.blocks}
        if len(widths) > 1:
            raise TelemetryError(f"'{self.key}' has blocks of different widths {sorted(widths)}")
        if not self.blocks:
            return np.zeros((0, 0))
        return np.concatenate([v for _, v in self.blocks])


@dataclass(frozen=True, eq=False)
class Telemetry:
    """Every stream of every gpmd sample of a recording, in file order."""

    streams: list[TimedStream]
    span: tuple[float, float] | None = None
    """Only the samples timed in [start, stop) seconds (a ``--from``/``--to`` export)."""

    def keys(self) -> list[str]:
        """FourCCs of the numeric streams, in order of first appearance."""
        return list(dict.fromkeys(ts.stream.key for ts in self.streams if ts.stream.numeric))

    def series(self, key: str) -> Series:
        """The numeric series of ``key`` (empty when the recording has none)."""
        parts = [ts for ts in self.streams if ts.stream.key == key and ts.stream.values is not None]
        first = parts[0].stream if parts else None
        blocks = tuple((ts.t, ts.stream.values) for ts in parts)
        if self.span is not None:
            inside = [(t >= self.span[0]) & (t < self.span[1]) for t, _ in blocks]
            blocks = tuple((t[k], v[k]) for (t, v), k in zip(blocks, inside) if k.any())
        return Series(
            key,
            blocks,  # type: ignore[arg-type]
            name=first.name if first else "",
            units=first.units if first else (),
        )

    def all_series(self) -> dict[str, Series]:
        """Every numeric stream by FourCC (types b B s S l L j J f d, and '?' of those)."""
        return {key: self.series(key) for key in self.keys()}

    def of(self, key: str) -> list[TimedStream]:
        return [ts for ts in self.streams if ts.stream.key == key]


def parse_samples(samples: Sequence[GpmdSample]) -> Telemetry:
    """Parse every payload. A malformed one raises TelemetryError at its file offset."""
    out: list[TimedStream] = []
    for i, sample in enumerate(samples):
        try:
            streams = parse_payload(sample.data)
        except TelemetryError as exc:
            exc.message = f"gpmd sample {i}: {exc.message}"
            exc.args = (exc.message,)
            exc.offset = sample.offset + (exc.offset or 0)
            raise
        out.extend(TimedStream(s, i, sample.start, sample.duration) for s in streams)
    return Telemetry(out)


def read_telemetry(path: StrPath, tracks: Sequence[Track] | None = None) -> Telemetry:
    """Parse the gpmd track of the MP4 at ``path``; an empty Telemetry when it has none."""
    with file_context(path):
        track = read_gpmd(path, tracks)
        return parse_samples(track.samples if track is not None else [])
