"""Overview of a long recording: a contact sheet of small stitched views, one every N seconds.

An eight-hour recording cannot be stitched to see what is in it. The overview decodes only
key frames (``video.key_frames_only``: FFmpeg skips reconstructing every other picture)
and stitches each at thumbnail size with a small plan (a plan's cost scales with its
output, not with the recorded frame), so its cost is one key-frame decode per thumbnail.
H.264 and HEVC, what 360 cameras record, have no reduced-resolution decode in FFmpeg
(``lowres`` exists only for older codecs), so the key frames are decoded at full size.

The thumbnail for time ``t`` is the last key frame at or before ``t`` (the first one for
a recording that starts on none); its own time is what the sheet and the JSON state.
Works on every camera source (``cameras.open_rig``): a side-by-side file (salvaged or
not), lens pairs, GoPro MAX .360 and chapter sets. Where the two lenses of a pair have
no key frame at the same instant, that thumbnail is decoded exactly from the key frame
before instead (slower, still right).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ._files import atomic_output
from ._types import StrPath
from .errors import InputError, OutputError
from .profile import RigProfile
from .timerange import format_time

__all__ = ["Thumbnail", "Overview", "make_overview", "key_frame_indices", "key_frame_at", "first_frame", "write_overview", "thumbnails_of", "sheet_grid", "DEFAULT_EVERY_S", "DEFAULT_THUMB_WIDTH"]

DEFAULT_EVERY_S = 30.0
DEFAULT_THUMB_WIDTH = 320
_CAPTION_H = 22
_COLUMNS = 6
_MAX_SHEET_ROWS = 65000


@dataclass(frozen=True)
class Thumbnail:
    """One cell of the sheet: the key frame shown, its time, where it lies on the sheet."""

    frame: int
    t: float
    box: tuple[int, int, int, int]
    """(x, y, width, height) of the stitched view on the sheet, caption excluded."""
    exact: bool = False
    """True when decoded from the key frame before (a pair whose lenses' key frames differ)."""

    def to_dict(self) -> dict[str, Any]:
        x, y, w, h = self.box
        return {"frame": self.frame, "t": round(self.t, 6), "time": format_time(self.t), "x": x, "y": y, "width": w, "height": h}


@dataclass
class Overview:
    source: str
    camera: str
    duration_s: float
    every_s: float
    thumbnails: list[Thumbnail] = field(default_factory=list)
    sheet: NDArray[np.uint8] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "camera": self.camera,
            "duration_s": round(self.duration_s, 6),
            "duration": format_time(self.duration_s),
            "every_s": self.every_s,
            "thumbnails": [t.to_dict() for t in self.thumbnails],
        }


# ---- where the key frames are -------------------------------------------------------------
def _file_key_frames(path: Path, stream: int) -> NDArray[np.int64]:
    """Presentation indices of the key frames of the ``stream``-th video track of ``path``
    (from its sample table: nothing decoded)."""
    from .cameras import VIDEO_CODECS_SKIPPED
    from .isobmff import read_movie

    movie = read_movie(path)
    videos = [t for t in movie.tracks if t.handler == b"vide" and t.codec not in VIDEO_CODECS_SKIPPED and t.sample_count > 1]
    if stream >= len(videos):
        raise InputError(f"no video track {stream}", path=path)
    v = videos[stream]
    d = float(np.median(v.durations)) or 1.0
    pts = v.decode_times + v.composition_offsets.astype(np.int64)
    first = int(pts.min()) if pts.size else 0  # the edit that hides a B-frame delay
    keys = v.sync_samples.astype(np.int64)
    return np.unique(np.round((pts[keys] - first) / d).astype(np.int64))


def key_frame_indices(source: Any) -> NDArray[np.int64]:
    """Indices (output frames of ``source``) of its key frames: those of the first lens,
    or the chapters' one after the other."""
    parts = getattr(source, "parts", None)
    if parts is not None:  # a chapter set
        starts = np.cumsum([0] + [p.frame_count for p in parts[:-1]])
        return np.concatenate([key_frame_indices(p) + s for p, s in zip(parts, starts)])
    if hasattr(source, "front_chapters"):  # a lens pair: the front lens, after its skipped frames
        keys, first = [], 0
        stream = getattr(source, "front_stream", 0)
        for f in source.front_chapters:
            keys.append(_file_key_frames(f, stream) + first)
            first += _frame_count(f, stream)
        # the front lens's frames before output frame 0 (the back started later): its key
        # frame there stands for frame 0, which is then decoded exactly
        out = np.unique(np.clip(np.concatenate(keys) - source.skips[0], 0, None))
        return out[out < source.frame_count]
    k = _file_key_frames(source.paths[0], 0)
    return k[k < source.frame_count]


def _frame_count(path: Path, stream: int) -> int:
    from .video import open_reader

    with open_reader(path, stream_index=stream) as r:
        return r.frame_count


def _pick(keys: NDArray[np.int64], fps: float, frame_count: int, every_s: float) -> list[int]:
    """The last key frame at or before each time 0, every_s, 2 every_s, ... (deduplicated)."""
    targets = np.arange(0.0, frame_count / fps, every_s)
    idx = np.searchsorted(keys, np.floor(targets * fps + 1e-6), side="right") - 1
    return sorted({int(keys[max(i, 0)]) for i in idx})


