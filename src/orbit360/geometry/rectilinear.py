"""Rectilinear (pinhole) projection: flat-view pixel positions <-> unit directions.

Camera frame: +x right, +y up, +z forward (the view's centre). Pixel coordinates (x, y)
with x in [0, width), y in [0, height) growing downwards; pixel i's centre is at i + 0.5,
so the optical centre is (width / 2, height / 2). ``fov_deg`` is the horizontal field of
view in degrees across the full width (0 < fov < 180); pixels are square, so the
vertical FOV follows from the aspect ratio. Focal length ``f = (width / 2) / tan(fov / 2)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._types import SizeLike

__all__ = ["rectilinear_to_dirs", "dirs_to_rectilinear", "rectilinear_focal", "rectilinear_grid_rays", "pixel_centres", "centred_pixel_grid"]


# Positions within this many pixels of the image border count as inside (rounding).
_EDGE = 1e-6


def rectilinear_focal(width: int, fov_deg: float) -> float:
    """Focal length in pixels for a horizontal FOV in degrees, 0 < fov_deg < 180."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"rectilinear FOV must be in (0, 180) degrees, got {fov_deg}")
    return (width / 2.0) / float(np.tan(np.radians(fov_deg) / 2.0))


def pixel_centres(size: SizeLike) -> NDArray[np.float64]:
    """(height, width, 2) array of every pixel centre as (x, y), i.e. (i + 0.5, j + 0.5)."""
    w, h = size
    xs = np.arange(w, dtype=np.float64) + 0.5
    ys = np.arange(h, dtype=np.float64) + 0.5
    out = np.empty((h, w, 2), dtype=np.float64)
    out[..., 0] = xs[None, :]
    out[..., 1] = ys[:, None]
    return out


def centred_pixel_grid(size: SizeLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Pixel-centre offsets from the image centre, +x right and +y up: (1, w) and (h, 1) float32."""
    w, h = size
    px = (np.arange(w, dtype=np.float32) + np.float32(0.5)) - np.float32(w / 2.0)
    py = np.float32(h / 2.0) - (np.arange(h, dtype=np.float32) + np.float32(0.5))
    return px[None, :], py[:, None]


def rectilinear_grid_rays(size: SizeLike, fov_deg: float) -> NDArray[np.float32]:
    """Camera rays (h, w, 3) float32 through every pixel centre, NOT normalised.

    Each is ``(x - w/2, h/2 - y, f)``: parallel to ``rectilinear_to_dirs`` of that pixel,
    which is all a longitude/latitude lookup needs, and far cheaper per frame when the FOV
    changes (no per-pixel square roots).
    """
    w, h = size
    px, py = centred_pixel_grid(size)
    rays = np.empty((h, w, 3), dtype=np.float32)
    rays[..., 0] = px
    rays[..., 1] = py
    rays[..., 2] = np.float32(rectilinear_focal(w, fov_deg))
    return rays


def rectilinear_to_dirs(xy: ArrayLike, size: SizeLike, fov_deg: float) -> NDArray[np.float64]:
    """Unit directions (..., 3) in the camera frame of flat-view pixel positions (..., 2) as (x, y)."""
    w, h = size
    f = rectilinear_focal(w, fov_deg)
    p = np.asarray(xy, dtype=np.float64)
    d = np.stack([(p[..., 0] - w / 2.0) / f, (h / 2.0 - p[..., 1]) / f, np.ones(p.shape[:-1])], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def dirs_to_rectilinear(
    dirs: ArrayLike, size: SizeLike, fov_deg: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Flat-view pixel positions (..., 2) as (x, y) of camera-frame directions (..., 3).

    Returns ``(xy, valid)``: ``valid`` is true where the direction is in front of the
    camera (z > 0) and lands inside the image (borders included); elsewhere ``xy`` is NaN.
    """
    w, h = size
    f = rectilinear_focal(w, fov_deg)
    d = np.asarray(dirs, dtype=np.float64)
    z = d[..., 2]
    in_front = z > 1e-12
    safe_z = np.where(in_front, z, 1.0)
    x = np.where(in_front, w / 2.0 + f * d[..., 0] / safe_z, np.nan)
    y = np.where(in_front, h / 2.0 - f * d[..., 1] / safe_z, np.nan)
    with np.errstate(invalid="ignore"):
        valid = in_front & (x >= -_EDGE) & (x <= w + _EDGE) & (y >= -_EDGE) & (y <= h + _EDGE)
    return np.stack([x, y], axis=-1), valid
