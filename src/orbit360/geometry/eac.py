"""Equi-angular cubemap (EAC): pixel positions <-> unit directions.

Frame: +x right, +y up, +z forward. Pixel coordinates (x, y), x in [0, width), y in
[0, height), pixel i covering [i, i + 1) (centre at i + 0.5), as everywhere in
``orbit360.geometry``.

Layout (the 3x2 layout of YouTube's EAC and FFmpeg's ``v360`` filter, ``eac``)::

    +-------+-------+-------+
    | left  | front | right |     top row: upright
    +-------+-------+-------+
    | down  | back  |  up   |     bottom row: down and up turned 270°, back 90°
    +-------+-------+-------+

Tiles are numbered row by row: 0 left, 1 front, 2 right, 3 down, 4 back, 5 up.

On a tile, ``(U, V)`` are the tangent-plane coordinates in [-1, 1] (U to the right of
the tile, V down it), before the tile's rotation. EAC spaces the samples evenly in
*angle*: the tile coordinate ``u = atan(U) * 2 / pi + 0.5`` in [0, 1], likewise v.

``pad`` (pixels) reproduces the margin v360 keeps: the three tiles of a row span
``width - 2 pad`` and each row spans ``height / 2 - 2 pad``. Camera layouts with other
tile arrangements (GoPro MAX) use ``dirs_to_eac_tiles`` / ``eac_tiles_to_dirs`` and
place the tiles themselves.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._types import SizeLike

__all__ = [
    "EAC_TILES",
    "dirs_to_eac",
    "eac_to_dirs",
    "dirs_to_eac_tiles",
    "eac_tiles_to_dirs",
]

EAC_TILES = ("left", "front", "right", "down", "back", "up")
"""Tile names by index: row by row, columns left to right."""

_HALF_PI = np.pi / 2.0


def dirs_to_eac_tiles(dirs: ArrayLike) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.float64]]:
    """Tile index (..., ) and tile coordinates u, v in [0, 1] (u right, v down) of directions (..., 3).

    Directions need not be unit length. Rotation of the bottom-row tiles is applied.
    """
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    tile = np.empty(x.shape, np.int8)
    U = np.empty(x.shape, np.float64)
    V = np.empty(x.shape, np.float64)
    on_x = (ax >= ay) & (ax >= az)
    on_y = ~on_x & (ay >= az)
    on_z = ~on_x & ~on_y
    with np.errstate(divide="ignore", invalid="ignore"):
        # left (x < 0) and right (x > 0): U = -z / x, V = -y / x for right; V = y / x for left
        m = on_x & (x < 0)
        tile[m], U[m], V[m] = 0, -z[m] / x[m], y[m] / x[m]
        m = on_x & (x >= 0)
        tile[m], U[m], V[m] = 2, -z[m] / x[m], -y[m] / x[m]
        # front (z > 0) and back (z < 0)
        m = on_z & (z >= 0)
        tile[m], U[m], V[m] = 1, x[m] / z[m], -y[m] / z[m]
        m = on_z & (z < 0)
        tile[m], U[m], V[m] = 4, x[m] / z[m], y[m] / z[m]
        # down (y < 0) and up (y > 0)
        m = on_y & (y < 0)
        tile[m], U[m], V[m] = 3, -x[m] / y[m], z[m] / y[m]
        m = on_y & (y >= 0)
        tile[m], U[m], V[m] = 5, x[m] / y[m], z[m] / y[m]
    # tile rotations: 270° for down and up, 90° for back
    r270 = (tile == 3) | (tile == 5)
    r90 = tile == 4
    U2, V2 = U.copy(), V.copy()
    U2[r270], V2[r270] = V[r270], -U[r270]
    U2[r90], V2[r90] = -V[r90], U[r90]
    u = np.arctan(U2) / _HALF_PI + 0.5
    v = np.arctan(V2) / _HALF_PI + 0.5
    return tile, u, v


def eac_tiles_to_dirs(tile: ArrayLike, u: ArrayLike, v: ArrayLike) -> NDArray[np.float64]:
    """Unit directions (..., 3) of tile coordinates u, v in [0, 1] on tiles ``tile`` (0..5)."""
    t = np.asarray(tile)
    U2 = np.tan((np.asarray(u, dtype=np.float64) - 0.5) * _HALF_PI)
    V2 = np.tan((np.asarray(v, dtype=np.float64) - 0.5) * _HALF_PI)
    t, U2, V2 = np.broadcast_arrays(t, U2, V2)
    U, V = U2.copy(), V2.copy()
    r270 = (t == 3) | (t == 5)
    r90 = t == 4
    U[r270], V[r270] = -V2[r270], U2[r270]
    U[r90], V[r90] = V2[r90], -U2[r90]
    one = np.ones_like(U)
    # per tile: the (unnormalised) direction whose tangent coordinates are (U, V)
    table = {
        0: (-one, -V, U),
        1: (U, -V, one),
        2: (one, -V, -U),
        3: (U, -one, -V),
        4: (-U, -V, -one),
        5: (U, one, V),
    }
    out = np.zeros(U.shape + (3,), np.float64)
    for k, (a, b, c) in table.items():
        m = t == k
        out[m] = np.stack([a[m], b[m], c[m]], axis=-1)
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    return out


def dirs_to_eac(dirs: ArrayLike, size: SizeLike, *, pad: float = 0.0) -> NDArray[np.float64]:
    """EAC pixel positions (..., 2) as (x, y) of directions (..., 3), 3x2 layout of ``size``."""
    w, h = float(size[0]), float(size[1])
    tile, u, v = dirs_to_eac_tiles(dirs)
    col = (tile % 3).astype(np.float64)
    row = (tile // 3).astype(np.float64)
    x = pad + (col + u) * (w - 2.0 * pad) / 3.0
    y = row * h / 2.0 + pad + v * (h / 2.0 - 2.0 * pad)
    return np.stack([x, y], axis=-1)


def eac_to_dirs(xy: ArrayLike, size: SizeLike, *, pad: float = 0.0) -> NDArray[np.float64]:
    """Unit directions (..., 3) of EAC pixel positions (..., 2) given as (x, y)."""
    w, h = float(size[0]), float(size[1])
    p = np.asarray(xy, dtype=np.float64)
    fx = (p[..., 0] - pad) * 3.0 / (w - 2.0 * pad)
    col = np.clip(np.floor(fx), 0, 2)
    row = np.clip(np.floor(p[..., 1] / (h / 2.0)), 0, 1)
    u = fx - col
    v = (p[..., 1] - row * h / 2.0 - pad) / (h / 2.0 - 2.0 * pad)
    return eac_tiles_to_dirs((row * 3 + col).astype(np.int8), u, v)