# ---- the sheet ----------------------------------------------------------------------------
def _caption(cell: NDArray[np.uint8], text: str) -> None:
    cv2.putText(cell, text, (6, _CAPTION_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def sheet_grid(count: int, cell_height: int, columns: int = _COLUMNS) -> tuple[int, int]:
    """(columns, rows) of a sheet of ``count`` cells: ``columns``, or more where a JPEG's
    65535 rows would not hold them (an 8-hour recording at a short ``--every``)."""
    columns = max(columns, -(-count // max(1, _MAX_SHEET_ROWS // cell_height)))
    return columns, -(-count // columns)


def make_overview(
    recording: StrPath,
    output: StrPath | None = None,
    *,
    every_s: float = DEFAULT_EVERY_S,
    thumb_width: int = DEFAULT_THUMB_WIDTH,
    columns: int = _COLUMNS,
    rig: RigProfile | None = None,
    quality: int = 85,
    progress: Callable[[int, int], None] | None = None,
) -> Overview:
    """The overview of ``recording`` (any camera source ``cameras.open_rig`` opens).

    Writes the sheet as JPEG to ``output`` and its JSON beside it (``output`` with suffix
    .json) when ``output`` is given. ``rig``: the rig to stitch with (default the
    source's nominal rig; no calibration, which would cost more than the overview).
    """
    from .cameras import open_rig

    if every_s <= 0:
        raise ValueError(f"--every must be positive, got {every_s}")
    thumb_width -= thumb_width % 4
    source = open_rig(recording)
    try:
        if source.frame_count <= 0:
            raise InputError("the video track has no frames", path=recording)
        fps = float(source.fps)
        try:
            keys = key_frame_indices(source)
        except InputError:
            keys = np.zeros(0, np.int64)
        if keys.size == 0:  # no sample table we can read: treat every frame as one
            keys = np.arange(source.frame_count, dtype=np.int64)
        picks = _pick(keys, fps, source.frame_count, every_s)
        plan = source.plan(thumb_width, rig)
        w, h = plan.size
        columns, rows = sheet_grid(len(picks), h + _CAPTION_H, columns)
        sheet = np.full((rows * (h + _CAPTION_H), min(columns, len(picks)) * w, 3), 16, np.uint8)
        result = Overview(str(recording), source.camera, source.frame_count / fps, every_s)
        for n, index in enumerate(picks):
            frame, exact = key_frame_at(source, index)
            if frame is None:
                raise InputError(f"frame {index} ({format_time(index / fps)}) does not decode", path=recording)
            x, y = (n % columns) * w, (n // columns) * (h + _CAPTION_H)
            plan.reset()  # frames seconds apart: each stitched on its own exposure (following)
            sheet[y + _CAPTION_H : y + _CAPTION_H + h, x : x + w] = plan.apply(frame)
            _caption(sheet[y : y + _CAPTION_H, x : x + w], format_time(index / fps))
            result.thumbnails.append(Thumbnail(index, index / fps, (x, y + _CAPTION_H, w, h), exact))
            if progress is not None:
                progress(n + 1, len(picks))
    finally:
        source.close()
    result.sheet = sheet
    if output is not None:
        write_overview(result, output, quality=quality)
    return result


def key_frame_at(source: Any, index: int) -> tuple[NDArray[np.uint8] | None, bool]:
    """(frame ``index`` of ``source``, whether it was decoded exactly): one key-frame decode
    when every lens has a key frame there, else decoded from the key frame before (a lens
    pair whose key frames differ). None when the frame does not decode."""
    from .video import key_frames_only

    with key_frames_only():
        frame = first_frame(source.frames(index, index + 1))
    if frame is not None:
        return frame, False
    return first_frame(source.frames(index, index + 1)), True


def first_frame(frames: Any) -> NDArray[np.uint8] | None:
    """The first frame of a frame generator, closing it (no further decode)."""
    try:
        return next(iter(frames), None)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def write_overview(overview: Overview, output: StrPath, *, quality: int = 85) -> tuple[Path, Path]:
    """The sheet as JPEG at ``output`` and its JSON beside it; returns both paths."""
    out = Path(output)
    assert overview.sheet is not None
    ok, data = cv2.imencode(out.suffix if out.suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg",
                            cv2.cvtColor(overview.sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OutputError("could not encode the sheet", path=out)
    with atomic_output(out) as tmp:
        tmp.write_bytes(data.tobytes())
    js = out.with_suffix(".json")
    with atomic_output(js) as tmp:
        tmp.write_text(json.dumps({**overview.to_dict(), "sheet": out.name}, indent=2) + "\n")
    return out, js


def thumbnails_of(sheet: NDArray[np.uint8], thumbs: Sequence[Thumbnail]) -> list[NDArray[np.uint8]]:
    """The stitched views cut back out of a sheet (tests, scripts)."""
    return [sheet[y : y + h, x : x + w] for x, y, w, h in (t.box for t in thumbs)]
