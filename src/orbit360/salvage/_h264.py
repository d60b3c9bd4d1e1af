"""H.264 (AVC) headers: SPS/PPS fields salvage needs, slice-header POC, avcC.

Only what rebuilding an index requires: the coded size and frame rate (sample entry),
and enough of each slice header to compute picture order counts, from which the
composition offsets of a stream with B-frames are rebuilt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ._bits import BitReader, picture_size, unescape_rbsp

__all__ = ["H264Sps", "H264Pps", "parse_sps", "parse_pps", "slice_poc_lsb", "avcc_payload", "nal_type"]

# profile_idc values whose SPS carries chroma format and bit depth fields
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

NAL_SLICE, NAL_IDR, NAL_SEI, NAL_SPS, NAL_PPS, NAL_AUD = 1, 5, 6, 7, 8, 9


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


@dataclass(frozen=True, slots=True)
class H264Sps:
    profile_idc: int
    constraint_flags: int
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    separate_colour_plane: bool
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    frame_mbs_only: bool
    width: int
    height: int
    num_units_in_tick: int = 0
    time_scale: int = 0

    @property
    def frame_rate(self) -> float | None:
        """Frames per second from the VUI timing info (None when absent)."""
        if self.num_units_in_tick and self.time_scale:
            return self.time_scale / (2 * self.num_units_in_tick)
        return None


@dataclass(frozen=True, slots=True)
class H264Pps:
    pps_id: int
    sps_id: int
    bottom_field_pic_order_in_frame_present: bool


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def parse_sps(nal: bytes) -> H264Sps:
    """Parse an SPS NAL unit (header byte included). Raises SalvageError if cut short."""
    r = BitReader(unescape_rbsp(nal[1:]))
    profile, constraints, level = r.u(8), r.u(8), r.u(8)
    sps_id = r.ue()
    chroma, depth_l, depth_c, separate = 1, 8, 8, False
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            separate = r.flag()
        depth_l, depth_c = r.ue() + 8, r.ue() + 8
        r.skip(1)  # qpprime_y_zero_transform_bypass
        if r.flag():  # seq_scaling_matrix_present
            for i in range(8 if chroma != 3 else 12):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    log2_max_frame_num = r.ue() + 4
    poc_type = r.ue()
    log2_max_poc_lsb = 0
    if poc_type == 0:
        log2_max_poc_lsb = r.ue() + 4
    elif poc_type == 1:
        r.skip(1)
        r.se()
        r.se()
        for _ in range(min(r.ue(), 255)):
            r.se()
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_allowed
    width_mbs, height_units = r.ue() + 1, r.ue() + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.skip(1)
    r.skip(1)  # direct_8x8_inference
    crop = (0, 0, 0, 0)
    if r.flag():
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    sub_w = 1 if chroma in (0, 3) else 2
    sub_h = 2 if chroma == 1 else 1
    frame_h_mul = 2 - int(frame_mbs_only)
    width = width_mbs * 16 - sub_w * (crop[0] + crop[1])
    height = height_units * 16 * frame_h_mul - sub_h * frame_h_mul * (crop[2] + crop[3])
    width, height = picture_size(width, height)
    units = scale = 0
    if r.bits_left > 0 and r.flag():  # vui_parameters_present
        if r.flag():  # aspect_ratio_info_present
            if r.u(8) == 255:
                r.skip(32)
        if r.flag():  # overscan_info_present
            r.skip(1)
        if r.flag():  # video_signal_type_present
            r.skip(4)
            if r.flag():
                r.skip(24)
        if r.flag():  # chroma_loc_info_present
            r.ue()
            r.ue()
        if r.flag():  # timing_info_present
            units, scale = r.u(32), r.u(32)
    return H264Sps(
        profile, constraints, level, sps_id, chroma, depth_l, depth_c, separate,
        log2_max_frame_num, poc_type, log2_max_poc_lsb, frame_mbs_only, width, height, units, scale,
    )


def parse_pps(nal: bytes) -> H264Pps:
    r = BitReader(unescape_rbsp(nal[1:64]))
    pps_id, sps_id = r.ue(), r.ue()
    r.skip(1)  # entropy_coding_mode
    return H264Pps(pps_id, sps_id, r.flag())


def slice_poc_lsb(nal: bytes, sps_by_id: dict[int, H264Sps], pps_by_id: dict[int, H264Pps]) -> tuple[int, int, int]:
    """(first_mb_in_slice, pic_order_cnt_lsb, frame_num) from a slice NAL unit's header."""
    r = BitReader(unescape_rbsp(nal[1:48]))
    first_mb = r.ue()
    r.ue()  # slice_type
    pps = pps_by_id[r.ue()]
    sps = sps_by_id[pps.sps_id]
    if sps.separate_colour_plane:
        r.skip(2)
    frame_num = r.u(sps.log2_max_frame_num)
    if not sps.frame_mbs_only and r.flag():
        r.skip(1)
    if nal_type(nal) == NAL_IDR:
        r.ue()
    lsb = r.u(sps.log2_max_poc_lsb) if sps.poc_type == 0 else 0
    return first_mb, lsb, frame_num


def avcc_payload(sps_list: list[bytes], pps_list: list[bytes]) -> bytes:
    """An ``avcC`` payload (AVCDecoderConfigurationRecord) with 4-byte NAL lengths.

    The optional high-profile tail (chroma format, bit depths) is left out, as the
    cameras we checked do; decoders read those from the SPS itself.
    """
    sps0 = sps_list[0]
    out = struct.pack(">BBBBBB", 1, sps0[1], sps0[2], sps0[3], 0xFF, 0xE0 | len(sps_list))
    out += b"".join(struct.pack(">H", len(s)) + s for s in sps_list)
    out += struct.pack(">B", len(pps_list)) + b"".join(struct.pack(">H", len(p)) + p for p in pps_list)
    return out
