"""Synthetic dual-fisheye rigs with known ground truth, for tests, benchmarks and the demo.

A synthetic recording is rendered from a known equirectangular *scene*, a known
``RigProfile`` (including misalignment, off-centre circles, exposure, colour and
vignetting) and a known camera *motion* (a rotation per instant). Because everything is
known, the ideal stitch of every frame is known too: ``ground_truth(t)`` is the scene
seen from the camera's orientation at time t, in the rig frame.

Photometry is modelled in linear light (sRGB transfer undone, gains applied, redone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np
from numpy.typing import NDArray

from ._types import SizeLike, StrPath
from .geometry import Rotation, dirs_to_equirect, equirect_grid_dirs, fisheye_to_dirs
from .profile import RigProfile

__all__ = [
    "make_scene",
    "CameraMotion",
    "static_motion",
    "pan_motion",
    "shake_motion",
    "RigRenderer",
    "SyntheticRecording",
    "write_rig_video",
    "srgb_to_linear",
    "linear_to_srgb",
    "misaligned_rig",
    "simulate_power_loss",
]

CameraMotion = Callable[[float], Rotation]
"""Camera orientation at time t (seconds): ``world_dir = motion(t)(rig_dir)``."""


def static_motion(t: float) -> Rotation:
    return Rotation.identity()


def pan_motion(yaw_deg_per_s: float = 10.0, pitch_deg_per_s: float = 0.0) -> CameraMotion:
    """A steady turn: yaw (and optionally pitch) growing linearly with time."""
    return lambda t: Rotation.from_ypr(yaw_deg_per_s * t, pitch_deg_per_s * t, 0.0)


def shake_motion(amplitude_deg: float = 2.0, hz: float = 5.0, base: CameraMotion = static_motion) -> CameraMotion:
    """A sinusoidal shake on all three axes on top of ``base``."""

    def motion(t: float) -> Rotation:
        s = np.sin(2 * np.pi * hz * t)
        c = np.cos(2 * np.pi * hz * t * 0.9)
        return base(t) @ Rotation.from_ypr(amplitude_deg * s, amplitude_deg * 0.7 * c, amplitude_deg * 0.5 * s)

    return motion


# ---- photometry ---------------------------------------------------------------------------
def srgb_to_linear(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """sRGB-encoded values in [0, 1] to linear light."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """Linear light to sRGB-encoded values in [0, 1] (clipped)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


