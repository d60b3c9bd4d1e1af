"""Spatial audio: finding ambisonic tracks and marking them with the ``SA3D`` box.

360 cameras with four microphones (GoPro Fusion, GoPro MAX) record first-order
ambisonics: four channels W, Y, Z, X. Players (YouTube, VLC) rotate that sound field with
the view only when the audio sample entry carries Google's Spatial Audio box (``SA3D``,
spatial-audio RFC of google/spatial-media)::

    aligned(8) class SpatialAudioBox extends Box('SA3D') {
        unsigned int(8)  version;                    // 0
        unsigned int(1)  head_locked_stereo;         // 1: two extra non-diegetic channels
        unsigned int(7)  ambisonic_type;             // 0: periphonic
        unsigned int(32) ambisonic_order;            // 1 for four channels
        unsigned int(8)  ambisonic_channel_ordering; // 0: ACN
        unsigned int(8)  ambisonic_normalization;    // 0: SN3D
        unsigned int(32) num_channels;
        unsigned int(32) channel_map[num_channels];  // track channel of each ACN component
    }

We publish ambiX (ACN order, SN3D normalisation), the convention both cameras use. A
track of (n + 1)² channels (4, 9, 16) is taken as ambisonic of order n; stereo (and any
other count) passes through unmarked.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from ._files import check_input_file
from ._types import StrPath
from .errors import CorruptBoxError

if TYPE_CHECKING:
    from .isobmff import Movie

__all__ = [
    "Sa3d",
    "AudioTrackInfo",
    "ambisonic_order",
    "audio_tracks",
    "movie_audio_tracks",
    "spatial_audio_boxes",
    "mark_spatial_audio",
    "describe_audio",
]


# PCM sample entries (QuickTime and ISO 23003-5) a camera may write its ambisonics in
_PCM_ENTRIES = frozenset({b"lpcm", b"sowt", b"twos", b"in24", b"in32", b"fl32", b"fl64", b"ipcm", b"fpcm", b"raw "})


def ambisonic_order(channels: int) -> int | None:
    """n when ``channels`` is (n + 1)² for n >= 1 (4, 9, 16, ...), else None."""
    if channels < 4:
        return None
    n = math.isqrt(channels)
    return n - 1 if n * n == channels else None


@dataclass(frozen=True)
class Sa3d:
    """The Spatial Audio box (ambiX defaults: ACN ordering, SN3D normalisation)."""

    TYPE: ClassVar[bytes] = b"SA3D"
    order: int = 1
    channel_map: tuple[int, ...] = (0, 1, 2, 3)
    ambisonic_type: int = 0
    channel_ordering: int = 0
    normalization: int = 0
    head_locked_stereo: bool = False
    version: int = 0

    @classmethod
    def ambix(cls, channels: int) -> Self:
        """First- or higher-order ambiX for a track of ``channels`` channels, in order."""
        order = ambisonic_order(channels)
        if order is None:
            raise ValueError(f"{channels} channels is not an ambisonic track ((n + 1)^2 channels)")
        return cls(order=order, channel_map=tuple(range(channels)))

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """From the box payload (after the 8-byte header)."""
        if len(payload) < 12:
            raise CorruptBoxError(f"'SA3D' box too short ({len(payload)} bytes)")
        version, kind, order, ordering, norm, n = struct.unpack_from(">BBIBBI", payload, 0)
        if len(payload) < 12 + 4 * n:
            raise CorruptBoxError(f"'SA3D' box holds {len(payload) - 12} bytes for {n} channels")
        cmap = struct.unpack_from(f">{n}I", payload, 12)
        return cls(order, tuple(cmap), kind & 0x7F, ordering, norm, bool(kind & 0x80), version)

    def to_bytes(self) -> bytes:
        """The whole box, header included."""
        kind = (0x80 if self.head_locked_stereo else 0) | (self.ambisonic_type & 0x7F)
        body = struct.pack(">BBIBBI", self.version, kind, self.order, self.channel_ordering, self.normalization, len(self.channel_map))
        body += struct.pack(f">{len(self.channel_map)}I", *self.channel_map)
        return struct.pack(">I4s", 8 + len(body), self.TYPE) + body


@dataclass(frozen=True)
class AudioTrackInfo:
    """One audio track: ``index`` among the file's audio tracks, its codec and channels,
    and the SA3D box it already carries (None if none)."""

    index: int
    track_id: int
    codec: str
    channels: int
    sample_rate: int
    sa3d: Sa3d | None = None

    @property
    def ambisonic(self) -> bool:
        return self.sa3d is not None or ambisonic_order(self.channels) is not None

    @property
    def kind(self) -> str:
        """"ambisonic (order 1, 4 ch)", "stereo", "mono", or "N ch"."""
        if self.ambisonic:
            order = self.sa3d.order if self.sa3d else ambisonic_order(self.channels)
            return f"ambisonic (order {order}, {self.channels} ch)"
        return {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} ch")


def _entry_children(entry: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the boxes after an audio sample entry's fixed fields."""
    if len(entry) < 36:
        return []
    (version,) = struct.unpack_from(">H", entry, 16)
    pos = 36 + {1: 16, 2: 36}.get(version, 0)
    out = []
    while pos + 8 <= len(entry):
        size, kind = struct.unpack_from(">I4s", entry, pos)
        if size < 8 or pos + size > len(entry):
            break
        out.append((kind, entry[pos + 8 : pos + size]))
        pos += size
    return out


