"""Find where raw AAC frames end, with FFmpeg's own AAC decoder as the judge.

Raw AAC in MP4 has no sync word and no length field: a frame's length is known only by
parsing it to its END element, which takes the Huffman tables of the spectral data. We
let FFmpeg (through PyAV) do that parse, on the first ``n`` bytes at the position:

- ``n`` shorter than the frame: the decoder runs out of bits before END and no frame
  comes out (an error, almost always "invalid data");
- ``n`` exactly the frame: one frame and no error;
- ``n`` longer than the frame: the frame comes out, and then FFmpeg decodes the bytes
  after END (unless they are all zero) as one more frame of the same packet. Those are
  the next sample's bytes, often not AAC at all: that second decode may fail with any
  error. PyAV drops an "invalid data" error once a frame came out, but raises any other
  (a small video sample that follows reads as an AAC element FFmpeg rejects with EPERM).

So an "invalid data" error proves ``n`` too short, a clean decode proves ``n`` long
enough, and any other error proves nothing. The frame length is the smallest ``n`` that
decodes cleanly: a search treats an unclear ``n`` as long enough (it usually is), and a
length it settles on that did not decode cleanly becomes the new lower bound. A plain
bisection takes about 12 decodes of one frame each; lengths whose last byte cannot end a
frame (no END element there) are never tried, and the search gallops out from the
previous frame's length, so a frame costs about 4-5 decodes.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import SalvageError
from ..isobmff import Track

__all__ = ["AacFramer", "audio_specific_config"]

# 6144 bits per channel per frame is the AAC buffer limit; 8 channels at most here.
MAX_FRAME = 6144

# What decoding the first n bytes at a position says about the frame there.
_WHOLE = 0  # a frame and no error: the frame ends within the n bytes
_SHORT = 1  # "invalid data" before any frame: the frame is longer than n (or none is there)
_UNCLEAR = 2  # another error (from the frame, or from the bytes after its end), or no frame


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
# The same table indexed by ((prev & 3) << 8) | last: one flat lookup per byte.
_CAN_END_FLAT = _CAN_END.reshape(-1)


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

    def _outcome(self, data: bytes) -> int:
        """_WHOLE, _SHORT or _UNCLEAR for the bytes ``data`` (see the module docstring)."""
        av = self._av
        try:
            frames = self.ctx.decode(av.Packet(data))
        except av.error.InvalidDataError:
            return _SHORT  # PyAV raises it only when no frame came out before it
        except (av.error.FFmpegError, ValueError):
            return _UNCLEAR
        return _WHOLE if frames else _UNCLEAR

    def starts_here(self, fd: int, pos: int, limit: int) -> bool:
        """Whether an AAC frame may start at ``pos``: one decodes from there, or the bytes
        end too soon to tell (one decode of the longest window, a search if unclear)."""
        window = os.pread(fd, min(self.max_frame, limit - pos), pos)
        if len(window) < self.max_frame:
            return True
        outcome = self._outcome(window)
        return outcome == _WHOLE or (outcome == _UNCLEAR and self._measure(window) is not None)

    def frame_size(self, fd: int, pos: int, limit: int) -> int | None | str:
        """Length of the AAC frame at ``pos``; None if no frame decodes there; "cut" if
        the bytes end before one could."""
        window = os.pread(fd, min(self.max_frame, limit - pos), pos)
        if not window:
            return None
        size = self._measure(window)
        if size is None:
            # not even the whole window decodes: no frame here, or one the file cuts short
            return "cut" if len(window) < self.max_frame and limit - pos == len(window) else None
        self.last = size
        return size

    def _measure(self, window: bytes) -> int | None:
        """Length of the AAC frame that opens ``window``: the shortest prefix that decodes
        cleanly; None if none does."""
        # Only lengths whose last byte can hold the END element are worth a decode.
        data = np.frombuffer(window, np.uint8)
        index = data.astype(np.intp)
        index[1:] |= (data[:-1] & 3).astype(np.intp) << 8
        ends = _CAN_END_FLAT.take(index)
        ends[-1] = True  # the whole window: the fallback
        lengths = ends.nonzero()[0] + 1
        outcomes: dict[int, int] = {}

        def outcome(i: int) -> int:
            if i not in outcomes:
                outcomes[i] = self._outcome(window[: int(lengths[i])])
            return outcomes[i]

        def long_enough(i: int) -> bool:  # _UNCLEAR too: checked once the search settles
            return outcome(i) != _SHORT

        # Invariant: lengths[bad] is too short (-1: none known), and the frame ends at
        # lengths[good] or before unless lengths[good] is unclear. Gallop from the previous
        # frame's length (consecutive frames differ by a few bytes), then bisect.
        top = lengths.size - 1
        start = int(np.searchsorted(lengths, self.last)) if self.last else lengths.size // 8
        start = min(start, top)
        step = 1
        if long_enough(start):
            good = start
            probe = start - step
            while probe >= 0 and long_enough(probe):
                good, step = probe, step * 2
                probe = good - step
            bad = max(probe, -1)
        else:
            bad, good = start, top
            probe = start + step
            while probe < good:
                if long_enough(probe):
                    good = probe
                    break
                bad, step = probe, step * 2
                probe = bad + step
        while True:
            while good - bad > 1:
                mid = (bad + good) // 2
                if long_enough(mid):
                    good = mid
                else:
                    bad = mid
            # Every length before lengths[good] is too short, so the frame ends there or
            # later, and there exactly if that length decodes cleanly.
            if outcome(good) == _WHOLE:
                return int(lengths[good])
            if good == top:
                return None
            # Unclear: a frame cut short by an error other than "invalid data". Search on
            # above it, up to the nearest length already known to be long enough.
            bad = good
            good = min((i for i, o in outcomes.items() if i > bad and o != _SHORT), default=top)
