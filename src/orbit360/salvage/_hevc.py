"""HEVC (H.265) headers: SPS fields, hvcC, slice-header POC.

As for H.264, only what rebuilding an index needs: the sample entry's configuration
record and the picture order count of each picture.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ._bits import BitReader, picture_size, unescape_rbsp

__all__ = ["HevcSps", "HevcPps", "parse_sps", "parse_pps", "slice_header", "hvcc_payload", "nal_type"]

NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD, NAL_PREFIX_SEI, NAL_SUFFIX_SEI = 32, 33, 34, 35, 39, 40
IDR_W_RADL, IDR_N_LP, CRA = 19, 20, 21


def nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


@dataclass(frozen=True, slots=True)
class HevcSps:
    sps_id: int
    max_sub_layers: int
    temporal_id_nesting: bool
    profile_tier_level: bytes
    """The 12 bytes of general_profile_space .. general_level_idc, as in hvcC."""
    chroma_format_idc: int
    separate_colour_plane: bool
    width: int
    height: int
    bit_depth_luma: int
    bit_depth_chroma: int
    log2_max_poc_lsb: int


@dataclass(frozen=True, slots=True)
class HevcPps:
    pps_id: int
    sps_id: int
    dependent_slice_segments_enabled: bool
    output_flag_present: bool
    num_extra_slice_header_bits: int


def parse_sps(nal: bytes) -> HevcSps:
    """Parse an SPS NAL unit (2-byte header included). Raises SalvageError if cut short."""
    r = BitReader(unescape_rbsp(nal[2:256]))
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers = r.u(3) + 1
    nesting = r.flag()
    ptl = r.u(96)  # general profile_tier_level: 2+1+5+32+48+8 bits, copied into hvcC
    present = [(r.flag(), r.flag()) for _ in range(max_sub_layers - 1)]
    if max_sub_layers > 1:
        r.skip(2 * (8 - (max_sub_layers - 1)))
    for profile_present, level_present in present:
        r.skip(88 * profile_present + 8 * level_present)
    sps_id = r.ue()
    chroma = r.ue()
    separate = r.flag() if chroma == 3 else False
    width, height = r.ue(), r.ue()
    if r.flag():  # conformance_window
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = 2 if chroma == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    width, height = picture_size(width, height)
    depth_l, depth_c = r.ue() + 8, r.ue() + 8
    log2_max_poc_lsb = r.ue() + 4
    return HevcSps(
        sps_id, max_sub_layers, nesting, ptl.to_bytes(12, "big"), chroma, separate,
        width, height, depth_l, depth_c, log2_max_poc_lsb,
    )


def parse_pps(nal: bytes) -> HevcPps:
    r = BitReader(unescape_rbsp(nal[2:64]))
    pps_id, sps_id = r.ue(), r.ue()
    return HevcPps(pps_id, sps_id, r.flag(), r.flag(), r.u(3))


def slice_header(nal: bytes, sps_by_id: dict[int, HevcSps], pps_by_id: dict[int, HevcPps]) -> tuple[bool, int]:
    """(first_slice_segment_in_pic, slice_pic_order_cnt_lsb) of a slice NAL unit.

    The lsb is 0 for IDR pictures, which carry none.
    """
    kind = nal_type(nal)
    r = BitReader(unescape_rbsp(nal[2:64]))
    first = r.flag()
    if 16 <= kind <= 23:
        r.skip(1)  # no_output_of_prior_pics
    pps = pps_by_id[r.ue()]
    sps = sps_by_id[pps.sps_id]
    if not first:
        return False, 0  # later slices of a picture repeat the first one's POC
    r.skip(pps.num_extra_slice_header_bits)
    r.ue()  # slice_type
    if pps.output_flag_present:
        r.skip(1)
    if sps.separate_colour_plane:
        r.skip(2)
    if kind in (IDR_W_RADL, IDR_N_LP):
        return True, 0
    return True, r.u(sps.log2_max_poc_lsb)


def hvcc_payload(vps: Sequence[bytes], sps: Sequence[bytes], pps: Sequence[bytes], sei: Sequence[bytes] = ()) -> bytes:
    """An ``hvcC`` payload (HEVCDecoderConfigurationRecord) with 4-byte NAL lengths."""
    info = parse_sps(sps[0])
    out = bytes([1]) + info.profile_tier_level
    out += struct.pack(
        ">HBBBBHB",
        0xF000,  # reserved + min_spatial_segmentation_idc 0
        0xFC,  # reserved + parallelismType 0
        0xFC | info.chroma_format_idc,
        0xF8 | (info.bit_depth_luma - 8),
        0xF8 | (info.bit_depth_chroma - 8),
        0,  # avgFrameRate unknown
        (info.max_sub_layers << 3) | (int(info.temporal_id_nesting) << 2) | 3,
    )
    arrays = [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps), (NAL_PREFIX_SEI, list(sei))]
    arrays = [(t, nals) for t, nals in arrays if nals]
    out += bytes([len(arrays)])
    for kind, nals in arrays:
        out += struct.pack(">BH", 0x80 | kind, len(nals))  # array_completeness = 1
        out += b"".join(struct.pack(">H", len(n)) + n for n in nals)
    return out
