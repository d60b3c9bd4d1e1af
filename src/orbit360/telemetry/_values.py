"""Decode KLV values into numpy arrays: simple types, TYPE structures, SCAL, strings.

All decoding is one ``np.frombuffer`` with a big-endian dtype per KLV (a structured
dtype for '?' records), never a loop over values.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from ..errors import TelemetryError
from ._klv import NUMERIC_TYPES, TYPE_SIZES, Klv

__all__ = ["expand_type", "numeric_table", "decode_text", "decode_text_list", "decode_scalars", "apply_scale", "DTYPES"]

# Big-endian numpy dtype of every fixed-size numeric type character. 'q' and 'Q' are
# fixed point (Q15.16, Q31.32): read as integers, scaled in ``numeric_table``.
DTYPES: dict[str, str] = {
    "b": ">i1", "B": ">u1", "s": ">i2", "S": ">u2", "l": ">i4", "L": ">u4",
    "j": ">i8", "J": ">u8", "f": ">f4", "d": ">f8", "q": ">i4", "Q": ">i8",
}  # fmt: skip
_FIXED_POINT = {"q": 2.0**16, "Q": 2.0**32}

_TYPE_ITEM = re.compile(r"(.)(?:\[(\d+)\])?")


def expand_type(type_string: str, *, offset: int | None = None) -> str:
    """Expand a TYPE string into one character per field: ``"f[3]L"`` -> ``"fffL"``.

    Trailing NULs (cameras write C strings) are dropped. Raises TelemetryError for a
    character that is not a GPMF type or an array count that is absurd.
    """
    text = type_string.rstrip("\0")
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TYPE_ITEM.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any single character
            break
        ch, count = m.group(1), m.group(2)
        if ch not in TYPE_SIZES:
            raise TelemetryError(f"TYPE {text!r} has an unknown type character {ch!r}", offset=offset)
        n = int(count) if count is not None else 1
        if n > 255:  # a struct is at most 255 bytes, so no field repeats more often
            raise TelemetryError(f"TYPE {text!r} repeats a field {n} times", offset=offset)
        out.append(ch * n)
        pos = m.end()
    return "".join(out)


def _record_dtype(fields: str) -> np.dtype:
    names = [f"f{i}" for i in range(len(fields))]
    formats = [DTYPES.get(ch, f"S{TYPE_SIZES[ch]}") for ch in fields]
    return np.dtype({"names": names, "formats": formats})


def numeric_table(buf: bytes | memoryview, klv: Klv, fields: str | None) -> NDArray[np.float64] | None:
    """The KLV's value as an (repeat, components) float64 array, unscaled.

    ``fields`` is the expanded TYPE for a '?' KLV (ignored otherwise). Returns None when
    the value is not made only of numeric types (strings, FourCCs, dates). Raises
    TelemetryError when the struct size does not fit the type.
    """
    raw = buf[klv.start : klv.end]
    if klv.type == "?":
        if fields is None:
            raise TelemetryError(f"'{klv.key}' has type '?' but no TYPE precedes it", offset=klv.offset)
        width = sum(TYPE_SIZES[ch] for ch in fields)
        if width != klv.struct_size:
            raise TelemetryError(
                f"'{klv.key}' records are {klv.struct_size} bytes but TYPE {fields!r} makes {width}",
                offset=klv.offset,
            )
        if not set(fields) <= NUMERIC_TYPES:
            return None
        records = np.frombuffer(raw, dtype=_record_dtype(fields), count=klv.repeat)
        table = np.empty((klv.repeat, len(fields)), dtype=np.float64)
        for i, name in enumerate(records.dtype.names or ()):  # one column per field, not per value
            table[:, i] = records[name]
        return table
    if klv.type not in DTYPES:
        return None
    elem = TYPE_SIZES[klv.type]
    if klv.struct_size == 0 or klv.struct_size % elem:
        raise TelemetryError(
            f"'{klv.key}' struct size {klv.struct_size} is not a multiple of type '{klv.type}' ({elem} bytes)",
            offset=klv.offset,
        )
    table = np.frombuffer(raw, dtype=DTYPES[klv.type]).reshape(klv.repeat, klv.struct_size // elem).astype(np.float64)
    if klv.type in _FIXED_POINT:
        table /= _FIXED_POINT[klv.type]
    return table


def decode_scalars(buf: bytes | memoryview, klv: Klv) -> NDArray[np.float64] | None:
    """A metadata KLV's numbers flattened to 1-D float64 (SCAL, MTRX, TSMP, ...)."""
    table = numeric_table(buf, klv, None)
    return None if table is None else table.reshape(-1)


def decode_text(buf: bytes | memoryview, klv: Klv) -> str:
    """A 'c' (or 'U', 'F') value as text: Latin-1 (GPMF writes ° ² µ as single bytes), NULs stripped."""
    return bytes(buf[klv.start : klv.end]).decode("latin-1").rstrip("\0")


def decode_text_list(buf: bytes | memoryview, klv: Klv) -> tuple[str, ...]:
    """A 'c' value with ``repeat`` > 1 strings of ``struct_size`` bytes (UNIT "deg","m",...)."""
    if klv.struct_size <= 1 or klv.repeat <= 1:
        return (decode_text(buf, klv),)
    raw = bytes(buf[klv.start : klv.end])
    n = klv.struct_size
    return tuple(raw[i : i + n].decode("latin-1").rstrip("\0") for i in range(0, len(raw), n))


def apply_scale(table: NDArray[np.float64], scale: NDArray[np.float64] | None, *, key: str, offset: int) -> NDArray[np.float64]:
    """Divide by SCAL: one entry for all components or one per component."""
    if scale is None or scale.size == 0:
        return table
    if scale.size not in (1, table.shape[1]):
        raise TelemetryError(
            f"'{key}' has {table.shape[1]} components but SCAL gives {scale.size} divisors", offset=offset
        )
    if np.any(scale == 0):
        raise TelemetryError(f"'{key}' has a SCAL divisor of 0", offset=offset)
    return table / scale.reshape(1, -1)
