"""Whether a 2:1 frame holds two image circles or is already equirectangular, by content.

A dual-fisheye frame records (nearly) nothing outside its two image circles: the corners
of each half, beyond any circle a camera draws (circles cut by the frame edges included),
are dark. An equirectangular frame has scene there (the sky and the ground near the
poles). The aspect ratio says neither: both are 2:1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["has_image_circles"]

_CORNER = 1.25  # corners: farther from a half's centre than this times its inscribed radius
_UNLIT = 0.4  # corners under this fraction of the picture's level (90th percentiles) are unlit
_TOO_DARK = 32.0  # a picture whose 90th percentile is under this tells nothing


def has_image_circles(frame: NDArray[np.uint8]) -> bool | None:
    """True when the corners of both halves of a side-by-side ``frame`` (h, w, 3) are dark
    (two image circles), False when they hold a picture (equirect), None when the frame is
    too dark to tell."""
    gray = frame.max(axis=2) if frame.ndim == 3 else frame
    h, w = gray.shape
    half = w // 2
    r_in = min(half, h) / 2.0
    ys, xs = np.ogrid[0:h, 0:half]
    dist = np.hypot(xs + 0.5 - half / 2.0, ys + 0.5 - h / 2.0)
    corner, centre = dist > _CORNER * r_in, dist < 0.8 * r_in
    corners = [gray[:, k * half : (k + 1) * half][corner] for k in (0, 1)]
    inner = np.concatenate([gray[:, k * half : (k + 1) * half][centre] for k in (0, 1)])
    if not inner.size or not all(c.size for c in corners):
        return None  # a frame of a few pixels has no corners to read
    level = float(np.percentile(inner, 90))
    if level < _TOO_DARK:
        return None
    # (measured: real dual-fisheye corners 0.01-0.2 of the level, stray light off a GoPro
    # Fusion's barrel included; equirect frames 0.9-1.0)
    return all(float(np.percentile(c, 90)) < _UNLIT * level for c in corners)
