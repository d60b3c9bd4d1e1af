"""GoPro chapters (GH01xxxx, GH02xxxx, ...) joined into one seamless recording.

Each chapter is opened as its own RigSource (all of one format); the chapter set yields
their frames one after the other with continuous indices, and its audio is the chapters'
audio packets copied (not re-encoded) into one file, each chapter's packets shifted by
the duration of the video before it, so sound stays in step across the joins.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..profile import RigProfile
from ..stitch import FramePlan, YuvFrame
from ._source import RigSource

if TYPE_CHECKING:
    from ..video import YuvFormat

__all__ = ["ChapterSource", "join_audio"]


class ChapterSource:
    """Several chapter RigSources played back to back as one."""

    def __init__(self, parts: Sequence[RigSource], *, camera: str | None = None) -> None:
        if not parts:
            raise ValueError("a chapter set needs at least one chapter")
        first = parts[0]
        for p in parts[1:]:
            if tuple(p.frame_size) != tuple(first.frame_size) or p.fps != first.fps:
                raise InputError(
                    f"chapter differs from the first ({p.frame_size[0]}x{p.frame_size[1]} at {float(p.fps):.3f} fps "
                    f"vs {first.frame_size[0]}x{first.frame_size[1]} at {float(first.fps):.3f} fps)",
                    path=p.paths[0],
                )
        self.parts = list(parts)
        self.paths: tuple[Path, ...] = tuple(x for p in parts for x in p.paths)
        self.camera: str = camera or first.camera
        self.layout: str = f"{first.layout}, {len(parts)} chapters joined"
        self.fps: Fraction = first.fps
        self.frame_count: int = sum(p.frame_count for p in parts)
        self.frame_size: tuple[int, int] = tuple(first.frame_size)  # type: ignore[assignment]
        self.telemetry_path: Path | None = first.telemetry_path
        # the chapters' 4:2:0 coding when all share one and give planes (yuv420_frames)
        formats = {p.yuv_format for p in parts}
        self.yuv_format: YuvFormat | None = formats.pop() if len(formats) == 1 else None
        self._audio: Path | None = None
        self._audio_done = False
        self._tmp: Path | None = None

    @property
    def chapter_starts(self) -> list[int]:
        """Index of each chapter's first frame in the joined recording."""
        starts, n = [], 0
        for p in self.parts:
            starts.append(n)
            n += p.frame_count
        return starts

    @property
    def audio_path(self) -> Path | None:
        """One file holding every chapter's audio back to back (built on first use)."""
        if not self._audio_done:
            self._audio_done = True
            sources = [p.audio_path for p in self.parts]
            if all(s is not None for s in sources):
                self._tmp = Path(tempfile.mkdtemp(prefix="orbit360-chapters-"))
                durations = [Fraction(p.frame_count) / p.fps for p in self.parts]
                self._audio = join_audio(sources, durations, self._tmp / "audio.mp4")  # type: ignore[arg-type]
        return self._audio

    def _spans(self, start: int, stop: int | None) -> Iterator[tuple[RigSource, int, int]]:
        """(chapter, its first and last-plus-one frame) covering joined frames [start, stop)."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        for first, part in zip(self.chapter_starts, self.parts):
            lo, hi = max(start, first), min(stop, first + part.frame_count)
            if lo < hi:
                yield part, lo - first, hi - first

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        for part, lo, hi in self._spans(start, stop):
            yield from part.frames(lo, hi)

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[YuvFrame]:
        """The chapters' yuv420p planes back to back (only when ``yuv_format`` is set)."""
        for part, lo, hi in self._spans(start, stop):
            yield from part.yuv420_frames(lo, hi)

    def nominal_rig(self) -> RigProfile | None:
        return self.parts[0].nominal_rig()

    def plan(self, width: int, rig: RigProfile | None) -> FramePlan:
        return self.parts[0].plan(width, rig)

    def close(self) -> None:
        for p in self.parts:
            p.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def join_audio(sources: Sequence[Path], durations: Sequence[Fraction], output: Path) -> Path | None:
    """Copy the audio streams of ``sources`` into ``output`` back to back.

    Source k's packets are shifted by the sum of ``durations[:k]`` (seconds). Returns
    None when the first source has no audio. Sources must carry the same audio streams.
    """
    import av

    with av.open(str(sources[0]), metadata_errors="replace") as c0:
        if not c0.streams.audio:
            return None
    out = av.open(str(output), "w", format="mp4")
    try:
        targets = []
        shift = Fraction(0)
        for k, src in enumerate(sources):
            with av.open(str(src), metadata_errors="replace") as c:
                streams = list(c.streams.audio)
                if k == 0:
                    targets = [out.add_stream_from_template(s) for s in streams]
                    last: list[Fraction | None] = [None] * len(targets)
                if len(streams) != len(targets):
                    raise InputError(f"chapter has {len(streams)} audio streams, the first has {len(targets)}", path=src)
                where = {s.index: i for i, s in enumerate(streams)}
                for packet in c.demux(streams):
                    if packet.dts is None:
                        continue
                    i = where[packet.stream.index]
                    tb = packet.time_base
                    delta = int(round(shift / tb))
                    dts = packet.dts + delta
                    if last[i] is not None and dts * tb <= last[i]:
                        continue  # overlaps the previous chapter's last packets: keep time monotonic
                    packet.pts = (packet.pts if packet.pts is not None else packet.dts) + delta
                    packet.dts = dts
                    last[i] = dts * tb
                    packet.stream = targets[i]
                    out.mux(packet)
            shift += Fraction(durations[k])
    finally:
        out.close()
    return output
