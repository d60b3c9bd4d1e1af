"""GPMF key-length-value (KLV) headers: a bounded walk over one payload.

A GPMF KLV is an 8-byte header and a big-endian value padded to 4 bytes::

    key (4 ASCII bytes) | type (1 byte) | struct size (1 byte) | repeat (u16 BE) | value

The value holds ``struct_size * repeat`` bytes; type 0 means the value is more KLVs
(a nest, e.g. DEVC and STRM). Every size is checked against the enclosing nest before
anything is sliced, so a corrupt payload raises ``TelemetryError`` with the byte offset
instead of reading past its parent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import TelemetryError

__all__ = ["Klv", "iter_klv", "TYPE_SIZES", "NUMERIC_TYPES", "NEST"]

NEST = "\0"
"""Type character of a nest (its value is more KLVs)."""

# Bytes per element of each GPMF type character. 'c' strings and 'U'/'G' blobs are
# handled as bytes; '?' takes its layout from a preceding TYPE.
TYPE_SIZES: dict[str, int] = {
    "b": 1, "B": 1, "c": 1, "s": 2, "S": 2, "l": 4, "L": 4, "f": 4, "F": 4,
    "q": 4, "j": 8, "J": 8, "d": 8, "Q": 8, "G": 16, "U": 16,
}  # fmt: skip

NUMERIC_TYPES = frozenset("bBsSlLjJfd")
"""Types whose values are numbers the telemetry export carries (issue 7)."""

_HEADER = struct.Struct(">4scBH")


@dataclass(frozen=True, slots=True)
class Klv:
    """One KLV inside a payload: where its value lies (``start``), never a copy of it."""

    key: str
    type: str
    """Type character ('s', 'f', '?', ...; ``NEST`` for a nest)."""
    struct_size: int
    repeat: int
    start: int
    """Offset of the value's first byte within the payload."""
    offset: int
    """Offset of the header within the payload (for error messages)."""

    @property
    def size(self) -> int:
        """Bytes of value, padding excluded."""
        return self.struct_size * self.repeat

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def is_nest(self) -> bool:
        return self.type == NEST


def _valid_key(key: bytes) -> bool:
    # FourCCs are printable 7-bit ASCII (upper case reserved, mixed case third party).
    return all(0x20 <= c < 0x7F for c in key) and key[0] != 0x20


def iter_klv(buf: bytes | memoryview, start: int, end: int) -> Iterator[Klv]:
    """Yield the KLVs laid end to end in ``buf[start:end]`` (one nest level).

    A run of zero bytes at the end is padding and ends the walk. Raises TelemetryError
    for a header that does not fit, an invalid key, or a value running past ``end``.
    """
    if end > len(buf):
        raise TelemetryError(f"nest ends at byte {end} but the payload has {len(buf)}", offset=start)
    pos = start
    while pos < end:
        if end - pos < 8:
            if any(buf[pos:end]):
                raise TelemetryError(f"{end - pos} stray bytes after the last KLV", offset=pos)
            return
        key_b, type_b, struct_size, repeat = _HEADER.unpack_from(buf, pos)
        if key_b == b"\0\0\0\0":
            if any(buf[pos:end]):
                raise TelemetryError("null key followed by data", offset=pos)
            return
        if not _valid_key(key_b):
            raise TelemetryError(f"invalid GPMF key {key_b!r}", offset=pos)
        size = struct_size * repeat
        value_end = pos + 8 + size
        if value_end > end:
            raise TelemetryError(
                f"KLV '{key_b.decode('latin-1')}' of {size} bytes runs past the end of its parent "
                f"({end - pos - 8} bytes left)",
                offset=pos,
            )
        yield Klv(key_b.decode("latin-1"), chr(type_b[0]), struct_size, repeat, pos + 8, pos)
        # Values are padded to 4 bytes; the last one of a nest may omit its padding.
        pos = min(pos + 8 + ((size + 3) & ~3), end)
