"""Rigs that do not write sRGB, clip, and disagree: a photometric forward model for
tests and benchmarks (issue 15), written apart from the stitcher's compensation.

A real photograph (an equirect photo) is the world's radiance; each lens multiplies it by
its exposure, its white balance and a falloff ``P(r) ** 2.5``, the sensor clips at 1, and
the camera encodes with a flat curve ``1.3 x ** (1/3) - 0.3`` (codes under 0 black), or
sRGB. A near object (a dark disc) can be seen 4 degrees apart by the two lenses across the
seam (parallax). ``truth`` is the world at the lenses' mean exposure; a stitch is judged
after one global tone curve per channel (``score_after_tone_curve``).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from .. import colour
from ..geometry import Rotation, dirs_to_equirect, equirect_grid_dirs, fisheye_to_dirs
from ..metrics import band_rows, psnr
from ..profile import RigProfile
from ..stitch.quality import tone_matched
from .rig import misaligned_rig

__all__ = ["Camera", "SIZE", "ROWS", "FLAT_GAMMA", "FLAT_OFFSET", "flat_curve", "srgb_curve", "load_world", "photometry_geometry", "score_after_tone_curve"]

SIZE = (1024, 512)
ROWS = band_rows(512)
FLAT_GAMMA, FLAT_OFFSET = 3.0, 0.3  # the flat curve: code = (1 + o) x ** (1 / gamma) - o


def load_world(path: Path) -> np.ndarray | None:
    """Linear radiance of a real place (an sRGB equirect photo decoded), bright enough to
    clip; None when the file cannot be read."""
    img = cv2.imread(str(path))
    if img is None:
        return None
    img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (2048, 1024), interpolation=cv2.INTER_AREA)
    x = img.astype(np.float64) / 255.0
    lin = colour.srgb_to_linear(x)
    return (1.6 * lin).astype(np.float32)


def flat_curve(x: np.ndarray) -> np.ndarray:
    return (1.0 + FLAT_OFFSET) * np.power(np.clip(x, 0.0, 1.0), 1.0 / FLAT_GAMMA) - FLAT_OFFSET


def srgb_curve(x: np.ndarray) -> np.ndarray:
    return colour.linear_to_srgb(np.clip(x, 0.0, 1.0))


class Camera:
    """Geometry of a rig, this file's photometry: exposure, white balance and falloff per
    lens, a tone curve, and a dark disc each lens sees at its own direction."""

    def __init__(self, geometry: RigProfile, exposure: tuple[float, float], wb: tuple[tuple[float, ...], ...],
                 falloff: tuple[float, float], curve, near: bool) -> None:  # type: ignore[no-untyped-def]
        self.geometry, self.exposure, self.wb, self.falloff, self.curve, self.near = geometry, exposure, wb, falloff, curve, near
        w, h = geometry.frame_size
        self.lenses = []
        for i, lens in enumerate(geometry.lenses):
            x0 = 0 if i == 0 else w // 2
            gx, gy = np.meshgrid(np.arange(x0, x0 + w // 2) + 0.5, np.arange(h) + 0.5)
            local, valid = fisheye_to_dirs(np.stack([gx, gy], -1), lens.model(), lens.max_theta)
            r = np.hypot(gx - lens.center[0], gy - lens.center[1]) / lens.radius
            p = 1.0 + falloff[0] * r**2 + falloff[1] * r**4
            self.lenses.append((x0, lens.rotation()(local), valid & (r <= 1.0), np.power(np.maximum(p, 1e-3), 2.5)))

    def _world(self, world: np.ndarray, lens: int) -> np.ndarray:
        if not self.near:
            return world
        # a near object across the seam (longitude 90 degrees, the equator): the lenses see
        # it 4 degrees apart (parallax), a dark disc of 5 degrees radius
        w = world.copy()
        h, wd = w.shape[:2]
        lon = math.radians(90.0 + (2.0 if lens == 0 else -2.0))
        cx, cy = (lon / (2 * math.pi) + 0.5) * wd, h / 2
        cv2.circle(w, (int(cx), int(cy)), int(5.0 / 360.0 * wd), (0.01, 0.015, 0.02), -1)
        return w

    def record(self, world: np.ndarray, turn: Rotation) -> np.ndarray:
        w, h = self.geometry.frame_size
        out = np.zeros((h, w, 3), np.uint8)
        for i, (x0, dirs, valid, fall) in enumerate(self.lenses):
            src = self._world(world, i)
            xy = dirs_to_equirect(turn(dirs), (src.shape[1], src.shape[0])).astype(np.float32) - 0.5
            radiance = cv2.remap(src, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP).astype(np.float64)
            x = radiance * self.exposure[i] * np.asarray(self.wb[i])[None, None, :] * fall[..., None]
            code = np.clip(np.round(255.0 * self.curve(x)), 0, 255)
            code[~valid] = 0
            out[:, x0 : x0 + w // 2] = code.astype(np.uint8)
        return out

    def truth(self, world: np.ndarray, turn: Rotation) -> np.ndarray:
        """The world at the lenses' mean exposure and white balance, as this camera encodes it."""
        e = math.sqrt(self.exposure[0] * self.exposure[1])
        wb = np.sqrt(np.asarray(self.wb[0]) * np.asarray(self.wb[1]))
        src = self._world(world, 0)
        xy = dirs_to_equirect(turn(equirect_grid_dirs(SIZE)), (src.shape[1], src.shape[0])).astype(np.float32) - 0.5
        radiance = cv2.remap(src, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP).astype(np.float64)
        return np.clip(np.round(255.0 * self.curve(radiance * e * wb[None, None, :])), 0, 255).astype(np.uint8)

    def true_rig(self, gamma: float) -> RigProfile:
        """This camera in the profile's terms (exact): the profile's linear light is this
        camera's to the power 2.4 / gamma, so exposures and falloff are taken to it."""
        k = 2.4 / gamma
        e0, e1 = (self.exposure[i] ** k for i in (0, 1))
        ref = math.sqrt(e0 * e1)
        lenses = []
        for i, lens in enumerate(self.geometry.lenses):
            wb = np.asarray(self.wb[i]) ** k
            gm = float(np.exp(np.mean(np.log(wb))))
            lenses.append(lens.replace(exposure=(e0, e1)[i] / ref * gm, color_gain=tuple(wb / gm), vignetting=(self.falloff[0], self.falloff[1], 0.0)))
        response = (2.4, FLAT_OFFSET) if gamma == FLAT_GAMMA else (2.4, 0.055)
        return self.geometry.replace(lenses=tuple(lenses), response=response)


def photometry_geometry(seed: int) -> RigProfile:
    rig = misaligned_rig(SIZE, seed=seed, misalign_deg=0.6, center_offset_px=2.0, fov_deg=196.0, exposure_stops=0.0, vignetting=False)
    return rig.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses))


def score_after_tone_curve(out: np.ndarray, truth: np.ndarray) -> float:
    return psnr(tone_matched(out, truth, rows=ROWS), truth, rows=ROWS)
