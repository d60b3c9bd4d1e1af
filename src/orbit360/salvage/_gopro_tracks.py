"""Turn a GoPro SOS scan into tracks: sample tables plus the camera's sample entries.

The track layout is the one GoPro firmware writes: video, audio, timecode, telemetry
(gpmd) and the SOS records (fdsc), numbered from 1 in that order, video and audio
referring to the timecode track. A healthy file from the same camera mode, when given,
supplies the sample entries and timescales verbatim; otherwise they are rebuilt from
the stream (parameter sets, GPRO record hints) in GoPro's own layout.
"""

from __future__ import annotations

import numpy as np

from ..isobmff import Edit, Movie, Track, box
from . import _h264, _hevc
from ._gopro import AUDIO, TELEMETRY, TIMECODE, VIDEO, GoProScan, SampleList
from ._sample_entries import mp4a_entry, plain_entry, stsd_payload, tmcd_entry, visual_entry

__all__ = ["gopro_tracks", "DEFAULT_VIDEO_TIMESCALE"]

DEFAULT_VIDEO_TIMESCALE = 90000
DEFAULT_AUDIO_RATE = 48000
TELEMETRY_TIMESCALE = 1000  # gpmd durations are milliseconds in every GoPro file seen
_NAMES = {
    "h264": b"\x0bGoPro AVC  ",
    "hevc": b"\x0bGoPro H.265",
    AUDIO: b"\x0bGoPro AAC  ",
    TIMECODE: b"\x0bGoPro TCD  ",
    TELEMETRY: b"\x0bGoPro MET  ",
    "fdsc": b"\x0bGoPro SOS  ",
}


def _columns(s: SampleList) -> dict:
    n = len(s)
    keys = np.frombuffer(s.keys, np.uint8) if n else np.zeros(0, np.uint8)
    return dict(
        offsets=np.frombuffer(s.offsets, np.uint64).copy() if n else np.zeros(0, np.uint64),
        sizes=np.frombuffer(s.sizes, np.uint32).copy() if n else np.zeros(0, np.uint32),
        durations=np.frombuffer(s.durations, np.uint32).copy() if n else np.zeros(0, np.uint32),
        composition_offsets=np.zeros(n, np.int32),
        sync_samples=np.flatnonzero(keys),
    )


def _video_config(scan: GoProScan) -> tuple[bytes, bytes, int, int, float | None]:
    """(fourcc, config box, width, height, fps) from the parameter sets."""
    ps = scan.parameter_sets
    if scan.video_codec == "hevc":
        by_type: dict[int, list[bytes]] = {}
        for nal in ps:
            by_type.setdefault(_hevc.nal_type(nal), []).append(nal)
        sps = by_type.get(_hevc.NAL_SPS, [])
        info = _hevc.parse_sps(sps[0])
        config = box(b"hvcC", _hevc.hvcc_payload(by_type.get(_hevc.NAL_VPS, []), sps, by_type.get(_hevc.NAL_PPS, [])))
        return b"hvc1", config, info.width, info.height, None
    sps = [n for n in ps if _h264.nal_type(n) == _h264.NAL_SPS]
    pps = [n for n in ps if _h264.nal_type(n) == _h264.NAL_PPS]
    info = _h264.parse_sps(sps[0])
    return b"avc1", box(b"avcC", _h264.avcc_payload(sps, pps)), info.width, info.height, info.frame_rate


def _reference_track(reference: Movie | None, handler: bytes, codec: bytes | None = None) -> Track | None:
    if reference is None:
        return None
    for t in reference.tracks:
        if t.handler == handler and (codec is None or t.codec == codec):
            return t
    return None


def _entry_matches(reference: Track, parameter_sets: list[bytes]) -> bool:
    """A reference video entry is usable only if it carries this file's parameter sets."""
    return all(ps in reference.sample_entry for ps in parameter_sets)


