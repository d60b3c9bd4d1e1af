"""The vocabularies of recordings: what kind a recording is, and how its pictures are laid out.

``StrEnum`` members are their own strings: ``rec.kind == "pair"``, ``inspect --json`` and
every message read exactly as the plain strings did.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RecordingKind", "Layout"]


class RecordingKind(StrEnum):
    """What ``describe_recording`` found, which decides how ``open_rig`` opens it."""

    SIDE_BY_SIDE = "side-by-side"
    """One video track, both lens circles side by side in each frame."""
    PAIR = "pair"
    """One file per lens (GoPro Fusion GPFR/GPBK, Insta360 _00_/_10_)."""
    TWO_TRACKS = "two-tracks"
    """One file, one video track per lens."""
    GOPRO_MAX = "gopro-max"
    """GoPro MAX .360: an EAC cube split over two HEVC tracks."""
    EQUIRECT = "equirect"
    """Already stitched: nothing to do."""
    SINGLE_LENS = "single-lens"
    """One lens: not 360 footage (or one file of a pair whose partner is missing)."""
    NO_VIDEO = "no-video"
    UNKNOWN = "unknown"
    """Several video tracks in no known layout."""


class Layout(StrEnum):
    """The human-readable layout a recording (or photo) is described with. A recording's
    ``layout`` may add the files after it: ``"dual fisheye, front/back pair (A + B)"``."""

    SIDE_BY_SIDE = "dual fisheye, side by side"
    PAIR = "dual fisheye, front/back pair"
    TWO_TRACKS = "dual fisheye, one video track per lens"
    MAX_EAC = "EAC cube in two HEVC tracks (GoPro .360)"
    EQUIRECT = "equirectangular 360 (already stitched)"
    SINGLE = "single lens (not 360)"
    ONE_LENS_OF_PAIR = "one lens of a pair"
    PHOTO_PAIR = "dual fisheye photo, one JPEG per lens"
    PHOTO_SIDE_BY_SIDE = "dual fisheye photo, side by side"
    NO_VIDEO = "no video"
    UNKNOWN = "unknown"
