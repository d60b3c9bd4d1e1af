"""A synthetic orbital recording: ground truth for ``--orient earth``.

The world (an equirect scene, +y up): the Earth, a textured disc of angular radius
``asin(R / (R + h))`` (70.2° from 400 km) centred straight down, limb-darkened, with
oceans, land and clouds; black space with stars; the sun, a small blown-out disc with a
glow. Part of the station is fixed to the camera (a truss and a module with panels, in
the rig's own frame), so it hides part of the Earth or borders space as the camera turns.
``night`` frames show the Earth unlit (orbital night: it is not visible).

``write_orbital_recording`` renders the side-by-side dual-fisheye recording of a tumbling
camera and attaches GPMF telemetry with its gyro and zero ACCL (weightless); its
``Truth.nadir(i)`` is the Earth's centre on the rig sphere.
"""

from __future__ import annotations

from collections.abc import Collection
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..geometry import equirect_grid_dirs
from ..profile import RigProfile
from ..telemetry import attach_gpmd, gpmd_track_from_samples
from ..video import EncodeOptions, VideoWriter
from .motion import CameraMotion
from .rig import RigRenderer
from .telemetry import synthetic_gpmd
from .truth import Truth

__all__ = ["EARTH_RADIUS_KM", "earth_angular_radius_deg", "orbital_scene", "station_scene", "write_orbital_recording"]

EARTH_RADIUS_KM = 6371.0


def earth_angular_radius_deg(altitude_km: float) -> float:
    return float(np.degrees(np.arcsin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitude_km))))


def _field(rng: np.random.Generator, dirs: NDArray[np.float64], frequency: float, waves: int = 48) -> NDArray[np.float32]:
    """A smooth random field on the sphere (zero mean, unit std): a sum of plane waves of
    random directions in 3-D, so it has no seam and no pinch at the poles of the image."""
    k = rng.standard_normal((waves, 3))
    k *= (frequency * rng.uniform(0.6, 1.4, waves) / np.linalg.norm(k, axis=1))[:, None]
    phase = rng.uniform(0, 2 * np.pi, waves)
    f = np.zeros(dirs.shape[:2], np.float32)
    for kk, ph in zip(k, phase):
        f += np.cos(dirs @ kk + ph).astype(np.float32)
    return (f - f.mean()) / (f.std() + 1e-6)


