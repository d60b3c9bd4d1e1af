"""Turning a stitched equirect frame by a per-frame rotation (levelling, stabilising).

The stitch plan is fixed per rig; the orientation changes every frame. So the frame is
stitched in the rig's frame first, then resampled once more: output pixel direction d
shows the stitched sphere at ``M(d)``.

Per frame the maps are computed in strips of rows and each strip is remapped at once, so
no full-size direction or map array exists (at 5.7K each would be 66-200 MB a frame of
fresh memory). A direction of the equirect grid is separable, d = (cos lat sin lon, sin
lat, cos lat cos lon), so each component of M d is an outer product of a column (cos lat)
and a row (a mix of sin lon and cos lon) plus a column (sin lat times M's middle column):
two array operations per component, from vectors made once per size.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import Rotation

__all__ = ["SphereRotator"]

_STRIP = 32  # output rows per strip: the strip's buffers stay in the core's cache


class SphereRotator:
    """Resamples equirect frames of one size by a rotation of the sphere; ``apply`` may run
    in several threads at once (each keeps its own strip buffers)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))
        w, h = self.size
        lon = ((np.arange(w, dtype=np.float64) + 0.5) / w - 0.5) * 2.0 * np.pi
        lat = (0.5 - (np.arange(h, dtype=np.float64) + 0.5) / h) * np.pi
        self._sin_lon, self._cos_lon = np.sin(lon), np.cos(lon)
        self._cos_lat = np.cos(lat).astype(np.float32)[:, None]
        self._sin_lat = np.sin(lat)
        self._local = threading.local()

    def maps(self, rotation: Rotation) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Float remap maps (x, y) for ``rotation`` (OpenCV pixel-centre convention), whole."""
        w, h = self.size
        map_x, map_y = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        rows = self._rows(rotation.matrix)
        for y0 in range(0, h, _STRIP):
            y1 = min(h, y0 + _STRIP)
            rows(y0, y1, map_x[y0:y1], map_y[y0:y1])
        return map_x, map_y

    def apply(self, frame: NDArray[np.uint8], rotation: Rotation, out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
        """``frame`` seen through ``rotation``, into ``out`` when given (any row stride);
        the identity gives the frame itself (copied into ``out`` when given)."""
        w, h = self.size
        if rotation.angle < 1e-9:
            if out is None:
                return frame
            np.copyto(out, frame)
            return out
        if out is None:
            out = np.empty_like(frame)
        buf = getattr(self._local, "maps", None)
        if buf is None:
            buf = self._local.maps = (np.empty((_STRIP, w), np.float32), np.empty((_STRIP, w), np.float32))
        rows = self._rows(rotation.matrix)
        for y0 in range(0, h, _STRIP):
            y1 = min(h, y0 + _STRIP)
            mx, my = buf[0][: y1 - y0], buf[1][: y1 - y0]
            rows(y0, y1, mx, my)
            cv2.remap(frame, mx, my, cv2.INTER_LINEAR, dst=out[y0:y1], borderMode=cv2.BORDER_WRAP)
        return out

    def _rows(self, m: NDArray[np.float64]):  # type: ignore[no-untyped-def]
        """A function filling rows [y0, y1) of the maps for the rotation matrix ``m``."""
        w, h = self.size
        # component c of M d = cos(lat) * (m[c,0] sin(lon) + m[c,2] cos(lon)) + sin(lat) * m[c,1];
        # x and z negated: atan2(-x, -z) in [0, 2 pi) is the longitude + pi, so map x lies in
        # [-0.5, w - 0.5), inside the frame but for the wrap column (remap's fast path)
        sign = (-1.0, 1.0, -1.0)
        across = [(sign[c] * (m[c, 0] * self._sin_lon + m[c, 2] * self._cos_lon)).astype(np.float32)[None, :] for c in range(3)]
        up = [(sign[c] * m[c, 1] * self._sin_lat).astype(np.float32)[:, None] for c in range(3)]
        kx, cx = np.float32(w / (2 * np.pi)), np.float32(-0.5)
        ky, cy = np.float32(h / np.pi), np.float32(h / 2 - 0.5)
        loc = self._local

        def rows(y0: int, y1: int, map_x: NDArray[np.float32], map_y: NDArray[np.float32]) -> None:
            n = y1 - y0
            comp = getattr(loc, "comp", None)
            if comp is None or comp.shape[1] < n or comp.shape[2] != w:
                comp = loc.comp = np.empty((3, max(n, _STRIP), w), np.float32)
            x, y, z = comp[0, :n], comp[1, :n], comp[2, :n]
            for c, dst in enumerate((x, y, z)):
                np.multiply(self._cos_lat[y0:y1], across[c], out=dst)
                np.add(dst, up[c][y0:y1], out=dst)
            # phase(-z, -x) = atan2(-x, -z): the longitude + pi (the wrap column by BORDER_WRAP)
            cv2.phase(z, x, angle=map_x)
            np.multiply(map_x, kx, out=map_x)
            np.add(map_x, cx, out=map_x)
            np.clip(y, -1.0, 1.0, out=y)
            np.arcsin(y, out=y)
            np.multiply(y, -ky, out=map_y)
            np.add(map_y, cy, out=map_y)

        return rows
