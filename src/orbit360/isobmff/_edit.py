"""Editing an existing file's moov: parse it into a tree, change it, write the file anew.

Only the moov is held in memory; every other top-level box (``mdat`` included) is copied
in 64 MiB blocks. When the moov precedes the media data (``+faststart``) and changes
size, every chunk offset (``stco``/``co64``) shifts by the size change.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._files import atomic_output, check_input_file
from .._types import StrPath
from ..errors import CorruptBoxError, InputError, file_context
from ._reader import CONTAINER_TYPES, BoxHeader, iter_boxes, read_payload
from ._writer import box

__all__ = ["BoxNode", "parse_boxes", "rewrite_moov", "VISUAL_SAMPLE_ENTRIES", "AUDIO_SAMPLE_ENTRIES"]

VISUAL_SAMPLE_ENTRIES = frozenset({b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"vp09", b"av01", b"encv"})
AUDIO_SAMPLE_ENTRIES = frozenset({b"mp4a", b"lpcm", b"sowt", b"twos", b"Opus", b"ac-3", b"enca"})

# bytes before the child boxes: FullBox header + entry count for stsd; the fixed fields of
# a VisualSampleEntry (78) or a version-0 AudioSampleEntry (28) after the box header
_PREFIX = {b"stsd": 8, b"meta": 4}
_BLOCK = 64 * 1024 * 1024


@dataclass
class BoxNode:
    """A box held in memory: ``prefix`` bytes, then either ``children`` or nothing.

    A leaf keeps its whole payload in ``prefix``. Sizes are recomputed on ``to_bytes``.
    """

    type: bytes
    prefix: bytes = b""
    children: list["BoxNode"] | None = None
    usertype: bytes | None = None

    def to_bytes(self) -> bytes:
        body = self.prefix + (b"".join(c.to_bytes() for c in self.children) if self.children is not None else b"")
        return box(self.type, body, usertype=self.usertype)

    def find(self, btype: bytes) -> "BoxNode | None":
        for c in self.children or []:
            if c.type == btype:
                return c
        return None

    def find_all(self, btype: bytes) -> list["BoxNode"]:
        return [c for c in self.children or [] if c.type == btype]

    def walk(self) -> "list[BoxNode]":
        out = [self]
        for c in self.children or []:
            out.extend(c.walk())
        return out


def _child_prefix(btype: bytes, payload: bytes) -> int | None:
    """How many payload bytes precede the children of ``btype``, or None for a leaf."""
    if btype in CONTAINER_TYPES:
        return 0
    if btype in _PREFIX:
        return _PREFIX[btype]
    if btype in VISUAL_SAMPLE_ENTRIES:
        return 78
    if btype in AUDIO_SAMPLE_ENTRIES and len(payload) >= 28:
        version = struct.unpack_from(">H", payload, 8)[0]
        return {0: 28, 1: 44, 2: 64}.get(version)
    return None


def parse_boxes(data: bytes, base_offset: int = 0, depth: int = 0) -> list[BoxNode]:
    """Parse boxes laid end to end in ``data`` into nodes (bounded, recursive)."""
    import io

    if depth > 16:
        raise CorruptBoxError("boxes nested more than 16 deep", offset=base_offset)
    f = io.BytesIO(data)
    nodes = []
    for hdr in iter_boxes(f, 0, len(data)):
        payload = data[hdr.payload_offset : hdr.end]
        pre = _child_prefix(hdr.type, payload)
        if pre is None or pre > len(payload):
            nodes.append(BoxNode(hdr.type, payload, None, hdr.usertype))
            continue
        try:
            kids = parse_boxes(payload[pre:], base_offset + hdr.payload_offset + pre, depth + 1)
        except CorruptBoxError:
            if hdr.type in CONTAINER_TYPES:
                raise
            # a sample entry whose tail is not boxes: keep it opaque rather than fail
            nodes.append(BoxNode(hdr.type, payload, None, hdr.usertype))
            continue
        nodes.append(BoxNode(hdr.type, payload[:pre], kids, hdr.usertype))
    return nodes


def _shift_chunk_offsets(moov: BoxNode, delta: int) -> None:
    """Add ``delta`` to every stco/co64 entry (stco widened to co64 if it overflows)."""
    for node in moov.walk():
        for i, c in enumerate(node.children or []):
            if c.type not in (b"stco", b"co64"):
                continue
            n = struct.unpack_from(">I", c.prefix, 4)[0]
            dt = ">u4" if c.type == b"stco" else ">u8"
            offs = np.frombuffer(c.prefix, dtype=dt, count=n, offset=8).astype(np.int64) + delta
            if offs.size and (offs.min() < 0):
                raise CorruptBoxError("chunk offset would become negative")
            if c.type == b"stco" and offs.size and offs.max() > 0xFFFFFFFF:
                node.children[i] = BoxNode(b"co64", c.prefix[:8] + offs.astype(">u8").tobytes())  # type: ignore[index]
            else:
                node.children[i] = BoxNode(c.type, c.prefix[:8] + offs.astype(dt).tobytes())  # type: ignore[index]


def rewrite_moov(src: StrPath, dst: StrPath, edit: Callable[[BoxNode], None]) -> None:
    """Copy ``src`` to ``dst`` with its moov changed by ``edit(moov_node)``.

    ``dst`` may equal ``src``: the result is written to a temporary name and renamed.
    Raises InputError when ``src`` has no moov.
    """
    p = check_input_file(src)
    size = p.stat().st_size
    with file_context(p), open(p, "rb") as f:
        tops: list[BoxHeader] = list(iter_boxes(f, 0, size))
        moovs = [b for b in tops if b.type == b"moov"]
        if not moovs:
            raise InputError("no moov box (unfinished recording? try `orbit360 salvage`)", path=p)
        moov_hdr = moovs[0]
        moov = BoxNode(b"moov", b"", parse_boxes(read_payload(f, moov_hdr), moov_hdr.payload_offset))
        edit(moov)
        new_moov = moov.to_bytes()
        delta = len(new_moov) - moov_hdr.size
        media_after = any(b.type == b"mdat" and b.offset > moov_hdr.offset for b in tops)
        if delta and media_after:
            _shift_chunk_offsets(moov, delta)
            new_moov = moov.to_bytes()
            if len(new_moov) - moov_hdr.size != delta:  # stco widened to co64: shift again
                extra = len(new_moov) - moov_hdr.size - delta
                _shift_chunk_offsets(moov, extra)
                new_moov = moov.to_bytes()
        with atomic_output(dst) as tmp, open(tmp, "wb") as out:
            for b in tops:
                if b is moov_hdr:
                    out.write(new_moov)
                else:
                    f.seek(b.offset)
                    _copy(f, out, b.size)


def _copy(f, out, n: int) -> None:  # type: ignore[no-untyped-def]
    while n > 0:
        chunk = f.read(min(_BLOCK, n))
        if not chunk:
            raise CorruptBoxError("file ended while copying")
        out.write(chunk)
        n -= len(chunk)
