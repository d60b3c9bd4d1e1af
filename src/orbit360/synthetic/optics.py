"""Realistic dual-fisheye rigs: a real photograph seen through two different real lenses.

``synthetic.RigRenderer`` renders through the stitcher's own lens model (Kannala-Brandt,
``geometry.fisheye``), so a stitch of its frames can only be as wrong as the parameters.
This module keeps nothing of that code path: each lens has its own forward model,

    r(theta) = focal * sin(shape * theta) / shape

(``shape`` 0 is the ideal equidistant fisheye the stitcher assumes by default, 0.5 the
equisolid-angle fisheye; real fisheye lenses lie in between), written out here with its
own direction and equirect formulas. The two lenses of a rig differ in focal length
(about 1%), shape and field of view; their image circles sit a few pixels off the
half-frame centres and touch (or are cut by) the frame edges; the back lens is turned a
little off its nominal axis. The world is an equirectangular picture (a real photograph
in the tests), so the overlap has real scene content, sky up to the rim included.

``SineLens.kb_profile`` gives the closest ``LensProfile`` the stitcher can express (k1..k4
fitted to the lens' mapping by least squares; the fit error is reported): that is the
"true parameters" rig a self-calibrated stitch is compared with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import Rotation
from ..profile import LAYOUT_DUAL_FISHEYE_SBS, LensProfile, RigProfile
from .rig import linear_to_srgb, srgb_to_linear

__all__ = ["SineLens", "RealisticRig", "realistic_rig", "PhotoRigRenderer", "world_equirect"]


@dataclass(frozen=True)
class SineLens:
    """One fisheye lens of the family ``r = focal sin(shape theta) / shape``.

    :param center: image-circle centre (x, y) in frame pixels, pixel centres at i + 0.5.
    :param focal: focal length in pixels (the slope of r(theta) on the axis).
    :param shape: 0 equidistant, 0.5 equisolid; below 1 / (fov in radians) so that r grows.
    :param fov_deg: full field of view where the image circle ends.
    :param rotation: lens-to-rig rotation (rig dir = rotation(lens dir)).
    """

    center: tuple[float, float]
    focal: float
    shape: float
    fov_deg: float
    rotation: Rotation

    @property
    def max_theta(self) -> float:
        return math.radians(self.fov_deg) / 2.0

    def radius_at(self, theta: NDArray[np.float64] | float) -> NDArray[np.float64]:
        t = np.asarray(theta, np.float64)
        if self.shape < 1e-9:
            return self.focal * t
        return self.focal * np.sin(self.shape * t) / self.shape

    def theta_at(self, r: NDArray[np.float64]) -> NDArray[np.float64]:
        """Incidence angle of image radius r (nan past the mapping's maximum)."""
        if self.shape < 1e-9:
            return r / self.focal
        s = self.shape * r / self.focal
        return np.where(s <= 1.0, np.arcsin(np.clip(s, -1.0, 1.0)) / self.shape, np.nan)

    @property
    def radius(self) -> float:
        """Image-circle radius in pixels."""
        return float(self.radius_at(self.max_theta))

    def kb_distortion(self) -> tuple[tuple[float, float, float, float], float]:
        """Kannala-Brandt k1..k4 closest to this mapping over the field of view, and the
        largest radius error of that fit in pixels."""
        t = np.linspace(1e-3, self.max_theta, 400)
        target = self.radius_at(t) / (self.focal * t) - 1.0  # = k1 t^2 + k2 t^4 + ...
        basis = np.stack([t**2, t**4, t**6, t**8], -1)
        k = np.linalg.lstsq(basis, target, rcond=None)[0]
        err = self.focal * t * (basis @ k - target)
        return (float(k[0]), float(k[1]), float(k[2]), float(k[3])), float(np.max(np.abs(err)))

    def kb_profile(self, source: int = 0) -> LensProfile:
        """The stitcher's profile of this lens (same circle, FOV and focal; fitted k1..k4)."""
        k, _ = self.kb_distortion()
        return LensProfile(
            center=self.center, radius=self.radius, fov_deg=self.fov_deg, distortion=k,
            rotation_ypr=self.rotation.as_ypr(), source=source,
        )


@dataclass(frozen=True)
class RealisticRig:
    """Two ``SineLens`` side by side in one frame (front left, back right)."""

    frame_size: tuple[int, int]
    lenses: tuple[SineLens, SineLens]

    def profile(self) -> RigProfile:
        """The closest rig profile the stitcher can express (its "true parameters")."""
        return RigProfile(
            frame_size=self.frame_size, lenses=tuple(l.kb_profile() for l in self.lenses),
            layout=LAYOUT_DUAL_FISHEYE_SBS, camera="synthetic-realistic",
        )

    def scaled(self, lens_px: int) -> "RealisticRig":
        """The same camera recording at ``lens_px`` pixels per lens (same sensor crop)."""
        s = lens_px / self.frame_size[1]
        lenses = tuple(
            SineLens((l.center[0] * s, l.center[1] * s), l.focal * s, l.shape, l.fov_deg, l.rotation) for l in self.lenses
        )
        return RealisticRig((2 * lens_px, lens_px), lenses)  # type: ignore[arg-type]


def realistic_rig(lens_px: int, seed: int = 0) -> RealisticRig:
    """A random rig of two different real lenses, ``lens_px`` x ``lens_px`` per lens.

    Drawn per seed: shapes 0.25-0.5 (front) and back = front +- 0.03-0.08, FOVs 192-200°
    (back within 2.5° of the front), focal lengths 0.7-1.3% apart, circle radius 0.985-1.0
    of the half-height for the front lens (so circles touch or are cut by the frame
    edges), centres up to 0.4% of the size off the half-frame centres, back lens 0.3-1°
    off its axis. All in units of the frame, so ``lens_px`` changes nothing but resolution.
    """
    rng = np.random.default_rng(seed)
    h = float(lens_px)
    shape_f = rng.uniform(0.25, 0.5)
    shape_b = float(np.clip(shape_f + rng.choice([-1, 1]) * rng.uniform(0.03, 0.08), 0.15, 0.55))
    fov_f = rng.uniform(192.0, 200.0)
    fov_b = float(np.clip(fov_f + rng.uniform(-2.5, 2.5), 190.0, 202.0))
    radius_f = h / 2.0 * rng.uniform(0.985, 1.0)
    th_f = math.radians(fov_f) / 2.0
    focal_f = radius_f * shape_f / math.sin(shape_f * th_f)
    focal_b = focal_f * (1.0 + rng.choice([-1, 1]) * rng.uniform(0.007, 0.013))
    lenses = []
    for i, (focal, shape, fov) in enumerate(((focal_f, shape_f, fov_f), (focal_b, shape_b, fov_b))):
        ang = rng.uniform(0, 2 * math.pi)
        off = 0.004 * h * rng.uniform(0.4, 1.0)
        centre = (h * (i + 0.5) + off * math.cos(ang), h / 2.0 + off * math.sin(ang))
        rot = Rotation.identity()
        if i == 1:
            axis = rng.standard_normal(3)
            rot = Rotation.from_ypr(180.0, 0.0, 0.0) @ Rotation.from_axis_angle(axis / np.linalg.norm(axis), rng.uniform(0.3, 1.0), degrees=True)
        lenses.append(SineLens(centre, float(focal), float(shape), float(fov), rot))
    return RealisticRig((2 * lens_px, lens_px), (lenses[0], lenses[1]))


# ---- the world --------------------------------------------------------------------------------
def world_equirect(picture: NDArray[np.uint8], width: int) -> NDArray[np.uint8]:
    """An equirect picture resampled (area-averaged) to ``width`` x ``width / 2``."""
    w = int(width)
    return cv2.resize(picture, (w, w // 2), interpolation=cv2.INTER_AREA)


def _lookup_world(world_lin: NDArray[np.float32], d: NDArray[np.float64]) -> NDArray[np.float32]:
    """Linear-light world colour in directions d (..., 3): +x right, +y up, +z forward; the
    picture's centre column looks along +z, its top row up."""
    h, w = world_lin.shape[:2]
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(np.clip(d[..., 1], -1.0, 1.0))
    mx = ((lon / (2 * np.pi) + 0.5) * w - 0.5).astype(np.float32)
    my = ((0.5 - lat / np.pi) * h - 0.5).astype(np.float32)
    return cv2.remap(world_lin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


class PhotoRigRenderer:
    """What a ``RealisticRig`` records of an equirect world picture, and the ideal stitch.

    The world is resampled once to about 1.5 samples per fisheye pixel at the lens axis
    (so the render neither aliases nor blurs more than a lens would); the image-circle
    edge is anti-aliased (pixel coverage of the disc).
    """

    def __init__(self, rig: RealisticRig, picture: NDArray[np.uint8]) -> None:
        self.rig = rig
        self.picture = picture
        focal = max(l.focal for l in rig.lenses)
        world_w = int(min(picture.shape[1], round(2 * math.pi * focal * 1.5 / 2)) * 2)
        self._world_lin = srgb_to_linear(world_equirect(picture, world_w).astype(np.float32) / 255.0)
        w, h = rig.frame_size
        half = w // 2
        self._lenses: list[tuple[slice, NDArray[np.float64], NDArray[np.float32]]] = []
        for i, lens in enumerate(rig.lenses):
            x0 = i * half
            gx, gy = np.meshgrid(np.arange(x0, x0 + half) + 0.5, np.arange(h) + 0.5)
            dx, dy = gx - lens.center[0], lens.center[1] - gy
            r = np.hypot(dx, dy)
            theta = lens.theta_at(r)
            inside = np.isfinite(theta)
            theta = np.where(inside, theta, 0.0)
            s = np.sin(theta) / np.where(r > 1e-12, r, 1.0)
            local = np.stack([s * dx, s * dy, np.cos(theta)], -1)
            rig_dirs = local @ lens.rotation.matrix.T
            coverage = np.clip(lens.radius - r + 0.5, 0.0, 1.0) * inside
            self._lenses.append((slice(x0, x0 + half), rig_dirs, coverage.astype(np.float32)))

    def render(self, orientation: Rotation | None = None) -> NDArray[np.uint8]:
        """One side-by-side frame (h, w, 3) RGB uint8; ``orientation`` turns the camera
        (world dir = orientation(rig dir))."""
        w, h = self.rig.frame_size
        out = np.zeros((h, w, 3), np.uint8)
        for cols, rig_dirs, coverage in self._lenses:
            d = rig_dirs if orientation is None else rig_dirs @ orientation.matrix.T
            lin = _lookup_world(self._world_lin, d) * coverage[..., None]
            out[:, cols] = np.round(linear_to_srgb(lin) * 255.0).astype(np.uint8)
        return out

    def ground_truth(self, size: tuple[int, int], orientation: Rotation | None = None) -> NDArray[np.uint8]:
        """The ideal equirect stitch at ``size`` (rig frame) for a camera orientation."""
        ew, eh = int(size[0]), int(size[1])
        lon = ((np.arange(ew) + 0.5) / ew - 0.5) * 2 * np.pi
        lat = (0.5 - (np.arange(eh) + 0.5) / eh) * np.pi
        lon, lat = np.meshgrid(lon, lat)
        d = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
        if orientation is not None:
            d = d @ orientation.matrix.T
        world = srgb_to_linear(world_equirect(self.picture, max(ew, 16)).astype(np.float32) / 255.0)
        return np.round(linear_to_srgb(_lookup_world(world, d)) * 255.0).astype(np.uint8)
