"""Image quality figures used by tests, benchmarks and the demo."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["psnr", "band_rows"]


def band_rows(height: int, exclude_pole_deg: float = 30.0) -> slice:
    """Rows of an equirect image away from the poles (poles are oversampled, so excluded)."""
    cut = int(round(height * exclude_pole_deg / 180.0))
    return slice(cut, height - cut)


def psnr(a: NDArray[np.uint8], b: NDArray[np.uint8], *, rows: slice | None = None) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if rows is not None:
        a, b = a[rows], b[rows]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
