"""What a file is: container, tracks, camera and layout, spherical metadata and audio, or
why it will not open.

Camera maker/model and layout come from ``orbit360.cameras.describe_recording`` (boxes,
names and the Insta360 trailer; nothing is decoded), so ``inspect`` names exactly what
``stitch`` will open: the partner file of a lens pair, the chapters of a recording.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import check_input_file
from ._types import StrPath
from .errors import BoxError, InputError, Orbit360Error, file_context

if TYPE_CHECKING:
    from .isobmff import Movie

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
    audio: str | None = None
    """Audio tracks: "stereo", "ambisonic (order 1, 4 ch)", with ", SA3D" when marked."""


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
    salvage_table: str | None = None
    files: list[str] = field(default_factory=list)
    """Every file of the recording (a lens pair's partner, the chapters)."""
    notes: list[str] = field(default_factory=list)
    stitchable: bool = False
    sync: dict[str, Any] | None = None
    """For a front/back pair: back's offset in frames, the method that decided, each estimate."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The description ``orbit360 inspect`` prints: container, camera and layout, one
        line per track, the spherical metadata, problems and what salvage would recover."""
        out = [f"{self.path}: {self.container}, {self.size_bytes} bytes", f"  camera: {self.camera}; layout: {self.layout}"]
        if len(self.files) > 1:
            out.append(f"  files: {', '.join(Path(x).name for x in self.files)}")
        out += [f"  note: {note}" for note in self.notes]
        out += [f"  track {t.index}: {t.kind} {t.codec}{_track_detail(t)}" for t in self.tracks]
        if self.spherical:
            s = self.spherical
            out.append(f"  spherical: {s['projection']} (V1 {'yes' if s['v1'] else 'no'}, V2 {'yes' if s['v2'] else 'no'})")
        elif self.has_moov:
            out.append("  spherical: none")
        out += [f"  problem: {problem}" for problem in self.problems]
        if self.salvage_table:
            out.append("  salvage would recover:")
            out += [f"    {line}" for line in self.salvage_table.splitlines()]
        return out


def _track_detail(t: TrackInfo) -> str:
    """What follows a track's kind and codec in ``FileInfo.lines``."""
    if t.kind == "video":
        extra = f" {t.width}x{t.height} {t.fps or 0:.3f} fps, {t.frames} frames"
    elif t.kind == "audio":
        extra = f" {t.sample_rate} Hz, {t.channels} ch{f' ({t.audio})' if t.audio else ''}, {t.frames} samples"
    else:
        extra = f", {t.frames} samples"
    return extra + (f", {t.duration_s:.2f} s" if t.duration_s else "")


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
    from .errors import parse_guard

    p = check_input_file(path)
    with file_context(p), parse_guard("file structure"):
        return _inspect(p)


def _inspect(p: Path) -> FileInfo:
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
        from .salvage import diagnose

        preview = diagnose(p)
        info.salvage = preview.to_dict()
        info.salvage_table = preview.format_table() if preview.tracks else preview.summary()
        return info
    from .cameras import RecordingKind, describe_recording, fusion_role, read_camera_movie
    from .video import probe_container

    probe_container(p).close()  # FFmpeg must open it too, or say why not
    parsed = read_camera_movie(p)  # the one parse of the moov: tracks, audio and description use it
    movie, trailer = parsed.movie, parsed.trailer
    if trailer is not None:
        info.container = "mp4/mov + Insta360 trailer"
    audio = _audio_kinds(movie)
    kinds = {b"vide": "video", b"soun": "audio", b"tmcd": "timecode", b"meta": "data", b"text": "text", b"sbtl": "subtitle"}
    for i, tr in enumerate(movie.tracks):
        t = TrackInfo(i, kinds.get(tr.handler, tr.handler.decode("latin-1")), tr.codec.decode("latin-1"))
        t.duration_s = tr.duration_seconds
        t.frames = tr.sample_count
        if tr.handler == b"vide":
            t.width, t.height = tr.width, tr.height
            t.fps = tr.sample_count / tr.duration_seconds if tr.duration_seconds else None
        elif tr.handler == b"soun":
            t.sample_rate = tr.timescale
            a = audio.get(tr.track_id)
            t.channels = a.channels if a is not None else None
            t.audio = (a.kind + (", SA3D" if a.sa3d else "")) if a is not None else None
        info.tracks.append(t)
        if tr.samples_past_end:  # the moov outlived its media data: say what is left, per track
            info.problems.append(
                f"track {i} ({t.kind}): the file is cut: {tr.samples_in_file} of {tr.sample_count} samples are in it; "
                f"`orbit360 salvage` would keep those {tr.samples_in_file}"
            )
    if trailer is None:
        from .isobmff.spherical import read_spherical

        meta = read_spherical(p)
        if meta is not None:
            info.spherical = {"v1": meta.has_v1, "v2": meta.has_v2, "projection": meta.projection, "stereo": meta.stereo.name.lower() if meta.stereo is not None else None}
    try:
        rec = describe_recording(p, parsed=parsed)
    except Orbit360Error as exc:
        info.problems.append(exc.message)
        return info
    info.camera, info.layout = rec.camera, rec.layout
    info.files = [str(x) for x in rec.paths]
    info.notes = list(rec.notes)
    info.stitchable = rec.problem is None
    if rec.kind == RecordingKind.PAIR and fusion_role(rec.paths[0]) is not None:
        # two cards started apart: say by how many frames (timecode, audio, telemetry)
        from .cameras import PairSource, sync_pair

        pair = PairSource(*rec.paths)
        s = sync_pair(rec.paths[0], rec.paths[1], pair.fps, movies={parsed.path: parsed.movie})
        info.sync = {"offset_frames": s.offset_frames, "method": s.method, "estimates": s.estimates}
        info.notes.append(f"sync: {s.describe()}")
    if rec.problem is not None and rec.kind != RecordingKind.EQUIRECT:
        info.problems.append(rec.problem)
    return info


def _audio_kinds(movie: Movie) -> dict[int, Any]:
    """Audio track id -> AudioTrackInfo (empty when the audio boxes cannot be read)."""
    from .audio import movie_audio_tracks

    try:
        return {a.track_id: a for a in movie_audio_tracks(movie)}
    except Orbit360Error:
        return {}
