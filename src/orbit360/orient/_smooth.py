"""Low-pass an orientation track: keep intended turns, remove shake.

The track is made sign-continuous, extended at both ends by the straight-line motion
fitted to the end's first 4 sigma of samples (a least-squares line in rotation-vector
space, so a steady pan continues through the edge and the shake there averages out
instead of being pinned as a mirror would pin it), Gaussian-filtered component by
component and renormalised. For rotation about one axis at a steady rate the components are
sinusoids that the filter scales alike, so normalising gives the pan back exactly; a
shake at f Hz is scaled by exp(-(2π f σ)² / 2): 3e-9 at 5 Hz with σ = 0.25 s, 0.98 at
0.1 Hz.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter1d

from ..geometry.quaternions import continuous, from_rotvec, qconj, qmul, qnormalize, to_rotvec

__all__ = ["smooth_quaternions", "local_linear_lowpass", "DEFAULT_SMOOTHING_S"]

DEFAULT_SMOOTHING_S = 0.25
"""Gaussian sigma in seconds: removes walking bob (2 Hz: x0.007) and any faster shake."""


def smooth_quaternions(q: ArrayLike, rate_hz: float, sigma_s: float = DEFAULT_SMOOTHING_S) -> NDArray[np.float64]:
    """Smoothed copy of the (N, 4) track ``q`` sampled uniformly at ``rate_hz``."""
    q = continuous(qnormalize(q))
    n = q.shape[0]
    sigma = sigma_s * rate_hz
    if n < 3 or sigma <= 0:
        return q.copy()
    pad = int(np.ceil(4 * sigma))
    left = _extrapolate(q, pad, span=int(min(n, max(3, pad))))
    right = _extrapolate(q[::-1], pad, span=int(min(n, max(3, pad))))[::-1]
    padded = continuous(np.concatenate([left, q, right]))
    # Beyond the extrapolated span, hold the end values (only when N < 4 sigma).
    filtered = qnormalize(gaussian_filter1d(padded, sigma, axis=0, mode="nearest", truncate=4.0))
    # Averaging quaternions along a curved path (yaw and pitch together) pulls the
    # result inside the curve. That bias is slow, the shake is not: low-pass what is
    # left between the (padded) input and the result, and move the result by it.
    left_over = gaussian_filter1d(to_rotvec(qmul(qconj(filtered), padded)), sigma, axis=0, mode="nearest", truncate=4.0)
    out = qnormalize(qmul(filtered, from_rotvec(left_over))[pad : pad + n])
    # Keep the sign of the input so callers can compare rows directly.
    return np.where(np.sum(out * q, axis=-1, keepdims=True) < 0, -out, out)


def _extrapolate(q: NDArray[np.float64], pad: int, span: int) -> NDArray[np.float64]:
    """``pad`` samples before ``q[0]`` continuing the line fitted to ``q[:span]``."""
    anchor = q[span // 2]
    r = to_rotvec(qmul(qconj(anchor), q[:span]))  # small angles around the anchor
    j = np.arange(span, dtype=np.float64)
    slope, offset = np.polyfit(j, r, 1)  # one vectorised fit for the three components
    before = np.arange(-pad, 0, dtype=np.float64)
    return qmul(anchor, from_rotvec(offset + before[:, None] * slope))


def local_linear_lowpass(y: ArrayLike, sigma: float) -> NDArray[np.float64]:
    """Gaussian-weighted local *linear* fit of each column of ``y`` (uniform samples),
    evaluated at every sample. Unlike a plain Gaussian, a steady trend passes unchanged
    up to the ends (no lag where the window is cut off). Vectorised: five filtered
    moments and a closed-form 2x2 solve per sample."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    n = y.shape[0]
    if n < 3 or sigma <= 0:
        return y.copy()
    j = (np.arange(n, dtype=np.float64) - n / 2)[:, None] / max(sigma, 1.0)  # scaled for conditioning

    def g(a: NDArray[np.float64]) -> NDArray[np.float64]:
        return gaussian_filter1d(a, sigma, axis=0, mode="constant", cval=0.0, truncate=4.0)

    s0, s1, s2 = g(np.ones((n, 1))), g(j), g(j * j)
    sy, sjy = g(y), g(j * y)
    det = s0 * s2 - s1 * s1
    slope = np.where(det > 1e-12, (s0 * sjy - s1 * sy) / np.where(det > 1e-12, det, 1.0), 0.0)
    intercept = (sy - slope * s1) / s0
    return intercept + slope * j
