"""Salvage with a healthy reference file of the same camera mode (non-GoPro cameras).

The reference gives the track layout, sample entries and timescales. The sample
boundaries come from the broken payload itself, walked from the start: at each position
the next sample is recognised by its own structure, tried in this order:

1. video: an H.264/HEVC access unit whose NAL headers parse against the reference's
   parameter sets (``_video_stream``);
2. telemetry (gpmd): GPMF ``DEVC`` KLVs, whose headers give their sizes;
3. audio (AAC): the shortest prefix FFmpeg's AAC decoder accepts (``_aac``);
4. timecode (tmcd): the reference's fixed sample size, once, where nothing else fits.

Timing is rebuilt from the stream: video frame duration from the SPS timing info when
present (else the reference's usual duration), composition offsets from picture order
counts; audio and telemetry durations are their codec's fixed frame durations as the
reference shows them. Two video tracks with the same codec (a dual-lens camera) keep
the reference's interleaving order (period of the video-track sequence in the file).
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import SalvageError
from ..isobmff import Edit, Movie, Track
from ._layout import Layout
from ._video_stream import AccessUnit, VideoParser, composition_offsets

if TYPE_CHECKING:
    from ._salvage import Recovery

__all__ = ["scan_with_reference"]

_DEVC = b"DEVC"
_ZERO_PAGE, _FF_PAGE = bytes(16), b"\xff" * 16


def _usual(values: np.ndarray, default: int) -> int:
    if values.size == 0:
        return default
    uniq, counts = np.unique(values, return_counts=True)
    return int(uniq[np.argmax(counts)])


def _video_period(video_tracks: list[Track]) -> list[int]:
    """The repeating order in which the reference interleaves its video tracks' samples."""
    if len(video_tracks) < 2:
        return [0]
    offsets = np.concatenate([t.offsets[:400].astype(np.int64) for t in video_tracks])
    which = np.concatenate([np.full(min(t.sample_count, 400), i) for i, t in enumerate(video_tracks)])
    seq = which[np.argsort(offsets, kind="stable")]
    for p in range(1, min(33, len(seq))):
        if np.array_equal(seq[p:], seq[:-p]):
            return [int(x) for x in seq[:p]]
    return list(range(len(video_tracks)))


def _devc_count(head: bytes) -> int:
    """How many top-level DEVC KLVs the GPMF payload ``head`` starts with."""
    count, p = 0, 0
    while p + 8 <= len(head) and head[p : p + 4] == _DEVC and head[p + 4] == 0:
        size, repeat = head[p + 5], struct.unpack_from(">H", head, p + 6)[0]
        p += 8 + ((size * repeat + 3) & ~3)
        count += 1
    return count


def _devices_per_sample(reference: Movie, track: Track) -> int:
    """DEVC KLVs per gpmd sample in the reference (one per telemetry device; 1 if unknown).

    Samples can sit back to back in the file, so a run of DEVCs is split into samples
    of this many devices."""
    if reference.path is None:
        return 1
    counts = []
    with open(reference.path, "rb") as f:
        for offset, size in zip(track.offsets[:8].tolist(), track.sizes[:8].tolist()):
            f.seek(offset)
            counts.append(_devc_count(f.read(min(size, 1 << 20))))
    counts = [c for c in counts if c]
    return max(set(counts), key=counts.count) if counts else 1


def _gpmf_size(fd: int, pos: int, limit: int, devices: int) -> int | None | str:
    """Bytes of the ``devices`` DEVC KLVs at ``pos`` (one gpmd sample), or fewer if
    something else follows them."""
    p = pos
    for _ in range(devices):
        if p + 8 > limit:
            break
        head = os.pread(fd, 8, p)
        if head[:4] != _DEVC or head[4] != 0:
            break
        size, repeat = head[5], struct.unpack_from(">H", head, 6)[0]
        p += 8 + ((size * repeat + 3) & ~3)
        if p > limit:
            return "cut"
    return (p - pos) or None


def _followed_by_a_sample(fd: int, pos: int, limit: int, parsers: list[VideoParser], telemetry: bool, framer) -> bool:
    """Whether something a sample can start with follows ``pos``: the end of the bytes,
    fill pages, a video NAL unit that opens a picture, a GPMF DEVC, or an AAC frame."""
    if pos >= limit:
        return True
    head = os.pread(fd, 16, pos)
    if len(head) < 16 or head in (_ZERO_PAGE, _FF_PAGE):
        return True
    if any(v.starts_here(fd, pos, limit) for v in parsers):
        return True
    if telemetry and head[:4] == _DEVC:
        return True
    return framer is not None and framer.starts_here(fd, pos, limit)


