"""Segments: checking an encoded segment, and joining segments into one MP4 without
re-encoding.

A segment is a video-only MP4 written by its own encoder session, so it starts on a key
frame and its decode timeline starts at 0. Joining concatenates the coded samples of every
segment into one video track (our own ISO-BMFF writer: ``build_moov``), shifting each
segment's decode times by the frames before it. Every segment has the same sample duration
``d``, and its presentation times are exactly ``e_k + i * d`` (``e_k``: its B-frame reorder
delay, carried by its edit list). The join presents every segment with the largest delay
``E`` (a short segment may have fewer B-frames: its composition offsets grow by
``E - e_k``) and one edit list skips ``E``, so the joined presentation times are exactly
``i * d`` for ``i`` in ``0..N-1``: strictly increasing, evenly spaced, no gap or repeat at
a join.

The other tracks (audio, telemetry, timecode) come from the source recording once
(audio and telemetry may come from different files: a chapter set's joined audio),
sample bytes copied unchanged. The mdat is interleaved in one-second chunks, the moov goes
last and carries the spherical metadata (V1 + V2), so the media bytes are written once.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .._files import atomic_output, check_input_file
from .._types import StrPath
from ..errors import InputError, JobError, Orbit360Error
from ..isobmff import Edit, Track

__all__ = ["SegmentCheck", "check_segment", "concat_segments", "ConcatResult", "cut_track"]

_BLOCK = 8 * 1024 * 1024
_NOT_COPIED = frozenset({b"fdsc"})
"""Source tracks that describe the source's own byte layout (GoPro SOS recovery records,
one per sample of every track): meaningless beside re-encoded video, so not copied."""
_INTERLEAVE_S = 1.0
_OPEN_FILES = 16


@dataclass(frozen=True)
class SegmentCheck:
    """What ``check_segment`` found: frame count, key frames, bytes."""

    path: Path
    frames: int
    key_frames: int
    size: int


def check_segment(path: StrPath, frames: int, *, decode: bool = True) -> SegmentCheck:
    """Check that the segment at ``path`` is complete: one video track of exactly ``frames``
    samples, the first a key frame, every sample inside the file, and (``decode``) that
    FFmpeg decodes exactly ``frames`` pictures from it.

    Raises JobError naming the file otherwise.
    """
    from ..isobmff import read_movie

    p = Path(path)
    try:
        movie = read_movie(p)
    except (Orbit360Error, OSError) as exc:
        raise JobError(f"segment unreadable: {exc}", path=p) from None
    size = p.stat().st_size
    videos = [t for t in movie.tracks if t.handler == b"vide"]
    if len(videos) != 1:
        raise JobError(f"segment has {len(videos)} video tracks, expected 1", path=p)
    v = videos[0]
    if v.sample_count != frames:
        raise JobError(f"segment holds {v.sample_count} frames, expected {frames}", path=p)
    if frames and (v.sync_samples.size == 0 or int(v.sync_samples[0]) != 0):
        raise JobError("segment does not start on a key frame", path=p)
    if frames and int((v.offsets.astype(np.int64) + v.sizes).max()) > size:
        raise JobError("segment is truncated (a sample lies past the end of the file)", path=p)
    if decode:
        decoded = _decode_count(p)
        if decoded != frames:
            raise JobError(f"segment decodes to {decoded} frames, expected {frames}", path=p)
    return SegmentCheck(p, frames, int(v.sync_samples.size), size)


def _decode_count(path: Path) -> int:
    """Pictures FFmpeg decodes from the first video stream (no pixel conversion)."""
    import av

    n = 0
    try:
        with av.open(str(path), metadata_errors="replace") as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for _ in c.decode(s):
                n += 1
    except av.error.FFmpegError as exc:
        raise JobError(f"segment does not decode: {exc.strerror}", path=path) from None
    return n


@dataclass(frozen=True)
class ConcatResult:
    output: Path
    frames: int
    tracks: int
    """Tracks in the output (video + those copied from the source)."""
    size: int


def concat_segments(
    segments: Sequence[StrPath],
    output: StrPath,
    *,
    audio_from: StrPath | None = None,
    telemetry_from: StrPath | None = None,
    spherical: bool = True,
    progress: Callable[[int, int], None] | None = None,
    span: tuple[float, float] | None = None,
) -> ConcatResult:
    """Join the video of ``segments`` (in order) into one MP4 at ``output``, no re-encoding.

    :param audio_from: an MP4/MOV whose audio tracks are copied into the output unchanged,
        once; None (or a file without a moov) copies none.
    :param telemetry_from: an MP4/MOV whose other non-video tracks (telemetry such as
        gpmd, timecode) are copied the same way, and whose movie ``udta`` is kept; not
        GoPro's ``fdsc`` recovery records, which describe the source's own bytes.
    :param spherical: write spherical metadata (V1 + V2, equirectangular, mono).
    :param progress: ``progress(bytes_done, bytes_total)`` while the media is copied.
    :param span: (start, stop) seconds of the source's timeline the segments show (a
        ``--from``/``--to`` cut): the copied tracks keep only their samples that overlap
        it, and an edit list starts them at ``start`` exactly (``cut_track``).

    Every segment must hold the same codec configuration (sample description), time scale,
    frame duration and presentation delay; JobError names the first one that does not.
    The output appears at its final name only when complete.
    """
    from ..isobmff import Track, build_moov, mdat_header

    if not segments:
        raise JobError("no segment to join")
    files = [check_input_file(s) for s in segments]
    video, ftyp, counts = _joined_video(files)
    tracks: list[Track] = [video]
    file_of: list[np.ndarray] = [np.repeat(np.arange(len(files), dtype=np.int32), counts)]
    movie_timescale = 1000
    udta = b""
    next_id = 2
    for src_path, wanted in ((audio_from, _is_audio), (telemetry_from, _is_telemetry)):
        movie = _movie_or_none(src_path)
        if movie is None:
            continue
        if wanted is _is_telemetry or not udta:
            movie_timescale, udta = movie.timescale or movie_timescale, movie.udta or udta
        picked = [t for t in movie.tracks if wanted(t) and t.sample_count]
        if span is not None:
            picked = [c for c in (cut_track(t, *span, movie_timescale=movie.timescale or 1000) for t in picked) if c is not None]
        ids = {t.track_id: next_id + i for i, t in enumerate(picked)}
        next_id += len(picked)
        for t in picked:  # references to tracks not copied (the old video) are dropped
            refs = {k: tuple(ids[r] for r in v if r in ids) for k, v in t.references.items()}
            tracks.append(replace(t, track_id=ids[t.track_id], references={k: v for k, v in refs.items() if v}))
            file_of.append(np.full(t.sample_count, len(files), np.int32))
        files.append(Path(src_path))  # type: ignore[arg-type]

    # ---- layout: interleave the tracks in one-second chunks of decode time ----------------
    times = [t.decode_times / float(t.timescale or 1) for t in tracks]
    chunk = np.concatenate([np.floor(x / _INTERLEAVE_S).astype(np.int64) for x in times])
    which = np.concatenate([np.full(t.sample_count, i, np.int32) for i, t in enumerate(tracks)])
    idx = np.concatenate([np.arange(t.sample_count, dtype=np.int64) for t in tracks])
    order = np.lexsort((idx, which, chunk))
    src_off = np.concatenate([t.offsets.astype(np.int64) for t in tracks])[order]
    sizes = np.concatenate([t.sizes.astype(np.int64) for t in tracks])[order]
    fids = np.concatenate(file_of)[order]
    payload = int(sizes.sum())
    header = mdat_header(payload)
    out_off = len(ftyp) + len(header) + np.concatenate(([0], np.cumsum(sizes)[:-1]))
    new_offsets = np.empty_like(out_off)
    new_offsets[order] = out_off
    starts = np.concatenate(([0], np.cumsum([t.sample_count for t in tracks])))
    tracks = [replace(t, offsets=new_offsets[starts[i] : starts[i + 1]].astype(np.uint64)) for i, t in enumerate(tracks)]

    moov = build_moov(tracks, movie_timescale=movie_timescale, udta=udta)
    if spherical:
        moov = _with_spherical(ftyp, moov, Path(output).parent)

    # ---- write ------------------------------------------------------------------------
    out = Path(output)
    with atomic_output(out) as tmp:
        try:
            with open(tmp, "wb") as dst:
                dst.write(ftyp)
                dst.write(header)
                _copy_runs(files, fids, src_off, sizes, dst, payload, progress)
                dst.write(moov)
                total = dst.tell()
        except OSError as exc:
            raise JobError(f"cannot write the joined video: {exc.strerror or exc}", path=out) from None
    return ConcatResult(out, video.sample_count, len(tracks), total)


def cut_track(track: Track, start_s: float, stop_s: float, *, movie_timescale: int) -> Track | None:
    """``track`` cut to the instants [start_s, stop_s) of its presentation timeline, or
    None when no sample of it overlaps them.

    Keeps the samples whose time overlaps the span, plus one before the first for audio
    (an AAC frame needs its predecessor to decode fully: the overlap of its transform), and
    one edit that starts the presentation at ``start_s`` exactly, so the cut is exact to
    the audio sample even though samples are copied whole. The track's own edit (a
    leading empty edit, or the encoder delay AAC's first edit skips) is kept in the mapping.
    """
    ts = track.timescale or 1
    delay_s, media0 = 0.0, 0
    for e in track.edits:
        if e.media_time < 0:  # an empty edit: the media starts later on the timeline
            delay_s += e.segment_duration / float(movie_timescale)
            continue
        media0 = e.media_time
        break
    m0 = media0 + round((start_s - delay_s) * ts)
    m1 = media0 + round((stop_s - delay_s) * ts)
    t = track.decode_times + track.composition_offsets.astype(np.int64)
    ends = t + track.durations.astype(np.int64)
    keep = np.flatnonzero((ends > m0) & (t < m1))
    if keep.size == 0:
        return None
    a, b = int(keep[0]), int(keep[-1]) + 1
    if track.handler == b"soun" and a > 0:
        a -= 1
    first_decode = int(track.decode_times[a])
    skip = max(0, m0 - first_decode)
    sync = track.sync_samples.astype(np.int64)
    sync = sync[(sync >= a) & (sync < b)] - a
    return replace(
        track,
        offsets=track.offsets[a:b],
        sizes=track.sizes[a:b],
        durations=track.durations[a:b],
        composition_offsets=track.composition_offsets[a:b],
        sync_samples=sync if track.has_stss else np.arange(b - a, dtype=np.int64),
        edits=(Edit(round((stop_s - start_s) * movie_timescale), skip),),
    )


def _is_audio(t) -> bool:  # type: ignore[no-untyped-def]
    return t.handler == b"soun"


def _is_telemetry(t) -> bool:  # type: ignore[no-untyped-def]
    return t.handler not in (b"vide", b"soun") and t.codec not in _NOT_COPIED


def _movie_or_none(path: StrPath | None):  # type: ignore[no-untyped-def]
    """The parsed moov of ``path``; None when there is no path or it is not ISO-BMFF."""
    from ..isobmff import read_movie

    if path is None:
        return None
    check_input_file(path)
    try:
        return read_movie(path)
    except InputError:
        return None


def _joined_video(files: Sequence[Path]):  # type: ignore[no-untyped-def]
    """One video track holding every segment's samples; offsets still point into the
    segment files (made absolute in the output by the caller).

    Returns (track, the first segment's ftyp, the frame count of each segment).
    """
    from ..isobmff import Edit, read_movie

    parts = []
    delays: list[int] = []
    ref = None
    dur = 0
    for k, f in enumerate(files):
        try:
            movie = read_movie(f)
        except Orbit360Error as exc:
            raise JobError(f"segment {k} unreadable: {exc}", path=f) from None
        videos = [t for t in movie.tracks if t.handler == b"vide"]
        if len(videos) != 1 or videos[0].sample_count == 0:
            raise JobError(f"segment {k} has no single non-empty video track", path=f)
        v = videos[0]
        if int(v.sync_samples[0]) != 0:
            raise JobError(f"segment {k} does not start on a key frame", path=f)
        # every frame lasts d ticks; the mov muxer may give the very last one another value
        d = int(np.median(v.durations))
        body = v.durations[:-1]
        if d <= 0 or (body.size and np.any(body != d)):
            raise JobError(f"segment {k} is not constant frame rate", path=f)
        delay = v.edits[0].media_time if v.edits and v.edits[0].media_time >= 0 else 0
        pts = np.arange(v.sample_count, dtype=np.int64) * d + v.composition_offsets.astype(np.int64)
        if not np.array_equal(np.sort(pts), delay + np.arange(v.sample_count, dtype=np.int64) * d):
            raise JobError(f"segment {k}: presentation times are not evenly spaced from its start", path=f)
        if ref is None:
            ref, dur = v, d
            with open(f, "rb") as fh:
                (fsize, ftype) = struct.unpack(">I4s", fh.read(8))
                ftyp = (struct.pack(">I4s", fsize, ftype) + fh.read(fsize - 8)) if ftype == b"ftyp" else b""
        else:
            if _without_btrt(v.stsd) != _without_btrt(ref.stsd):
                raise JobError(
                    f"segment {k} was encoded with other codec parameters than segment 0 (sample descriptions differ)", path=f
                )
            if v.timescale != ref.timescale or d != dur:
                raise JobError(f"segment {k} has another time base or frame duration than segment 0", path=f)
        parts.append(v)
        delays.append(delay)
    assert ref is not None
    top = max(delays)
    n = sum(p.sample_count for p in parts)
    total_bytes = sum(int(p.sizes.sum(dtype=np.int64)) for p in parts)
    seconds = n * dur / float(ref.timescale or 1)
    peaks = [_btrt(p.stsd) for p in parts]
    stsd = _without_btrt(ref.stsd, btrt=(
        max(b[0] for b in peaks), max(b[1] for b in peaks), int(total_bytes * 8 / seconds) if seconds else 0,
    ))
    base = np.concatenate(([0], np.cumsum([p.sample_count for p in parts])[:-1]))
    video = replace(
        ref,
        track_id=1,
        stsd=stsd,
        offsets=np.concatenate([p.offsets.astype(np.int64) for p in parts]),
        sizes=np.concatenate([p.sizes for p in parts]),
        durations=np.full(n, dur, np.uint32),
        # a short segment may have a smaller reorder delay (fewer B-frames): present every
        # segment with the largest delay, so the times run on evenly across each join
        composition_offsets=np.concatenate(
            [p.composition_offsets.astype(np.int64) + (top - e) for p, e in zip(parts, delays)]
        ).astype(np.int32),
        sync_samples=np.concatenate([p.sync_samples.astype(np.int64) + b for p, b in zip(parts, base)]),
        has_stss=True,
        references={},
        edits=(Edit(0, top),) if top or ref.edits else (),
    )
    return video, ftyp or _default_ftyp(), [p.sample_count for p in parts]


_VISUAL_ENTRY_FIELDS = 78  # bytes of a VisualSampleEntry after its box header, before child boxes


def _entry_split(stsd: bytes) -> tuple[bytes, list[bytes]]:
    """(head of the first sample entry, its child boxes) of an ``stsd`` payload."""
    (size,) = struct.unpack_from(">I", stsd, 8)
    entry = stsd[8 : 8 + size]
    head, pos, kids = entry[: 8 + _VISUAL_ENTRY_FIELDS], 8 + _VISUAL_ENTRY_FIELDS, []
    while pos + 8 <= len(entry):
        (n,) = struct.unpack_from(">I", entry, pos)
        if n < 8 or pos + n > len(entry):
            break
        kids.append(entry[pos : pos + n])
        pos += n
    return head, kids


def _btrt(stsd: bytes) -> tuple[int, int, int]:
    """(bufferSizeDB, maxBitrate, avgBitrate) of the first sample entry's ``btrt`` (zeros if none)."""
    for k in _entry_split(stsd)[1]:
        if k[4:8] == b"btrt" and len(k) >= 20:
            return struct.unpack_from(">III", k, 8)  # type: ignore[return-value]
    return (0, 0, 0)


def _without_btrt(stsd: bytes, *, btrt: tuple[int, int, int] | None = None) -> bytes:
    """``stsd`` with the bit rate box of its (single) sample entry removed, or replaced by
    ``btrt``: the only part of the description that differs between segments encoded with
    the same settings (it states each segment's own bit rate)."""
    if len(stsd) < 16 or struct.unpack_from(">I", stsd, 4)[0] != 1:
        return stsd
    head, kids = _entry_split(stsd)
    kids = [k for k in kids if k[4:8] != b"btrt"]
    if btrt is not None:
        kids.append(struct.pack(">I4sIII", 20, b"btrt", *(min(max(int(v), 0), 0xFFFFFFFF) for v in btrt)))
    body = head[8:] + b"".join(kids)
    entry = struct.pack(">I", 8 + len(body)) + head[4:8] + body
    return stsd[:8] + entry


def _default_ftyp() -> bytes:
    from ..isobmff import box

    return box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")


def _copy_runs(
    files: Sequence[Path],
    fids: np.ndarray,
    src_off: np.ndarray,
    sizes: np.ndarray,
    dst,  # type: ignore[no-untyped-def]
    total: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Copy samples in output order, one read per run of samples adjacent in a source."""
    n = sizes.size
    if n == 0:
        return
    brk = np.ones(n, dtype=bool)
    brk[1:] = (fids[1:] != fids[:-1]) | (src_off[1:] != src_off[:-1] + sizes[:-1])
    run_start = np.flatnonzero(brk)
    run_end = np.append(run_start[1:], n)
    ends = np.concatenate(([0], np.cumsum(sizes)))
    handles: dict[int, object] = {}
    done = 0
    try:
        for a, b in zip(run_start.tolist(), run_end.tolist()):
            fid = int(fids[a])
            fh = handles.get(fid)
            if fh is None:
                if len(handles) >= _OPEN_FILES:  # interleaving alternates between a few files
                    handles.pop(next(iter(handles))).close()  # type: ignore[attr-defined]
                fh = handles[fid] = open(files[fid], "rb")
            fh.seek(int(src_off[a]))  # type: ignore[attr-defined]
            left = int(ends[b] - ends[a])
            while left > 0:
                block = fh.read(min(_BLOCK, left))  # type: ignore[attr-defined]
                if not block:
                    raise JobError("a sample lies past the end of its file", path=files[fid])
                dst.write(block)
                left -= len(block)
                done += len(block)
            if progress is not None:
                progress(done, total)
    finally:
        for h in handles.values():
            h.close()  # type: ignore[attr-defined]


def _with_spherical(ftyp: bytes, moov: bytes, folder: Path) -> bytes:
    """``moov`` with spherical metadata added by ``inject_spherical``, applied to a small
    ftyp + moov file so the media bytes are never copied for it. The moov is written last
    in the output, so no chunk offset moves."""
    from ..isobmff import iter_boxes
    from ..isobmff.spherical import inject_spherical

    fd, a = tempfile.mkstemp(prefix=".moov.", suffix=".mp4", dir=folder)
    b = a[:-4] + ".sph.mp4"
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(ftyp or _default_ftyp())
            f.write(moov)
        inject_spherical(a, b)
        size = os.path.getsize(b)
        with open(b, "rb") as f:
            for hdr in iter_boxes(f, 0, size):
                if hdr.type == b"moov":
                    f.seek(hdr.offset)
                    return f.read(hdr.size)
        raise JobError("spherical metadata: the moov went missing")  # pragma: no cover
    finally:
        for p in (a, b):
            Path(p).unlink(missing_ok=True)
