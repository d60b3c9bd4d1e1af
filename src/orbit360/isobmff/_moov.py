"""Build a complete ``moov`` from tracks, and write ftyp + mdat (streamed) + moov.

The inverse of ``_sample_table``: per-sample numpy arrays are run-length encoded back
into stts/ctts/stsc and packed with ``ndarray.astype('>u4').tobytes()``, so an index of
millions of samples is written without a Python loop per sample.

Chunks are rebuilt from the offsets: consecutive samples of a track that touch each other
in the file share a chunk, which reproduces the camera's own chunking for interleaved
recordings.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .._files import atomic_output
from .._types import StrPath
from ..errors import OutputError
from ._sample_table import Edit, Track
from ._writer import box, container, full_box

__all__ = ["build_moov", "write_movie", "MdatSource", "IDENTITY_MATRIX", "mdat_header", "BackgroundMovieWriter"]

IDENTITY_MATRIX = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_U32 = 0xFFFFFFFF
COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MdatSource:
    """Bytes ``start:end`` of ``path`` become the new ``mdat`` payload, unchanged."""

    path: StrPath
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def mdat_header(payload_size: int, *, large: bool = False) -> bytes:
    """An ``mdat`` header for ``payload_size`` bytes: 64-bit ``largesize`` when needed
    (or when ``large``: the header's length must be fixed before the size is known)."""
    if large or payload_size + 8 > _U32:
        return struct.pack(">I4sQ", 1, b"mdat", payload_size + 16)
    return struct.pack(">I4s", payload_size + 8, b"mdat")


def write_movie(
    path: StrPath,
    *,
    ftyp: bytes,
    source: MdatSource,
    tracks: Sequence[Track],
    movie_timescale: int,
    udta: bytes = b"",
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write ``ftyp``, an ``mdat`` holding ``source``'s bytes, then a ``moov`` for ``tracks``.

    Track offsets are positions in ``source.path``; they are shifted to where the bytes
    land in the new file. The output appears at ``path`` only when complete (written to a
    temporary name, then renamed). ``progress(done, total)`` is called per copied block.
    Returns the size of the written file.
    """
    header = mdat_header(source.size)
    delta = len(ftyp) + len(header) - source.start
    moov = build_moov(tracks, movie_timescale=movie_timescale, offset_delta=delta, udta=udta)
    with atomic_output(path) as tmp:
        try:
            with open(source.path, "rb") as src, open(tmp, "wb", buffering=0) as dst:
                _write_all(dst, ftyp + header)
                _copy_range(src.fileno(), dst, source.start, source.size, progress)
                _write_all(dst, moov)
                return dst.tell()
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path=path) from None


def _write_all(dst: BinaryIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = dst.write(view)
        view = view[n:]


def _copy_range(
    src_fd: int, dst: BinaryIO, start: int, size: int, progress: Callable[[int, int], None] | None
) -> None:
    """Copy ``size`` bytes from ``src_fd`` at ``start`` to the unbuffered ``dst``.

    The kernel copies (copy_file_range: no trip through Python, reflinks on filesystems
    that have them); where it cannot, blocks go through one reused buffer.
    """
    done = 0
    kernel = hasattr(os, "copy_file_range")
    block = bytearray(0 if kernel else COPY_BLOCK)
    while done < size:
        want = min(COPY_BLOCK, size - done)
        if kernel:
            try:
                n = os.copy_file_range(src_fd, dst.fileno(), want, start + done)
            except OSError:
                kernel, block = False, bytearray(COPY_BLOCK)
                continue
        else:
            n = os.preadv(src_fd, [memoryview(block)[:want]], start + done)
            _write_all(dst, memoryview(block)[:n])
        if n == 0:
            raise OSError(0, f"source ended {size - done} bytes early")
        done += n
        if progress is not None:
            progress(done, size)


class BackgroundMovieWriter:
    """Write a movie whose mdat is a byte range of another file, copying that range in a
    background thread while the caller is still working out the sample index.

    The copy runs toward ``limit`` (the most the mdat can hold); ``finish(end, ...)`` stops
    it at ``end``, writes the mdat header for that size and appends the moov. The kernel
    copy releases the GIL, so a Python scan and the copy overlap. Writes into ``path`` in
    place: give it the temporary file of ``atomic_output``.
    """

    def __init__(self, path: StrPath, *, ftyp: bytes, source_path: StrPath, start: int, limit: int) -> None:
        self.path = path
        self.ftyp = ftyp
        self.source_path = source_path
        self.start = start
        self.large = (limit - start) + 8 > _U32
        self.payload_at = len(ftyp) + len(mdat_header(0, large=self.large))
        self._needed = limit - start
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BackgroundMovieWriter:
        with open(self.path, "wb") as dst:
            dst.write(self.ftyp + mdat_header(0, large=self.large))
        self._thread = threading.Thread(target=self._copy, name="orbit360-mdat-copy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_copy(0)

    def _stop_copy(self, needed: int) -> None:
        self._needed = min(self._needed, needed)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _copy(self) -> None:
        try:
            with open(self.source_path, "rb") as src, open(self.path, "r+b", buffering=0) as dst:
                done, kernel = 0, hasattr(os, "copy_file_range")
                while done < self._needed:
                    want = min(COPY_BLOCK, self._needed - done)
                    if kernel:
                        try:
                            n = os.copy_file_range(src.fileno(), dst.fileno(), want, self.start + done, self.payload_at + done)
                        except OSError:
                            kernel = False
                            continue
                    else:
                        block = os.pread(src.fileno(), want, self.start + done)
                        n = os.pwrite(dst.fileno(), block, self.payload_at + done) if block else 0
                    if n == 0:
                        raise OSError(0, f"source ended {self._needed - done} bytes early")
                    done += n
        except BaseException as exc:  # handed to the caller's thread by finish()
            self._error = exc

    def finish(self, end: int, tracks: Sequence[Track], *, movie_timescale: int, udta: bytes = b"") -> int:
        """Cut the mdat at source offset ``end``, append the moov; return the file size."""
        size = end - self.start
        self._stop_copy(size)
        if self._error is not None:
            exc = self._error
            raise OutputError(f"cannot write: {getattr(exc, 'strerror', None) or exc}", path=self.path) from None
        delta = self.payload_at - self.start
        moov = build_moov(tracks, movie_timescale=movie_timescale, offset_delta=delta, udta=udta)
        try:
            with open(self.path, "r+b", buffering=0) as dst:
                dst.truncate(self.payload_at + size)
                os.pwrite(dst.fileno(), mdat_header(size, large=self.large), len(self.ftyp))
                dst.seek(self.payload_at + size)
                _write_all(dst, moov)
                return dst.tell()
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path=self.path) from None


def build_moov(
    tracks: Sequence[Track], *, movie_timescale: int, offset_delta: int = 0, udta: bytes = b""
) -> bytes:
    """Serialise a ``moov`` for ``tracks``; sample offsets are shifted by ``offset_delta``."""
    if movie_timescale <= 0:
        raise ValueError(f"movie timescale must be positive, got {movie_timescale}")
    track_durations = [_movie_units(t.duration, t.timescale, movie_timescale) for t in tracks]
    movie_duration = max(track_durations, default=0)
    next_id = max((t.track_id for t in tracks), default=0) + 1
    children = [_mvhd(movie_timescale, movie_duration, next_id)]
    if udta:
        children.append(udta)
    for t, d in zip(tracks, track_durations):
        children.append(_trak(t, d, offset_delta, movie_timescale))
    return container(b"moov", children)


def _movie_units(duration: int, timescale: int, movie_timescale: int) -> int:
    return duration * movie_timescale // timescale if timescale else 0


def _mvhd(timescale: int, duration: int, next_id: int) -> bytes:
    rate_volume_reserved = struct.pack(">IH10x", 0x10000, 0x100)
    tail = rate_volume_reserved + IDENTITY_MATRIX + bytes(24) + struct.pack(">I", next_id)
    if duration > _U32:
        return full_box(b"mvhd", 1, 0, struct.pack(">QQIQ", 0, 0, timescale, duration) + tail)
    return full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, duration) + tail)


def _tkhd(t: Track, duration: int) -> bytes:
    volume = 0x100 if t.handler == b"soun" else 0
    width = (t.width or 0) << 16 if t.handler == b"vide" else 0
    height = (t.height or 0) << 16 if t.handler == b"vide" else 0
    matrix = t.tkhd_matrix if len(t.tkhd_matrix) == 36 else IDENTITY_MATRIX
    tail = struct.pack(">8xhhH2x", 0, 0, volume) + matrix + struct.pack(">II", width, height)
    if duration > _U32:
        return full_box(b"tkhd", 1, 3, struct.pack(">QQI4xQ", 0, 0, t.track_id, duration) + tail)
    return full_box(b"tkhd", 0, 3, struct.pack(">III4xI", 0, 0, t.track_id, duration) + tail)


def _edts(edits: Sequence[Edit]) -> bytes:
    wide = any(e.segment_duration > _U32 or abs(e.media_time) > 0x7FFFFFFF for e in edits)
    fmt = ">QqI" if wide else ">IiI"
    body = struct.pack(">I", len(edits)) + b"".join(
        struct.pack(fmt, e.segment_duration, e.media_time, e.rate) for e in edits
    )
    return container(b"edts", [full_box(b"elst", 1 if wide else 0, 0, body)])


def _trak(t: Track, movie_duration: int, delta: int, movie_timescale: int) -> bytes:
    children = [_tkhd(t, movie_duration)]
    if t.references:
        refs = [box(kind, np.asarray(ids, ">u4").tobytes()) for kind, ids in t.references.items()]
        children.append(container(b"tref", refs))
    if t.edits:
        children.append(_edts(_rescaled_edits(t.edits, movie_duration)))
    children.append(container(b"mdia", [_mdhd(t), _hdlr(t), _minf(t, delta)]))
    return container(b"trak", children)


def _rescaled_edits(edits: Sequence[Edit], movie_duration: int) -> list[Edit]:
    """Keep the camera's edit list, but a single edit that spanned the old track now
    spans the recovered one (a salvaged track is shorter than the reference's)."""
    if len(edits) == 1 and edits[0].media_time >= 0:
        e = edits[0]
        return [Edit(movie_duration, e.media_time, e.rate)]
    return list(edits)


def _mdhd(t: Track) -> bytes:
    d = t.duration
    if d > _U32:
        return full_box(b"mdhd", 1, 0, struct.pack(">QQIQH2x", 0, 0, t.timescale, d, t.language))
    return full_box(b"mdhd", 0, 0, struct.pack(">IIIIH2x", 0, 0, t.timescale, d, t.language))


def _hdlr(t: Track) -> bytes:
    name = t.handler_name if t.handler_name else b"\0"
    return full_box(b"hdlr", 0, 0, b"\0\0\0\0" + t.handler + bytes(12) + name)


def _default_media_header(handler: bytes) -> bytes:
    if handler == b"vide":
        return full_box(b"vmhd", 0, 1, bytes(8))
    if handler == b"soun":
        return full_box(b"smhd", 0, 0, bytes(4))
    # QuickTime base media header: what cameras write for tmcd and telemetry tracks.
    gmin = full_box(b"gmin", 0, 0, struct.pack(">H3HhH", 0x40, 0x8000, 0x8000, 0x8000, 0, 0))
    return container(b"gmhd", [gmin])


def _minf(t: Track, delta: int) -> bytes:
    media_header = t.media_header or _default_media_header(t.handler)
    dref = full_box(b"dref", 0, 0, struct.pack(">I", 1) + full_box(b"url ", 0, 1))
    return container(b"minf", [media_header, container(b"dinf", [dref]), _stbl(t, delta)])


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encode: (counts, values) of the runs of equal neighbours."""
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, values.dtype)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size))
    return counts, values[starts]


def _pairs(counts: np.ndarray, values: np.ndarray, value_type: str) -> bytes:
    table = np.empty((counts.size, 2), dtype=">u4")
    table[:, 0] = counts
    table[:, 1] = values.astype(np.int64).astype(value_type).view(">u4") if value_type == ">i4" else values
    return struct.pack(">I", counts.size) + table.tobytes()


def _stbl(t: Track, delta: int) -> bytes:
    n = t.sample_count
    children = [full_box(b"stsd", 0, 0, t.stsd[4:]) if len(t.stsd) >= 8 else full_box(b"stsd", 0, 0, b"\0\0\0\0")]
    children.append(full_box(b"stts", 0, 0, _pairs(*_runs(np.asarray(t.durations, np.int64)), ">u4")))
    comp = np.asarray(t.composition_offsets, np.int64)
    if n and comp.any():
        if comp.min() < -(2**31) or comp.max() >= 2**31:
            raise ValueError(f"track {t.track_id}: composition offset out of 32-bit range")
        version = 1 if comp.min() < 0 else 0
        children.append(full_box(b"ctts", version, 0, _pairs(*_runs(comp), ">i4")))
    sync = np.asarray(t.sync_samples, np.int64)
    if t.has_stss or sync.size != n:
        children.append(full_box(b"stss", 0, 0, struct.pack(">I", sync.size) + (sync + 1).astype(">u4").tobytes()))
    offsets = np.asarray(t.offsets, np.int64) + delta
    sizes = np.asarray(t.sizes, np.int64)
    if n and offsets.min() < 0:
        raise ValueError(f"track {t.track_id}: a sample lies before the start of the file")
    # A chunk starts where a sample does not follow the previous one directly.
    new_chunk = np.ones(n, dtype=bool)
    if n > 1:
        new_chunk[1:] = offsets[1:] != offsets[:-1] + sizes[:-1]
    chunk_starts = np.flatnonzero(new_chunk)
    per_chunk = np.diff(np.append(chunk_starts, n))
    counts, values = _runs(per_chunk)
    first_chunk = np.concatenate(([0], np.cumsum(counts)[:-1])) + 1
    stsc = np.empty((counts.size, 3), dtype=">u4")
    stsc[:, 0], stsc[:, 1], stsc[:, 2] = first_chunk, values, 1
    children.append(full_box(b"stsc", 0, 0, struct.pack(">I", counts.size) + stsc.tobytes()))
    if n and np.all(sizes == sizes[0]):
        children.append(full_box(b"stsz", 0, 0, struct.pack(">II", int(sizes[0]), n)))
    else:
        children.append(full_box(b"stsz", 0, 0, struct.pack(">II", 0, n) + sizes.astype(">u4").tobytes()))
    chunk_offsets = offsets[chunk_starts]
    if chunk_offsets.size and chunk_offsets.max() > _U32:
        children.append(full_box(b"co64", 0, 0, struct.pack(">I", chunk_offsets.size) + chunk_offsets.astype(">u8").tobytes()))
    else:
        children.append(full_box(b"stco", 0, 0, struct.pack(">I", chunk_offsets.size) + chunk_offsets.astype(">u4").tobytes()))
    return container(b"stbl", children)