def _esds_channels(esds: bytes) -> int | None:
    """Channel configuration from an ``esds`` AudioSpecificConfig (AAC), or None."""
    i = esds.find(b"\x05")  # DecoderSpecificInfo tag
    while 0 <= i < len(esds) - 3:
        j, n = i + 1, 0
        for _ in range(4):  # expandable size
            b = esds[j]
            n = (n << 7) | (b & 0x7F)
            j += 1
            if not b & 0x80:
                break
        if 2 <= n <= 16 and j + 2 <= len(esds):
            cfg = (esds[j] << 8) | esds[j + 1]
            chan = (cfg >> 3) & 0xF
            return {7: 8}.get(chan, chan) or None
        i = esds.find(b"\x05", i + 1)
    return None


def audio_tracks(path: StrPath) -> list[AudioTrackInfo]:
    """Every audio track of ``path`` with its channel count and SA3D box."""
    from .cameras import read_camera_movie

    p = check_input_file(path)
    return movie_audio_tracks(read_camera_movie(p).movie)  # an .insv trailer is not part of the MP4


def movie_audio_tracks(movie: Movie) -> list[AudioTrackInfo]:
    """``audio_tracks`` of a movie already read."""
    out = []
    for t in movie.tracks:
        if t.handler != b"soun":
            continue
        entry = t.sample_entry
        channels = struct.unpack_from(">H", entry, 24)[0] if len(entry) >= 26 else 0
        sa3d = None
        for kind, payload in _entry_children(entry):
            if kind == b"SA3D":
                sa3d = Sa3d.parse(payload)
            elif kind == b"esds" and channels <= 2:
                channels = _esds_channels(payload) or channels
            elif kind == b"wave":  # QuickTime wraps esds in wave
                k = payload.find(b"esds")
                if k >= 4 and channels <= 2:
                    channels = _esds_channels(payload[k + 4 :]) or channels
        out.append(AudioTrackInfo(len(out), t.track_id, t.codec.decode("latin-1"), int(channels), int(t.timescale), sa3d))
    return out


def spatial_audio_boxes(path: StrPath) -> dict[bytes, bytes] | None:
    """``extra_audio_boxes`` for ``inject_spherical``: the SA3D box when every audio track
    of ``path`` is ambisonic with one channel count (the box goes on every audio track),
    else None (stereo passes through; mixed files need ``mark_spatial_audio``)."""
    tracks = audio_tracks(path)
    if not tracks or not all(t.ambisonic for t in tracks) or len({t.channels for t in tracks}) != 1:
        return None
    t = tracks[0]
    return {Sa3d.TYPE: (t.sa3d or Sa3d.ambix(t.channels)).to_bytes()}


def mark_spatial_audio(src: StrPath, dst: StrPath) -> list[AudioTrackInfo]:
    """Write ``src`` to ``dst`` with an ambiX SA3D box on each ambisonic audio track (and
    on no other); returns the tracks marked. ``dst`` may be ``src``."""
    from .isobmff import AUDIO_SAMPLE_ENTRIES, BoxNode, parse_boxes, rewrite_moov

    tracks = audio_tracks(src)
    marked = [t for t in tracks if t.ambisonic]
    wanted = {t.track_id: (t.sa3d or Sa3d.ambix(t.channels)) for t in marked}

    def edit(moov: BoxNode) -> None:
        for trak in moov.find_all(b"trak"):
            tkhd = trak.find(b"tkhd")
            if tkhd is None or len(tkhd.prefix) < 16:
                continue
            track_id = struct.unpack_from(">I", tkhd.prefix, 20 if tkhd.prefix[0] == 1 else 12)[0]
            if track_id not in wanted:
                continue
            node: BoxNode | None = trak
            for name in (b"mdia", b"minf", b"stbl", b"stsd"):
                node = node.find(name) if node is not None else None
            for entry in (node.children or []) if node is not None else []:
                if entry.children is None and entry.type in _PCM_ENTRIES and len(entry.prefix) >= 28:
                    # QuickTime PCM entries the box editor keeps opaque: split off the fixed fields
                    version = struct.unpack_from(">H", entry.prefix, 8)[0]
                    pre = {0: 28, 1: 44, 2: 64}.get(version)
                    if pre is None or pre > len(entry.prefix):
                        continue
                    entry.children = parse_boxes(entry.prefix[pre:])
                    entry.prefix = entry.prefix[:pre]
                if (entry.type in AUDIO_SAMPLE_ENTRIES or entry.type in _PCM_ENTRIES) and entry.children is not None:
                    entry.children = [c for c in entry.children if c.type != Sa3d.TYPE]
                    entry.children += parse_boxes(wanted[track_id].to_bytes())

    rewrite_moov(src, dst, edit)
    return marked


def describe_audio(path: StrPath) -> str:
    """"stereo aac; ambisonic (order 1, 4 ch) aac, SA3D" — one line for ``inspect``."""
    parts = []
    for t in audio_tracks(Path(path)):
        parts.append(f"{t.kind} {t.codec}" + (", SA3D" if t.sa3d else ""))
    return "; ".join(parts) or "none"
