"""ISO-BMFF box writer: sizes are computed from the content, never stored."""

from __future__ import annotations

import struct
from collections.abc import Iterable

__all__ = ["box", "full_box", "container"]


def box(btype: bytes, payload: bytes = b"", *, usertype: bytes | None = None) -> bytes:
    """Serialise one box; switches to a 64-bit ``largesize`` header when needed."""
    if len(btype) != 4:
        raise ValueError(f"box type must be 4 bytes, got {btype!r}")
    extra = b""
    if btype == b"uuid":
        if usertype is None or len(usertype) != 16:
            raise ValueError("a uuid box needs a 16-byte usertype")
        extra = usertype
    size = 8 + len(extra) + len(payload)
    if size > 0xFFFFFFFF:
        return struct.pack(">I4sQ", 1, btype, size + 8) + extra + payload
    return struct.pack(">I4s", size, btype) + extra + payload


def full_box(btype: bytes, version: int, flags: int, payload: bytes = b"") -> bytes:
    """Serialise a FullBox: one byte version, three bytes flags, then the payload."""
    return box(btype, struct.pack(">I", (version << 24) | (flags & 0xFFFFFF)) + payload)


def container(btype: bytes, children: Iterable[bytes]) -> bytes:
    """Serialise a box whose payload is the concatenation of already-serialised children."""
    return box(btype, b"".join(children))
