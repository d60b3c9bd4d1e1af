"""Salvage entry points: scan, salvage, diagnose, salvage_folder.

``scan`` finds every complete sample without writing anything; ``salvage`` writes them
as a new MP4 (ftyp, an mdat holding the input's payload bytes up to the last complete
sample, unchanged, and a rebuilt moov); ``diagnose`` is the preview ``orbit360 inspect``
shows. GoPro recordings need no reference (their SOS records index every sample); other
cameras need a healthy file of the same mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._files import atomic_output, check_input_file, within_job
from .._types import StrPath
from ..errors import InputError, Orbit360Error, SalvageError, file_context
from ..isobmff import BackgroundMovieWriter, Movie, Track, read_movie
from ..isobmff import read_movie_from
from ._gopro import scan_gopro
from ._gopro_tracks import DEFAULT_VIDEO_TIMESCALE, gopro_tracks
from ._layout import Layout, find_layout
from ._report import SalvageReport, track_row
from ._video_stream import with_composition_offsets

__all__ = ["Recovery", "scan", "salvage", "diagnose", "salvage_folder", "default_output_path", "SalvagePreview"]

Progress = Callable[[int, int], None]
_DEFAULT_FTYP = b"\x00\x00\x00\x14ftypmp41\x13\x10\x05\x14mp41"


@dataclass
class Recovery:
    """Everything recoverable from one broken recording, before anything is written."""

    path: Path
    layout: Layout
    method: str
    tracks: list[Track]
    end: int
    """File offset just past the last complete sample (the new mdat stops here)."""
    stop_reason: str
    movie_timescale: int
    reference: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def unassigned_bytes(self) -> int:
        used = sum(int(t.sizes.sum(dtype=np.int64)) for t in self.tracks)
        return max(0, (self.layout.payload_end - self.layout.payload_start) - used)

    def report(self, output: str | None = None, output_bytes: int | None = None) -> SalvageReport:
        return SalvageReport(
            input=str(self.path),
            output=output,
            method=self.method,
            tracks=[track_row(t) for t in self.tracks],
            payload_bytes=self.layout.payload_end - self.layout.payload_start,
            recording_end=self.end,
            unassigned_bytes=self.unassigned_bytes,
            stop_reason=self.stop_reason,
            damage=list(self.layout.damage) + self.notes,
            reference=str(self.reference) if self.reference else None,
            output_bytes=output_bytes,
        )


SalvagePreview = SalvageReport
"""What ``diagnose`` returns: the report salvage would print, with ``output`` None."""


def _load_reference(reference: StrPath | Movie | None) -> tuple[Movie | None, Path | None]:
    if reference is None or isinstance(reference, Movie):
        return reference, None
    ref = check_input_file(reference)
    with file_context(ref):
        try:
            return read_movie(ref), ref
        except InputError as exc:
            raise InputError(f"reference is not a healthy recording: {exc.message}", path=ref) from None


def scan(
    path: StrPath, *, reference: StrPath | Movie | None = None, progress: Progress | None = None
) -> Recovery:
    """Find every complete sample of the broken recording at ``path`` (read-only).

    Raises SalvageError when nothing can be recovered, and when the file is not a
    GoPro recording and no ``reference`` is given.
    """
    src = check_input_file(path)
    ref_movie, ref_path = _load_reference(reference)
    with file_context(src), open(src, "rb") as f:
        layout, cut = _broken_layout(f)
        if cut is not None:
            return _recover_cut(src, layout, cut)
        return _recover(src, f, layout, ref_movie, ref_path, progress)


def _broken_layout(f: BinaryIO) -> tuple[Layout, Movie | None]:
    """The top-level layout of an open recording, and its own moov when that moov is
    intact but points past the end of the file (the media data was cut); SalvageError
    if the file is healthy."""
    size = os.fstat(f.fileno()).st_size
    layout = find_layout(f, size)
    if layout.is_finalised:
        try:
            movie = read_movie_from(f, size)
        except Orbit360Error:
            layout.damage.append("the moov is damaged; ignoring it")
        else:
            if not movie.is_cut:
                raise SalvageError("nothing to salvage: the file has a valid moov")
            return layout, movie
    return layout, None


def _recover_cut(src: Path, layout: Layout, movie: Movie) -> Recovery:
    """Every track of ``movie`` cut at its last sample wholly in the file: the moov's own
    tables, so no scan and no reference is needed."""
    tracks = []
    for t in movie.tracks:
        k = t.samples_in_file
        tracks.append(
            replace(
                t, offsets=t.offsets[:k], sizes=t.sizes[:k], durations=t.durations[:k],
                composition_offsets=t.composition_offsets[:k], sync_samples=t.sync_samples[t.sync_samples < k],
                complete_samples=k,
            )
        )
    # a track that lost nothing (a timecode track's one sample spans the whole recording)
    # must not outlast the cut ones: shorten its last sample to the longest cut track
    cut_seconds = max((t.duration_seconds for t, m in zip(tracks, movie.tracks) if m.samples_past_end), default=0.0)
    tracks = [_shortened(t, cut_seconds) for t in tracks]
    kept = [t for t in tracks if t.sample_count]
    if not any(t.handler == b"vide" for t in kept):
        raise SalvageError("the file is cut before its first complete video frame")
    starts = np.concatenate([t.offsets.astype(np.int64) for t in kept])
    ends = np.concatenate([(t.offsets.astype(np.int64) + t.sizes) for t in kept])
    if int(starts.min()) < layout.payload_start or int(ends.max()) > layout.payload_end:
        # samples outside the first mdat: not a layout the single-mdat writer can copy
        raise SalvageError("the cut file's samples lie outside its first mdat", offset=int(starts.min()))
    lost = ", ".join(f"track {i}: {t.samples_in_file} of {t.sample_count}" for i, t in enumerate(movie.tracks) if t.samples_past_end)
    layout.damage.append(f"the moov points past the end of the file; keeping the complete samples ({lost})")
    return Recovery(src, layout, "cut-moov", tracks, int(ends.max()), "end of file", movie.timescale)


def _shortened(t: Track, seconds: float) -> Track:
    """``t`` with its last sample ending at ``seconds`` when it runs longer (never below 1 tick)."""
    limit = round(seconds * t.timescale)
    if not t.sample_count or t.duration <= limit:
        return t
    durations = t.durations.copy()
    durations[-1] = max(1, int(durations[-1]) - (t.duration - limit))
    return replace(t, durations=durations)


def _recover(
    src: Path, f: BinaryIO, layout: Layout, ref_movie: Movie | None, ref_path: Path | None, progress: Progress | None
) -> Recovery:
    found = scan_gopro(f.fileno(), layout, progress)
    if found is not None:
        tracks = [
            with_composition_offsets(f.fileno(), t) if t.handler == b"vide" else t
            for t in gopro_tracks(found, ref_movie)
        ]
        if not any(t.sample_count for t in tracks):
            raise SalvageError(f"no complete sample: {found.stop_reason}", offset=found.stop_offset)
        video = next((t for t in tracks if t.handler == b"vide"), None)
        timescale = ref_movie.timescale if ref_movie else (video.timescale if video else DEFAULT_VIDEO_TIMESCALE)
        notes = [f"{found.unknown_type_bytes} bytes of samples of unknown stream types"] if found.unknown_type_bytes else []
        return Recovery(src, layout, "gopro-sos", tracks, found.end, found.stop_reason, timescale, ref_path, notes)
    if ref_movie is None:
        raise SalvageError("not a GoPro recording: give a healthy file of the same camera mode as --reference")
    from ._reference import scan_with_reference

    return scan_with_reference(src, f, layout, ref_movie, ref_path, progress)


def default_output_path(path: StrPath) -> Path:
    """``NAME.salvaged.mp4`` beside the input."""
    p = Path(path)
    return p.with_name(f"{p.stem}.salvaged.mp4")


@within_job
def salvage(
    path: StrPath,
    output: StrPath | None = None,
    *,
    reference: StrPath | Movie | None = None,
    progress: Progress | None = None,
) -> SalvageReport:
    """Rebuild the broken recording at ``path`` as a playable MP4 at ``output``.

    The input is opened read-only; the output appears only when complete. The payload
    is copied (by the kernel, in a background thread) while the scan runs.
    ``progress(done, total)`` is called during the scan (bytes of payload).
    """
    src = check_input_file(path)
    out = Path(output) if output is not None else default_output_path(src)
    if out.resolve() == src.resolve():
        raise InputError("output would overwrite the input", path=out)
    ref_movie, ref_path = _load_reference(reference)
    with file_context(src), open(src, "rb") as f:
        layout, cut = _broken_layout(f)
        with atomic_output(out) as tmp:
            copy = BackgroundMovieWriter(
                tmp, ftyp=layout.ftyp or _DEFAULT_FTYP, source_path=src,
                start=layout.payload_start, limit=layout.payload_end,
            )
            with copy:
                if cut is not None:
                    recovery = _recover_cut(src, layout, cut)
                else:
                    recovery = _recover(src, f, layout, ref_movie, ref_path, progress)
                tracks = [t for t in recovery.tracks if t.sample_count]
                recovery.tracks = tracks  # the report lists the tracks written, not the empty ones
                written = copy.finish(recovery.end, tracks, movie_timescale=recovery.movie_timescale)
    if progress is not None:
        progress(layout.payload_end - layout.payload_start, layout.payload_end - layout.payload_start)
    return recovery.report(str(out), written)


def diagnose(path: StrPath, *, reference: StrPath | Movie | None = None) -> SalvagePreview:
    """What ``salvage`` would recover from ``path``; writes nothing and never raises
    SalvageError: a preview is data.

    ``method`` is "gopro-sos" or "reference" (tracks listed), "healthy" (the file has a
    valid moov), "needs-reference" (not a GoPro file and no reference given) or
    "unrecoverable" (``stop_reason`` says why).
    """
    src = check_input_file(path)
    try:
        return scan(src, reference=reference).report()
    except SalvageError as exc:
        if exc.message.startswith("nothing to salvage"):
            method = "healthy"
        elif "--reference" in exc.message:
            method = "needs-reference"
        else:
            method = "unrecoverable"
        return SalvageReport(str(src), None, method, [], 0, 0, 0, exc.message)


_VIDEO_SUFFIXES = (".mp4", ".mov", ".360", ".lrv")


def salvage_folder(
    folder: StrPath, output_dir: StrPath | None = None, *, progress: Progress | None = None
) -> list[SalvageReport]:
    """Salvage every broken recording in ``folder`` (a GoPro DCIM/100GOPRO, say).

    Healthy siblings serve as references: for a broken file the healthy file whose
    name shares the most trailing characters (GoPro chapters GH01xxxx, GH02xxxx of one
    recording share the last four digits) is tried first, then the others.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError("not a folder", path=root)
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in _VIDEO_SUFFIXES and ".salvaged" not in p.name)
    healthy: list[tuple[Path, Movie]] = []
    broken: list[Path] = []
    for p in files:
        try:
            healthy.append((p, read_movie(p)))
        except Orbit360Error:
            broken.append(p)
    if not broken:
        raise SalvageError(f"no broken recording among {len(files)} video files", path=root)
    reports = []
    for p in broken:
        ranked = sorted(healthy, key=lambda h: -_shared_suffix(h[0].stem, p.stem))
        out_dir = Path(output_dir) if output_dir is not None else p.parent
        out = out_dir / default_output_path(p).name
        last_error: Orbit360Error | None = None
        for candidate in [*ranked, None]:
            try:
                report = salvage(p, out, reference=candidate[1] if candidate else None, progress=progress)
            except SalvageError as exc:
                last_error = exc
                continue
            if candidate:
                report.reference = str(candidate[0])
            reports.append(report)
            break
        else:
            reports.append(SalvageReport(str(p), None, "failed", [], 0, 0, 0, str(last_error)))
    if all(r.method == "failed" for r in reports):
        raise SalvageError(f"nothing could be recovered from {len(broken)} broken files: {reports[0].stop_reason}", path=root)
    return reports


def _shared_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
