"""Insta360 ``.insv``: the MP4 part, and the trailer the camera appends after it.

Trailer layout (facts from the open-source readers insvtools by A. Plekhanov and its
Python port insv_dump, and gyroflow's telemetry-parser; no published spec):

- The file ends with 72 bytes: 32 bytes (unknown), u32 LE size of the whole trailer
  (these 72 bytes included), u32 LE version (3), and the 32 ASCII bytes
  ``8db42d694ccc418790edff439fe026bf``. The trailer starts at ``file size - size``; the
  MP4 boxes end there.
- Records are read backwards from the 72 bytes: each ends with a 6-byte footer
  (u8 version, u8 type, u32 LE payload size) and its payload lies just before it.
  Types: 0 index, 1 INFO, 2 thumbnail, 3 gyro, 4 exposure, 7 GPS, ... An index record
  (type 0) lists the rest as 10-byte entries (u8 type, u8 version, u32 LE size, u32 LE
  offset from the trailer start); reading stops there.
- INFO (version 1) is a protobuf message: 1 serial number, 2 camera type
  ("Insta360 ONE X2"), 3 firmware, 5 lens "offset" string, 14 a sample gyro record (its
  length is the gyro record size), 19 dimension {1 x, 2 y}, 20 frame rate.
- Gyro records are 56 bytes: i64 LE timestamp (ms), then six f64 LE (accelerometer
  x, y, z in g, gyroscope x, y, z in rad/s); older 20-byte records hold six i16.
- The lens "offset" string is ``N_`` followed by six numbers per lens; we read the first
  three of each as the image-circle centre x, y and radius in pixels of the recorded
  frame, and keep the other three (angles) as given. This reading is ours: the readers
  above show the field but do not decode it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..errors import file_context

if TYPE_CHECKING:
    from ..isobmff import Movie

__all__ = [
    "INSV_MAGIC",
    "InsvRecord",
    "InsvTrailer",
    "read_insv_trailer",
    "CameraMovie",
    "read_camera_movie",
    "encode_insv_trailer",
    "parse_lens_offset",
]

INSV_MAGIC = b"8db42d694ccc418790edff439fe026bf"
_TAIL = 72
_FOOTER = 6
RECORD_INDEX, RECORD_INFO, RECORD_THUMBNAIL, RECORD_GYRO, RECORD_EXPOSURE, RECORD_GPS = 0, 1, 2, 3, 4, 7
_MAX_RECORDS = 10000


@dataclass(frozen=True)
class InsvRecord:
    """One trailer record: type, version, and where its payload lies in the file."""

    kind: int
    version: int
    offset: int
    size: int


@dataclass
class InsvTrailer:
    """The parsed trailer of an ``.insv`` file."""

    start: int
    """File offset where the trailer begins (the MP4 part is ``[0, start)``)."""
    version: int
    records: list[InsvRecord]
    info: dict[str, Any] = field(default_factory=dict)
    """From the INFO record: serial, camera_type, firmware, offset, dimension, frame_rate."""
    gyro: NDArray[np.float64] | None = None
    """(N, 7): time (s), accelerometer x, y, z (g), gyroscope x, y, z (rad/s)."""

    def lens_circles(self) -> list[tuple[float, float, float]] | None:
        """(cx, cy, radius) per lens from the INFO offset string, or None."""
        lenses = parse_lens_offset(self.info.get("offset", ""))
        return [(cx, cy, r) for cx, cy, r, *_ in lenses] if lenses else None


def parse_lens_offset(text: str) -> list[tuple[float, ...]] | None:
    """Split an Insta360 lens offset string into six numbers per lens, or None."""
    parts = text.strip().split("_")
    try:
        n = int(parts[0])
        values = [float(p) for p in parts[1 : 1 + 6 * n]]
    except (ValueError, IndexError):
        return None
    if n < 1 or n > 4 or len(values) != 6 * n:
        return None
    return [tuple(values[6 * i : 6 * i + 6]) for i in range(n)]


def read_insv_trailer(path: str | os.PathLike[str]) -> InsvTrailer | None:
    """The trailer of ``path``, or None when the file has none (a plain MP4)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < _TAIL:
            return None
        f.seek(size - _TAIL)
        tail = f.read(_TAIL)
        if tail[40:72] != INSV_MAGIC:
            return None
        trailer_size, version = struct.unpack_from("<II", tail, 32)
        start = size - trailer_size
        if trailer_size < _TAIL or start < 0:
            return None
        records = _walk_records(f, start, size - _TAIL)
        trailer = InsvTrailer(start, version, records)
        for rec in records:
            if rec.kind == RECORD_INFO and not trailer.info:
                f.seek(rec.offset)
                trailer.info = _parse_info(f.read(rec.size))
        gyro_size = int(trailer.info.get("gyro_record_size") or 56)
        parts = []
        for rec in records:
            if rec.kind == RECORD_GYRO and rec.size:
                f.seek(rec.offset)
                parts.append(_parse_gyro(f.read(rec.size), gyro_size))
        if parts:
            trailer.gyro = np.concatenate(parts)
        return trailer