class _Columns:
    def __init__(self) -> None:
        self.offsets, self.sizes, self.keys = array("Q"), array("I"), array("B")

    def add(self, offset: int, size: int, key: bool = True) -> None:
        self.offsets.append(offset)
        self.sizes.append(size)
        self.keys.append(key)

    def __len__(self) -> int:
        return len(self.offsets)

    def pop(self) -> None:
        for column in (self.offsets, self.sizes, self.keys):
            column.pop()


def scan_with_reference(
    src: Path,
    f: BinaryIO,
    layout: Layout,
    reference: Movie,
    reference_path: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> Recovery:
    """Walk the payload of the open broken file ``f``, recognising each sample (see the
    module docstring); returns what was found. Raises SalvageError if nothing matches."""
    from ._salvage import Recovery  # at run time: _salvage imports this module lazily

    fd = f.fileno()
    video_tracks = [t for t in reference.tracks if t.handler == b"vide"]
    parsers = [VideoParser(t) for t in video_tracks]
    period = _video_period(video_tracks)
    audio = next((t for t in reference.tracks if t.handler == b"soun"), None)
    framer = None
    if audio is not None:
        from ._aac import AacFramer

        framer = AacFramer(audio)
    gpmd = next((t for t in reference.tracks if t.codec == b"gpmd"), None)
    devices = _devices_per_sample(reference, gpmd) if gpmd is not None else 1
    tmcd = next((t for t in reference.tracks if t.codec == b"tmcd"), None)
    tmcd_size = int(tmcd.sizes[0]) if tmcd is not None and tmcd.sample_count else 0
    # Where the camera puts its timecode sample: after how many video and audio samples.
    tmcd_slot = None
    if tmcd_size:
        at = int(tmcd.offsets[0])
        tmcd_slot = (
            sum(int((t.offsets < at).sum()) for t in video_tracks),
            int((audio.offsets < at).sum()) if audio is not None else 0,
        )

    found: dict[int, _Columns] = {t.track_id: _Columns() for t in reference.tracks}
    units: list[list[AccessUnit]] = [[] for _ in parsers]
    pos, limit = layout.payload_start, layout.payload_end
    video_count = 0
    last_track: int | None = None
    reason = "the recording ends"
    next_report = pos + (64 << 20)
    while pos < limit:
        kind = None
        # 1. video, the track the interleaving pattern expects first
        if parsers:
            expected = period[video_count % len(period)]
            order = [expected] + [i for i in range(len(parsers)) if i != expected]
            for i in order:
                au = parsers[i].access_unit(fd, pos, limit)
                if au == "cut":
                    reason = "the file ends inside a video sample"
                    kind = "stop"
                    break
                if au is not None and not au.delimited and not _followed_by_a_sample(
                    fd, pos + au.size, limit, parsers, gpmd is not None, framer
                ):
                    au = None  # a slice header read from another track's bytes
                if au is not None:
                    last_track = video_tracks[i].track_id
                    found[last_track].add(pos, au.size, au.key)
                    units[i].append(au)
                    video_count += 1
                    pos += au.size
                    kind = "video"
                    break
        if kind == "stop":
            break
        if kind is None:
            # Zero or 0xFF pages: where the camera stopped writing (no sample starts so).
            head = os.pread(fd, 16, pos)
            if len(head) == 16 and head in (_ZERO_PAGE, _FF_PAGE):
                reason = f"{'zero' if head[0] == 0 else '0xFF'} fill where a sample was due"
                pos = _drop_filled_last_sample(fd, pos, head[0], found, last_track, units, video_tracks)
                break
        if kind is None and gpmd is not None:
            size = _gpmf_size(fd, pos, limit, devices)
            if size == "cut":
                reason = "the file ends inside a telemetry sample"
                break
            if size:
                last_track = gpmd.track_id
                found[last_track].add(pos, size)
                pos += size
                kind = "gpmd"
        if (
            kind is None and tmcd_slot is not None and not len(found[tmcd.track_id]) and pos + tmcd_size <= limit
            and tmcd_slot == (video_count, len(found[audio.track_id]) if audio is not None else 0)
        ):
            last_track = tmcd.track_id  # the reference's slot for it: take it before trying audio
            found[last_track].add(pos, tmcd_size)
            pos += tmcd_size
            kind = "tmcd"
        audio_cut = False
        if kind is None and framer is not None:
            size = framer.frame_size(fd, pos, limit)
            audio_cut = size == "cut"
            if size and not audio_cut:
                last_track = audio.track_id
                found[last_track].add(pos, size)
                pos += size
                kind = "audio"
        # The one timecode sample: a few bytes no other track claims, followed by a sample
        # of another track (or the end of the bytes).
        if kind is None and tmcd_size and not len(found[tmcd.track_id]) and pos + tmcd_size <= limit:
            after = pos + tmcd_size
            if after == limit or any(isinstance(v.access_unit(fd, after, limit), AccessUnit) for v in parsers) or (
                gpmd is not None and _gpmf_size(fd, after, limit, devices) not in (None, "cut")
            ):
                last_track = tmcd.track_id
                found[last_track].add(pos, tmcd_size)
                pos = after
                kind = "tmcd"
        if kind is None and audio_cut:
            reason = "the file ends inside an audio sample"
            break
        if kind is None:
            reason = "no sample of any reference track starts here: the recording ends"
            break
        if progress is not None and pos >= next_report:
            progress(pos - layout.payload_start, limit - layout.payload_start)
            next_report = pos + (64 << 20)

    tracks = _build_tracks(reference, found, parsers, units, video_tracks)
    if not any(t.sample_count for t in tracks):
        raise SalvageError(f"no complete sample matches the reference: {reason}", offset=pos)
    return Recovery(src, layout, "reference", tracks, pos, reason, reference.timescale, reference_path)


def _drop_filled_last_sample(
    fd: int, pos: int, fill: int, found: dict[int, _Columns], last_track: int | None,
    units: list[list[AccessUnit]], video_tracks: list[Track],
) -> int:
    """Drop the sample just before zero/0xFF pages if its last byte is the fill byte (a
    cut sample padded to a page boundary looks whole; H.264, HEVC and AAC samples never
    end in a zero byte). Returns where the recording then ends."""
    if last_track is None or os.pread(fd, 1, pos - 1) != bytes([fill]):
        return pos
    columns = found[last_track]
    start = columns.offsets[-1]
    columns.pop()
    for i, t in enumerate(video_tracks):
        if t.track_id == last_track:
            units[i].pop()
    return start


def _build_tracks(
    reference: Movie,
    found: dict[int, _Columns],
    parsers: list[VideoParser],
    units: list[list[AccessUnit]],
    video_tracks: list[Track],
) -> list[Track]:
    out: list[Track] = []
    video_seconds = 0.0
    for ref in reference.tracks:
        cols = found[ref.track_id]
        n = len(cols)
        offsets = np.frombuffer(cols.offsets, np.uint64).copy() if n else np.zeros(0, np.uint64)
        sizes = np.frombuffer(cols.sizes, np.uint32).copy() if n else np.zeros(0, np.uint32)
        keys = np.frombuffer(cols.keys, np.uint8) if n else np.zeros(0, np.uint8)
        comp = np.zeros(n, np.int32)
        edits: tuple[Edit, ...] = ()
        usual = _usual(ref.durations, 1)
        if ref.handler == b"vide":
            i = video_tracks.index(ref)
            parser = parsers[i]
            sps = next(iter(parser.sps.values()))
            fps = getattr(sps, "frame_rate", None)
            duration = round(ref.timescale / fps) if fps else usual
            if fps and abs(duration - usual) > max(1, usual // 100):
                duration = usual  # field-rate VUI or a variable-rate stream: trust the reference
            durations = np.full(n, duration, np.uint32)
            comp, shift = composition_offsets(units[i], parser.log2_max_poc_lsb(), duration)
            if ref.edits or shift:
                edits = (Edit(0, shift),)
            video_seconds = max(video_seconds, int(durations.sum(dtype=np.int64)) / ref.timescale)
        else:
            durations = np.full(n, usual, np.uint32)
            # an audio edit skips the encoder's priming samples: a property of the codec
            edits = ref.edits if len(ref.edits) == 1 else ()
        out.append(Track(
            track_id=ref.track_id, handler=ref.handler, codec=ref.codec, stsd=ref.stsd,
            timescale=ref.timescale, offsets=offsets, sizes=sizes, durations=durations,
            composition_offsets=comp, sync_samples=np.flatnonzero(keys) if ref.has_stss else np.arange(n),
            width=ref.width, height=ref.height, handler_name=ref.handler_name, language=ref.language,
            media_header=ref.media_header, references=ref.references, edits=edits,
            tkhd_matrix=ref.tkhd_matrix, has_stss=ref.has_stss,
        ))
    for t in out:
        if t.codec == b"tmcd" and t.sample_count and video_seconds:
            # one timecode sample lasting the whole recording, as cameras write it
            total = round(video_seconds * t.timescale)
            t.durations[-1] = max(0, total - int(t.durations[:-1].sum(dtype=np.int64)))
    return out
