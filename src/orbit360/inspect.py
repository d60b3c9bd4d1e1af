"""What a file is: container, tracks, layout, spherical metadata, or why it will not open."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ._files import check_input_file
from ._types import StrPath
from .errors import BoxError, InputError, file_context

__all__ = ["TrackInfo", "FileInfo", "inspect_file"]


@dataclass
class TrackInfo:
    index: int
    kind: str
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frames: int | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class FileInfo:
    path: str
    size_bytes: int
    container: str
    has_moov: bool
    tracks: list[TrackInfo] = field(default_factory=list)
    layout: str = "unknown"
    camera: str = "unknown"
    spherical: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    salvage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _top_level_types(path: Path) -> list[bytes]:
    from .isobmff import iter_boxes

    size = path.stat().st_size
    types: list[bytes] = []
    with open(path, "rb") as f:
        try:
            for b in iter_boxes(f, 0, size):
                types.append(b.type)
        except BoxError:
            types.append(b"?bad")
    return types


def inspect_file(path: StrPath) -> FileInfo:
    """Describe ``path``; a file without a moov is reported (with a salvage hint), not raised."""
    p = check_input_file(path)
    with open(p, "rb") as f:
        head = f.read(12)
    info = FileInfo(str(p), p.stat().st_size, "unknown", has_moov=False)
    if len(head) < 8 or head[4:8] not in (b"ftyp", b"mdat", b"moov", b"wide", b"free", b"skip"):
        raise InputError("not an MP4/MOV file (no ISO-BMFF box at the start)", path=p)
    with file_context(p):
        types = _top_level_types(p)
    info.container = "mp4/mov"
    info.has_moov = b"moov" in types
    if not info.has_moov:
        info.problems.append("no moov box: the recording was not finalised (camera lost power?); run `orbit360 salvage` on it")
        try:
            from .salvage import diagnose  # type: ignore[attr-defined]

            info.salvage = diagnose(p).to_dict()
        except (ImportError, AttributeError):
            pass
        return info
    import struct

    from .isobmff import read_movie
    from .video import probe_container

    probe_container(p).close()  # FFmpeg must open it too, or say why not
    with file_context(p):
        movie = read_movie(p)
    kinds = {b"vide": "video", b"soun": "audio", b"tmcd": "timecode", b"meta": "data", b"text": "text", b"sbtl": "subtitle"}
    for i, tr in enumerate(movie.tracks):
        t = TrackInfo(i, kinds.get(tr.handler, tr.handler.decode("latin-1")), tr.codec.decode("latin-1"))
        t.duration_s = tr.duration_seconds
        t.frames = tr.sample_count
        if tr.handler == b"vide":
            t.width, t.height = tr.width, tr.height
            t.fps = tr.sample_count / tr.duration_seconds if tr.duration_seconds else None
        elif tr.handler == b"soun":
            entry = tr.sample_entry
            t.sample_rate = tr.timescale
            t.channels = struct.unpack_from(">H", entry, 24)[0] if len(entry) >= 26 else None
        info.tracks.append(t)
    from .isobmff.spherical import read_spherical

    meta = read_spherical(p)
    if meta is not None:
        info.spherical = {"v1": meta.has_v1, "v2": meta.has_v2, "projection": meta.projection, "stereo": meta.stereo.name.lower() if meta.stereo is not None else None}
    videos = [t for t in info.tracks if t.kind == "video"]
    if meta is not None and meta.projection == "equirectangular":
        info.layout = "equirectangular 360"
    elif len(videos) == 1 and videos[0].width and videos[0].height and abs(videos[0].width / videos[0].height - 2.0) < 0.02:
        info.layout = "dual fisheye, side by side"
    elif len(videos) == 2:
        info.layout = "two video tracks (dual lens)"
    elif videos:
        info.layout = "single lens (not 360)"
    else:
        info.layout = "no video"
    return info
