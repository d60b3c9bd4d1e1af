"""Read a healthy MP4's ``moov`` into typed tracks with per-sample numpy tables.

``read_movie(path)`` / ``read_tracks(path)`` walk ``moov/trak`` with the bounded box
reader and expand each sample table (stsz, stco/co64, stsc, stts, ctts, stss) into flat
per-sample arrays, all vectorised: a recording of eight hours has millions of samples.

Every count in a table is checked against the bytes of its box and against the sample
count from ``stsz`` before any array is allocated, so a hostile ``moov`` raises
``CorruptBoxError`` rather than asking numpy for terabytes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np

from .._types import StrPath
from ..errors import BoxError, CorruptBoxError, InputError, file_context, parse_guard
from ._reader import BoxHeader, find_box, iter_boxes, read_payload

__all__ = ["Track", "Movie", "Edit", "read_movie", "read_tracks", "read_movie_from", "iter_sample_bytes"]

# Handler types of the media header box each one carries (QuickTime uses gmhd for the rest).
MEDIA_HEADER_TYPES = (b"vmhd", b"smhd", b"gmhd", b"nmhd", b"sthd", b"hmhd")


@dataclass(frozen=True, slots=True)
class Edit:
    """One ``elst`` entry: ``segment_duration`` in movie timescale units, ``media_time``
    in media timescale units (-1 = empty edit), ``rate`` as 16.16 fixed point."""

    segment_duration: int
    media_time: int
    rate: int = 0x10000


@dataclass(frozen=True, eq=False)
class Track:
    """One track of a movie with its sample table expanded to per-sample arrays.

    Sample ``i`` lies at file bytes ``offsets[i] : offsets[i] + sizes[i]``, is decoded at
    ``decode_times[i]`` and presented at ``decode_times[i] + composition_offsets[i]``
    (media timescale units; divide by ``timescale`` for seconds).

    ``stsd`` is the whole ``stsd`` payload as written (version, count and every sample
    entry) so a rebuilt ``moov`` can carry the camera's codec configuration unchanged;
    ``sample_entry`` is its first entry box, header included.
    """

    track_id: int
    handler: bytes
    """Handler type: b"vide", b"soun", b"tmcd", b"meta", ..."""
    codec: bytes
    """FourCC of the first sample entry: b"avc1", b"hvc1", b"mp4a", b"gpmd", b"fdsc", ..."""
    stsd: bytes
    timescale: int
    offsets: np.ndarray
    """(n,) uint64 absolute file offsets."""
    sizes: np.ndarray
    """(n,) uint32 sample sizes in bytes."""
    durations: np.ndarray
    """(n,) uint32 decode durations in media timescale units."""
    composition_offsets: np.ndarray
    """(n,) int32 presentation minus decode time; all zero without ``ctts``."""
    sync_samples: np.ndarray
    """0-based indices of key frames (every index when the track has no ``stss``)."""
    width: int | None = None
    """Coded width in pixels from the visual sample entry (video tracks only)."""
    height: int | None = None
    handler_name: bytes = b""
    """The ``hdlr`` name field as written (C string or QuickTime counted string)."""
    language: int = 0x55C4
    """``mdhd`` packed ISO-639-2 code (0x55C4 = "und")."""
    media_header: bytes = b""
    """The whole vmhd/smhd/gmhd/nmhd box as written (empty when absent)."""
    references: dict[bytes, tuple[int, ...]] = field(default_factory=dict)
    """``tref`` children: reference type -> referenced track ids (e.g. b"tmcd": (3,))."""
    edits: tuple[Edit, ...] = ()
    tkhd_matrix: bytes = b""
    """The 36-byte display matrix from ``tkhd`` (empty when unknown)."""
    has_stss: bool = False
    """True when the file had an ``stss`` box (not every sample is a key frame)."""
    complete_samples: int | None = None
    """How many leading samples lie wholly inside the file (``read_movie``); fewer than
    ``sample_count`` when the media data was cut after the ``moov`` was written (a copy
    cut short, a camera writing the moov first). None for tracks built in memory."""

    @property
    def sample_count(self) -> int:
        return int(self.sizes.shape[0])

    @property
    def sample_entry(self) -> bytes:
        """The first sample entry box of ``stsd``, header included."""
        (size,) = struct.unpack_from(">I", self.stsd, 8)
        return self.stsd[8 : 8 + size]

    @property
    def decode_times(self) -> np.ndarray:
        """(n,) int64 decode time of each sample in media timescale units, from 0."""
        t = np.zeros(self.sample_count, dtype=np.int64)
        if self.sample_count > 1:
            np.cumsum(self.durations[:-1], dtype=np.int64, out=t[1:])
        return t

    @property
    def duration(self) -> int:
        """Media duration: the sum of the sample durations (timescale units)."""
        return int(self.durations.sum(dtype=np.int64))

    @property
    def duration_seconds(self) -> float:
        return self.duration / self.timescale if self.timescale else 0.0

    @property
    def start_seconds(self) -> np.ndarray:
        """(n,) float64 decode time of each sample in seconds."""
        return self.decode_times / float(self.timescale or 1)

    @property
    def samples_in_file(self) -> int:
        """Leading samples whose bytes are all in the file (every sample when unknown)."""
        return self.sample_count if self.complete_samples is None else self.complete_samples

    @property
    def samples_past_end(self) -> int:
        """Samples from the first one that runs past the end of the file on."""
        return self.sample_count - self.samples_in_file

    def sample_range(self, index: int) -> tuple[int, int]:
        """(offset, size) of sample ``index`` in the file."""
        return int(self.offsets[index]), int(self.sizes[index])


@dataclass(frozen=True, eq=False)
class Movie:
    """A parsed ``moov``: the movie timescale, the tracks, and where things lie."""

    timescale: int
    duration: int
    tracks: list[Track]
    moov: BoxHeader
    mdat: BoxHeader | None
    udta: bytes = b""
    """The movie-level ``udta`` box as written (GoPro keeps FIRM, CAME, GPMF... here)."""
    path: str | None = None
    """The file it was read from (``read_movie``), for reading samples later."""

    def track(self, handler: bytes | str) -> Track | None:
        """The first track with this handler type ("vide", "soun", ...), or None."""
        h = handler.encode("latin-1") if isinstance(handler, str) else handler
        return next((t for t in self.tracks if t.handler == h), None)

    @property
    def is_cut(self) -> bool:
        """True when some track's samples run past the end of the file."""
        return any(t.samples_past_end for t in self.tracks)

    def tracks_by_codec(self, codec: bytes | str) -> list[Track]:
        c = codec.encode("latin-1") if isinstance(codec, str) else codec
        return [t for t in self.tracks if t.codec == c]


