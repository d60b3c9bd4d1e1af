"""Camera formats, each opened as a ``RigSource`` the stitcher can consume.

``describe_recording(path)`` says what a file (or folder) is without decoding any video:
camera maker and model, layout, the files that belong together, and why it cannot be
stitched when it cannot. ``open_rig(path)`` opens it:

- side-by-side dual fisheye in one track (Insta360 / Ricoh Theta / Samsung Gear 360
  exports, synthetic rigs): ``SideBySideSource``;
- GoPro Fusion front/back files (``GPFR``/``GPBK``, paired by name, synchronised by
  timecode, audio and telemetry), Insta360 ``_00_``/``_10_`` pairs and two-track
  ``.insv``: ``PairSource``;
- GoPro MAX ``.360`` (two HEVC tracks of EAC tiles): ``MaxSource``;
- Insta360 ``.insv`` with its trailer (camera model, lens circles, gyro);
- GoPro chapters (``GH01xxxx``, ``GH02xxxx``, ...): ``ChapterSource`` joining them.

Single-lens recordings and already-stitched equirect videos are refused with an
``InputError`` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .._types import StrPath
from ..errors import InputError
from ..profile import LensProfile, RigProfile
from ._camera_id import CameraId, identify_camera
from ._chapters import ChapterSource
from ._insta360 import CameraMovie, InsvTrailer, encode_insv_trailer, read_camera_movie, read_insv_trailer
from ._max import LAYOUT_MAX_EAC, MaxLayout, MaxSource
from ._naming import ChapterName, chapter_set, fusion_partner, fusion_partner_name, fusion_role, insta360_partner
from ._photo import PhotoSource, is_photo, open_photo
from ._pair import LAYOUT_PAIR, PairSource, PairSync, read_pair_streams, sync_pair
from ._source import FramePlan, RigSource, SideBySideSource, open_side_by_side
from .kinds import Layout, RecordingKind

__all__ = [
    "RigSource",
    "FramePlan",
    "SideBySideSource",
    "PairSource",
    "PairSync",
    "MaxSource",
    "MaxLayout",
    "ChapterSource",
    "CameraId",
    "Recording",
    "RecordingKind",
    "Layout",
    "InsvTrailer",
    "describe_recording",
    "open_rig",
    "open_side_by_side",
    "read_insv_trailer",
    "encode_insv_trailer",
    "ChapterName",
    "CameraMovie",
    "read_camera_movie",
    "is_photo",
    "open_photo",
    "PhotoSource",
    "VIDEO_CODECS_SKIPPED",
    "sync_pair",
    "LAYOUT_SBS",
    "LAYOUT_PAIR",
    "LAYOUT_TWO_TRACKS",
    "LAYOUT_MAX_EAC",
]

LAYOUT_SBS = Layout.SIDE_BY_SIDE
LAYOUT_TWO_TRACKS = Layout.TWO_TRACKS
LAYOUT_EQUIRECT = Layout.EQUIRECT
LAYOUT_SINGLE = Layout.SINGLE

VIDEO_CODECS_SKIPPED = frozenset({b"jpeg", b"mjpa", b"mjpb", b"png "})
"""Video tracks that are cover art or thumbnails, not the recording."""


@dataclass(frozen=True)
class Recording:
    """What a recording is, found from its boxes and names alone (nothing decoded).

    ``kind``: a ``RecordingKind`` ("side-by-side", "pair", "two-tracks", "gopro-max",
    "equirect", "single-lens", "no-video", "unknown"); ``layout`` starts with a ``Layout``.
    ``problem`` says why it cannot be stitched (None if it can).
    """

    kind: RecordingKind
    camera: str
    layout: str
    paths: tuple[Path, ...]
    frame_size: tuple[int, int] | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()
    camera_id: CameraId = field(default_factory=CameraId)
    trailer: InsvTrailer | None = field(default=None, repr=False, compare=False)


# ---- describing ---------------------------------------------------------------------------
def _is_equirect(path: Path) -> bool:
    try:
        from ..isobmff.spherical import read_spherical

        meta = read_spherical(path)
    except Exception:  # a file whose boxes the spherical reader rejects carries no metadata we trust
        return False
    return meta is not None and meta.projection == "equirectangular"


def _looks_equirect(path: Path) -> bool:
    """Whether a 2:1 video without spherical metadata is equirect by its first frame's
    content (no dark corners around two image circles); a frame that cannot be decoded
    or is too dark to tell counts as side-by-side (the stitcher then says what it finds)."""
    from ..video import open_reader
    from ._content import has_image_circles

    try:
        with open_reader(path) as r:
            frame = next(iter(r.frames(0, 1)), None)
    except Exception:  # undecodable here: the stitcher reports it with its own error
        return False
    return frame is not None and has_image_circles(frame) is False


def _describe_file(p: Path, parsed: CameraMovie | None = None) -> Recording:
    """One file, on its own (pairs and chapters are found by the caller); ``parsed``: its
    ``read_camera_movie``, when the caller has it already."""
    parsed = parsed if parsed is not None else read_camera_movie(p)
    movie, trailer = parsed.movie, parsed.trailer
    cam = identify_camera(p, movie, trailer)
    pictures = [t for t in movie.tracks if t.handler == b"vide" and t.codec not in VIDEO_CODECS_SKIPPED and t.sample_count >= 1]
    # one-sample tracks beside real ones are cover images; alone, a one-frame video
    videos = [t for t in pictures if t.sample_count > 1] or pictures
    sizes = [(int(t.width or 0), int(t.height or 0)) for t in videos]
    name = cam.name
    notes: list[str] = []
    if trailer is not None:
        notes.append(f"Insta360 trailer: {len(trailer.records)} records" + (f", {len(trailer.gyro)} gyro samples" if trailer.gyro is not None else ""))
    if len(videos) == 2 and sizes[0] == sizes[1] and MaxLayout.for_track_size(*sizes[0]) is not None:
        return Recording(RecordingKind.GOPRO_MAX, name if cam.maker else "GoPro MAX", LAYOUT_MAX_EAC, (p,), sizes[0], notes=tuple(notes), camera_id=cam, trailer=trailer)
    if len(videos) == 2 and sizes[0] == sizes[1] and sizes[0][1] and abs(sizes[0][0] / sizes[0][1] - 1.0) < 0.25:
        return Recording(RecordingKind.TWO_TRACKS, name, LAYOUT_TWO_TRACKS, (p,), sizes[0], notes=tuple(notes), camera_id=cam, trailer=trailer)
    if not videos:
        return Recording(RecordingKind.NO_VIDEO, name, Layout.NO_VIDEO, (p,), problem="no video track: nothing to stitch", camera_id=cam)
    w, h = sizes[0]
    if len(videos) == 1 and h and abs(w / h - 2.0) < 0.02:
        if _is_equirect(p):
            return Recording(RecordingKind.EQUIRECT, name, LAYOUT_EQUIRECT, (p,), (w, h), problem="already an equirectangular 360 video (spherical metadata): nothing to stitch", camera_id=cam)
        if trailer is None and _looks_equirect(p):  # (an Insta360 trailer says where its lens circles are)
            problem = ("already an equirectangular 360 video (no image circles in the picture): nothing to stitch; "
                       "`orbit360 publish` tags it as 360 video")
            return Recording(RecordingKind.EQUIRECT, name, LAYOUT_EQUIRECT, (p,), (w, h), problem=problem, camera_id=cam,
                             notes=tuple(notes) + ("no spherical metadata; equirectangular by content (picture in the corners of both halves)",))
        return Recording(RecordingKind.SIDE_BY_SIDE, name, LAYOUT_SBS, (p,), (w, h), notes=tuple(notes), camera_id=cam, trailer=trailer)
    if len(videos) == 1 and h and abs(w / h - 1.0) < 0.25 and (fusion_role(p) or insta360_partner(p) is not None):
        return Recording(RecordingKind.SINGLE_LENS, name, Layout.ONE_LENS_OF_PAIR, (p,), (w, h), camera_id=cam, trailer=trailer)
    if len(videos) > 1:
        shapes = ", ".join(f"{a}x{b}" for a, b in sizes)
        problem = f"{len(videos)} video tracks ({shapes}) in no known 360 camera layout: nothing to stitch"
        return Recording(RecordingKind.UNKNOWN, name, Layout.UNKNOWN, (p,), (w, h), problem=problem, camera_id=cam)
    if cam.model == "Fusion":
        problem = (f"one lens of a GoPro Fusion ({w}x{h}); its partner is found by the camera's names "
                   "(GPFRnnnn.MP4 front, GPBKnnnn.MP4 back, in one folder)")
        return Recording(RecordingKind.SINGLE_LENS, name, LAYOUT_PAIR, (p,), (w, h), problem=problem, camera_id=cam)
    problem = (
        f"{name + ' ' if cam.maker else ''}single-lens recording ({w}x{h}, {len(videos)} video track"
        f"{'s' if len(videos) != 1 else ''}): not 360 footage, nothing to stitch"
    )
    return Recording(RecordingKind.SINGLE_LENS, name, LAYOUT_SINGLE, (p,), (w, h), problem=problem, camera_id=cam)


def _pick_in_folder(folder: Path) -> Path:
    """The one recording in ``folder`` (its first file), or InputError listing what is there."""
    exts = {".mp4", ".360", ".insv", ".mov"}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts)
    firsts: dict[str, Path] = {}
    for f in files:
        if fusion_role(f) == "back" or "_10_" in f.stem:
            continue  # the front file (or _00_) stands for its pair
        chapters = chapter_set(f)
        firsts.setdefault(str(chapters[0]), chapters[0])
    if not firsts:
        raise InputError("no camera recording (.MP4, .360, .insv) in this folder", path=folder)
    if len(firsts) > 1:
        names = ", ".join(p.name for p in list(firsts.values())[:6])
        raise InputError(f"{len(firsts)} recordings in this folder ({names}): name one file", path=folder)
    return next(iter(firsts.values()))


def describe_recording(path: StrPath, *, parsed: CameraMovie | None = None) -> Recording:
    """Describe the recording at ``path`` (a file, or a folder holding one recording).

    :param parsed: ``read_camera_movie(path)`` when the caller has read it already (for a
        file ``path``): the file is then not parsed again.
    """
    return _describe(path, parsed)[0]


def _describe(path: StrPath, parsed: CameraMovie | None) -> tuple[Recording, CameraMovie]:
    """``describe_recording``, and the ``read_camera_movie`` of the file it described first."""
    from .._files import check_input_file

    p = Path(path)
    if p.is_dir():
        p = _pick_in_folder(p)
    p = check_input_file(p)
    if parsed is not None and parsed.path != p:
        raise ValueError(f"parsed is the movie of {parsed.path}, not of {p}")
    parsed = parsed if parsed is not None else read_camera_movie(p)
    rec = _describe_file(p, parsed)
    # a lens pair by name: Fusion GPFR/GPBK or Insta360 _00_/_10_
    role = fusion_role(p)
    if role is not None and rec.kind in (RecordingKind.SINGLE_LENS, RecordingKind.SIDE_BY_SIDE):
        pair = fusion_partner(p)
        if pair is None:
            return _replace(rec, kind=RecordingKind.SINGLE_LENS, camera=_fusion_name(rec), layout=LAYOUT_PAIR,
                            problem=f"GoPro Fusion {role} file without its partner {fusion_partner_name(p)} (one lens is not 360 footage)"), parsed
        pair = (chapter_set(pair[0])[0], chapter_set(pair[1])[0])  # the recording starts at the first chapters
        rec = _replace(rec, kind=RecordingKind.PAIR, camera=_fusion_name(rec), layout=f"{LAYOUT_PAIR} ({pair[0].name} + {pair[1].name})", paths=pair, problem=None)
    elif rec.kind == RecordingKind.SINGLE_LENS and insta360_partner(p) is not None:
        pair = insta360_partner(p)
        assert pair is not None
        camera = rec.camera if rec.camera != "unknown" else "Insta360"
        rec = _replace(rec, kind=RecordingKind.PAIR, camera=camera, layout=f"{LAYOUT_PAIR} ({pair[0].name} + {pair[1].name})", paths=pair, problem=None)
    if rec.kind == RecordingKind.SINGLE_LENS and rec.problem is None:
        rec = _replace(rec, problem="one lens of a lens pair whose other file is missing: not 360 footage on its own")
    # chapters of one recording
    chapters = chapter_set(rec.paths[0])
    if len(chapters) > 1 and rec.problem is None:
        paths = rec.paths if rec.kind == RecordingKind.PAIR else tuple(chapters)
        rec = _replace(rec, layout=f"{rec.layout}, {len(chapters)} chapters ({chapters[0].name} ... {chapters[-1].name})",
                       paths=paths, notes=rec.notes + (f"chapters: {', '.join(c.name for c in chapters)}",))
    return rec, parsed


def _fusion_name(rec: Recording) -> str:
    return rec.camera if rec.camera_id.model == "Fusion" else "GoPro Fusion"


def _replace(rec: Recording, **changes) -> Recording:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(rec, **changes)


# ---- opening ------------------------------------------------------------------------------
def _trailer_rig(trailer: InsvTrailer | None, frame_size: tuple[int, int], camera: str) -> RigProfile | None:
    """A nominal rig from an Insta360 trailer's lens circles, or None."""
    if trailer is None:
        return None
    circles = trailer.lens_circles()
    if not circles or len(circles) < 2:
        return None
    dims = trailer.info.get("dimension") or frame_size
    sx = frame_size[0] / dims[0] if dims and dims[0] else 1.0
    sy = frame_size[1] / dims[1] if dims and dims[1] else 1.0
    base = RigProfile.nominal(frame_size, camera=camera)
    half_w = frame_size[0] / 2.0
    for i, (cx, cy, r) in enumerate(circles[:2]):
        # our reading of the offset string is unverified on real files: use it only when the
        # circles are plausible (each centre in its own half, radius 0.3 to 1.6 half-heights)
        x0 = i * half_w
        if not (x0 <= cx * sx < x0 + half_w and 0 <= cy * sy < frame_size[1] and 0.3 <= r * sx / (frame_size[1] / 2.0) <= 1.6):
            return None
    lenses = tuple(
        LensProfile(center=(cx * sx, cy * sy), radius=r * sx, fov_deg=base.lenses[i].fov_deg, rotation_ypr=base.lenses[i].rotation_ypr)
        for i, (cx, cy, r) in enumerate(circles[:2])
    )
    return base.replace(lenses=lenses, notes={"source": "Insta360 trailer lens offset"})


