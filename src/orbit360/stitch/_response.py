"""The camera's response curve (code value ↔ linear light) and the highlight roll-off of
the compensation.

Real cameras do not all write sRGB: flat and log profiles lift the blacks and spread the
mid-tones. The rig stores a gamma-plus-offset curve shared by both lenses,
``RigProfile.response = (gamma, offset)``: for a code value v in [0, 1]

    u(v) = (v + offset) / (1 + offset),   linear light = u ** gamma

(black is not zero light for a positive offset: u is affine in code values everywhere,
which is what the compensation relies on). A negative offset is a raised black level
(codes under -offset are black); a small positive one is gamma-like; a large one is
log-like (ln u is nearly linear in v: a flat or log profile). ``(2.4, 0.055)``, the
default, is sRGB itself (its own toe, kept exactly, so older profiles stitch as before).

The stitcher works in u: a linear-light gain g multiplies u by g ** (1 / gamma), and u is
affine in code values above the toe, which the YUV path relies on (``_yuv``). Two
exposures of one scene only tell the curve's shape apart from a power of it (the
"exponential ambiguity": u ** gamma and a gain g give the same codes as u ** (k gamma) and
g ** k), so calibration fits the offset and keeps the gamma of the prior: the stitch, which
only ever needs g ** (1 / gamma), is the same for any gamma.

**Roll-off.** A gain above 1 (the darker lens brought up to the reference, the rim brought
up by the vignetting model) would push bright unclipped pixels to 255. ``rolloff`` maps u
in [0, headroom] onto [0, 1]: the identity up to a knee, then a smooth shoulder that
reaches 1 exactly at ``headroom`` (the largest u any pixel can reach after its gain), so
nothing that was not clipped ends clipped, and both lenses share the curve (no step
where they meet). With no gain above 1 the headroom is 1 and nothing changes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..colour import linear_to_srgb, srgb_to_linear

__all__ = ["SRGB_RESPONSE", "is_srgb", "code_to_u", "u_to_code", "rolloff", "knee_of", "check_response"]

SRGB_RESPONSE = (2.4, 0.055)
"""The default response: sRGB (gamma 2.4 and offset 0.055, with sRGB's own toe)."""

OFFSET_RANGE = (-0.15, 8.0)
"""Offsets the stitcher supports (the YUV path needs 16 - 219 * offset > 0 in luma)."""


def is_srgb(response: tuple[float, float]) -> bool:
    return abs(response[0] - SRGB_RESPONSE[0]) < 1e-9 and abs(response[1] - SRGB_RESPONSE[1]) < 1e-9


def check_response(response: tuple[float, float]) -> tuple[float, float]:
    """``response`` as floats; ValueError when outside what the stitcher supports."""
    gamma, offset = float(response[0]), float(response[1])
    if not (1.0 <= gamma <= 8.0 and OFFSET_RANGE[0] <= offset <= OFFSET_RANGE[1]):
        raise ValueError(f"response (gamma, offset) must lie in [1, 8] x [{OFFSET_RANGE[0]}, {OFFSET_RANGE[1]}], got {response!r}")
    return gamma, offset


def code_to_u(v: NDArray[np.floating] | float, response: tuple[float, float]) -> NDArray[np.float64]:
    """u of normalised code values ``v`` (1.0 = code 255; continued above 1, 0 below black)."""
    gamma, o = response
    v = np.asarray(v, np.float64)
    if is_srgb(response):
        return np.power(srgb_to_linear(np.maximum(v, 0.0)), 1.0 / 2.4)
    return np.maximum(v + o, 0.0) / (1.0 + o)


def u_to_code(u: NDArray[np.floating] | float, response: tuple[float, float]) -> NDArray[np.float64]:
    """Normalised code values of u (inverse of ``code_to_u``)."""
    gamma, o = response
    u = np.maximum(np.asarray(u, np.float64), 0.0)
    if is_srgb(response):
        return linear_to_srgb(u**2.4)
    return np.maximum(u * (1.0 + o) - o, 0.0)


def knee_of(headroom: float) -> float:
    """Where the shoulder starts (u) for a given headroom: higher when less is needed."""
    return max(0.75, 1.0 - 0.4 * (headroom - 1.0))


def rolloff(u: NDArray[np.floating], headroom: float) -> NDArray[np.float64]:
    """u in [0, headroom] onto [0, 1]: identity up to ``knee_of(headroom)``, then a shoulder
    ``knee + (1 - knee) (1 - exp(-a t)) / (1 - exp(-a))`` over t in [0, 1], its slope
    continuous at the knee, reaching 1 at ``headroom``; 1 beyond."""
    u = np.asarray(u, np.float64)
    if headroom <= 1.0 + 1e-9:
        return np.minimum(u, 1.0)
    k = knee_of(headroom)
    m = (headroom - k) / (1.0 - k)  # the slope the shoulder starts with, in its own units
    # a / (1 - exp(-a)) = m, solved by bisection (increasing in a)
    lo, hi = 1e-9, 2.0 * m + 2.0
    for _ in range(80):
        a = 0.5 * (lo + hi)
        if a / -math.expm1(-a) < m:
            lo = a
        else:
            hi = a
    t = np.clip((u - k) / (headroom - k), 0.0, 1.0)
    shoulder = k + (1.0 - k) * -np.expm1(-a * t) / -math.expm1(-a)
    return np.where(u <= k, u, shoulder)
