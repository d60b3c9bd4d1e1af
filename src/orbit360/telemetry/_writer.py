"""A small GPMF writer, for synthetic recordings with known telemetry (tests, demo).

It writes what cameras write: big-endian KLVs padded to 4 bytes, DEVC and STRM nests,
sticky metadata before the data KLV. Values given in physical units are multiplied by
SCAL and rounded into the integer type, as a camera stores them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._klv import NEST, TYPE_SIZES
from ._values import DTYPES, expand_type

__all__ = ["encode_klv", "encode_nest", "encode_stream", "encode_device"]


def _pad(value: bytes) -> bytes:
    return value + b"\0" * (-len(value) % 4)


def _header(key: str, type_char: str, struct_size: int, repeat: int) -> bytes:
    kb = key.encode("ascii")
    if len(kb) != 4:
        raise ValueError(f"GPMF keys are 4 ASCII characters, got {key!r}")
    if not 0 <= struct_size <= 255:
        raise ValueError(f"struct size {struct_size} of '{key}' does not fit in one byte")
    if not 0 <= repeat <= 0xFFFF:
        raise ValueError(f"repeat {repeat} of '{key}' does not fit in 16 bits")
    return struct.pack(">4scBH", kb, type_char.encode("latin-1"), struct_size, repeat)


def encode_klv(key: str, type_char: str, values: ArrayLike | str | bytes, *, fields: str | None = None) -> bytes:
    """One KLV. ``values``: text for 'c'/'U'/'F', a (repeat, components) table for
    numbers (1-D means one component), and for '?' a table with one column per field of
    ``fields`` (an expanded or compact TYPE string such as ``"Lffff"``)."""
    if type_char in ("c", "U", "F"):
        raw = values.encode("latin-1") if isinstance(values, str) else bytes(values)  # type: ignore[arg-type]
        size = TYPE_SIZES[type_char] if type_char != "c" else 1
        if type_char != "c" and len(raw) % size:
            raise ValueError(f"'{key}' needs a multiple of {size} bytes")
        return _header(key, type_char, size, len(raw) // size) + _pad(raw)
    table = np.asarray(values)
    if table.ndim == 1:
        table = table[:, None]
    if type_char == "?":
        if fields is None:
            raise ValueError("type '?' needs the TYPE fields")
        expanded = expand_type(fields)
        dtype = np.dtype({"names": [f"f{i}" for i in range(len(expanded))], "formats": [DTYPES[c] for c in expanded]})
        if table.shape[1] != len(expanded):
            raise ValueError(f"'{key}' has {table.shape[1]} columns but TYPE {fields!r} has {len(expanded)} fields")
        records = np.empty(table.shape[0], dtype=dtype)
        for i, name in enumerate(dtype.names or ()):
            records[name] = table[:, i]
        return _header(key, "?", dtype.itemsize, table.shape[0]) + _pad(records.tobytes())
    dt = np.dtype(DTYPES[type_char])
    raw = np.ascontiguousarray(table.astype(dt)).tobytes()
    return _header(key, type_char, dt.itemsize * table.shape[1], table.shape[0]) + _pad(raw)


def encode_nest(key: str, children: Iterable[bytes]) -> bytes:
    """A nest (type 0) of already-encoded KLVs; sizes are whole 4-byte words."""
    body = b"".join(children)
    if len(body) % 4:
        raise ValueError("nested KLVs must be 4-byte aligned")
    words = len(body) // 4
    # Cameras write nests as struct size 1 with the byte count as repeat; past 64 KiB use
    # 4-byte structs (the size field is the same either way).
    if len(body) <= 0xFFFF:
        return _header(key, NEST, 1, len(body)) + body
    return _header(key, NEST, 4, words) + body


def encode_stream(
    key: str,
    values: ArrayLike,
    *,
    type_char: str = "s",
    scale: float | Sequence[float] | None = None,
    name: str | None = None,
    units: str | None = None,
    total_samples: int | None = None,
    timestamp_us: int | None = None,
    fields: str | None = None,
    metadata: Sequence[bytes] = (),
) -> bytes:
    """A STRM nest: STMP, TSMP, STNM, SIUN, ``metadata`` (e.g. MTRX, ORIN), SCAL, TYPE,
    then the data KLV. ``values`` are physical units; integers are stored as
    round(value * SCAL), clipped to the type's range."""
    table = np.asarray(values, dtype=np.float64)
    if table.ndim == 1:
        table = table[:, None]
    children: list[bytes] = []
    if timestamp_us is not None:
        children.append(encode_klv("STMP", "J", [timestamp_us]))
    if total_samples is not None:
        children.append(encode_klv("TSMP", "L", [total_samples]))
    if name is not None:
        children.append(encode_klv("STNM", "c", name))
    if units is not None:
        children.append(encode_klv("SIUN", "c", units))
    children.extend(metadata)
    stored = table
    if scale is not None:
        divisors = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        children.append(encode_klv("SCAL", "l" if np.any(np.abs(divisors) > 32767) else "s", divisors.reshape(1, -1).T))
        stored = table * divisors.reshape(1, -1)
    type_chars = expand_type(fields) if type_char == "?" and fields else type_char
    if type_char == "?":
        children.append(encode_klv("TYPE", "c", fields or ""))
    stored = _to_storage(stored, type_chars)
    children.append(encode_klv(key, type_char, stored, fields=fields))
    return encode_nest("STRM", children)


def _to_storage(table: np.ndarray, type_chars: str) -> np.ndarray:
    """Round and clip each column into its integer type (floats pass through)."""
    out = table.copy()
    chars = type_chars if len(type_chars) == table.shape[1] else type_chars[:1] * table.shape[1]
    for i, ch in enumerate(chars):
        dt = np.dtype(DTYPES[ch])
        if dt.kind in "iu":
            info = np.iinfo(dt)
            out[:, i] = np.clip(np.rint(out[:, i]), info.min, info.max)
    return out


def encode_device(device_id: int, name: str, streams: Iterable[bytes]) -> bytes:
    """A DEVC nest: DVID, DVNM, then the STRM nests."""
    return encode_nest("DEVC", [encode_klv("DVID", "L", [device_id]), encode_klv("DVNM", "c", name), *streams])