def read_tracks(path: StrPath) -> list[Track]:
    """Every track of the MP4 at ``path``, in ``moov`` order, with expanded sample tables."""
    return read_movie(path).tracks


def read_movie(path: StrPath) -> Movie:
    """Parse the ``moov`` of the MP4 at ``path`` (opened read-only).

    Raises InputError when the file has no ``moov`` (a recording that was never
    finalised: see ``orbit360.salvage``) and CorruptBoxError when a table is impossible.
    """
    with file_context(path), open(path, "rb") as f:
        movie = read_movie_from(f, os.fstat(f.fileno()).st_size)
    return replace(movie, path=os.fspath(path))


def read_movie_from(f: BinaryIO, file_size: int) -> Movie:
    """``read_movie`` on an open binary file of ``file_size`` bytes."""
    with parse_guard("sample tables"):
        return _read_movie_from(f, file_size)


def _read_movie_from(f: BinaryIO, file_size: int) -> Movie:
    moov = mdat = None
    f.seek(0)
    head = f.read(8)
    if len(head) < 8 or not all(32 <= c < 127 for c in head[4:8]):
        # a JPEG, a text file ...: say what it is not, not which box size is impossible
        raise InputError("not an MP4/MOV file (no ISO-BMFF box at the start)")
    try:
        for hdr in iter_boxes(f, 0, file_size):
            if hdr.type == b"moov" and moov is None:
                moov = hdr
            elif hdr.type == b"mdat" and mdat is None:
                mdat = hdr
    except BoxError:
        # bytes after a complete moov that are no box (an Insta360 .insv trailer, an mdat
        # cut short after a moov written first) do not make the movie unreadable: the
        # tracks' complete_samples say what is missing. Without a moov they are the damage.
        if moov is None:
            raise
    if moov is None:
        raise InputError("no moov box: the recording was not finalised (try `orbit360 salvage`)")
    timescale, duration = 0, 0
    tracks: list[Track] = []
    udta = b""
    for child in iter_boxes(f, moov.payload_offset, moov.end):
        if child.type == b"mvhd":
            timescale, duration = _parse_mvhd(read_payload(f, child), child)
        elif child.type == b"trak":
            tracks.append(_read_trak(f, child, file_size))
        elif child.type == b"udta":
            f.seek(child.offset)
            udta = f.read(child.size) if child.size <= 64 * 1024 * 1024 else b""
    return Movie(timescale, duration, tracks, moov, mdat, udta)