def _open_one(rec: Recording, path: Path, *, sync: PairSync | None = None) -> RigSource:
    """Open one chapter ``path`` of recording ``rec``."""
    if rec.kind == RecordingKind.GOPRO_MAX:
        return MaxSource(path, camera=rec.camera)
    if rec.kind == RecordingKind.SIDE_BY_SIDE:
        src = SideBySideSource(path, camera=rec.camera)
        hint = _trailer_rig(rec.trailer, src.frame_size, rec.camera)  # ``rec`` describes ``path``
        if hint is not None:
            src.rig_hint = hint
        return src
    if rec.kind == RecordingKind.TWO_TRACKS:
        src2 = PairSource(path, path, 0, 1, camera=rec.camera, layout=rec.layout)
        hint = _trailer_rig(rec.trailer, src2.frame_size, rec.camera)
        src2.rig_hint = hint
        return src2
    raise InputError(rec.problem or f"cannot stitch a {rec.layout} recording", path=path)


def open_rig(path: StrPath) -> RigSource:
    """Open a camera recording (file or folder) as a RigSource, detecting its format.

    Raises InputError naming the file for anything that is not 360 footage.
    """
    rec, parsed = _describe(path, None)
    if rec.problem is not None:
        raise InputError(rec.problem, path=rec.paths[0])
    if rec.kind == RecordingKind.PAIR:
        front, back = rec.paths
        fronts, backs = chapter_set(front), chapter_set(back)
        is_fusion = fusion_role(front) is not None
        n = min(len(fronts), len(backs))
        streams = read_pair_streams(tuple(fronts[:n]), tuple(backs[:n]))  # each file opened once
        sync = sync_pair(front, back, streams.fps, movies={parsed.path: parsed.movie}) if is_fusion else PairSync(0, "same clock")
        pair = PairSource(front, back, camera=rec.camera, layout=rec.layout, sync=sync,
                          front_chapters=tuple(fronts[:n]), back_chapters=tuple(backs[:n]), streams=streams)
        if rec.trailer is not None:
            pair.rig_hint = _trailer_rig(rec.trailer, pair.frame_size, rec.camera)
        return pair
    chapters = chapter_set(rec.paths[0])
    if len(chapters) == 1:
        return _open_one(rec, chapters[0])
    parts = []
    try:
        for c in chapters:
            part_rec = _describe_file(c, parsed if c == parsed.path else None)
            if part_rec.kind != rec.kind:
                raise InputError(f"chapter is a {part_rec.layout} recording, the first is {rec.layout}", path=c)
            parts.append(_open_one(part_rec, c))
    except BaseException:
        for part in parts:
            part.close()
        raise
    return ChapterSource(parts, camera=rec.camera)
