"""Find where raw AAC frames end, with FFmpeg's own AAC decoder as the judge.

Raw AAC in MP4 has no sync word and no length field: a frame's length is known only by
parsing it to its END element, which takes the Huffman tables of the spectral data. We
let FFmpeg (through PyAV) do that parse: decoding the first ``n`` bytes succeeds exactly
when ``n`` covers the whole frame (shorter input runs out of bits before END), so the
frame length is the smallest ``n`` that decodes, found by a search (a plain bisection takes about 12
decodes of one frame each). Lengths whose last byte cannot end a frame (no END element
there) are never tried, and the search gallops out from the previous frame's length, so
a frame costs about 4-5 decodes.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import SalvageError
from ..isobmff import Track

__all__ = ["AacFramer", "audio_specific_config"]

# 6144 bits per channel per frame is the AAC buffer limit; 8 channels at most here.
MAX_FRAME = 6144


def _end_table() -> np.ndarray:
    """_CAN_END[prev & 3, last]: can a frame whose last bytes are (prev, last) end there?

    A raw_data_block ends with the END element (bits 111) and zero padding to the byte
    boundary, so the last byte is 111 followed by zeros, or (END split across the two
    bytes) 11000000 after a byte ending in 1, or 10000000 after one ending in 11.
    """
    last = np.arange(256)
    lowest = last & -last
    zeros = np.log2(np.maximum(lowest, 1)).astype(int)
    inside = (last != 0) & (zeros <= 5) & (((last >> zeros) & 7) == 7)
    table = np.zeros((4, 256), dtype=bool)
    for prev_low in range(4):
        table[prev_low] = inside
        table[prev_low, 0xC0] |= bool(prev_low & 1)
        table[prev_low, 0x80] |= prev_low == 3
    return table


_CAN_END = _end_table()


def audio_specific_config(entry: bytes) -> bytes:
    """The AudioSpecificConfig (DecoderSpecificInfo, tag 5) inside an mp4a entry's esds."""
    at = entry.find(b"esds")
    if at < 0:
        raise SalvageError("reference audio sample entry has no esds")
    p = at + 8  # past 'esds' and version/flags
    end = len(entry)
    while p < end:
        tag = entry[p]
        p += 1
        size = 0
        for _ in range(4):
            if p >= end:
                break
            b = entry[p]
            p += 1
            size = (size << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if tag == 0x05:
            return entry[p : p + size]
        if tag == 0x03:
            p += 3  # ES_ID, flags (no optional fields in camera files)
        elif tag == 0x04:
            p += 13  # objectType, streamType, bufferSize, max/avg bitrate
        else:
            p += size
    raise SalvageError("reference audio esds has no AudioSpecificConfig")


class AacFramer:
    """Measures AAC frames of one track's configuration."""

    def __init__(self, track: Track) -> None:
        import av  # heavy: only for reference-based salvage with audio

        if track.codec != b"mp4a":
            raise SalvageError(f"reference audio codec '{track.codec.decode('latin-1')}' is not supported")
        self._av = av
        self.ctx = av.CodecContext.create("aac", "r")
        self.ctx.extradata = audio_specific_config(track.sample_entry)
        self.max_frame = MAX_FRAME
        self.last = 0

    def _decodes(self, data: bytes) -> bool:
        try:
            return bool(self.ctx.decode(self._av.Packet(data)))
        except (self._av.error.FFmpegError, ValueError):
            return False

    def starts_here(self, fd: int, pos: int, limit: int) -> bool:
        """Whether an AAC frame may start at ``pos``: one decodes from there, or the bytes
        end too soon to tell (one decode of the longest window)."""
        window = os.pread(fd, min(self.max_frame, limit - pos), pos)
        return len(window) < self.max_frame or self._decodes(window)

    def frame_size(self, fd: int, pos: int, limit: int) -> int | None | str:
        """Length of the AAC frame at ``pos``; None if no frame decodes there; "cut" if
        the bytes end before one could."""
        window = os.pread(fd, min(self.max_frame, limit - pos), pos)
        if not window:
            return None
        # Only lengths whose last byte can hold the END element are worth a decode.
        data = np.frombuffer(window, np.uint8)
        before = np.concatenate(([0], data[:-1]))
        lengths = np.flatnonzero(_CAN_END[before & 3, data]) + 1
        if lengths.size == 0 or lengths[-1] != len(window):
            lengths = np.append(lengths, len(window))  # the whole window decodes: the fallback
        # Gallop from the previous frame's length (consecutive frames differ by a few
        # bytes), then bisect: the answer is the first length that decodes.
        start = int(np.searchsorted(lengths, self.last)) if self.last else lengths.size // 8
        start = min(start, lengths.size - 1)
        step = 1
        if self._decodes(window[: int(lengths[start])]):
            bad, good = -1, start
            probe = start - step
            while probe >= 0 and self._decodes(window[: int(lengths[probe])]):
                good, step = probe, step * 2
                probe = good - step
            bad = max(probe, -1)
        else:
            bad, good = start, lengths.size - 1
            probe = start + step
            while probe < good:
                if self._decodes(window[: int(lengths[probe])]):
                    good = probe
                    break
                bad, step = probe, step * 2
                probe = bad + step
        while good - bad > 1:
            mid = (bad + good) // 2
            if self._decodes(window[: int(lengths[mid])]):
                good = mid
            else:
                bad = mid
        if good == lengths.size - 1 and not self._decodes(window):
            # not even the whole window decodes: no frame here, or one the file cuts short
            return "cut" if len(window) < self.max_frame and limit - pos == len(window) else None
        lo = int(lengths[good])
        self.last = lo
        return lo
