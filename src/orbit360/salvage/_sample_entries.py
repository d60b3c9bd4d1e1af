"""Sample entries a GoPro camera writes, rebuilt from what the mdat itself holds.

Used when no healthy file of the same camera mode is at hand. The layouts copy what
GoPro firmware writes (checked byte for byte against the shared HERO7 and MAX files by
the tests); the codec configuration comes from the stream: avcC/hvcC from the parameter
sets in the SOS configuration record, AAC's AudioSpecificConfig from rate and channels.
"""

from __future__ import annotations

import struct

from ..isobmff import box

__all__ = [
    "visual_entry",
    "mp4a_entry",
    "tmcd_entry",
    "plain_entry",
    "stsd_payload",
    "aac_sampling_index",
]

_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_COLR_NCLX_BT709 = box(b"colr", b"nclx" + struct.pack(">HHHB", 1, 1, 1, 0))


def stsd_payload(*entries: bytes) -> bytes:
    """An ``stsd`` payload (version/flags, count, entries), as ``Track.stsd`` holds it."""
    return struct.pack(">II", 0, len(entries)) + b"".join(entries)


def visual_entry(fourcc: bytes, width: int, height: int, config: bytes, *, compressor: str) -> bytes:
    """A VisualSampleEntry (avc1/hvc1) with a colr box and the codec configuration box."""
    name = compressor.encode("ascii")[:31]
    header = struct.pack(
        ">6xH16xHHIIIH",
        1,  # data_reference_index
        width,
        height,
        0x00480000,  # 72 dpi, horizontal and vertical
        0x00480000,
        0,  # reserved
        1,  # frame_count
    )
    body = header + bytes([len(name)]) + name.ljust(31, b"\0") + struct.pack(">Hh", 0x18, -1)
    return box(fourcc, body + _COLR_NCLX_BT709 + config)


def aac_sampling_index(rate: int) -> int:
    return _AAC_RATES.index(rate) if rate in _AAC_RATES else 15


def _descriptor(tag: int, payload: bytes) -> bytes:
    """An MPEG-4 descriptor with the padded 3-byte length form GoPro writes."""
    n = len(payload)
    if n >= 1 << 21:
        raise ValueError(f"descriptor payload of {n} bytes is too large")
    size = bytes([0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F, n & 0x7F])
    return bytes([tag]) + size + payload


def mp4a_entry(rate: int, channels: int, bits: int = 16, *, bitrate: int | None = None) -> bytes:
    """An ``mp4a`` AudioSampleEntry for AAC-LC with its ``esds``."""
    index = aac_sampling_index(rate)
    config_channels = channels if channels <= 7 else 0
    asc = struct.pack(">H", (2 << 11) | (index << 7) | (config_channels << 3))
    if index == 15:  # explicit rate
        asc = struct.pack(">I", (2 << 27) | (15 << 23) | (rate << 7) | (config_channels << 3))
    asc += bytes(3)  # GoPro pads the AudioSpecificConfig to 5 bytes
    rate_field = bitrate if bitrate is not None else rate
    decoder_config = _descriptor(
        0x04,
        struct.pack(">BB", 0x40, 0x15) + (0x2000).to_bytes(3, "big") + struct.pack(">II", rate_field, rate_field)
        + _descriptor(0x05, asc),
    )
    es = _descriptor(0x03, struct.pack(">HB", 0, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    esds = box(b"esds", b"\0\0\0\0" + es)
    body = struct.pack(">6xH8xHHhHI", 1, channels, bits, -2, 0, rate << 16 if rate < 65536 else 0)
    return box(b"mp4a", body + esds)


def tmcd_entry(timescale: int, frame_duration: int, *, flags: int = 2) -> bytes:
    """A QuickTime ``tmcd`` TimecodeSampleEntry (flags 2: 24-hour wrap, as GoPro writes)."""
    frames = timescale // frame_duration if frame_duration else 0
    return box(b"tmcd", struct.pack(">6xH4xIIIBx", 1, flags, timescale, frame_duration, min(frames, 255)))


def plain_entry(fourcc: bytes, tail: bytes = b"") -> bytes:
    """A bare SampleEntry (data_reference_index 1) plus format-specific bytes."""
    return box(fourcc, struct.pack(">6xH", 1) + tail)