def _walk_records(f: BinaryIO, start: int, pos: int) -> list[InsvRecord]:
    records: list[InsvRecord] = []
    while pos - _FOOTER >= start and len(records) < _MAX_RECORDS:
        f.seek(pos - _FOOTER)
        version, kind, size = struct.unpack("<BBI", f.read(_FOOTER))
        offset = pos - _FOOTER - size
        if offset < start:
            break  # not a record footer: stop rather than read outside the trailer
        rec = InsvRecord(kind, version, offset, size)
        records.append(rec)
        if kind == RECORD_INDEX:
            f.seek(offset)
            index = f.read(size)
            for i in range(0, len(index) - 9, 10):
                k, v, s, o = struct.unpack_from("<BBII", index, i)
                if (k, v, s) == (0, 0, 0) or start + o + s > pos:
                    continue
                records.append(InsvRecord(k, v, start + o, s))
            break
        pos = offset
    records.sort(key=lambda r: r.offset)
    return records


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def _protobuf_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message; stops at the first error."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    try:
        while pos < len(buf):
            key, pos = _varint(buf, pos)
            num, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = _varint(buf, pos)
            elif wire == 1:
                value, pos = buf[pos : pos + 8], pos + 8
            elif wire == 2:
                n, pos = _varint(buf, pos)
                if pos + n > len(buf):
                    break
                value, pos = buf[pos : pos + n], pos + n
            elif wire == 5:
                value, pos = buf[pos : pos + 4], pos + 4
            else:
                break
            out.append((num, wire, value))
    except ValueError:
        pass
    return out


_INFO_TEXT = {1: "serial", 2: "camera_type", 3: "firmware", 5: "offset"}


def _parse_info(payload: bytes) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for num, wire, value in _protobuf_fields(payload):
        if wire == 2 and num in _INFO_TEXT:
            info[_INFO_TEXT[num]] = value.decode("utf-8", "replace")
        elif wire == 2 and num == 14:
            info["gyro_record_size"] = len(value)
        elif wire == 2 and num == 19:
            dims = {n: v for n, w, v in _protobuf_fields(value) if w == 0}
            info["dimension"] = (dims.get(1, 0), dims.get(2, 0))
        elif wire == 0 and num == 20:
            info["frame_rate"] = value
    return info


def _parse_gyro(payload: bytes, record_size: int) -> NDArray[np.float64]:
    n = len(payload) // record_size
    if record_size == 56:
        rec = np.frombuffer(payload[: n * 56], dtype=np.dtype([("t", "<i8"), ("v", "<f8", (6,))]))
        values = rec["v"].astype(np.float64)
    elif record_size == 20:
        rec = np.frombuffer(payload[: n * 20], dtype=np.dtype([("t", "<i8"), ("v", "<i2", (6,))]))
        values = rec["v"].astype(np.float64)
    else:
        return np.zeros((0, 7))
    return np.column_stack([rec["t"].astype(np.float64) / 1000.0, values])


# ---- writing (synthetic test files) ------------------------------------------------------
def _pb_key(num: int, wire: int) -> bytes:
    return _pb_varint(num << 3 | wire)


def _pb_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _pb_bytes(num: int, data: bytes) -> bytes:
    return _pb_key(num, 2) + _pb_varint(len(data)) + data


def encode_insv_trailer(
    *,
    camera_type: str,
    serial: str = "IXSE000000",
    firmware: str = "v1.0.0",
    lenses: list[tuple[float, float, float]] | None = None,
    frame_size: tuple[int, int] | None = None,
    frame_rate: int = 30,
    gyro: NDArray[np.float64] | None = None,
) -> bytes:
    """A trailer in the layout above: INFO and (optionally) one gyro record.

    ``gyro`` is (N, 7) as ``InsvTrailer.gyro``; ``lenses`` (cx, cy, r) per lens.
    """
    info = _pb_bytes(1, serial.encode()) + _pb_bytes(2, camera_type.encode()) + _pb_bytes(3, firmware.encode())
    if lenses:
        nums = [f"{len(lenses)}"] + [f"{v:.3f}" for cx, cy, r in lenses for v in (cx, cy, r, 0.0, 0.0, 0.0)]
        if frame_size:
            nums += [str(frame_size[0]), str(frame_size[1])]
        info += _pb_bytes(5, "_".join(nums).encode())
    info += _pb_bytes(14, bytes(56))
    if frame_size:
        dims = _pb_key(1, 0) + _pb_varint(frame_size[0]) + _pb_key(2, 0) + _pb_varint(frame_size[1])
        info += _pb_bytes(19, dims)
    info += _pb_key(20, 0) + _pb_varint(frame_rate)
    body = info + struct.pack("<BBI", 1, RECORD_INFO, len(info))
    if gyro is not None and len(gyro):
        g = np.asarray(gyro, np.float64)
        rec = np.zeros(len(g), dtype=np.dtype([("t", "<i8"), ("v", "<f8", (6,))]))
        rec["t"] = np.round(g[:, 0] * 1000).astype(np.int64)
        rec["v"] = g[:, 1:7]
        raw = rec.tobytes()
        body += raw + struct.pack("<BBI", 1, RECORD_GYRO, len(raw))
    size = len(body) + _TAIL
    return body + bytes(32) + struct.pack("<II", size, 3) + INSV_MAGIC


@dataclass(frozen=True)
class CameraMovie:
    """A camera file's MP4 part, read once: its ``moov`` (parsed up to the Insta360 trailer
    when the file has one) and the trailer (None for a plain MP4)."""

    path: Path
    movie: Movie
    trailer: InsvTrailer | None


def read_camera_movie(path: StrPath) -> CameraMovie:
    """The trailer of ``path`` and the movie of the MP4 boxes before it: the one place that
    knows an ``.insv``'s MP4 part ends where its trailer starts (the trailer's bytes are no
    boxes). Raises what ``isobmff.read_movie`` raises, naming ``path``."""
    from ..isobmff import read_movie_from

    p = Path(path)
    trailer = read_insv_trailer(p)
    with file_context(p), open(p, "rb") as f:
        end = trailer.start if trailer is not None else os.fstat(f.fileno()).st_size
        movie = read_movie_from(f, end)
    return CameraMovie(p, movie, trailer)
