"""Reframing: flat (rectilinear) or little-planet (stereographic) views of a 360 video.

A view is a direction (a ``Rotation``, camera -> world, built from yaw/pitch/roll) and a
field of view. A ``ViewPath`` holds keyframes ``(t, yaw, pitch, roll, fov)`` and gives the
view at any time: the direction by quaternion squad (spherical cubic, through every
keyframe; plain slerp when there are two), the FOV by monotone cubic (PCHIP, which never
overshoots the keyed values). Before the first and after the last keyframe the view holds.

Rendering follows v360's principle: per output pixel, the camera-frame ray of the chosen
projection (cached per size/FOV), rotated into the world, looked up in the equirect
frame; the lookup map is applied with one ``cv2.remap`` (bilinear, wrapping across the
lon = +-180 seam). Maps are rebuilt only when the view changes between frames.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import PchipInterpolator

from ._files import check_input_file, within_job
from ._types import SizeLike, StrPath
from .errors import InputError
from .geometry.quaternions import qconj, qexp, qlog, qmul
from .geometry.rectilinear import rectilinear_grid_rays
from .geometry.quaternions import slerp
from .geometry.rotation import Rotation, matrix_to_quaternion, quaternion_to_matrix
from .geometry.stereographic import stereographic_grid_rays

if TYPE_CHECKING:
    from .video import EncodeOptions

__all__ = [
    "Projection",
    "Keyframe",
    "ViewPath",
    "load_view_path",
    "ViewRenderer",
    "render_view",
    "reframe_video",
    "DEFAULT_FOV",
    "DEFAULT_LOOK",
    "DEFAULT_SIZE",
    "parse_size",
    "parse_angles",
]


class Projection(str, Enum):
    """How a reframed view maps the sphere onto the flat image."""

    FLAT = "flat"  # rectilinear: straight lines stay straight, FOV < 180
    PLANET = "planet"  # stereographic little planet, FOV up to ~330


DEFAULT_FOV = {Projection.FLAT: 90.0, Projection.PLANET: 280.0}
"""Default full-width field of view in degrees per projection."""

DEFAULT_LOOK = {Projection.FLAT: (0.0, 0.0, 0.0), Projection.PLANET: (0.0, -90.0, 0.0)}
"""Default (yaw, pitch, roll) per projection: ahead, or straight down for the planet."""

DEFAULT_SIZE = {Projection.FLAT: (1920, 1080), Projection.PLANET: (1080, 1080)}
"""Default output (width, height) per projection."""

_FOV_RANGE = {Projection.FLAT: (1.0, 179.0), Projection.PLANET: (1.0, 359.0)}


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> (1920, 1080); both even and at least 2 (yuv420p needs even sizes)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"size must look like 1920x1080, got {text!r}")
    width, height = int(match[1]), int(match[2])
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"width and height must be even and at least 2, got {width}x{height}")
    return width, height


def parse_angles(text: str) -> tuple[float, float, float]:
    """``"30,-10"`` or ``"30,-10,5"`` -> (yaw, pitch, roll) in degrees (roll defaults to 0)."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise ValueError(f"expected YAW,PITCH[,ROLL] in degrees, got {text!r}")
    yaw, pitch, *rest = values
    return yaw, pitch, rest[0] if rest else 0.0


@dataclass(frozen=True)
class Keyframe:
    """The view at time ``t`` (seconds): yaw, pitch, roll and full-width FOV in degrees."""

    t: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float = 90.0

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_ypr(self.yaw, self.pitch, self.roll)