def gopro_tracks(scan: GoProScan, reference: Movie | None = None) -> list[Track]:
    """Tracks for everything the scan found, in GoPro's track order.

    The reference is used only when it is of the same camera mode: its video sample
    entry carries this recording's parameter sets (a folder may hold other modes).
    """
    hints = scan.hints
    if reference is not None:
        ref_video = next((t for t in reference.tracks if t.handler == b"vide"), None)
        if ref_video is None or not scan.parameter_sets or not _entry_matches(ref_video, scan.parameter_sets):
            reference = None
    plan: list[tuple[str, SampleList]] = []
    video = scan.streams.get(VIDEO)
    if video is not None and len(video) and scan.parameter_sets:
        plan.append(("video", video))
    for kind, name in ((AUDIO, "audio"), (TIMECODE, "tmcd"), (TELEMETRY, "gpmd")):
        if len(scan.streams.get(kind, ())):
            plan.append((name, scan.streams[kind]))
    if len(scan.records):
        plan.append(("fdsc", scan.records))
    ids = {name: i + 1 for i, (name, _) in enumerate(plan)}
    refs = {b"tmcd": (ids["tmcd"],)} if "tmcd" in ids else {}

    video_timescale = hints.video_timescale or DEFAULT_VIDEO_TIMESCALE
    video_duration = 0
    tracks: list[Track] = []
    for name, samples in plan:
        cols = _columns(samples)
        tid = ids[name]
        if name == "video":
            fourcc, config, width, height, fps = _video_config(scan)
            ref = _reference_track(reference, b"vide", fourcc)
            if ref is not None and _entry_matches(ref, scan.parameter_sets):
                stsd, timescale = ref.stsd, ref.timescale
            else:
                ref = None
                if hints.video_timescale is None and fps and len(samples):
                    video_timescale = round(fps * int(cols["durations"][0])) or DEFAULT_VIDEO_TIMESCALE
                timescale = video_timescale
                compressor = "GoPro AVC encoder" if fourcc == b"avc1" else "GoPro H.265 encoder"
                stsd = stsd_payload(visual_entry(fourcc, width, height, config, compressor=compressor))
            video_timescale = timescale
            video_duration = int(cols["durations"].sum(dtype=np.int64))
            tracks.append(Track(
                track_id=tid, handler=b"vide", codec=fourcc, stsd=stsd, timescale=timescale,
                width=width, height=height, handler_name=ref.handler_name if ref else _NAMES[scan.video_codec or "h264"],
                references=refs, edits=(Edit(0, 0),), has_stss=True,  # one edit; the writer sets its span
                tkhd_matrix=ref.tkhd_matrix if ref else b"", language=ref.language if ref else 0x55C4, **cols,
            ))
        elif name == "audio":
            ref = _reference_track(reference, b"soun", b"mp4a")
            if ref is not None:
                stsd, timescale = ref.stsd, ref.timescale
            else:
                rate = hints.audio_rate or DEFAULT_AUDIO_RATE
                stsd = stsd_payload(mp4a_entry(rate, hints.audio_channels or 2, hints.audio_bits or 16))
                timescale = rate
            tracks.append(Track(
                track_id=tid, handler=b"soun", codec=b"mp4a", stsd=stsd, timescale=timescale,
                handler_name=ref.handler_name if ref else _NAMES[AUDIO], references=refs,
                language=ref.language if ref else 0x55C4, **cols,
            ))
        elif name == "tmcd":
            ref = _reference_track(reference, b"tmcd", b"tmcd")
            frame_duration = int(cols["durations"][0])
            # The camera writes one timecode sample lasting the whole recording.
            if video_duration:
                cols["durations"][-1] = max(0, video_duration - int(cols["durations"][:-1].sum(dtype=np.int64)))
            stsd = ref.stsd if ref else stsd_payload(tmcd_entry(video_timescale, frame_duration))
            tracks.append(Track(
                track_id=tid, handler=b"tmcd", codec=b"tmcd", stsd=stsd,
                timescale=ref.timescale if ref else video_timescale,
                handler_name=ref.handler_name if ref else _NAMES[TIMECODE],
                media_header=ref.media_header if ref else b"", **cols,
            ))
        elif name == "gpmd":
            ref = _reference_track(reference, b"meta", b"gpmd")
            tracks.append(Track(
                track_id=tid, handler=b"meta", codec=b"gpmd",
                stsd=ref.stsd if ref else stsd_payload(plain_entry(b"gpmd", bytes(4))),
                timescale=ref.timescale if ref else TELEMETRY_TIMESCALE,
                handler_name=ref.handler_name if ref else _NAMES[TELEMETRY],
                media_header=ref.media_header if ref else b"", **cols,
            ))
        else:
            ref = _reference_track(reference, b"meta", b"fdsc")
            tracks.append(Track(
                track_id=tid, handler=b"meta", codec=b"fdsc",
                stsd=ref.stsd if ref else stsd_payload(plain_entry(b"fdsc", b"\0\1")),
                timescale=ref.timescale if ref else video_timescale,
                handler_name=ref.handler_name if ref else _NAMES["fdsc"],
                media_header=ref.media_header if ref else b"", **cols,
            ))
    return tracks
