"""GoPro "SOS" records: every sample's track, size and duration, without a reference.

What the bytes of real GoPro recordings show (HERO7 HD7.01, MAX H19.03; checked by the
tests against the healthy files' moov):

- The mdat payload opens with a ``GPRO`` record: 'GPRO', u32 LE record length, then
  firmware, serial and camera name; its last 100 bytes hold little-endian stream
  parameters (video timescale, width, height; audio rate, bits, channels).
- Every sample of every track is preceded by a 16-byte record: 'GP', stream type,
  flags, u32 BE size of the sample that follows, u32 BE duration (media timescale
  units), u32 (video: the duration again; others 0). Types: 0 video (flags 1 key,
  3 not key), 4 AAC, 5 tmcd, 6 gpmd.
- Type 3 is the video configuration record that precedes the first video sample: the
  same 16-byte head (size and duration of that first frame), then 4-byte-aligned slots
  of u32 BE length + parameter-set NAL unit (SPS, PPS; VPS for HEVC), zero padded. Its
  length is not written anywhere: it ends where the first frame's first non-parameter-set
  NAL unit starts, confirmed by the next record sitting right after that frame.
- The camera's ``fdsc`` ("GoPro SOS") track has these records as its samples: the
  GPRO record, the configuration record, then every 16-byte record, duration 0.

Records chain (each says where the next one is), so the scan reads 16 bytes per sample
(through a 32 KB window: records between video frames sit close together) and skips
the payloads; memory grows only with the sample index. The chain is followed, never
searched for: where it breaks the recording ends (stale data from an older recording on
the card may hold valid-looking records, so no resynchronisation is attempted).
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import SalvageError
from . import _h264, _hevc
from ._layout import Layout

__all__ = ["GoProScan", "GoProHints", "SampleList", "scan_gopro", "is_gopro_payload"]

SOS_SIZE = 16
VIDEO, VIDEO_CONFIG, AUDIO, TIMECODE, TELEMETRY = 0, 3, 4, 5, 6
KNOWN_TYPES = frozenset({VIDEO, VIDEO_CONFIG, AUDIO, TIMECODE, TELEMETRY})
_STREAM_NAMES = {VIDEO: "video", VIDEO_CONFIG: "video", AUDIO: "audio", TIMECODE: "timecode", TELEMETRY: "telemetry"}
_NOT_KEY_FLAG = 0x02
_ZERO_FILL, _FF_FILL = bytes(16), b"\xff" * 16
# The configuration record holds a few parameter sets; a frame starts within this many bytes.
_CONFIG_SEARCH = 4096
_HEADER_MAX = 1 << 20
_READ_WINDOW = 32 * 1024
_SOS = struct.Struct(">2sBBIII")  # 'GP', stream type, flags, sample size, duration, spare
_HEADER_TRAILER = 100
_H264_PARAMETER_SETS = frozenset({_h264.NAL_SPS, _h264.NAL_PPS, 13})
_HEVC_PARAMETER_SETS = frozenset({_hevc.NAL_VPS, _hevc.NAL_SPS, _hevc.NAL_PPS})


@dataclass
class SampleList:
    """Growing per-sample columns for one stream (compact arrays, not Python objects)."""

    offsets: array = field(default_factory=lambda: array("Q"))
    sizes: array = field(default_factory=lambda: array("I"))
    durations: array = field(default_factory=lambda: array("I"))
    keys: array = field(default_factory=lambda: array("B"))

    def add(self, offset: int, size: int, duration: int, key: bool = True) -> None:
        self.offsets.append(offset)
        self.sizes.append(size)
        self.durations.append(duration)
        self.keys.append(key)

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True, slots=True)
class GoProHints:
    """Stream parameters from the tail of the GPRO record (None where implausible)."""

    video_timescale: int | None = None
    width: int | None = None
    height: int | None = None
    audio_rate: int | None = None
    audio_bits: int | None = None
    audio_channels: int | None = None


@dataclass
class GoProScan:
    """What the SOS chain says about a GoPro recording's payload."""

    streams: dict[int, SampleList] = field(default_factory=dict)
    records: SampleList = field(default_factory=SampleList)
    """The fdsc track: GPRO record, configuration record, then every 16-byte record."""
    parameter_sets: list[bytes] = field(default_factory=list)
    video_codec: str | None = None
    """"h264" or "hevc", from the configuration record's NAL headers."""
    hints: GoProHints = field(default_factory=GoProHints)
    end: int = 0
    """File offset just past the last complete sample or record."""
    stop_offset: int = 0
    stop_reason: str = ""
    unknown_type_bytes: int = 0
    """Bytes of samples whose stream type we do not know (not assigned to a track)."""


def is_gopro_payload(head: bytes) -> bool:
    """True when the first bytes of an mdat payload are a GPRO or SOS record."""
    return head[:4] == b"GPRO" or (head[:2] == b"GP" and len(head) >= 3 and head[2] in KNOWN_TYPES)


