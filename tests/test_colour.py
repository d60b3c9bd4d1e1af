"""The sRGB transfer's one home (``orbit360.colour``) against the standard's figures."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.colour import SRGB_DECODE_LUT, linear_to_srgb, srgb_to_linear


def test_transfer_matches_the_standard_and_inverts() -> None:
    # IEC 61966-2-1 reference points: mid-grey code 0.5 is 21.4% linear light; the toe
    # meets the power segment at v = 0.04045 (linear 0.0031308) without a visible step.
    assert float(srgb_to_linear(np.float64(0.5))) == pytest.approx(0.214041, abs=1e-6)
    assert float(linear_to_srgb(np.float64(0.18))) == pytest.approx(0.461356, abs=1e-6)
    toe = np.array([0.04045 - 1e-9, 0.04045 + 1e-9])
    assert np.ptp(srgb_to_linear(toe)) < 1e-8  # the standard's own step there is 2.5e-9
    v = np.linspace(-0.1, 1.3, 1401)
    with np.errstate(invalid="ignore"):  # np.where also evaluates the power branch on the negatives
        assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-12)
        assert np.all(np.diff(srgb_to_linear(v)) > 0)


def test_dtype_is_kept_and_the_table_is_the_curve() -> None:
    assert srgb_to_linear(np.linspace(0, 1, 5, dtype=np.float32)).dtype == np.float32
    assert linear_to_srgb(np.linspace(0, 1, 5)).dtype == np.float64
    assert SRGB_DECODE_LUT.dtype == np.float32 and SRGB_DECODE_LUT.shape == (256,)
    assert SRGB_DECODE_LUT[0] == 0.0 and SRGB_DECODE_LUT[255] == 1.0
    assert np.array_equal(SRGB_DECODE_LUT, srgb_to_linear(np.arange(256) / 255.0).astype(np.float32))
    with pytest.raises(ValueError):
        SRGB_DECODE_LUT[0] = 1.0  # shared: read-only