# ---- scene ----------------------------------------------------------------------------------
def _wrap_blur(img: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """Gaussian blur that wraps around horizontally (longitude is periodic)."""
    pad = int(3 * sigma) + 1
    padded = np.concatenate([img[:, -pad:], img, img[:, :pad]], axis=1)
    out = cv2.GaussianBlur(padded, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return out[:, pad:-pad]


def make_scene(width: int = 2048, seed: int = 0) -> NDArray[np.uint8]:
    """A textured equirect scene (height = width / 2), RGB uint8, periodic in longitude.

    Colour fields at several scales plus shapes, lines and text give every region of the
    sphere structure to match features on, while staying band-limited enough that a
    stitch can be compared to it pixel for pixel.
    """
    rng = np.random.default_rng(seed)
    w, h = int(width), int(width) // 2
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((w / 8, 0.55), (w / 32, 0.3), (w / 128, 0.15)):
        noise = rng.standard_normal((h, w, 3)).astype(np.float32)
        field_ = _wrap_blur(noise, scale / 3)
        field_ /= field_.std() + 1e-6
        img += amp * field_
    img = 0.5 + 0.18 * img
    canvas = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    for _ in range(int(w / 12)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(h // 12, h - h // 12))
        kind = rng.integers(0, 3)
        s = int(rng.integers(max(2, w // 400), max(3, w // 60)))
        if kind == 0:
            cv2.circle(canvas, (x, y), s, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(canvas, (x, y), (x + s, y + int(s * rng.uniform(0.5, 2))), colour, -1, cv2.LINE_AA)
        else:
            x2, y2 = x + int(rng.integers(-4 * s, 4 * s)), y + int(rng.integers(-4 * s, 4 * s))
            cv2.line(canvas, (x, y), (x2, y2), colour, max(1, s // 6), cv2.LINE_AA)
    for i in range(12):
        cv2.putText(
            canvas, f"ORBIT {seed}-{i}", (int(i * w / 12), int(h * (0.3 + 0.4 * (i % 2)))),
            cv2.FONT_HERSHEY_SIMPLEX, w / 2400, (255, 255, 255), max(1, w // 1200), cv2.LINE_AA,
        )
    # a light blur keeps the scene band-limited (no aliasing in the fisheye renders)
    return np.clip(_wrap_blur(canvas.astype(np.float32), max(0.6, w / 3000)), 0, 255).round().astype(np.uint8)


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


# ---- rendering ----------------------------------------------------------------------------
class RigRenderer:
    """Renders what the rig's lenses record of ``scene`` for a given camera orientation.

    Per-lens ray directions, masks and photometric gains are computed once; each frame
    costs one direction rotation and one remap per lens.
    """

    def __init__(self, rig: RigProfile, scene: NDArray[np.uint8]) -> None:
        if rig.layout != "dual-fisheye-sbs":
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
        sh, sw = self.scene.shape[:2]
        xy = dirs_to_equirect(dirs, (sw, sh)).astype(np.float32) - 0.5
        # INTER_AREA is not available for remap; the scene is band-limited, linear is fine
        return cv2.remap(self.scene, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


@dataclass
class SyntheticRecording:
    """What was rendered: enough to recompute any frame's ground truth."""

    path: str
    rig: RigProfile
    renderer: RigRenderer
    fps: Fraction
    frames: int
    motion: CameraMotion = field(default=static_motion)

    def orientation(self, index: int) -> Rotation:
        return self.motion(index / float(self.fps))

    def ground_truth(self, index: int, size: SizeLike) -> NDArray[np.uint8]:
        return self.renderer.ground_truth(size, self.orientation(index))

    def iter_frames(self) -> Iterator[NDArray[np.uint8]]:
        for i in range(self.frames):
            yield self.renderer.render(self.orientation(i))


def write_rig_video(
    path: StrPath,
    rig: RigProfile,
    scene: NDArray[np.uint8],
    *,
    frames: int = 30,
    fps: Fraction | int = 30,
    motion: CameraMotion = static_motion,
    crf: int = 12,
    preset: str = "veryfast",
    codec: str = "h264",
    audio: bool = False,
    gop: int | None = None,
    bframes: int | None = None,
) -> SyntheticRecording:
    """Render and encode a synthetic dual-fisheye recording; return its ground truth."""
    from .video import EncodeOptions, VideoWriter

    fps = Fraction(fps)
    renderer = RigRenderer(rig, scene)
    rec = SyntheticRecording(str(path), rig, renderer, fps, frames, motion)
    opts = EncodeOptions(codec=codec, crf=crf, preset=preset, gop=gop, bframes=bframes)
    with VideoWriter(path, size=rig.frame_size, fps=fps, options=opts, synth_audio=audio) as writer:
        for frame in rec.iter_frames():
            writer.write(frame)
    return rec


def simulate_power_loss(src: StrPath, dst: StrPath, *, keep_fraction: float = 0.8, mdat_size: str = "as-written") -> int:
    """Copy ``src`` as a camera that lost power would have left it; return the bytes kept.

    The ``moov`` is dropped and the media data cut after ``keep_fraction`` of its
    payload (mid-sample, as a flash page boundary falls). ``mdat_size`` is "as-written"
    (the header claims more than the file holds) or "zero" (never updated). Streams in
    blocks; the source is only read.
    """
    import struct
    from pathlib import Path

    from .isobmff import iter_boxes

    size = Path(src).stat().st_size
    with open(src, "rb") as f, open(dst, "wb") as out:
        boxes = [b for b in iter_boxes(f, 0, size) if b.type != b"moov"]
        mdat = next(b for b in boxes if b.type == b"mdat")
        for b in boxes:
            if b.offset > mdat.offset:
                break
            f.seek(b.offset)
            if b is mdat:
                header = bytearray(f.read(b.header_size))
                if mdat_size == "zero":
                    header[0:4] = struct.pack(">I", 0) if b.header_size == 8 else struct.pack(">I", 1)
                    if b.header_size == 16:
                        header[8:16] = struct.pack(">Q", 0)
                out.write(header)
                remaining = int(b.payload_size * keep_fraction)
            else:
                remaining = b.size
            while remaining > 0:
                chunk = f.read(min(remaining, 16 << 20))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
        return out.tell()