def _hints_from_header(record: bytes) -> GoProHints:
    if len(record) < _HEADER_TRAILER + 8:
        return GoProHints()
    v = struct.unpack_from("<13I", record, len(record) - _HEADER_TRAILER)
    _, timescale, width, height, _, _, _, _, _audio_timescale, _, bits, channels, rate = v

    def ok(x: int, lo: int, hi: int) -> int | None:
        return x if lo <= x <= hi else None

    return GoProHints(
        ok(timescale, 1000, 1_000_000),
        ok(width, 16, 16384),
        ok(height, 16, 16384),
        ok(rate, 8000, 192000),
        ok(bits, 8, 32),
        ok(channels, 1, 16),
    )


def _nal_units_at(buf: bytes, start: int) -> list[tuple[int, int]]:
    """(position, length) of u32-length-prefixed NAL units at 4-aligned slots from ``start``,
    skipping zero padding, until the buffer ends or a length does not fit."""
    units = []
    p = start
    while p + 4 <= len(buf):
        (length,) = struct.unpack_from(">I", buf, p)
        if length == 0:
            p += 4
            continue
        if p + 4 + length > len(buf) or p + 5 > len(buf) or buf[p + 4] & 0x80:
            units.append((p, -1))  # a slot that is not a whole NAL unit inside the window
            break
        units.append((p, length))
        p = (p + 4 + length + 3) & ~3
    return units


