"""A near object that the two lenses of a rig see in different directions (parallax), for
tests and benchmarks of the seam (issue 15).

The lenses of a dual-fisheye camera are a few centimetres apart, so an object near the
camera (the hand holding it, an arm) lands at different directions in the two lenses,
while the distant scene agrees. ``ParallaxScene`` paints such an object, a textured disc,
over each lens' recording of a ``RigRenderer`` at its own direction (``parallax_deg``
apart in longitude), and gives the two consistent ground truths: the equirect scene
with the object where the front lens sees it, and where the back lens sees it. A stitch
that shows the object whole, taken from either lens, matches one of them in the seam
band; one that cuts through it matches neither.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .._types import SizeLike
from ..geometry import equirect_grid_dirs, fisheye_to_dirs
from .rig import RigRenderer, linear_to_srgb, srgb_to_linear

__all__ = ["ParallaxScene", "direction"]


def direction(lon_deg: float, lat_deg: float) -> NDArray[np.float64]:
    """Rig-frame unit direction of a longitude and latitude (degrees), as the equirect
    output lays them out (longitude 0 on the front lens' axis, +-90 on the seam)."""
    lo, la = math.radians(lon_deg), math.radians(lat_deg)
    return np.array([math.cos(la) * math.sin(lo), math.sin(la), math.cos(la) * math.cos(lo)])


class ParallaxScene:
    """``renderer``'s recordings with a near object: a disc of ``radius_deg`` (striped, two
    colours: its position and any cut through it show) centred at a given longitude and
    latitude, seen by the front lens ``parallax_deg`` / 2 further in longitude and by the
    back lens as far the other way."""

    def __init__(self, renderer: RigRenderer, *, radius_deg: float = 2.0, parallax_deg: float = 1.6) -> None:
        self.renderer = renderer
        self.radius = math.radians(radius_deg)
        self.parallax = float(parallax_deg)
        w, h = renderer.rig.frame_size
        self._lens_dirs = []
        for i, lens in enumerate(renderer.rig.lenses):
            x0 = 0 if i == 0 else w // 2
            gx, gy = np.meshgrid(np.arange(x0, x0 + w // 2) + 0.5, np.arange(h) + 0.5)
            local, valid = fisheye_to_dirs(np.stack([gx, gy], -1), lens.model(), lens.max_theta)
            r_norm = np.hypot(gx - lens.center[0], gy - lens.center[1]) / lens.radius
            valid &= r_norm <= 1.0
            # the lens' photometry, as ``RigRenderer`` applies it (linear light)
            gain = (lens.exposure * lens.vignetting_gain(np.minimum(r_norm, 1.0)))[..., None] * np.asarray(lens.color_gain)
            # (zero outside the image circle: never inside the object)
            self._lens_dirs.append((slice(x0, x0 + w // 2), np.where(valid[..., None], lens.rotation()(local), 0.0), gain))
        self._truth: dict[tuple[int, int], tuple[NDArray[np.float64], NDArray[np.uint8]]] = {}

    def _paint(
        self, img: NDArray[np.uint8], dirs: NDArray[np.float64], centre: NDArray[np.float64], gain: NDArray[np.float64] | None = None
    ) -> None:
        inside = dirs @ centre > math.cos(self.radius)
        if not inside.any():
            return
        # stripes 0.6 degrees wide in the object's own tangent plane, two colourings
        # either side of its vertical axis
        e1 = np.cross([0.0, 1.0, 0.0], centre)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(centre, e1)
        d = dirs[inside]
        u, v = np.degrees(d @ e1), np.degrees(d @ e2)
        stripe = (np.floor((u + v) / 0.6) % 2)[:, None] > 0
        colour = np.where(stripe, np.array([230.0, 60.0, 40.0]), np.array([250.0, 220.0, 60.0]))
        colour = np.where((u > 0)[:, None], colour, colour[:, ::-1] * 0.6)
        if gain is not None:  # seen through a lens: its exposure, colour and vignetting
            colour = 255.0 * linear_to_srgb(srgb_to_linear(colour / 255.0) * gain[inside])
        img[inside] = np.round(colour).astype(np.uint8)

    def _seen(self, lon_deg: float, lat_deg: float, lens: int) -> NDArray[np.float64]:
        return direction(lon_deg + (self.parallax / 2.0 if lens == 0 else -self.parallax / 2.0), lat_deg)

    def render(self, lon_deg: float | None, lat_deg: float = 0.0) -> NDArray[np.uint8]:
        """The recorded side-by-side frame (RGB) with the object at (``lon_deg``,
        ``lat_deg``); None: no object."""
        frame = self.renderer.render()
        if lon_deg is None:
            return frame
        for i, (cols, dirs, gain) in enumerate(self._lens_dirs):
            part = frame[:, cols]  # (a view: painted in place)
            self._paint(part, dirs, self._seen(lon_deg, lat_deg, i), gain)
        return frame

    def truths(self, size: SizeLike, lon_deg: float | None, lat_deg: float = 0.0) -> list[NDArray[np.uint8]]:
        """The ground truths at equirect ``size``: the object where the front lens sees it,
        and where the back lens does (one picture when there is no object)."""
        key = (int(size[0]), int(size[1]))
        if key not in self._truth:
            self._truth[key] = (equirect_grid_dirs(key), self.renderer.ground_truth(key))
        dirs, base = self._truth[key]
        if lon_deg is None:
            return [base.copy()]
        out = []
        for lens in (0, 1):
            img = base.copy()
            self._paint(img, dirs, self._seen(lon_deg, lat_deg, lens))
            out.append(img)
        return out
