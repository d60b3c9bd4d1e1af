"""Equirectangular projection: pixel positions <-> unit directions.

Frame: +x right, +y up, +z forward. Pixel coordinates (x, y) with x in [0, width) and
y in [0, height); pixel i covers [i, i + 1), so its centre lies at i + 0.5.

- longitude ``lon = (x / width - 0.5) * 2 pi``: 0 looks along +z, positive to the right.
- latitude ``lat = (0.5 - y / height) * pi``: the top row looks up (+y).
- direction = (cos lat sin lon, sin lat, cos lat cos lon).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._types import SizeLike

__all__ = ["equirect_to_dirs", "dirs_to_equirect", "equirect_grid_dirs", "lonlat_to_dirs", "dirs_to_lonlat"]


def lonlat_to_dirs(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    """Unit directions (..., 3) from longitude and latitude in radians."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    lon, lat = np.broadcast_arrays(lon, lat)
    c = np.cos(lat)
    return np.stack([c * np.sin(lon), np.sin(lat), c * np.cos(lon)], axis=-1)


def dirs_to_lonlat(dirs: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitude in [-pi, pi] and latitude in [-pi/2, pi/2] (radians) of directions (..., 3)."""
    d = np.asarray(dirs, dtype=np.float64)
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arctan2(d[..., 1], np.hypot(d[..., 0], d[..., 2]))
    return lon, lat


def equirect_to_dirs(xy: ArrayLike, size: SizeLike) -> NDArray[np.float64]:
    """Unit directions (..., 3) of equirect pixel positions (..., 2) given as (x, y)."""
    w, h = size
    p = np.asarray(xy, dtype=np.float64)
    lon = (p[..., 0] / w - 0.5) * 2.0 * np.pi
    lat = (0.5 - p[..., 1] / h) * np.pi
    return lonlat_to_dirs(lon, lat)


def dirs_to_equirect(dirs: ArrayLike, size: SizeLike) -> NDArray[np.float64]:
    """Equirect pixel positions (..., 2) as (x, y) of directions (..., 3); x in [0, width]."""
    w, h = size
    lon, lat = dirs_to_lonlat(dirs)
    x = (lon / (2.0 * np.pi) + 0.5) * w
    y = (0.5 - lat / np.pi) * h
    return np.stack([x, y], axis=-1)


def equirect_grid_dirs(
    size: SizeLike,
    dtype: type = np.float64,
    *,
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
    step: int = 1,
) -> NDArray[np.floating]:
    """Directions (rows, cols, 3) of the pixel centres of an equirect image of ``size``.

    ``rows`` = (y0, y1) and ``cols`` = (x0, x1) restrict it to a window (default: all),
    so a large output can be planned a strip at a time. With ``step`` > 1, sample i of
    the grid is the centre of pixels [i * step, (i + 1) * step) (window in samples, which
    may reach past the edges: the formulas continue over the poles and the wrap).
    """
    w, h = size
    y0, y1 = rows if rows is not None else (0, -(-h // step))
    x0, x1 = cols if cols is not None else (0, -(-w // step))
    lon = ((np.arange(x0, x1, dtype=np.float64) + 0.5) * step / w - 0.5) * 2.0 * np.pi
    lat = (0.5 - (np.arange(y0, y1, dtype=np.float64) + 0.5) * step / h) * np.pi
    clat = np.cos(lat)[:, None]
    out = np.empty((y1 - y0, x1 - x0, 3), dtype=dtype)
    out[..., 0] = clat * np.sin(lon)[None, :]
    out[..., 1] = np.sin(lat)[:, None]
    out[..., 2] = clat * np.cos(lon)[None, :]
    return out