class _Scanner:
    def __init__(self, fd: int, layout: Layout, progress: Callable[[int, int], None] | None) -> None:
        self.fd = fd
        self.start = layout.payload_start
        self.limit = layout.payload_end
        self.progress = progress
        self.scan = GoProScan()
        self.last_stream: int | None = None
        self.window = b""
        self.window_at = 0

    def drop_filled_last_sample(self, pos: int, fill: int) -> None:
        """Drop the sample just before a zero/0xFF page run if its last byte is that fill.

        A camera cut mid-sample and padded to a page boundary leaves the sample looking
        whole; H.264, HEVC and AAC samples never end in a zero byte (stop bits), so a
        sample that ends in the fill byte is taken as cut. (A telemetry sample padded with
        zeros may be dropped with it: better one second of telemetry lost than a torn one.)
        """
        samples = self.scan.streams.get(self.last_stream) if self.last_stream is not None else None
        if not samples or samples.offsets[-1] + samples.sizes[-1] != pos:
            return
        if self.read(pos - 1, 1) != bytes([fill]):
            return
        start = samples.offsets[-1]
        for column in (samples.offsets, samples.sizes, samples.durations, samples.keys):
            column.pop()
        self.scan.end = start

    def read(self, pos: int, n: int) -> bytes:
        """Bytes ``pos:pos+n`` (fewer at the end of the payload), through a small window:
        records between video frames sit close together, so one pread serves several."""
        n = max(0, min(n, self.limit - pos))
        at = pos - self.window_at
        if 0 <= at and at + n <= len(self.window):
            return self.window[at : at + n]
        self.window = os.pread(self.fd, max(n, min(_READ_WINDOW, self.limit - pos)), pos)
        self.window_at = pos
        return self.window[:n]

    def next_is_record(self, pos: int) -> bool | None:
        """Whether a valid record starts at ``pos``; None when the file ends before it."""
        if pos + 4 > self.limit:
            return None
        head = self.read(pos, 4)
        return head[:2] == b"GP" and head[2] in KNOWN_TYPES

    def stop(self, pos: int, reason: str) -> GoProScan:
        self.scan.stop_offset = pos
        self.scan.stop_reason = reason
        return self.scan

    def run(self) -> GoProScan:
        scan, pos = self.scan, self.start
        scan.end = pos
        head = self.read(pos, 8)
        if head[:4] == b"GPRO":
            (length,) = struct.unpack_from("<I", head, 4) if len(head) == 8 else (0,)
            if not 8 <= length <= _HEADER_MAX:
                return self.stop(pos, f"GPRO record declares an impossible length {length}")
            if pos + length > self.limit:
                return self.stop(pos, "the file ends inside the GPRO record")
            record = self.read(pos, length)
            scan.hints = _hints_from_header(record)
            scan.records.add(pos, length, 0)
            pos += length
            scan.end = pos
        return self.follow_chain(pos)

    def follow_chain(self, pos: int) -> GoProScan:
        """The hot loop: one 16-byte record per sample, read from the window in place.

        Written with local names and bound ``append`` methods (a recording of a few
        hours has millions of records); the rare records (configuration, a broken
        chain) go through the general methods.
        """
        scan, limit, fd = self.scan, self.limit, self.fd
        unpack = _SOS.unpack_from
        rec_offsets, rec_sizes = scan.records.offsets.append, scan.records.sizes.append
        rec_durations, rec_keys = scan.records.durations.append, scan.records.keys.append
        appenders: dict[int, tuple] = {}
        window, window_at = self.window, self.window_at
        next_report = pos + (64 << 20)
        while True:
            at = pos - window_at
            if at < 0 or at + SOS_SIZE > len(window):
                if pos + SOS_SIZE > limit:
                    why = "the recording ends" if pos >= limit else "the file ends inside an SOS record"
                    return self.stop(pos, why)
                window = self.window = os.pread(fd, min(_READ_WINDOW, limit - pos), pos)
                window_at = self.window_at = pos
                at = 0
            magic, kind, flags, size, duration, _ = unpack(window, at)
            if magic != b"GP":
                record = window[at : at + SOS_SIZE]
                if record in (_ZERO_FILL, _FF_FILL):
                    self.drop_filled_last_sample(pos, record[0])
                    return self.stop(pos, f"{'zero' if record[0] == 0 else '0xFF'} fill where an SOS record was due")
                return self.stop(pos, "no SOS record where one was due: the recording ends here")
            if kind == VIDEO_CONFIG:
                found = self.config_record(pos, size)
                if found is None:
                    return scan
                window, window_at = self.window, self.window_at
                frame_at = found
                kind = VIDEO
            else:
                rec_offsets(pos)
                rec_sizes(SOS_SIZE)
                rec_durations(0)
                rec_keys(1)
                frame_at = pos + SOS_SIZE
                scan.end = frame_at
            sample_end = frame_at + size
            if sample_end > limit:
                what = _STREAM_NAMES.get(kind, f"stream type {kind}")
                return self.stop(frame_at, f"the file ends inside a {what} sample")
            self.last_stream = kind
            columns = appenders.get(kind)
            if columns is None:
                if kind in KNOWN_TYPES:
                    samples = scan.streams.setdefault(kind, SampleList())
                    columns = appenders[kind] = (
                        samples.offsets.append, samples.sizes.append, samples.durations.append, samples.keys.append
                    )
                else:
                    columns = appenders[kind] = ()
            if columns:
                columns[0](frame_at)
                columns[1](size)
                columns[2](duration)
                columns[3](not flags & _NOT_KEY_FLAG)
            else:
                scan.unknown_type_bytes += size
            pos = scan.end = sample_end
            if pos >= next_report and self.progress is not None:
                self.progress(pos - self.start, limit - self.start)
                next_report = pos + (64 << 20)

    def config_record(self, pos: int, frame_size: int) -> int | None:
        """Record the configuration record at ``pos``; return where the first frame starts."""
        window = self.read(pos, _CONFIG_SEARCH)
        units = _nal_units_at(window, SOS_SIZE)
        scan = self.scan
        params: list[bytes] = []
        first_frame: int | None = None
        window_is_file_end = pos + len(window) >= self.limit
        for at, length in units:
            if length < 0:
                # Cut by the end of the file: a frame can start here if parameter sets came first.
                if params and first_frame is None and window_is_file_end:
                    first_frame = pos + at
                break
            nal = window[at + 4 : at + 4 + length]
            codec = scan.video_codec or _codec_of(nal)
            if codec is None:
                break
            scan.video_codec = codec
            kinds = _H264_PARAMETER_SETS if codec == "h264" else _HEVC_PARAMETER_SETS
            is_param = (_h264.nal_type(nal) if codec == "h264" else _hevc.nal_type(nal)) in kinds
            if is_param and first_frame is None:
                params.append(nal)
                continue
            # A frame's first NAL unit: confirm by the record that must follow the frame.
            candidate = pos + at
            follows = self.next_is_record(candidate + frame_size)
            if follows or (follows is None and first_frame is None):
                first_frame = candidate
                if follows:
                    break
        if not params:
            self.stop(pos, "the video configuration record holds no parameter sets")
            return None
        if first_frame is None:
            where = "the file ends inside the video configuration record" if pos + len(window) >= self.limit else (
                "cannot find where the first frame starts after the configuration record"
            )
            self.stop(pos, where)
            return None
        if not scan.parameter_sets:
            scan.parameter_sets = params
        scan.records.add(pos, first_frame - pos, 0)
        scan.end = first_frame
        return first_frame


def _codec_of(nal: bytes) -> str | None:
    if _h264.nal_type(nal) in (_h264.NAL_SPS, _h264.NAL_PPS):
        return "h264"
    if _hevc.nal_type(nal) in (_hevc.NAL_VPS, _hevc.NAL_SPS, _hevc.NAL_PPS):
        return "hevc"
    return None


def scan_gopro(
    fd: int, layout: Layout, progress: Callable[[int, int], None] | None = None
) -> GoProScan | None:
    """Follow the SOS chain through the mdat payload of the open file ``fd``.

    Returns None when the payload does not start like a GoPro recording. The scan
    stops at the first place the chain breaks (end of the bytes present, a cut record,
    zero or 0xFF pages); ``stop_reason`` says which.
    """
    head = os.pread(fd, 8, layout.payload_start)
    if not is_gopro_payload(head):
        return None
    scan = _Scanner(fd, layout, progress).run()
    if not scan.streams and not len(scan.records):
        raise SalvageError(f"GoPro recording, but no complete sample: {scan.stop_reason}", offset=scan.stop_offset)
    return scan
