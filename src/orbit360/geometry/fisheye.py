"""Fisheye lens model: the OpenCV fisheye / Kannala-Brandt polynomial.

Lens-local frame: +x right, +y up, +z along the optical axis. Image coordinates (x, y)
with y pointing down, pixel centres at i + 0.5. A direction at angle ``theta`` from the
optical axis lands at radius ``r = focal * theta_d`` from the centre, where::

    theta_d = theta * (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)

With k = 0 this is the ideal equidistant fisheye (r = focal * theta). Published lens
profiles (OpenCV ``cv2.fisheye``, Gyroflow) use this form, with ``focal`` = fx = fy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FisheyeModel", "dirs_to_fisheye", "project_fisheye", "fisheye_to_dirs", "distort_theta", "undistort_theta"]


@dataclass(frozen=True)
class FisheyeModel:
    """Intrinsics of one fisheye lens: centre (cx, cy) and focal length in pixels, k1..k4."""

    cx: float
    cy: float
    focal: float
    k: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))


def distort_theta(theta: ArrayLike, k: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """theta_d of incidence angles ``theta`` (radians)."""
    t = np.asarray(theta, dtype=np.float64)
    t2 = t * t
    return t * (1.0 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))


def undistort_theta(theta_d: ArrayLike, k: tuple[float, float, float, float], iterations: int = 8) -> NDArray[np.float64]:
    """Invert ``distort_theta`` by Newton's method (vectorised; exact for k = 0)."""
    td = np.asarray(theta_d, dtype=np.float64)
    if not any(k):
        return td.copy()
    t = td.copy()
    for _ in range(iterations):
        t2 = t * t
        f = t * (1.0 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3])))) - td
        df = 1.0 + t2 * (3 * k[0] + t2 * (5 * k[1] + t2 * (7 * k[2] + t2 * 9 * k[3])))
        t = t - f / np.where(np.abs(df) < 1e-9, 1e-9, df)
    return t


def dirs_to_fisheye(
    dirs: ArrayLike, model: FisheyeModel, max_theta: float = np.pi
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Image positions (..., 2) of lens-local directions (..., 3), and where they are visible.

    ``valid`` is False for directions more than ``max_theta`` radians off the optical axis.
    """
    xy, theta = project_fisheye(dirs, model)
    return xy, theta <= max_theta


def project_fisheye(dirs: ArrayLike, model: FisheyeModel) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Image positions (..., 2) of lens-local directions (..., 3), and their angles off the
    optical axis (radians): ``dirs_to_fisheye`` for callers that need the angle too."""
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    rho = np.hypot(x, y)
    theta = np.arctan2(rho, z)
    # radius over rho (0 on the axis, where x = y = 0 anyway)
    k = model.focal * distort_theta(theta, model.k) / np.where(rho > 1e-12, rho, np.inf)
    xy = np.empty(d.shape[:-1] + (2,), np.float64)
    np.multiply(x, k, out=xy[..., 0])
    xy[..., 0] += model.cx
    np.multiply(y, -k, out=xy[..., 1])
    xy[..., 1] += model.cy
    return xy, theta


def fisheye_to_dirs(
    xy: ArrayLike, model: FisheyeModel, max_theta: float = np.pi
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Lens-local unit directions (..., 3) of image positions (..., 2), and which are valid."""
    p = np.asarray(xy, dtype=np.float64)
    dx = p[..., 0] - model.cx
    dy = model.cy - p[..., 1]
    r = np.hypot(dx, dy)
    theta = undistort_theta(r / model.focal, model.k)
    safe = np.where(r > 1e-12, r, 1.0)
    s = np.sin(theta)
    out = np.stack(
        [np.where(r > 1e-12, s * dx / safe, 0.0), np.where(r > 1e-12, s * dy / safe, 0.0), np.cos(theta)], axis=-1
    )
    return out, (theta <= max_theta) & (theta >= 0)