def complete_sample_count(offsets: np.ndarray, sizes: np.ndarray, file_size: int) -> int:
    """How many leading samples end at or before ``file_size`` (vectorised)."""
    ends = offsets.astype(np.uint64) + sizes.astype(np.uint64)
    past = np.flatnonzero(ends > np.uint64(max(file_size, 0)))
    return int(past[0]) if past.size else int(ends.shape[0])


def iter_sample_bytes(
    f: BinaryIO, track: Track, start: int = 0, stop: int | None = None, *, complete_only: bool = False
) -> Iterator[bytes]:
    """Yield the bytes of samples ``start:stop`` of ``track`` from the open file ``f``.

    Never yields a short sample: a sample whose bytes run past the end of the file raises
    InputError naming the file, track and sample, unless ``complete_only`` asks to stop
    quietly after the last complete sample (the caller reads ``track.samples_past_end``
    to say what is missing). Why raise by default: a caller that wants every sample
    (a re-mux, a checksum) must not get a silently shorter stream.
    """
    stop = track.sample_count if stop is None else min(stop, track.sample_count)
    name = getattr(f, "name", None)
    for i in range(start, stop):
        off, size = track.sample_range(i)
        f.seek(off)
        data = f.read(size)
        if len(data) < size:
            if complete_only:
                return
            raise InputError(
                f"track {track.track_id} sample {i} of {track.sample_count} ({size} bytes) runs past the end "
                f"of the file: the media data is cut ({track.samples_in_file} complete samples)",
                path=name if isinstance(name, (str, os.PathLike)) else None,
                offset=off,
            )
        yield data


# ---- box parsers -----------------------------------------------------------------------


def _parse_mvhd(p: bytes, hdr: BoxHeader) -> tuple[int, int]:
    _need(p, 4, hdr)
    if p[0] == 1:
        _need(p, 32, hdr)
        return struct.unpack_from(">IQ", p, 20)
    _need(p, 20, hdr)
    return struct.unpack_from(">II", p, 12)


