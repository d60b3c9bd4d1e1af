"""The sRGB transfer (IEC 61966-2-1): encoded values <-> linear light.

The one home of the curve's constants (the 0.04045 / 0.0031308 toe, 12.92, 0.055, 2.4):
the stitcher's response curve (``stitch._response``), its gain tables (``stitch.gains``)
and calibration's half-light radius (``stitch.calibrate``) all call these.

The functions compute in the dtype they are given (float32 in, float32 out; float64 in,
float64 out), so a caller keeps control of precision and the tables built from them stay
bit-for-bit what they were.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["SRGB_GAMMA", "SRGB_OFFSET", "srgb_to_linear", "linear_to_srgb", "SRGB_DECODE_LUT"]

SRGB_GAMMA = 2.4
"""The exponent of sRGB's power segment."""
SRGB_OFFSET = 0.055
"""The offset of sRGB's power segment: linear = ((v + 0.055) / 1.055) ** 2.4 above the toe."""


def srgb_to_linear(v: NDArray[np.floating]) -> NDArray[np.floating]:
    """Linear light of sRGB-encoded values ``v`` (1.0 = white), in ``v``'s dtype; values
    above 1 follow the power segment, values under the toe (negatives too) the linear one."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: NDArray[np.floating]) -> NDArray[np.floating]:
    """sRGB-encoded values of linear light ``lin`` (the inverse of ``srgb_to_linear``), in
    ``lin``'s dtype; not clipped (callers clip where they need [0, 1])."""
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)


def _decode_lut() -> NDArray[np.float32]:
    lut = srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
    lut.flags.writeable = False  # shared by every user: nobody may change it under the others
    return lut


SRGB_DECODE_LUT = _decode_lut()
"""``SRGB_DECODE_LUT[v]``: linear light of 8-bit sRGB code value v (0..255), float32 (read-only)."""
