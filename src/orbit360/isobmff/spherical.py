"""Spherical video metadata: Google's Spherical Video V1 (XML) and V2 (st3d/sv3d) boxes.

- V1 (RFC "spherical-video-rfc"): a ``uuid`` box with user type
  ffcc8263-f855-4a93-8814-587a02521fdd inside the video ``trak``, holding GSpherical XML.
- V2 (RFC "spherical-video-v2-rfc"): in the video sample entry, ``st3d`` (stereo mode)
  and ``sv3d`` → ``svhd`` (metadata source) + ``proj`` → ``prhd`` (pose, 16.16 signed
  fixed point degrees) + ``equi`` (projection bounds, 0.32 fixed point).

Each box is a frozen dataclass with ``parse(payload)`` and ``to_bytes()``; sizes are
computed, never stored. ``inject_spherical`` writes both versions; ``read_spherical``
reads them back.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from enum import IntEnum
from typing import ClassVar, Self

from .._files import check_input_file
from .._types import StrPath
from ..errors import CorruptBoxError, InputError, file_context, parse_guard
from ._edit import AUDIO_SAMPLE_ENTRIES, VISUAL_SAMPLE_ENTRIES, BoxNode, parse_boxes, rewrite_moov
from ._reader import find_box, read_payload
from ._writer import box, full_box

__all__ = [
    "SPHERICAL_V1_UUID",
    "StereoMode",
    "St3d",
    "Svhd",
    "Prhd",
    "Equi",
    "SphericalMetadata",
    "inject_spherical",
    "read_spherical",
    "spherical_v1_xml",
]

SPHERICAL_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")


class StereoMode(IntEnum):
    MONO = 0
    TOP_BOTTOM = 1
    LEFT_RIGHT = 2


def _full_header(payload: bytes, name: str, need: int) -> bytes:
    if len(payload) < 4 + need:
        raise CorruptBoxError(f"'{name}' box too short ({len(payload)} bytes)")
    return payload[4:]


@dataclass(frozen=True)
class St3d:
    """Stereoscopic 3D video box: the frame packing of the two eyes."""

    TYPE: ClassVar[bytes] = b"st3d"
    stereo_mode: StereoMode = StereoMode.MONO

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        body = _full_header(payload, "st3d", 1)
        return cls(StereoMode(body[0]) if body[0] in (0, 1, 2) else StereoMode.MONO)

    def to_bytes(self) -> bytes:
        return full_box(self.TYPE, 0, 0, struct.pack(">B", int(self.stereo_mode)))


@dataclass(frozen=True)
class Svhd:
    """Spherical video header: the tool that wrote the metadata."""

    TYPE: ClassVar[bytes] = b"svhd"
    metadata_source: str = "orbit360"

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        body = _full_header(payload, "svhd", 0)
        return cls(body.split(b"\0", 1)[0].decode("utf-8", "replace"))

    def to_bytes(self) -> bytes:
        return full_box(self.TYPE, 0, 0, self.metadata_source.encode("utf-8") + b"\0")


@dataclass(frozen=True)
class Prhd:
    """Projection header: the pose (yaw, pitch, roll) in degrees, 16.16 signed fixed point."""

    TYPE: ClassVar[bytes] = b"prhd"
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        body = _full_header(payload, "prhd", 12)
        y, p, r = struct.unpack_from(">iii", body)
        return cls(y / 65536.0, p / 65536.0, r / 65536.0)

    def to_bytes(self) -> bytes:
        vals = [int(round(v * 65536.0)) for v in (self.yaw, self.pitch, self.roll)]
        return full_box(self.TYPE, 0, 0, struct.pack(">iii", *vals))


@dataclass(frozen=True)
class Equi:
    """Equirectangular projection: bounds cropped from each edge, 0.32 fixed point."""

    TYPE: ClassVar[bytes] = b"equi"
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        body = _full_header(payload, "equi", 16)
        return cls(*struct.unpack_from(">IIII", body))

    def to_bytes(self) -> bytes:
        return full_box(self.TYPE, 0, 0, struct.pack(">IIII", self.top, self.bottom, self.left, self.right))


BOX_TYPES: dict[bytes, type] = {c.TYPE: c for c in (St3d, Svhd, Prhd, Equi)}


def sv3d_bytes(source: str = "orbit360", pose: Prhd = Prhd(), equi: Equi = Equi()) -> bytes:
    """The whole ``sv3d`` box for an equirectangular video."""
    proj = box(b"proj", pose.to_bytes() + equi.to_bytes())
    return box(b"sv3d", Svhd(source).to_bytes() + proj)


def spherical_v1_xml(software: str = "orbit360", stereo: StereoMode = StereoMode.MONO) -> bytes:
    """The GSpherical RDF/XML document of Spherical Video V1."""
    stereo_line = {
        StereoMode.MONO: "",
        StereoMode.TOP_BOTTOM: "<GSpherical:StereoMode>top-bottom</GSpherical:StereoMode>",
        StereoMode.LEFT_RIGHT: "<GSpherical:StereoMode>left-right</GSpherical:StereoMode>",
    }[stereo]
    return (
        '<?xml version="1.0"?>'
        '<rdf:SphericalVideo xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
        "<GSpherical:Spherical>true</GSpherical:Spherical>"
        "<GSpherical:Stitched>true</GSpherical:Stitched>"
        f"<GSpherical:StitchingSoftware>{software}</GSpherical:StitchingSoftware>"
        "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>"
        f"{stereo_line}"
        "</rdf:SphericalVideo>"
    ).encode("utf-8")


@dataclass(frozen=True)
class SphericalMetadata:
    """What a file says about its projection (None for a version it does not carry)."""

    v1: dict[str, str] | None
    stereo: StereoMode | None
    projection: str | None
    pose: Prhd | None
    bounds: Equi | None
    source: str | None

    @property
    def has_v1(self) -> bool:
        return self.v1 is not None

    @property
    def has_v2(self) -> bool:
        return self.projection is not None


def _handler(trak: BoxNode) -> bytes | None:
    mdia = trak.find(b"mdia")
    hdlr = mdia.find(b"hdlr") if mdia else None
    return hdlr.prefix[8:12] if hdlr is not None and len(hdlr.prefix) >= 12 else None


def _sample_entries(trak: BoxNode, kinds: frozenset[bytes]) -> list[BoxNode]:
    node: BoxNode | None = trak
    for name in (b"mdia", b"minf", b"stbl", b"stsd"):
        node = node.find(name) if node is not None else None
    return [e for e in (node.children or []) if e.type in kinds] if node is not None else []


def inject_spherical(
    src: StrPath, dst: StrPath, *, stereo: StereoMode = StereoMode.MONO, software: str = "orbit360",
    extra_audio_boxes: dict[bytes, bytes] | None = None,
) -> None:
    """Write ``src`` to ``dst`` with V1 and V2 equirectangular metadata on every video track.

    Existing spherical boxes are replaced, so injecting twice gives the same file.
    ``extra_audio_boxes`` maps a FourCC (e.g. b"SA3D") to a whole box appended to every
    audio sample entry (spatial audio).
    """

    def edit(moov: BoxNode) -> None:
        videos = [t for t in moov.find_all(b"trak") if _handler(t) == b"vide"]
        if not videos:
            raise InputError("no video track to mark as spherical", path=src)
        for trak in videos:
            kids = [c for c in trak.children or [] if not (c.type == b"uuid" and c.usertype == SPHERICAL_V1_UUID)]
            at = next((i + 1 for i, c in enumerate(kids) if c.type == b"tkhd"), 0)
            kids.insert(at, BoxNode(b"uuid", spherical_v1_xml(software, stereo), None, SPHERICAL_V1_UUID))
            trak.children = kids
            for entry in _sample_entries(trak, VISUAL_SAMPLE_ENTRIES):
                entry.children = [c for c in entry.children or [] if c.type not in (b"st3d", b"sv3d")]
                entry.children += parse_boxes(St3d(stereo).to_bytes() + sv3d_bytes(software))
        if extra_audio_boxes:
            for trak in moov.find_all(b"trak"):
                if _handler(trak) != b"soun":
                    continue
                for entry in _sample_entries(trak, AUDIO_SAMPLE_ENTRIES):
                    entry.children = [c for c in entry.children or [] if c.type not in extra_audio_boxes]
                    for raw in extra_audio_boxes.values():
                        entry.children += parse_boxes(raw)

    rewrite_moov(src, dst, edit)


_XML_FIELD = re.compile(rb"<GSpherical:(\w+)>([^<]*)</GSpherical:\1>")


def read_spherical(path: StrPath) -> SphericalMetadata | None:
    """Read V1 and V2 spherical metadata of the first video track, or None if it has neither."""
    p = check_input_file(path)
    with file_context(p), parse_guard("spherical metadata"):
        return _read_spherical(p)


def _read_spherical(p: Path) -> SphericalMetadata | None:
    size = p.stat().st_size
    with open(p, "rb") as f:
        moov_hdr = find_box(f, "moov", 0, size)
        if moov_hdr is None:
            raise InputError("no moov box", path=p)
        moov = BoxNode(b"moov", b"", parse_boxes(read_payload(f, moov_hdr), moov_hdr.payload_offset))
    for trak in moov.find_all(b"trak"):
        if _handler(trak) != b"vide":
            continue
        v1 = None
        for c in trak.children or []:
            if c.type == b"uuid" and c.usertype == SPHERICAL_V1_UUID:
                v1 = {k.decode(): v.decode("utf-8", "replace") for k, v in _XML_FIELD.findall(c.prefix)}
        stereo = projection = pose = bounds = source = None
        for entry in _sample_entries(trak, VISUAL_SAMPLE_ENTRIES):
            st3d = entry.find(b"st3d")
            if st3d is not None:
                stereo = St3d.parse(st3d.prefix).stereo_mode
            sv3d = entry.find(b"sv3d")
            if sv3d is not None:
                svhd = sv3d.find(b"svhd")
                source = Svhd.parse(svhd.prefix).metadata_source if svhd else None
                proj = sv3d.find(b"proj")
                if proj is not None:
                    prhd = proj.find(b"prhd")
                    pose = Prhd.parse(prhd.prefix) if prhd else None
                    for kind in (b"equi", b"cbmp", b"mshp"):
                        node = proj.find(kind)
                        if node is not None:
                            projection = {b"equi": "equirectangular", b"cbmp": "cubemap", b"mshp": "mesh"}[kind]
                            bounds = Equi.parse(node.prefix) if kind == b"equi" else None
        if v1 is None and projection is None and stereo is None:
            return None
        return SphericalMetadata(v1, stereo, projection, pose, bounds, source)
    return None