def _read_trak(f: BinaryIO, trak: BoxHeader, file_size: int) -> Track:
    def payload(path: str) -> tuple[bytes, BoxHeader] | None:
        box = find_box(f, path, trak.payload_offset, trak.end)
        return None if box is None else (read_payload(f, box), box)

    tkhd = payload("tkhd")
    if tkhd is None:
        raise CorruptBoxError("trak without tkhd", offset=trak.offset)
    p, h = tkhd
    _need(p, 4, h)
    id_at, matrix_at = (20, 52) if p[0] == 1 else (12, 40)
    _need(p, matrix_at + 36, h)
    (track_id,) = struct.unpack_from(">I", p, id_at)
    matrix = p[matrix_at : matrix_at + 36]

    mdhd = payload("mdia/mdhd")
    if mdhd is None:
        raise CorruptBoxError(f"track {track_id} has no mdhd", offset=trak.offset)
    p, h = mdhd
    _need(p, 4, h)
    if p[0] == 1:
        _need(p, 34, h)
        (timescale,) = struct.unpack_from(">I", p, 20)
        (language,) = struct.unpack_from(">H", p, 32)
    else:
        _need(p, 22, h)
        (timescale,) = struct.unpack_from(">I", p, 12)
        (language,) = struct.unpack_from(">H", p, 20)

    hdlr = payload("mdia/hdlr")
    if hdlr is None:
        raise CorruptBoxError(f"track {track_id} has no hdlr", offset=trak.offset)
    p, h = hdlr
    _need(p, 24, h)
    handler, handler_name = p[8:12], p[24:]

    media_header = b""
    minf = find_box(f, "mdia/minf", trak.payload_offset, trak.end)
    if minf is not None:
        for child in iter_boxes(f, minf.payload_offset, minf.end):
            if child.type in MEDIA_HEADER_TYPES:
                f.seek(child.offset)
                media_header = f.read(min(child.size, 1 << 20))
                break

    references: dict[bytes, tuple[int, ...]] = {}
    tref = find_box(f, "tref", trak.payload_offset, trak.end)
    if tref is not None:
        for ref in iter_boxes(f, tref.payload_offset, tref.end):
            ids = read_payload(f, ref, limit=1 << 16)
            references[ref.type] = tuple(int(x) for x in np.frombuffer(ids[: len(ids) // 4 * 4], ">u4"))

    edits: tuple[Edit, ...] = ()
    elst = payload("edts/elst")
    if elst is not None:
        edits = _parse_elst(*elst)

    stbl = find_box(f, "mdia/minf/stbl", trak.payload_offset, trak.end)
    if stbl is None:
        raise CorruptBoxError(f"track {track_id} has no stbl", offset=trak.offset)
    tables: dict[bytes, tuple[bytes, BoxHeader]] = {}
    for child in iter_boxes(f, stbl.payload_offset, stbl.end):
        if child.type in (b"stsd", b"stsz", b"stz2", b"stco", b"co64", b"stsc", b"stts", b"ctts", b"stss"):
            tables[child.type] = (read_payload(f, child), child)
    with_table = _expand_tables(tables, track_id, file_size, stbl)

    codec = with_table["stsd"][12:16]
    width = height = None
    entry = with_table["stsd"][8:]
    if handler == b"vide" and len(entry) >= 36:
        width, height = struct.unpack_from(">HH", entry, 32)
    return Track(
        track_id=track_id,
        handler=handler,
        codec=codec,
        stsd=with_table["stsd"],
        timescale=timescale,
        offsets=with_table["offsets"],
        sizes=with_table["sizes"],
        durations=with_table["durations"],
        composition_offsets=with_table["ctts"],
        sync_samples=with_table["sync"],
        width=width,
        height=height,
        handler_name=handler_name,
        language=language,
        media_header=media_header,
        references=references,
        edits=edits,
        tkhd_matrix=matrix,
        has_stss=b"stss" in tables,
        complete_samples=complete_sample_count(with_table["offsets"], with_table["sizes"], file_size),
    )


def _parse_elst(p: bytes, h: BoxHeader) -> tuple[Edit, ...]:
    _need(p, 8, h)
    version = p[0]
    (count,) = struct.unpack_from(">I", p, 4)
    fmt, step = (">QqI", 20) if version == 1 else (">IiI", 12)
    _need(p, 8 + count * step, h, f"elst lists {count} entries")
    return tuple(Edit(*e) for e in struct.iter_unpack(fmt, p[8 : 8 + count * step]))


def _need(p: bytes, n: int, h: BoxHeader, what: str | None = None) -> None:
    if len(p) < n:
        raise CorruptBoxError(
            f"{what or h.name} needs {n} bytes, box '{h.name}' holds {len(p)}", offset=h.offset
        )


def _table(p: bytes, h: BoxHeader, header: int, entry_bytes: int) -> tuple[int, memoryview]:
    """Check a FullBox table's entry count against its bytes; return (count, entry bytes)."""
    _need(p, header, h)
    (count,) = struct.unpack_from(">I", p, header - 4)
    _need(p, header + count * entry_bytes, h, f"{h.name} lists {count} entries and")
    return count, memoryview(p)[header : header + count * entry_bytes]


def _expand_tables(
    tables: dict[bytes, tuple[bytes, BoxHeader]], track_id: int, file_size: int, stbl: BoxHeader
) -> dict:
    def need(name: bytes) -> tuple[bytes, BoxHeader]:
        if name not in tables:
            raise CorruptBoxError(f"track {track_id} has no {name.decode()}", offset=stbl.offset)
        return tables[name]

    stsd, stsd_h = need(b"stsd")
    _need(stsd, 16, stsd_h, "stsd with one sample entry")

    # -- sizes (stsz; stz2 with 8/16-bit fields is rare in cameras but cheap to accept)
    if b"stsz" in tables:
        p, h = tables[b"stsz"]
        _need(p, 12, h)
        constant, n = struct.unpack_from(">II", p, 4)
        if constant:
            if n * constant > file_size:
                raise CorruptBoxError(f"stsz lists {n} samples of {constant} bytes, more than the file", offset=h.offset)
            sizes = np.full(n, constant, dtype=np.uint32)
        else:
            _need(p, 12 + 4 * n, h, f"stsz lists {n} sizes and")
            sizes = np.frombuffer(p, ">u4", n, 12).astype(np.uint32)
    elif b"stz2" in tables:
        p, h = tables[b"stz2"]
        _need(p, 12, h)
        field_bits = p[7]
        (n,) = struct.unpack_from(">I", p, 8)
        if field_bits not in (4, 8, 16):
            raise CorruptBoxError(f"stz2 field size {field_bits} is not 4, 8 or 16", offset=h.offset)
        _need(p, 12 + (n * field_bits + 7) // 8, h, f"stz2 lists {n} sizes and")
        if field_bits == 16:
            sizes = np.frombuffer(p, ">u2", n, 12).astype(np.uint32)
        elif field_bits == 8:
            sizes = np.frombuffer(p, "u1", n, 12).astype(np.uint32)
        else:
            nib = np.frombuffer(p, "u1", (n + 1) // 2, 12)
            sizes = np.stack([nib >> 4, nib & 15], axis=1).reshape(-1)[:n].astype(np.uint32)
    else:
        raise CorruptBoxError(f"track {track_id} has no stsz", offset=stbl.offset)

    # -- chunk offsets
    if b"co64" in tables:
        p, h = tables[b"co64"]
        count, raw = _table(p, h, 8, 8)
        chunk_offsets = np.frombuffer(raw, ">u8").astype(np.uint64)
    else:
        p, h = need(b"stco")
        count, raw = _table(p, h, 8, 4)
        chunk_offsets = np.frombuffer(raw, ">u4").astype(np.uint64)

    # -- samples per chunk: runs (first_chunk, samples_per_chunk, description_index)
    p, h = need(b"stsc")
    runs_n, raw = _table(p, h, 8, 12)
    runs = np.frombuffer(raw, ">u4").reshape(-1, 3).astype(np.int64)
    n_chunks = chunk_offsets.shape[0]
    if n and (runs_n == 0 or n_chunks == 0):
        raise CorruptBoxError(f"track {track_id} has {n} samples but no chunks", offset=h.offset)
    first = runs[:, 0] - 1
    if runs_n and (first[0] != 0 or np.any(np.diff(first) <= 0) or first[-1] >= max(n_chunks, 1)):
        raise CorruptBoxError("stsc first-chunk numbers are not increasing from 1", offset=h.offset)
    run_len = np.diff(np.append(first, n_chunks))
    per_chunk = np.repeat(runs[:, 1], run_len)  # bounded by the number of chunks
    chunk_end = np.cumsum(per_chunk)  # exclusive sample index where each chunk ends
    if n and (chunk_end.shape[0] == 0 or chunk_end[-1] < n):
        raise CorruptBoxError(
            f"stsc and stco place {int(chunk_end[-1]) if chunk_end.size else 0} samples, stsz lists {n}",
            offset=h.offset,
        )
    sample_index = np.arange(n, dtype=np.int64)
    chunk_of = np.searchsorted(chunk_end, sample_index, side="right")
    size_before = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(sizes, dtype=np.uint64, out=size_before[1:])
    chunk_first = (chunk_end - per_chunk)[chunk_of]
    offsets = chunk_offsets[chunk_of] + (size_before[:-1] - size_before[chunk_first])

    # -- decode durations: runs (count, delta)
    p, h = need(b"stts")
    _, raw = _table(p, h, 8, 8)
    stts = np.frombuffer(raw, ">u4").reshape(-1, 2).astype(np.int64)
    durations = _expand_runs(stts[:, 0], stts[:, 1], n, np.uint32, "stts", h)

    # -- composition offsets (signed in practice even in version 0)
    if b"ctts" in tables:
        p, h = tables[b"ctts"]
        _, raw = _table(p, h, 8, 8)
        ctts = np.frombuffer(raw, ">u4").reshape(-1, 2)
        ctts_values = ctts[:, 1].astype(np.uint32).view(np.int32).astype(np.int64)
        comp = _expand_runs(ctts[:, 0].astype(np.int64), ctts_values, n, np.int32, "ctts", h)
    else:
        comp = np.zeros(n, dtype=np.int32)

    if b"stss" in tables:
        p, h = tables[b"stss"]
        _, raw = _table(p, h, 8, 4)
        sync = np.frombuffer(raw, ">u4").astype(np.int64) - 1
        if sync.size and (sync.min() < 0 or sync.max() >= n):
            raise CorruptBoxError(f"stss names a sample outside 1..{n}", offset=h.offset)
    else:
        sync = np.arange(n, dtype=np.int64)
    return {
        "stsd": stsd,
        "offsets": offsets,
        "sizes": sizes,
        "durations": durations,
        "ctts": comp,
        "sync": sync,
    }


def _expand_runs(counts: np.ndarray, values: np.ndarray, n: int, dtype, name: str, h: BoxHeader) -> np.ndarray:
    """Expand (count, value) runs to exactly ``n`` values without trusting the counts.

    Counts are clipped at ``n`` before ``np.repeat`` so a hostile run of 2**32 costs
    nothing; a table that covers fewer than ``n`` samples repeats its last value (what
    FFmpeg does) and an empty one is an error.
    """
    if n == 0:
        return np.zeros(0, dtype=dtype)
    if counts.size == 0:
        raise CorruptBoxError(f"{name} is empty but the track has {n} samples", offset=h.offset)
    covered = np.cumsum(np.minimum(counts, n))
    # runs needed to reach n samples; all of them when the table covers fewer than n
    keep = min(int(np.searchsorted(covered, n, side="left")) + 1, counts.size)
    clipped = np.minimum(counts[:keep], n)
    out = np.repeat(values[:keep], clipped)[:n]
    if out.shape[0] < n:
        out = np.concatenate([out, np.full(n - out.shape[0], values[keep - 1])])
    return out.astype(dtype)