class ViewPath:
    """The view (direction and FOV) over time, interpolated through keyframes.

    :param keyframes: one or more keyframes with strictly increasing ``t``.
    :raises ValueError: on no keyframes or times that do not increase.
    """

    def __init__(self, keyframes: Sequence[Keyframe]) -> None:
        if not keyframes:
            raise ValueError("a view path needs at least one keyframe")
        times = np.array([k.t for k in keyframes], dtype=np.float64)
        if np.any(np.diff(times) <= 0):
            raise ValueError("keyframe times must strictly increase")
        self.keyframes: tuple[Keyframe, ...] = tuple(keyframes)
        self.times = times
        quats = np.array([matrix_to_quaternion(k.rotation.matrix) for k in keyframes])
        # Same hemisphere as the previous key, so each segment takes the short way round.
        for i in range(1, len(quats)):
            if np.dot(quats[i - 1], quats[i]) < 0:
                quats[i] = -quats[i]
        self.quaternions = quats
        # Squad control points s_i = q_i exp(-(log(q_i^-1 q_i+1) + log(q_i^-1 q_i-1)) / 4);
        # the end keys are their own control points (zero end tangent).
        controls = quats.copy()
        if len(quats) > 2:
            inner = quats[1:-1]
            inv = qconj(inner)
            tangent = qlog(qmul(inv, quats[2:])) + qlog(qmul(inv, quats[:-2]))
            controls[1:-1] = qmul(inner, qexp(-tangent / 4.0))
        self.controls = controls
        fovs = np.array([k.fov for k in keyframes], dtype=np.float64)
        self._fov: Callable[[NDArray[np.float64]], NDArray[np.float64]] = (
            PchipInterpolator(times, fovs) if len(keyframes) > 1 else (lambda t: np.full(len(t), fovs[0]))
        )

    @classmethod
    def fixed(cls, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, fov: float = 90.0) -> ViewPath:
        """A path that looks one way all the time."""
        return cls([Keyframe(0.0, yaw, pitch, roll, fov)])

    def sample(self, times: Sequence[float] | NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Quaternions (N, 4) (w, x, y, z) and FOVs (N,) in degrees at ``times`` (seconds)."""
        t = np.clip(np.asarray(times, dtype=np.float64).reshape(-1), self.times[0], self.times[-1])
        if len(self.times) == 1:
            return np.repeat(self.quaternions, len(t), axis=0), self._fov(t)
        segment = np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.times) - 2)
        t0, t1 = self.times[segment], self.times[segment + 1]
        u = (t - t0) / (t1 - t0)
        q0, q1 = self.quaternions[segment], self.quaternions[segment + 1]
        s0, s1 = self.controls[segment], self.controls[segment + 1]
        # squad keeps each arc as given (its control points may sit on the far side)
        outer = slerp(q0, q1, u, shortest_arc=False), slerp(s0, s1, u, shortest_arc=False)
        quats = slerp(*outer, 2.0 * u * (1.0 - u), shortest_arc=False)
        return quats, np.asarray(self._fov(t), dtype=np.float64)

    def at(self, t: float) -> tuple[Rotation, float]:
        """The view rotation (camera -> world) and FOV in degrees at time ``t``."""
        quats, fovs = self.sample([t])
        return Rotation(quaternion_to_matrix(quats[0])), float(fovs[0])


def load_view_path(path: StrPath, *, default_fov: float = 90.0) -> ViewPath:
    """Read keyframes from JSON: ``{"keyframes": [{"t": 0, "yaw": 0, "pitch": 0, "roll": 0, "fov": 90}, ...]}``.

    A bare list of keyframe objects is accepted too. Missing angles are 0 and a missing
    ``fov`` is ``default_fov``; ``t`` is required. Raises InputError naming the file.
    """
    p = check_input_file(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", path=p) from None
    rows = data.get("keyframes") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise InputError('expected {"keyframes": [...]} with at least one keyframe', path=p)
    keyframes = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"keyframe {i} is not an object", path=p)
        unknown = set(row) - {"t", "yaw", "pitch", "roll", "fov"}
        if unknown:
            raise InputError(f"keyframe {i}: unknown field(s) {', '.join(sorted(unknown))}", path=p)
        if "t" not in row:
            raise InputError(f"keyframe {i}: missing 't' (seconds)", path=p)
        values = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "fov": default_fov, **row}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"keyframe {i}: {name!r} must be a finite number, got {value!r}", path=p)
        keyframes.append(Keyframe(**{k: float(v) for k, v in values.items()}))
    try:
        return ViewPath(keyframes)
    except ValueError as exc:
        raise InputError(str(exc), path=p) from None


class ViewRenderer:
    """Renders views of equirect frames at one output size and projection.

    Camera rays are cached per FOV and the remap maps per (rotation, FOV), so a fixed
    view costs one ``cv2.remap`` per frame.
    """

    def __init__(self, size: SizeLike, projection: Projection | str = Projection.FLAT) -> None:
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] < 2 or self.size[1] < 2:
            raise ValueError(f"output size must be at least 2x2, got {self.size}")
        from ._budget import BYTES_PER_VIEW_PIXEL, check_memory

        # the rays, remap tables and frames of this size, checked before any is allocated
        check_memory(BYTES_PER_VIEW_PIXEL * self.size[0] * self.size[1], f"a {self.size[0]}x{self.size[1]} view", "choose a smaller --size")
        self.projection = Projection(projection)
        self._rays: tuple[float, NDArray[np.float32]] | None = None
        self._maps: tuple[bytes, tuple[int, int], NDArray[np.float32], NDArray[np.float32]] | None = None

    def camera_rays(self, fov_deg: float) -> NDArray[np.float32]:
        """Rays (h, w, 3) in the camera frame through each output pixel centre (not unit)."""
        if self._rays is None or self._rays[0] != fov_deg:
            low, high = _FOV_RANGE[self.projection]
            if not low <= fov_deg <= high:
                raise ValueError(f"{self.projection.value} FOV must be in [{low}, {high}] degrees, got {fov_deg}")
            grid_rays = rectilinear_grid_rays if self.projection is Projection.FLAT else stereographic_grid_rays
            self._rays = (fov_deg, grid_rays(self.size, fov_deg))
        return self._rays[1]

    def maps(
        self, rotation: Rotation, fov_deg: float, source_size: SizeLike
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """``cv2.remap`` maps (x, y), float32, into an equirect frame of ``source_size``."""
        key = np.append(rotation.matrix.ravel(), fov_deg).tobytes()
        src_w, src_h = int(source_size[0]), int(source_size[1])
        if self._maps is None or self._maps[0] != key or self._maps[1] != (src_w, src_h):
            rays = self.camera_rays(fov_deg)
            # cv2.transform is a threaded 3x3 multiply per pixel: world = R @ camera.
            world = cv2.transform(rays.reshape(-1, 1, 3), rotation.matrix.astype(np.float32)).reshape(rays.shape)
            x, y, z = world[..., 0], world[..., 1], world[..., 2]
            # The equirect formulas of geometry.equirect in float32; arctan2 needs no unit rays.
            lon = np.arctan2(x, z)
            lat = np.arctan2(y, np.hypot(x, z))
            # OpenCV puts pixel centres at integers; ours are at +0.5.
            map_x = lon * np.float32(src_w / (2 * np.pi)) + np.float32(src_w / 2 - 0.5)
            # Clamp rows: wrapping vertically would blend the zenith with the nadir row.
            map_y = np.clip(np.float32(src_h / 2 - 0.5) - lat * np.float32(src_h / np.pi), 0.0, src_h - 1.0)
            self._maps = (key, (src_w, src_h), map_x.astype(np.float32), map_y.astype(np.float32))
        return self._maps[2], self._maps[3]

    def render(self, equirect: NDArray[np.uint8], rotation: Rotation, fov_deg: float) -> NDArray[np.uint8]:
        """The view of one equirect frame (h, w, C) as (out_h, out_w, C)."""
        if equirect.ndim not in (2, 3) or equirect.shape[1] != 2 * equirect.shape[0]:
            raise ValueError(f"expected a 2:1 equirect frame, got shape {equirect.shape}")
        map_x, map_y = self.maps(rotation, fov_deg, (equirect.shape[1], equirect.shape[0]))
        # BORDER_WRAP carries the bilinear window across the lon = +-180 seam.
        return cv2.remap(equirect, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def render_view(
    equirect: NDArray[np.uint8],
    *,
    size: SizeLike,
    rotation: Rotation | None = None,
    fov_deg: float | None = None,
    projection: Projection | str = Projection.FLAT,
) -> NDArray[np.uint8]:
    """One view of one equirect frame; see ``ViewRenderer`` for many frames."""
    proj = Projection(projection)
    renderer = ViewRenderer(size, proj)
    return renderer.render(equirect, rotation or Rotation.identity(), fov_deg or DEFAULT_FOV[proj])


def reframe_frames(
    frames: Iterator[NDArray[np.uint8]], fps: float, path: ViewPath, renderer: ViewRenderer
) -> Iterator[NDArray[np.uint8]]:
    """Render each equirect frame with the view ``path`` gives at its time (index / fps)."""
    for index, frame in enumerate(frames):
        rotation, fov = path.at(index / fps)
        yield renderer.render(frame, rotation, fov)


def _write_views(writer, reader, span, path: ViewPath, renderer: ViewRenderer, progress, src: Path) -> None:  # type: ignore[no-untyped-def]
    """The views of ``span``'s frames of ``reader`` into ``writer``."""
    fps = float(reader.fps)
    done = 0
    for done, frame in enumerate(reader.frames(span.start, span.stop), 1):
        rotation, fov = path.at((span.start + done - 1) / fps)  # the path's times are the source's
        writer.write(renderer.render(frame, rotation, fov))
        if progress is not None:
            progress(done, span.frames)
    if done == 0:  # damaged sample tables: an empty video is not a result
        raise InputError("no video frame could be decoded", path=src)


@within_job
def reframe_video(
    src: StrPath,
    dst: StrPath,
    *,
    path: ViewPath,
    size: SizeLike = (1920, 1080),
    projection: Projection | str = Projection.FLAT,
    options: EncodeOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    start_s: float | None = None,
    stop_s: float | None = None,
) -> Path:
    """Write a flat or little-planet cut of the 360 video ``src`` to ``dst``, audio kept.

    ``start_s``/``stop_s``: only the frames of [start_s, stop_s) seconds
    (``timerange.frame_span``), the audio cut at the same instants; the view path's times
    stay those of ``src``.

    :param path: the view over time (``ViewPath.fixed(...)`` for a fixed look).
    :param size: output (width, height) in pixels, both even (yuv420p).
    :param options: ``video.EncodeOptions``; default H.264 CRF 20.
    :param progress: called with (frames done, frame count) after each frame.
    :raises InputError: when ``src`` is not a readable 2:1 equirect video.
    """
    from .video import EncodeOptions, VideoWriter, open_reader  # noqa: F811 - PyAV loads lazily

    renderer = ViewRenderer(size, projection)
    if renderer.size[0] % 2 or renderer.size[1] % 2:
        raise ValueError(f"output size must be even in both dimensions, got {renderer.size[0]}x{renderer.size[1]}")
    for key in path.keyframes:  # fail before decoding anything, not at frame 900
        low, high = _FOV_RANGE[renderer.projection]
        if not low <= key.fov <= high:
            raise ValueError(f"{renderer.projection.value} FOV must be in [{low}, {high}] degrees, got {key.fov}")
    encode = options if options is not None else EncodeOptions()
    from .timerange import frame_span

    with open_reader(src) as reader:
        width, height = reader.size
        if width != 2 * height:
            raise InputError(f"not a 2:1 equirect video ({width}x{height})", path=src)
        span = frame_span(start_s, stop_s, fps=reader.fps, frame_count=reader.frame_count, path=src)
        if span.frames == reader.frame_count:
            with VideoWriter(dst, size=renderer.size, fps=reader.fps, options=encode, audio_from=src) as writer:
                _write_views(writer, reader, span, path, renderer, progress, Path(src))
        else:  # a range: the video alone first, then joined with the audio cut to the range
            import tempfile

            from .video import concat_segments

            with tempfile.TemporaryDirectory(prefix=".reframe.", dir=Path(dst).parent or ".") as scratch:
                video_only = Path(scratch) / "video.mp4"
                with VideoWriter(video_only, size=renderer.size, fps=reader.fps, options=encode) as writer:
                    _write_views(writer, reader, span, path, renderer, progress, Path(src))
                concat_segments([video_only], dst, audio_from=src, spherical=False, span=span.seconds)
    return Path(dst)
