"""The GoPro telemetry track (sample entry 'gpmd'): its samples' bytes and timing.

``read_gpmd(path)`` gives what both the telemetry parser and the stitch writer need: the
payload bytes of every gpmd sample with its start and duration, plus the track's
timescale and sample entry, so a writer can re-mux the track unchanged into the 360
output (issue 7, item 5) and downstream tools (Gyroflow, overlay makers) still find it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._types import StrPath
from ..errors import InputError, file_context
from ..isobmff import Track, read_tracks

__all__ = [
    "GpmdSample",
    "GpmdTrack",
    "read_gpmd",
    "gpmd_track_of",
    "gpmd_track_from_samples",
    "mux_track",
    "GPMD_SAMPLE_ENTRY",
]

# One gpmd payload is a few KB (about 1 s of sensors); refuse absurd ones before reading.
MAX_PAYLOAD = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpmdSample:
    """One telemetry payload (usually about one second of every sensor)."""

    data: bytes
    start: float
    """Decode time of the sample in seconds from the track start."""
    duration: float
    """Sample duration in seconds (from the track's stts)."""
    start_ticks: int = 0
    """``start`` in the track's timescale units (exact, for re-muxing)."""
    duration_ticks: int = 0
    offset: int = 0
    """Byte offset of the payload in its file (for error messages)."""


@dataclass(frozen=True, eq=False)
class GpmdTrack:
    """A gpmd track: what re-muxing it needs, and its samples in decode order."""

    timescale: int
    sample_entry: bytes
    """The 'gpmd' sample entry box as written (header included)."""
    stsd: bytes
    handler_name: bytes
    samples: list[GpmdSample]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.samples)


def gpmd_track_of(tracks: Sequence[Track]) -> Track | None:
    """The first track whose sample entry is 'gpmd', or None."""
    return next((t for t in tracks if t.codec == b"gpmd"), None)


def read_gpmd(path: StrPath, tracks: Sequence[Track] | None = None) -> GpmdTrack | None:
    """The gpmd track of the MP4 at ``path`` with every sample's bytes, or None if it has none.

    ``tracks`` (from ``orbit360.isobmff.read_tracks``) saves re-reading the ``moov`` when
    the caller already has it. Raises InputError when a sample lies outside the file.
    """
    with file_context(path):
        if tracks is None:
            tracks = read_tracks(path)
        track = gpmd_track_of(tracks)
        if track is None:
            return None
        ts = int(track.timescale) or 1
        # a cut file (moov written, media data cut short): keep the complete samples, say so
        n = track.samples_in_file
        if n < track.sample_count:
            from .._console import warn

            warn(
                f"{os.fspath(path)}: the file is cut: {n} of {track.sample_count} telemetry samples are in it; "
                "reading those, the rest is missing"
            )
        offsets = np.asarray(track.offsets[:n], dtype=np.int64)
        sizes = np.asarray(track.sizes[:n], dtype=np.int64)
        durations = np.asarray(track.durations[:n], dtype=np.int64)
        starts = np.asarray(track.decode_times[:n], dtype=np.int64)
        file_size = os.stat(path).st_size
        bad = np.flatnonzero((offsets + sizes > file_size) | (sizes > MAX_PAYLOAD))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"gpmd sample {i} ({int(sizes[i])} bytes) lies outside the file of {file_size} bytes",
                offset=int(offsets[i]),
            )
        samples: list[GpmdSample] = []
        with open(path, "rb") as f:
            for off, size, start, dur in zip(offsets.tolist(), sizes.tolist(), starts.tolist(), durations.tolist()):
                f.seek(off)
                samples.append(GpmdSample(f.read(size), start / ts, dur / ts, start, dur, off))
        return GpmdTrack(
            timescale=ts,
            sample_entry=track.sample_entry,
            stsd=track.stsd,
            handler_name=track.handler_name,
            samples=samples,
        )


# What GoPro writes (HERO7 and MAX samples, byte for byte): a 'gpmd' sample entry with
# data reference 1, and a 'gmhd' media header holding 'gmin' and an empty 'gpmd'.
GPMD_SAMPLE_ENTRY = bytes.fromhex("0000001467706d64000000000000000100000000")
GPMD_STSD = bytes.fromhex("0000000000000001") + GPMD_SAMPLE_ENTRY
GPMD_MEDIA_HEADER = bytes.fromhex(
    "0000002c676d686400000018676d696e000000000000000000000000000000000000000c67706d6400000000"
)
GPMD_HANDLER_NAME = b"\x0bGoPro MET  "


def gpmd_track_from_samples(samples: Sequence[GpmdSample], timescale: int = 1000) -> GpmdTrack:
    """A GpmdTrack for payloads made here (synthetic telemetry), with GoPro's sample entry."""
    return GpmdTrack(timescale, GPMD_SAMPLE_ENTRY, GPMD_STSD, GPMD_HANDLER_NAME, list(samples))


def mux_track(gpmd: GpmdTrack, offsets: Sequence[int] | np.ndarray, *, track_id: int) -> Track:
    """The ``isobmff.Track`` that re-muxes ``gpmd`` with its payloads at file ``offsets``
    (in the order of ``gpmd.samples``), for ``isobmff.write_movie``/``build_moov``.

    Durations are the original timescale units, so the track keeps its exact timing.
    """
    n = len(gpmd.samples)
    offs = np.asarray(offsets, dtype=np.uint64)
    if offs.shape != (n,):
        raise ValueError(f"{n} gpmd samples but {offs.shape[0] if offs.ndim else 0} offsets")
    durations = [s.duration_ticks or round(s.duration * gpmd.timescale) for s in gpmd.samples]
    return Track(
        track_id=track_id,
        handler=b"meta",
        codec=b"gpmd",
        stsd=gpmd.stsd,
        timescale=gpmd.timescale,
        offsets=offs,
        sizes=np.array([len(s.data) for s in gpmd.samples], dtype=np.uint32),
        durations=np.array(durations, dtype=np.uint32),
        composition_offsets=np.zeros(n, dtype=np.int32),
        sync_samples=np.arange(n, dtype=np.int64),
        handler_name=gpmd.handler_name or GPMD_HANDLER_NAME,
        media_header=GPMD_MEDIA_HEADER,
    )
