"""Turning a stitched equirect frame by a per-frame rotation (levelling, stabilising).

The stitch plan is fixed per rig; the orientation changes every frame. So the frame is
stitched in the rig's frame first, then resampled once more: output pixel direction d
shows the stitched sphere at ``M(d)``. The output's ray directions are computed once;
per frame it costs one 3x3 transform, one phase, one arcsine and one remap.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import Rotation, equirect_grid_dirs

__all__ = ["SphereRotator"]


class SphereRotator:
    """Resamples equirect frames of one size by a rotation of the sphere."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))
        self._dirs = equirect_grid_dirs(self.size, dtype=np.float32)

    def maps(self, rotation: Rotation) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Float remap maps (x, y) for ``rotation`` (OpenCV pixel-centre convention)."""
        w, h = self.size
        d = cv2.transform(self._dirs, rotation.matrix.astype(np.float32))
        x, y, z = cv2.split(d)
        # phase(z, x) = atan2(x, z) in [0, 2 pi): the longitude, wrapped by BORDER_WRAP below
        lon = cv2.phase(z, x)
        map_x = lon * np.float32(w / (2 * np.pi)) + np.float32(w / 2 - 0.5)
        lat = np.arcsin(np.clip(y, -1.0, 1.0))
        map_y = np.float32(h / 2 - 0.5) - lat * np.float32(h / np.pi)
        return map_x, map_y

    def apply(self, frame: NDArray[np.uint8], rotation: Rotation) -> NDArray[np.uint8]:
        """``frame`` seen through ``rotation``; the identity returns the frame itself."""
        if rotation.angle < 1e-9:
            return frame
        map_x, map_y = self.maps(rotation)
        return cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
