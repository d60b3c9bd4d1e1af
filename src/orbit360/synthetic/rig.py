"""Imperfect dual-fisheye rigs and what their lenses record of a scene.

A rig is a ``RigProfile`` (misalignment, off-centre circles, exposure, colour,
vignetting); ``RigRenderer`` renders through the stitcher's own lens model, so a stitch of
its frames can only be as wrong as the parameters. Photometry is modelled in linear light
(sRGB transfer undone, gains applied, redone).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from .. import colour
from .._types import SizeLike
from ..geometry import Rotation, dirs_to_equirect, equirect_grid_dirs, fisheye_to_dirs
from ..profile import RigLayout, RigProfile
from .truth import scene_in_directions

__all__ = ["misaligned_rig", "RigRenderer", "srgb_to_linear", "linear_to_srgb"]


def srgb_to_linear(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """sRGB-encoded values in [0, 1] to linear light."""
    return colour.srgb_to_linear(np.asarray(x, dtype=np.float32)).astype(np.float32)


def linear_to_srgb(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """Linear light to sRGB-encoded values in [0, 1] (clipped)."""
    return colour.linear_to_srgb(np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)).astype(np.float32)


def misaligned_rig(
    frame_size: SizeLike,
    *,
    seed: int = 0,
    misalign_deg: float = 0.6,
    center_offset_px: float = 3.0,
    fov_deg: float = 195.0,
    exposure_stops: float = 1.0,
    vignetting: bool = True,
    color: bool = True,
    fill: float = 0.98,
) -> RigProfile:
    """A realistic imperfect rig: back lens off its axis, circles off-centre, exposure gap.

    Random directions come from ``seed``; magnitudes are exact (a misalignment of
    ``misalign_deg`` is a rotation by that angle about a random axis).
    """
    rng = np.random.default_rng(seed)
    nominal = RigProfile.nominal(frame_size, fov_deg=fov_deg, fill=fill)
    lenses = []
    for i, lens in enumerate(nominal.lenses):
        ang = rng.uniform(0, 2 * np.pi)
        off = (center_offset_px * np.cos(ang), center_offset_px * np.sin(ang))
        rot = lens.rotation()
        if i == 1 and misalign_deg:
            axis = rng.standard_normal(3)
            rot = rot @ Rotation.from_axis_angle(axis, misalign_deg, degrees=True)
        gain = 2.0 ** (-exposure_stops) if i == 1 else 1.0
        cg = tuple(float(g) for g in (1 + rng.uniform(-0.08, 0.08, 3))) if color and i == 1 else (1.0, 1.0, 1.0)
        vig = (-0.25, -0.1, 0.0) if vignetting else (0.0, 0.0, 0.0)
        lenses.append(
            lens.replace(
                center=(lens.center[0] + off[0], lens.center[1] + off[1]),
                rotation_ypr=rot.as_ypr(),
                exposure=gain,
                color_gain=cg,
                vignetting=vig,
            )
        )
    return nominal.replace(lenses=tuple(lenses), camera="synthetic")


class RigRenderer:
    """Renders what the rig's lenses record of ``scene`` for a given camera orientation.

    Per-lens ray directions, masks and photometric gains are computed once; each frame
    costs one direction rotation and one remap per lens.
    """

    def __init__(self, rig: RigProfile, scene: NDArray[np.uint8]) -> None:
        if rig.layout != RigLayout.SIDE_BY_SIDE:
            raise ValueError(f"RigRenderer renders side-by-side rigs, not {rig.layout}")
        self.rig = rig
        self.scene = scene
        self._scene_lin = srgb_to_linear(scene.astype(np.float32) / 255.0)
        w, h = rig.frame_size
        half = w // 2
        self._lenses: list[tuple[slice, NDArray[np.float64], NDArray[np.bool_], NDArray[np.float32]]] = []
        for i, lens in enumerate(rig.lenses):
            x0 = 0 if i == 0 else half
            xs = np.arange(x0, x0 + half) + 0.5
            ys = np.arange(h) + 0.5
            gx, gy = np.meshgrid(xs, ys)
            dirs, valid = fisheye_to_dirs(np.stack([gx, gy], -1), lens.model(), lens.max_theta)
            rig_dirs = lens.rotation()(dirs)
            r_norm = np.hypot(gx - lens.center[0], gy - lens.center[1]) / lens.radius
            gain = (lens.exposure * lens.vignetting_gain(r_norm))[..., None] * np.asarray(lens.color_gain)[None, None, :]
            self._lenses.append((slice(x0, x0 + half), rig_dirs, valid & (r_norm <= 1.0), gain.astype(np.float32)))

    def render(self, orientation: Rotation | None = None) -> NDArray[np.uint8]:
        """One side-by-side frame (h, w, 3) RGB uint8 as the camera records it."""
        w, h = self.rig.frame_size
        sh, sw = self.scene.shape[:2]
        out = np.zeros((h, w, 3), np.uint8)
        for cols, rig_dirs, valid, gain in self._lenses:
            d = orientation(rig_dirs) if orientation is not None else rig_dirs
            xy = dirs_to_equirect(d, (sw, sh)).astype(np.float32) - 0.5
            lin = cv2.remap(self._scene_lin, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
            rec = linear_to_srgb(lin * gain)
            rec[~valid] = 0.0
            out[:, cols] = np.round(rec * 255.0).astype(np.uint8)
        return out

    def ground_truth(self, size: SizeLike, orientation: Rotation | None = None) -> NDArray[np.uint8]:
        """The ideal stitch (equirect, rig frame) at ``size`` for a camera orientation."""
        dirs = equirect_grid_dirs(size)
        if orientation is not None:
            dirs = orientation(dirs)
        return scene_in_directions(self.scene, dirs)
