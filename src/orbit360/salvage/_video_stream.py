"""Find H.264/HEVC access units in an mdat, and rebuild composition offsets from POCs.

An MP4 video sample is an access unit: NAL units, each prefixed by its length (1, 2 or
4 bytes, from avcC/hvcC). A sample ends where the next NAL unit starts a new picture
(an AUD, a parameter set or SEI after a slice, a slice that is the first of its picture)
or where the bytes stop looking like NAL units (another track's chunk begins).

Every NAL header is checked against the reference's parameter sets (slice headers must
name a known PPS and a first macroblock inside the picture), so audio bytes are not
mistaken for video.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import SalvageError
from ..isobmff import Edit, Track
from . import _h264, _hevc

__all__ = ["VideoParser", "AccessUnit", "composition_offsets", "with_composition_offsets"]

_HEADER_PEEK = 64
_REORDER_PROBE = 120  # samples parsed to decide whether a stream has B-frames at all
# (codec, NAL type) -> (min, max) length in bytes, header included, for the NAL types
# whose headers alone cannot be told from other bytes.
_MAX_LENGTH = {
    ("h264", _h264.NAL_AUD): (2, 2),
    ("h264", _h264.NAL_SEI): (2, 1 << 20),
    ("h264", _h264.NAL_SPS): (4, 4096),
    ("h264", _h264.NAL_PPS): (2, 4096),
    ("h264", 10): (1, 1),
    ("h264", 11): (1, 1),
    ("hevc", _hevc.NAL_AUD): (3, 3),
    ("hevc", _hevc.NAL_VPS): (4, 4096),
    ("hevc", _hevc.NAL_SPS): (4, 4096),
    ("hevc", _hevc.NAL_PPS): (3, 4096),
    ("hevc", _hevc.NAL_PREFIX_SEI): (3, 1 << 20),
    ("hevc", _hevc.NAL_SUFFIX_SEI): (3, 1 << 20),
    ("hevc", 36): (2, 2),
    ("hevc", 37): (2, 2),
}


@dataclass(frozen=True, slots=True)
class AccessUnit:
    size: int
    key: bool
    poc_lsb: int
    ref: bool
    """H.264: nal_ref_idc != 0; HEVC: TemporalId 0 and a reference picture."""
    resets: bool
    """An IDR (or IRAP that starts a new coded video sequence): POC counting restarts."""
    delimited: bool = False
    """Opens with an access unit delimiter (a strong sign that this is video)."""


def _config_box(entry: bytes, fourcc: bytes) -> bytes | None:
    at = entry.find(fourcc)
    if at < 4:
        return None
    (size,) = struct.unpack_from(">I", entry, at - 4)
    return entry[at + 4 : at - 4 + size]


def _avcc_sets(cfg: bytes) -> tuple[int, list[bytes], list[bytes]]:
    length_size = (cfg[4] & 3) + 1
    p = 6
    sps, pps = [], []
    for _ in range(cfg[5] & 0x1F):
        (n,) = struct.unpack_from(">H", cfg, p)
        sps.append(cfg[p + 2 : p + 2 + n])
        p += 2 + n
    count = cfg[p]
    p += 1
    for _ in range(count):
        (n,) = struct.unpack_from(">H", cfg, p)
        pps.append(cfg[p + 2 : p + 2 + n])
        p += 2 + n
    return length_size, sps, pps


def _hvcc_sets(cfg: bytes) -> tuple[int, dict[int, list[bytes]]]:
    length_size = (cfg[21] & 3) + 1
    p = 23
    out: dict[int, list[bytes]] = {}
    for _ in range(cfg[22]):
        kind = cfg[p] & 0x3F
        (count,) = struct.unpack_from(">H", cfg, p + 1)
        p += 3
        for _ in range(count):
            (n,) = struct.unpack_from(">H", cfg, p)
            out.setdefault(kind, []).append(cfg[p + 2 : p + 2 + n])
            p += 2 + n
    return length_size, out


class VideoParser:
    """Recognises the access units of one video track's codec configuration."""

    def __init__(self, track: Track) -> None:
        entry = track.sample_entry
        self.track = track
        try:
            if track.codec in (b"avc1", b"avc3"):
                cfg = _config_box(entry, b"avcC")
                if cfg is None:
                    raise SalvageError("reference video sample entry has no avcC")
                self.codec = "h264"
                self.length_size, sps, pps = _avcc_sets(cfg)
                self.sps = {s.sps_id: s for s in map(_h264.parse_sps, sps)}
                self.pps = {p.pps_id: p for p in map(_h264.parse_pps, pps)}
                self.mbs = {i: ((s.width + 15) // 16) * ((s.height + 15) // 16) for i, s in self.sps.items()}
            elif track.codec in (b"hvc1", b"hev1"):
                cfg = _config_box(entry, b"hvcC")
                if cfg is None:
                    raise SalvageError("reference video sample entry has no hvcC")
                self.codec = "hevc"
                self.length_size, sets = _hvcc_sets(cfg)
                self.sps = {s.sps_id: s for s in map(_hevc.parse_sps, sets.get(_hevc.NAL_SPS, []))}
                self.pps = {p.pps_id: p for p in map(_hevc.parse_pps, sets.get(_hevc.NAL_PPS, []))}
            else:
                raise SalvageError(f"reference video codec '{track.codec.decode('latin-1')}' is not supported")
        except (IndexError, struct.error):
            raise SalvageError("reference video codec configuration is malformed") from None
        if not self.sps or not self.pps:
            raise SalvageError("reference video codec configuration has no SPS/PPS")
        # No NAL unit is larger than this: a length read from another track's bytes can
        # be hundreds of MB, and must not swallow them.
        largest = int(track.sizes.max()) if track.sample_count else 0
        self.max_nal = max(8 * largest, 4 << 20)

    # ---- one NAL unit ---------------------------------------------------------------

    def _classify(self, nal: bytes, length: int) -> tuple[str, int, int, bool] | None:
        """(role, poc_lsb, nal_type, ref) of a NAL unit of ``length`` bytes from its first
        bytes, or None if implausible.

        role: "start" (AUD/parameter set/SEI: may open an AU), "slice_first",
        "slice_more", "other" (belongs to the current AU). Slices are checked by parsing
        their header against the parameter sets; the other types, whose headers say
        little, by the lengths they can have (an AUD is 2 bytes, an end of sequence 1),
        so that audio bytes do not pass for them.
        """
        if not nal or nal[0] & 0x80:
            return None
        limit = _MAX_LENGTH.get((self.codec, nal[0] & 0x1F if self.codec == "h264" else (nal[0] >> 1) & 0x3F))
        if limit is not None and not limit[0] <= length <= limit[1]:
            return None
        try:
            if self.codec == "h264":
                t, ref_idc = nal[0] & 0x1F, (nal[0] >> 5) & 3
                if t in (_h264.NAL_SLICE, _h264.NAL_IDR):
                    if t == _h264.NAL_IDR and ref_idc == 0:
                        return None
                    first_mb, lsb, _ = _h264.slice_poc_lsb(nal, self.sps, self.pps)
                    if first_mb >= max(self.mbs.values()):
                        return None
                    return ("slice_first" if first_mb == 0 else "slice_more", lsb, t, ref_idc != 0)
                if t in (_h264.NAL_SPS, _h264.NAL_PPS):
                    return ("start", 0, t, True) if ref_idc else None
                if t in (_h264.NAL_SEI, _h264.NAL_AUD):
                    return ("start", 0, t, False) if ref_idc == 0 else None
                if t in (10, 11, 12):  # end of sequence / stream, filler
                    return ("other", 0, t, False) if ref_idc == 0 else None
                return None
            t = (nal[0] >> 1) & 0x3F
            if len(nal) < 2 or (nal[0] & 1) or (nal[1] >> 3) or not (nal[1] & 7):
                return None
            tid = (nal[1] & 7) - 1
            if t <= 9 or 16 <= t <= 21:
                first, lsb = _hevc.slice_header(nal, self.sps, self.pps)
                sub_layer_non_ref = t <= 14 and t % 2 == 0
                ref = tid == 0 and not sub_layer_non_ref and t not in (6, 7, 8, 9)
                return ("slice_first" if first else "slice_more", lsb, t, ref)
            if t in (_hevc.NAL_VPS, _hevc.NAL_SPS, _hevc.NAL_PPS, _hevc.NAL_AUD, _hevc.NAL_PREFIX_SEI):
                return ("start", 0, t, False)
            if t in (36, 37, 38, _hevc.NAL_SUFFIX_SEI):
                return ("other", 0, t, False)
            return None
        except (KeyError, SalvageError):
            return None

    def _key(self, t: int) -> bool:
        return t == _h264.NAL_IDR if self.codec == "h264" else 16 <= t <= 21

    def _resets(self, t: int) -> bool:
        return t == _h264.NAL_IDR if self.codec == "h264" else t in (_hevc.IDR_W_RADL, _hevc.IDR_N_LP, 16, 17, 18)

    # ---- one access unit --------------------------------------------------------------

    def access_unit(self, fd: int, pos: int, limit: int) -> AccessUnit | None | str:
        """The access unit starting at ``pos``; None if none starts there; "cut" if one
        starts there but the file ends inside it."""
        ls = self.length_size
        p = pos
        first: tuple[str, int, int, bool] | None = None
        delimited = False
        while p + ls < limit:
            head = os.pread(fd, ls + _HEADER_PEEK, p)
            length = int.from_bytes(head[:ls], "big")
            if length == 0 or length > self.max_nal:
                break
            info = self._classify(head[ls:], length)
            if info is None:
                break
            role = info[0]
            if first is not None and role in ("start", "slice_first"):
                break  # the next picture starts here
            if first is None and role == "slice_more":
                return None  # a picture's later slice cannot open an access unit
            if first is not None and role == "slice_more" and not self._same_picture(first, info):
                break  # not a slice of this picture: another track's bytes follow
            if p + ls + length > limit:
                return "cut"
            if first is None and role == "slice_first":
                first = info
            if p == pos:
                delimited = info[2] == (_h264.NAL_AUD if self.codec == "h264" else _hevc.NAL_AUD)
            p += ls + length
        if first is None:
            return None
        _, lsb, t, ref = first
        return AccessUnit(p - pos, self._key(t), lsb, ref, self._resets(t), delimited)

    def starts_here(self, fd: int, pos: int, limit: int) -> bool:
        """Whether the first NAL unit at ``pos`` could open an access unit (cheap check)."""
        ls = self.length_size
        if pos + ls >= limit:
            return False
        head = os.pread(fd, ls + _HEADER_PEEK, pos)
        length = int.from_bytes(head[:ls], "big")
        if length == 0 or length > self.max_nal:
            return False
        info = self._classify(head[ls:], length)
        return info is not None and info[0] in ("start", "slice_first")

    def _same_picture(self, first: tuple[str, int, int, bool], other: tuple[str, int, int, bool]) -> bool:
        """Whether a later slice belongs with the first: every slice of a picture has its
        NAL unit type, reference flag and (H.264) picture order count."""
        same_kind = other[2] == first[2] and other[3] == first[3]
        return same_kind and (self.codec == "hevc" or other[1] == first[1])

    def log2_max_poc_lsb(self) -> int:
        s = next(iter(self.sps.values()))
        return s.log2_max_poc_lsb if self.codec == "hevc" or s.poc_type == 0 else 0


def composition_offsets(units: list[AccessUnit], log2_max_lsb: int, frame_duration: int) -> tuple[np.ndarray, int]:
    """Composition offsets (timescale units) from the POCs of ``units`` in decode order.

    Presentation order is the POC order within each coded video sequence. Returns the
    offsets (all >= 0) and the shift applied (the decode delay, for the edit list).
    All zeros when no picture is reordered (or POCs are not transmitted).
    """
    n = len(units)
    if n == 0 or log2_max_lsb == 0:
        return np.zeros(n, np.int32), 0
    max_lsb = 1 << log2_max_lsb
    group = np.empty(n, np.int64)
    poc = np.empty(n, np.int64)
    prev_msb = prev_lsb = 0
    g = 0
    for i, u in enumerate(units):  # one step per frame, not per byte
        if u.resets:
            g += 1
            prev_msb = prev_lsb = 0
        lsb = u.poc_lsb
        if lsb < prev_lsb and prev_lsb - lsb >= max_lsb // 2:
            msb = prev_msb + max_lsb
        elif lsb > prev_lsb and lsb - prev_lsb > max_lsb // 2:
            msb = prev_msb - max_lsb
        else:
            msb = prev_msb
        group[i], poc[i] = g, msb + lsb
        if u.ref or u.resets:
            prev_msb, prev_lsb = msb, lsb
    order = np.lexsort((poc, group))  # presentation order -> decode index
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    delay = rank - np.arange(n)
    if not delay.any():
        return np.zeros(n, np.int32), 0
    shift = int(max(0, -delay.min()))
    return ((delay + shift) * frame_duration).astype(np.int32), shift * frame_duration


def with_composition_offsets(fd: int, track: Track) -> Track:
    """``track`` with composition offsets rebuilt from its samples' slice headers.

    For streams indexed without parsing (GoPro SOS records): when the pictures are
    reordered (B-frames), each sample's POC gives its presentation time. Unchanged when
    nothing is reordered or a sample does not parse.
    """
    from dataclasses import replace

    if track.sample_count == 0:
        return track
    try:
        parser = VideoParser(track)
    except SalvageError:
        return track
    uniq, counts = np.unique(track.durations, return_counts=True)
    duration = int(uniq[np.argmax(counts)])
    units: list[AccessUnit] = []
    # An encoder keeps its GOP structure for a whole recording: if the first few GOPs
    # show no reordering, the rest has none either, and the scan stays nearly free.
    for probe in (_REORDER_PROBE, track.sample_count):
        for offset, size in zip(track.offsets[len(units) : probe].tolist(), track.sizes[len(units) : probe].tolist()):
            unit = parser.access_unit(fd, offset, offset + size)
            if not isinstance(unit, AccessUnit):
                return track
            units.append(unit)
        comp, shift = composition_offsets(units, parser.log2_max_poc_lsb(), duration)
        if not comp.any():
            return track
    edits = tuple(replace(e, media_time=shift) for e in track.edits[:1]) or (Edit(0, shift),)
    return replace(track, composition_offsets=comp, edits=edits)
