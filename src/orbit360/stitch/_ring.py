"""The overlap ring: a strip of the sphere around the front lens' equator.

Both lenses of a dual-fisheye rig see the band of directions about 90° off the front
lens' axis (+z). Unrolled, that band is a thin strip in which both lenses are nearly
conformal, the seam is a horizontal line, and no pole gets in the way; calibration
matches features there and the seam finder searches its paths there.

Strip coordinates (x, y), pixel centres at i + 0.5, ``width`` columns around the ring:

- azimuth ``phi = x / width * 2 pi`` about +z, measured from +x towards +y;
- elevation ``eps = half * (1 - 2 y / rows)`` above the plane z = 0 (top row towards the
  front lens' axis, i.e. inside the front lens' own hemisphere);
- direction = (cos eps cos phi, cos eps sin phi, sin eps) in the rig frame.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..geometry import dirs_to_fisheye
from ..profile import LensProfile

if TYPE_CHECKING:
    from ..profile import RigProfile

__all__ = ["ring_dirs", "ring_point_dirs", "lens_project", "lens_unproject", "dirs_to_ring", "seam_samples"]


def ring_point_dirs(xy: NDArray[np.floating], width: int, rows: int, half_rad: float) -> NDArray[np.float64]:
    """Rig-frame directions (..., 3) of strip positions (..., 2) given as (x, y)."""
    p = np.asarray(xy, dtype=np.float64)
    phi = p[..., 0] / width * 2.0 * np.pi
    eps = half_rad * (1.0 - 2.0 * p[..., 1] / rows)
    c = np.cos(eps)
    return np.stack([c * np.cos(phi), c * np.sin(phi), np.sin(eps)], axis=-1)


def ring_dirs(width: int, rows: int, half_rad: float) -> NDArray[np.float64]:
    """Directions (rows, width, 3) of every strip pixel centre."""
    xs = np.arange(width) + 0.5
    ys = np.arange(rows) + 0.5
    gx, gy = np.meshgrid(xs, ys)
    return ring_point_dirs(np.stack([gx, gy], -1), width, rows, half_rad)


def dirs_to_ring(dirs: NDArray[np.floating], width: int, rows: int, half_rad: float) -> NDArray[np.float64]:
    """Strip positions (..., 2) as (x, y) of rig-frame directions (..., 3); x in [0, width)."""
    d = np.asarray(dirs, dtype=np.float64)
    phi = np.mod(np.arctan2(d[..., 1], d[..., 0]), 2.0 * np.pi)
    eps = np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1]))
    return np.stack([phi / (2.0 * np.pi) * width, (1.0 - eps / half_rad) * rows / 2.0], axis=-1)


def lens_project(
    lens: LensProfile, dirs: NDArray[np.floating], margin_px: float = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Frame positions (..., 2) (pixel centres at i + 0.5) of rig directions through ``lens``.

    Returns ``(xy, valid, r_norm)``: ``valid`` where the lens sees the direction at least
    ``margin_px`` inside its image circle; ``r_norm`` the radius over the circle radius.
    """
    local = lens.rotation().inverse(dirs)
    xy, valid = dirs_to_fisheye(local, lens.model(), lens.max_theta)
    r = np.hypot(xy[..., 0] - lens.center[0], xy[..., 1] - lens.center[1])
    valid = valid & (r <= lens.radius - margin_px)
    return xy, valid, r / lens.radius


def lens_unproject(
    xy: NDArray[np.floating], center: tuple[float, float], focal: float, k: tuple[float, float, float, float]
) -> NDArray[np.float64]:
    """Lens-local unit directions (..., 3) of frame positions (..., 2) (Kannala-Brandt)."""
    from ..geometry import undistort_theta

    p = np.asarray(xy, dtype=np.float64)
    dx = p[..., 0] - center[0]
    dy = center[1] - p[..., 1]
    r = np.hypot(dx, dy)
    theta = undistort_theta(r / focal, k)
    s = np.sin(theta) / np.where(r > 1e-12, r, 1.0)
    return np.stack([s * dx, s * dy, np.cos(theta)], axis=-1)


def seam_samples(
    rig: "RigProfile", width: int, margin_px: float = 2.0
) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]], NDArray[np.bool_]]:
    """Sample points along the geometric seam (both lenses equally far off axis, as the
    stitch's seam), a ring row either side, in a ring of ``width`` columns over the overlap:
    per lens their frame positions (rows, width, 2) and normalised radii (rows, width),
    and where both lenses see them at least ``margin_px`` inside their circles."""
    overlap = max(0.5, min(l.fov_deg for l in rig.lenses) - 180.0)
    half = math.radians(overlap / 2.0)
    rows = max(9, int(round(2.0 * half / (2.0 * math.pi / width))) | 1)
    dirs = ring_dirs(width, rows, half)
    xys, radii, thetas = [], [], []
    seen = np.ones((rows, width), bool)
    for lens in rig.lenses:
        xy, valid, r = lens_project(lens, dirs, margin_px=margin_px)
        xys.append(xy)
        radii.append(r)
        seen &= valid
        local = lens.rotation().inverse(dirs)
        thetas.append(np.arctan2(np.hypot(local[..., 0], local[..., 1]), local[..., 2]))
    geo = np.argmin(np.abs(thetas[0] - thetas[1]), axis=0)
    return xys, radii, seen & (np.abs(np.arange(rows)[:, None] - geo[None, :]) <= 1)
