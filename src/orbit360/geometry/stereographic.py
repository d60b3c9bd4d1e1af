"""Stereographic projection, the "little planet": pixel positions <-> unit directions.

Camera frame: +x right, +y up, +z forward (the image centre); pixel coordinates as in
``rectilinear`` (x right, y down, pixel i's centre at i + 0.5). A direction at angle
``theta`` from +z lands at radius ``r = 2 f tan(theta / 2)`` from the centre, so the
whole sphere but the point behind (-z) fits in the plane, and circles stay circles.
With the camera looking straight down (pitch -90), the ground becomes a small planet in
the middle and the sky wraps around it.

``fov_deg`` is the angle spanned across the full width (0 < fov < 360; 270 to 300 makes
a typical planet): ``f = (width / 2) / (2 tan(fov / 4))``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._types import SizeLike
from .rectilinear import centred_pixel_grid

__all__ = ["stereographic_to_dirs", "dirs_to_stereographic", "stereographic_focal", "stereographic_grid_rays"]


# Positions within this many pixels of the image border count as inside (rounding).
_EDGE = 1e-6


def stereographic_focal(width: int, fov_deg: float) -> float:
    """Focal length in pixels for a full-width FOV in degrees, 0 < fov_deg < 360."""
    if not 0.0 < fov_deg < 360.0:
        raise ValueError(f"stereographic FOV must be in (0, 360) degrees, got {fov_deg}")
    return (width / 2.0) / (2.0 * float(np.tan(np.radians(fov_deg) / 4.0)))


def stereographic_grid_rays(size: SizeLike, fov_deg: float) -> NDArray[np.float32]:
    """Camera rays (h, w, 3) float32 through every pixel centre, NOT normalised.

    With offsets (px, py) from the centre in pixels and rho^2 = px^2 + py^2, the ray
    ``(px, py, f - rho^2 / (4 f))`` is ``stereographic_to_dirs`` times the positive factor
    f (4 + r^2) / 4, so it points the same way (cheap: no division per pixel).
    """
    w, h = size
    f = np.float32(stereographic_focal(w, fov_deg))
    px, py = centred_pixel_grid(size)
    rays = np.empty((h, w, 3), dtype=np.float32)
    rays[..., 0] = px
    rays[..., 1] = py
    rays[..., 2] = f - (px * px + py * py) / (np.float32(4.0) * f)
    return rays


def stereographic_to_dirs(xy: ArrayLike, size: SizeLike, fov_deg: float) -> NDArray[np.float64]:
    """Unit directions (..., 3) in the camera frame of pixel positions (..., 2) as (x, y)."""
    w, h = size
    f = stereographic_focal(w, fov_deg)
    p = np.asarray(xy, dtype=np.float64)
    px = (p[..., 0] - w / 2.0) / f
    py = (h / 2.0 - p[..., 1]) / f
    r2 = px * px + py * py
    # Inverse of (x, y) = 2 (dx, dy) / (1 + dz), exact for unit vectors.
    return np.stack([4.0 * px, 4.0 * py, 4.0 - r2], axis=-1) / (4.0 + r2)[..., None]


def dirs_to_stereographic(
    dirs: ArrayLike, size: SizeLike, fov_deg: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Pixel positions (..., 2) as (x, y) of camera-frame directions (..., 3).

    Returns ``(xy, valid)``: ``valid`` is true where the position lies inside the image (borders included);
    the point straight behind (-z), which maps to infinity, is NaN and invalid.
    """
    w, h = size
    f = stereographic_focal(w, fov_deg)
    d = np.asarray(dirs, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    denom = 1.0 + d[..., 2]
    finite = denom > 1e-12
    scale = np.where(finite, 2.0 / np.where(finite, denom, 1.0), np.nan)
    x = w / 2.0 + f * d[..., 0] * scale
    y = h / 2.0 - f * d[..., 1] * scale
    with np.errstate(invalid="ignore"):
        valid = finite & (x >= -_EDGE) & (x <= w + _EDGE) & (y >= -_EDGE) & (y <= h + _EDGE)
    return np.stack([x, y], axis=-1), valid