def orbital_scene(
    width: int = 2048, *, altitude_km: float = 400.0, seed: int = 0, sun: tuple[float, float, float] = (0.35, 0.75, 0.55),
    lit: bool = True,
) -> NDArray[np.uint8]:
    """The world as seen from orbit (equirect RGB, +y up): Earth below, stars, the sun."""
    rng = np.random.default_rng(seed)
    w, h = int(width), int(width) // 2
    dirs = equirect_grid_dirs((w, h))
    down = -dirs[..., 1]
    cos_rho = np.cos(np.radians(earth_angular_radius_deg(altitude_km)))
    img = np.zeros((h, w, 3), np.float32)
    # stars: single bright pixels of random brightness
    n_stars = w * h // 600
    ys, xs = rng.integers(0, h, n_stars), rng.integers(0, w, n_stars)
    img[ys, xs] = rng.uniform(60, 255, (n_stars, 1)) * np.array([1.0, 0.95, 0.9])
    # the sun: a blown-out disc of 0.6° with a glow
    s = np.asarray(sun, np.float64) / np.linalg.norm(sun)
    ang = np.degrees(np.arccos(np.clip(dirs @ s, -1, 1)))
    img += (255.0 * np.clip(1.2 - ang / 0.6, 0, 1) + 120.0 * np.exp(-ang / 2.0))[..., None]
    # the Earth: oceans, land, clouds on the cap around "down", limb-darkened
    # the fields are smooth: computed on a grid a quarter the size, then interpolated
    coarse = equirect_grid_dirs((max(w // 4, 8), max(h // 4, 4)))

    def field(*octaves: tuple[float, float]) -> NDArray[np.float32]:
        f = sum(a * _field(rng, coarse, freq) for freq, a in octaves)
        return cv2.resize(np.asarray(f, np.float32), (w, h), interpolation=cv2.INTER_CUBIC)

    land = field((9.0, 1.0), (25.0, 0.5)) > 0.5
    cloud = np.clip(field((30.0, 1.0), (70.0, 0.5)) * 0.6 - 0.3, 0, 1)
    surface = np.where(land[..., None], np.array([90.0, 120.0, 60.0]), np.array([25.0, 70.0, 150.0]))
    surface = surface * (1 - cloud[..., None]) + 235.0 * cloud[..., None]
    # view angle at the surface: mu = cos of the angle between the surface normal and the ray
    sin_a = np.sqrt(np.clip(1 - down**2, 0, 1))
    mu = np.sqrt(np.clip(1 - (sin_a / np.sqrt(1 - cos_rho**2)) ** 2, 0, 1))
    shade = (0.45 + 0.55 * mu) * (1.0 if lit else 0.02)
    on_earth = down > cos_rho
    img = np.where(on_earth[..., None], surface * shade[..., None], img)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def station_scene(width: int = 2048) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(RGB, mask) equirect of the station parts next to the camera, in the rig's frame."""
    w, h = int(width), int(width) // 2

    def px(lon: float, lat: float) -> tuple[int, int]:
        return int((lon / 360.0 + 0.5) * w), int((0.5 - lat / 180.0) * h)

    rgb = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    # a module: a light grey body with darker bands, lon 95..150, lat -30..25
    cv2.rectangle(rgb, px(95, 25), px(150, -30), (200, 200, 195), -1)
    cv2.rectangle(mask, px(95, 25), px(150, -30), 255, -1)
    for lat in range(-25, 25, 8):
        cv2.rectangle(rgb, px(95, lat + 2), px(150, lat), (120, 120, 118), -1)
    # a truss running off towards the back, and a solar panel (dark blue cells) on it
    cv2.rectangle(rgb, px(150, 6), px(178, -2), (170, 165, 150), -1)
    cv2.rectangle(mask, px(150, 6), px(178, -2), 255, -1)
    cv2.rectangle(rgb, px(160, 40), px(176, 6), (30, 40, 90), -1)
    cv2.rectangle(mask, px(160, 40), px(176, 6), 255, -1)
    return rgb, mask


def write_orbital_recording(
    path: StrPath,
    rig: RigProfile,
    motion: CameraMotion,
    *,
    frames: int = 24,
    fps: int = 12,
    altitude_km: float = 400.0,
    night: Collection[int] = (),
    gyro: bool = True,
    scene_width: int = 2048,
    seed: int = 0,
    crf: int = 16,
    keep_without_gyro: bool = False,
) -> Truth:
    """Render and encode the recording (side-by-side), with GPMF gyro (ACCL zero) attached
    (``keep_without_gyro``: also keep the recording without it, NAME.video.mp4, as the
    truth's ``without_telemetry``). The truth's scene is the lit world, without the station."""
    out = Path(path)
    day = RigRenderer(rig, orbital_scene(scene_width, altitude_km=altitude_km, seed=seed))
    dark = RigRenderer(rig, orbital_scene(scene_width, altitude_km=altitude_km, seed=seed, lit=False)) if night else day
    st_rgb, st_mask = station_scene(scene_width)
    station = RigRenderer(rig, st_rgb).render(None)
    covered = RigRenderer(rig, np.repeat(st_mask[..., None], 3, axis=2)).render(None)[..., :1] > 127
    video = out.with_name(out.stem + ".video" + out.suffix) if gyro else out
    with VideoWriter(video, size=rig.frame_size, fps=fps, options=EncodeOptions(crf=crf, preset="ultrafast", gop=fps)) as writer:
        for i in range(frames):
            world = (dark if i in night else day).render(motion(i / fps))
            writer.write(np.where(covered, station, world))
    if gyro:
        try:
            attach_gpmd(video, gpmd_track_from_samples(synthetic_gpmd(motion, frames / fps)), out)
        finally:
            if not keep_without_gyro:
                video.unlink(missing_ok=True)
    plain = video if gyro and keep_without_gyro else None
    return Truth(day.scene, Fraction(fps), motion, path=out, rig=rig, frames=frames, without_telemetry=plain)
