"""Sampling the whole sphere."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["fibonacci_dirs"]


def fibonacci_dirs(n: int) -> NDArray[np.float64]:
    """``n`` near-uniform unit directions (n, 3) (Fibonacci sphere): equal area each."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], -1)
