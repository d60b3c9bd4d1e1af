"""Find the ``ftyp`` and the ``mdat`` payload of a recording that was never finalised.

A camera that dies leaves the top-level boxes in a state the checked reader refuses: an
``mdat`` whose size is 0 (never patched), larger than the file (preallocated), a 64-bit
``largesize``, or a file cut inside the ``mdat`` header itself. This module reads the
top level with the unchecked header reader and says where the payload bytes really are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import BoxError, SalvageError
from ..isobmff import BoxHeader, read_box_header_unchecked
from ..isobmff import MAX_BOXES_IN_A_ROW

__all__ = ["Layout", "find_layout"]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a recording's parts lie.

    ``payload_start:payload_end`` are the mdat payload bytes actually present in the file
    (``payload_end`` is the file size when the header claims more, or 0).
    """

    file_size: int
    ftyp: bytes
    mdat: BoxHeader
    payload_start: int
    payload_end: int
    moov: BoxHeader | None
    damage: list[str] = field(default_factory=list)
    """Human-readable notes on what is wrong with the top level."""

    @property
    def is_finalised(self) -> bool:
        return self.moov is not None


def _plausible_type(btype: bytes) -> bool:
    return all(32 <= c < 127 for c in btype)


# What may follow an mdat at the top level of a camera file.
_TOP_LEVEL = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"udta", b"pdin", b"moof", b"mfra", b"styp", b"sidx"}
)


def _extend_short_mdat(
    mdat: BoxHeader, moov: BoxHeader | None, pos: int, file_size: int, payload_end: int, damage: list[str]
) -> int:
    """What follows the mdat is no box: a camera that updated the mdat size now and then
    kept writing samples after the last update. The payload runs to the end of the file."""
    if moov is None and pos == mdat.end:
        damage.append(f"mdat size stops {file_size - pos} bytes short of the data written after it")
        return file_size
    damage.append(f"{file_size - pos} bytes of unknown data after the mdat")
    return payload_end


def find_layout(f: BinaryIO, file_size: int) -> Layout:
    """Locate ftyp, mdat (possibly damaged) and moov in the open file ``f``.

    Raises SalvageError when there is no mdat payload at all (the file ends inside or
    before the mdat header).
    """
    pos = 0
    ftyp = b""
    mdat: BoxHeader | None = None
    moov: BoxHeader | None = None
    damage: list[str] = []
    payload_end = 0
    count = 0
    while pos < file_size:
        count += 1
        if count > MAX_BOXES_IN_A_ROW:  # millions of tiny boxes: bounded time, not a recording
            raise SalvageError(f"not a recording: more than {MAX_BOXES_IN_A_ROW} boxes at the top level", offset=pos)
        try:
            hdr = read_box_header_unchecked(f, pos, file_size)
        except BoxError as exc:
            if mdat is None:
                raise SalvageError(f"no mdat payload: the file ends inside a box header ({exc.message})", offset=pos) from None
            payload_end = _extend_short_mdat(mdat, moov, pos, file_size, payload_end, damage)
            break
        if not _plausible_type(hdr.type) or (mdat is not None and moov is None and hdr.type not in _TOP_LEVEL):
            if mdat is None:
                raise SalvageError(f"not an MP4 recording: no mdat box (found '{hdr.type!r}' at the top level)", offset=pos)
            payload_end = _extend_short_mdat(mdat, moov, pos, file_size, payload_end, damage)
            break
        if hdr.type == b"ftyp" and not ftyp and hdr.size <= 4096 and hdr.end <= file_size:
            f.seek(pos)
            ftyp = f.read(hdr.size)
        elif hdr.type == b"moov" and moov is None and hdr.end <= file_size and hdr.declared_size != 0:
            moov = hdr
        elif hdr.type == b"mdat" and mdat is None:
            mdat = hdr
            if hdr.declared_size == 0:
                damage.append("mdat size is 0 (never written)")
            elif hdr.end > file_size:
                damage.append(
                    f"mdat claims {hdr.size} bytes, {hdr.end - file_size} more than the file holds"
                )
            payload_end = min(hdr.end, file_size)
            if hdr.declared_size == 0 or hdr.end >= file_size:
                break
        if hdr.declared_size == 0 or hdr.end > file_size:
            if hdr.type != b"mdat":
                damage.append(f"box '{hdr.name}' at {pos:#x} runs past the end of the file")
            break
        pos = hdr.end
    if mdat is None:
        raise SalvageError("not a recording: no mdat box at the top level")
    if mdat.payload_offset >= payload_end:
        raise SalvageError("the file ends at the mdat header: no sample bytes were written", offset=mdat.offset)
    return Layout(file_size, ftyp, mdat, mdat.payload_offset, payload_end, moov, damage)
