"""Bounded ISO-BMFF box reader.

A box is read lazily: ``BoxHeader`` keeps only where it is and how big, never the
payload. Every size is checked against the parent's end, so a corrupt or hostile file
raises ``CorruptBoxError`` / ``TruncatedFileError`` instead of reading past the end or
allocating unbounded memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CorruptBoxError, TruncatedFileError

__all__ = ["BoxHeader", "read_box_header", "iter_boxes", "read_payload", "find_box", "CONTAINER_TYPES"]

# Boxes whose payload is a plain list of child boxes.
CONTAINER_TYPES = frozenset(
    {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta", b"mvex", b"moof", b"traf", b"sv3d", b"proj", b"tref"}
)

# A payload we read into memory is capped: moov of an 8-hour recording is tens of MB.
MAX_PAYLOAD_READ = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BoxHeader:
    """Where one box lies in a file.

    ``offset`` is the first byte of the header, ``size`` the whole box including the
    header (for ``size == 0`` boxes, up to the end of the enclosing range), and
    ``header_size`` is 8, 16 (64-bit ``largesize``), plus 16 for a ``uuid`` user type.
    ``declared_size`` is the size field as written (0 means "to the end").
    """

    type: bytes
    offset: int
    size: int
    header_size: int
    declared_size: int
    usertype: bytes | None = None

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def payload_size(self) -> int:
        return self.size - self.header_size

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


def _read_exact(f: BinaryIO, offset: int, n: int) -> bytes:
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise TruncatedFileError(f"file ends after {len(data)} of {n} bytes", offset=offset)
    return data


def read_box_header(f: BinaryIO, offset: int, end: int) -> BoxHeader:
    """Read the header of the box at ``offset`` inside the range ending at ``end``.

    ``end`` is the parent's end (or the file size). A declared size that runs past
    ``end`` raises CorruptBoxError; salvage code that expects such boxes catches it and
    looks at ``read_box_header_unchecked`` instead.
    """
    hdr = read_box_header_unchecked(f, offset, end)
    if hdr.declared_size == 0:
        return hdr
    if hdr.end > end:
        raise CorruptBoxError(
            f"box '{hdr.name}' of {hdr.size} bytes runs past the end of its parent ({end - offset} bytes left)",
            offset=offset,
        )
    return hdr


def read_box_header_unchecked(f: BinaryIO, offset: int, end: int) -> BoxHeader:
    """Read a box header, checking only that the header itself fits before ``end``."""
    if end - offset < 8:
        raise TruncatedFileError(f"{end - offset} bytes left, too few for a box header", offset=offset)
    raw = _read_exact(f, offset, 8)
    size, btype = struct.unpack(">I4s", raw)
    header = 8
    declared = size
    if size == 1:
        if end - offset < 16:
            raise TruncatedFileError("file ends inside a 64-bit box size", offset=offset)
        (size,) = struct.unpack(">Q", _read_exact(f, offset + 8, 8))
        declared = size
        header = 16
    elif size == 0:
        size = end - offset
    usertype = None
    if btype == b"uuid":
        if end - offset < header + 16:
            raise TruncatedFileError("file ends inside a uuid box's user type", offset=offset)
        usertype = _read_exact(f, offset + header, 16)
        header += 16
    if size < header:
        raise CorruptBoxError(f"box '{btype.decode('latin-1')}' declares {size} bytes, less than its header", offset=offset)
    return BoxHeader(btype, offset, size, header, declared, usertype)


# The most boxes laid end to end that a recording has: a fragmented MP4 cut every second
# holds 2 per fragment, 200,000 is 27 hours of it. A file of millions of 8-byte boxes is
# not a recording, and walking it would take seconds and memory per pass.
MAX_BOXES_IN_A_ROW = 200_000


def iter_boxes(f: BinaryIO, start: int, end: int) -> Iterator[BoxHeader]:
    """Yield the boxes laid end to end from ``start`` to ``end`` (checked, bounded)."""
    pos = start
    count = 0
    while pos < end:
        hdr = read_box_header(f, pos, end)
        count += 1
        if count > MAX_BOXES_IN_A_ROW:
            raise CorruptBoxError(f"more than {MAX_BOXES_IN_A_ROW} boxes in a row: not a recording", offset=pos)
        yield hdr
        if hdr.size <= 0:  # impossible after the checks; guards against an endless loop
            raise CorruptBoxError("box of size 0", offset=pos)
        pos = hdr.end


def read_payload(f: BinaryIO, box: BoxHeader, limit: int = MAX_PAYLOAD_READ) -> bytes:
    """Read a box's payload into memory (refusing payloads over ``limit`` bytes)."""
    if box.payload_size > limit:
        raise CorruptBoxError(f"box '{box.name}' payload of {box.payload_size} bytes is too large to read", offset=box.offset)
    return _read_exact(f, box.payload_offset, box.payload_size)


def find_box(f: BinaryIO, path: str, start: int, end: int) -> BoxHeader | None:
    """Find the first box along ``path`` ("moov/trak/mdia"), or None."""
    parts = path.split("/")
    lo, hi = start, end
    found: BoxHeader | None = None
    for i, name in enumerate(parts):
        want = name.encode("latin-1")
        found = None
        for hdr in iter_boxes(f, lo, hi):
            if hdr.type == want:
                found = hdr
                break
        if found is None:
            return None
        lo, hi = found.payload_offset, found.end
    return found
