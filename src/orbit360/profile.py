"""Lens and rig profiles: what a stitch needs to know about a camera, saved as JSON.

A ``LensProfile`` describes one fisheye lens: where its image circle lies in the frame it
is recorded in, its field of view and distortion, how it is turned relative to the rig,
and its photometric response (exposure, colour, vignetting). A ``RigProfile`` holds the
lenses of one camera and the frame layout. ``orbit360 stitch --lens rig.json`` reads it.

Geometry (see ``orbit360.geometry``): rig frame +x right, +y up, +z forward; the front
lens looks along +z with rotation (0, 0, 0), the back lens along -z with yaw 180.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Self

import numpy as np

from ._types import SizeLike, StrPath
from .errors import InputError
from .geometry import FisheyeModel, Rotation, distort_theta

__all__ = ["LensProfile", "RigProfile", "RigLayout", "LAYOUT_DUAL_FISHEYE_SBS", "LAYOUT_DUAL_FISHEYE_PAIR"]


class RigLayout(StrEnum):
    """How a rig profile's frames hold the two lenses (``RigProfile.layout``; the member is
    its own string, so profile JSON reads and writes exactly as before)."""

    SIDE_BY_SIDE = "dual-fisheye-sbs"
    """Both image circles side by side in one frame (front left, back right), 2:1."""
    PAIR = "dual-fisheye-pair"
    """One lens per video stream or file (GoPro Fusion front/back, Insta360 _00_/_10_)."""


LAYOUT_DUAL_FISHEYE_SBS = RigLayout.SIDE_BY_SIDE
"""``RigLayout.SIDE_BY_SIDE`` (the former name)."""
LAYOUT_DUAL_FISHEYE_PAIR = RigLayout.PAIR
"""``RigLayout.PAIR`` (the former name)."""

PROFILE_FORMAT = "orbit360.rig/1"


@dataclass(frozen=True)
class LensProfile:
    """One fisheye lens.

    :param center: image-circle centre (cx, cy) in pixels of the frame the lens is recorded
        in, pixel centres at i + 0.5.
    :param radius: image-circle radius in pixels (where the field of view ends).
    :param fov_deg: full field of view of the image circle, degrees (190 to 200 typical).
    :param distortion: Kannala-Brandt k1..k4 (OpenCV fisheye); zeros = ideal equidistant.
    :param rotation_ypr: the lens' orientation in the rig, (yaw, pitch, roll) degrees.
    :param source: index of the input frame/stream the lens is recorded in.
    :param exposure: linear gain that brings this lens to the rig's common exposure
        (the stitcher multiplies the lens' linear light by ``1 / exposure``).
    :param color_gain: per-channel (r, g, b) linear gains of this lens relative to neutral.
    :param vignetting: (v1, v2, v3) of the falloff ``1 + v1 r^2 + v2 r^4 + v3 r^6`` with r the
        radius normalised by ``radius`` (the lens' recorded brightness is multiplied by it).
    """

    center: tuple[float, float]
    radius: float
    fov_deg: float = 195.0
    distortion: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    rotation_ypr: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: int = 0
    exposure: float = 1.0
    color_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignetting: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def max_theta(self) -> float:
        """Half the field of view, radians."""
        return math.radians(self.fov_deg) / 2.0

    @property
    def focal(self) -> float:
        """Focal length in pixels implied by radius, FOV and distortion."""
        return float(self.radius / distort_theta(self.max_theta, self.distortion))

    def model(self) -> FisheyeModel:
        return FisheyeModel(self.center[0], self.center[1], self.focal, tuple(self.distortion))  # type: ignore[arg-type]

    def rotation(self) -> Rotation:
        """Lens-to-rig rotation: ``rig_dir = lens.rotation()(lens_dir)``."""
        return Rotation.from_ypr(*self.rotation_ypr)

    def vignetting_gain(self, r_norm: np.ndarray) -> np.ndarray:
        """Brightness factor at normalised radius ``r_norm`` (1 at the centre)."""
        r2 = np.asarray(r_norm, dtype=np.float64) ** 2
        v1, v2, v3 = self.vignetting
        return 1.0 + r2 * (v1 + r2 * (v2 + r2 * v3))

    def replace(self, **changes: Any) -> Self:
        return replace(self, **changes)


@dataclass(frozen=True)
class RigProfile:
    """A dual-fisheye camera: layout, input frame size and its lenses (front first)."""

    frame_size: tuple[int, int]
    lenses: tuple[LensProfile, ...]
    layout: str = RigLayout.SIDE_BY_SIDE
    camera: str = "unknown"
    notes: dict[str, Any] = field(default_factory=dict)
    response: tuple[float, float] = (2.4, 0.055)
    """The camera's response curve shared by both lenses, (gamma, offset): linear light
    ``((v + offset) / (1 + offset)) ** gamma`` of a code value v in [0, 1]; the default is
    sRGB (see ``stitch._response``)."""
    keep_white: bool = False
    """Whether recorded white (clipped) stays white where the compensation darkens a lens
    (the footage clips there: ``stitch.gains.white_stretch``); calibration sets it."""

    @classmethod
    def nominal(cls, frame_size: SizeLike, *, fov_deg: float = 195.0, camera: str = "unknown", fill: float = 1.0) -> Self:
        """The ideal rig for a side-by-side frame: circles centred in each half, back lens yawed 180°.

        ``fill`` is the circle diameter as a fraction of the half-frame's height.
        """
        w, h = int(frame_size[0]), int(frame_size[1])
        half = w / 2.0
        radius = fill * min(half, h) / 2.0
        front = LensProfile(center=(half / 2.0, h / 2.0), radius=radius, fov_deg=fov_deg)
        back = LensProfile(center=(half * 1.5, h / 2.0), radius=radius, fov_deg=fov_deg, rotation_ypr=(180.0, 0.0, 0.0))
        return cls(frame_size=(w, h), lenses=(front, back), layout=RigLayout.SIDE_BY_SIDE, camera=camera)

    def replace(self, **changes: Any) -> Self:
        return replace(self, **changes)

    def scaled_to(self, frame_size: SizeLike, *, path: StrPath | None = None) -> Self:
        """This rig for the same camera recording ``frame_size`` frames (same sensor crop).

        Everything in pixels (circle centres and radii) scales with the frame; angles,
        distortion and photometry are properties of the optics and stay. A frame of another
        aspect is another crop of the sensor, which no scale maps: InputError saying so.
        """
        w, h = int(frame_size[0]), int(frame_size[1])
        fw, fh = self.frame_size
        if (w, h) == (fw, fh):
            return self
        sx, sy = w / fw, h / fh
        # sizes are whole pixels: allow the rounding of either dimension, nothing more
        if w <= 0 or h <= 0 or abs(sx - sy) > max(1.0 / fw, 1.0 / fh) * max(sx, sy) + 1e-9:
            raise InputError(
                f"rig profile is for {fw}x{fh} frames, the video is {w}x{h}: another aspect ratio "
                f"({fw / fh:.4f} vs {w / h:.4f}) is another crop of the sensor, which a profile cannot be scaled to",
                path=path,
            )
        s = 0.5 * (sx + sy)
        lenses = tuple(l.replace(center=(l.center[0] * sx, l.center[1] * sy), radius=l.radius * s) for l in self.lenses)
        notes = dict(self.notes)
        notes["scaled_from"] = [fw, fh]
        return replace(self, frame_size=(w, h), lenses=lenses, notes=notes)

    def with_lens(self, index: int, lens: LensProfile) -> Self:
        lenses = list(self.lenses)
        lenses[index] = lens
        return replace(self, lenses=tuple(lenses))

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = PROFILE_FORMAT
        return d

    @classmethod
    def from_dict(cls, d: Any, *, path: StrPath | None = None) -> Self:
        """Build from a parsed JSON object; raises InputError on anything that is not a rig."""
        try:
            if not isinstance(d, dict) or d.get("format") != PROFILE_FORMAT:
                raise ValueError(f"not an orbit360 rig profile (expected \"format\": \"{PROFILE_FORMAT}\")")
            lenses = tuple(_lens_from_dict(x) for x in d["lenses"])
            if len(lenses) != 2:
                raise ValueError(f"a dual-fisheye rig needs 2 lenses, found {len(lenses)}")
            w, h = (int(v) for v in d["frame_size"])
            if w <= 0 or h <= 0:
                raise ValueError("frame_size must be positive")
            return cls(
                frame_size=(w, h),
                lenses=lenses,
                layout=str(d.get("layout", RigLayout.SIDE_BY_SIDE)),
                camera=str(d.get("camera", "unknown")),
                notes=dict(d.get("notes", {})),
                response=_response_from(d.get("response", (2.4, 0.055))),
                keep_white=bool(d.get("keep_white", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = str(exc) if isinstance(exc, ValueError) else f"missing or malformed field {exc}"
            raise InputError(f"not a rig profile: {msg}", path=path) from None

    def save(self, path: StrPath) -> None:
        from ._files import atomic_output

        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: StrPath) -> Self:
        from ._files import check_input_file

        p = check_input_file(path)
        try:
            d = json.loads(p.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not a rig profile: invalid JSON ({exc.__class__.__name__})", path=p) from None
        return cls.from_dict(d, path=p)


def _floats(v: Any, n: int) -> tuple[float, ...]:
    t = tuple(float(x) for x in v)
    if len(t) != n or not all(math.isfinite(x) for x in t):
        raise ValueError(f"expected {n} finite numbers, got {v!r}")
    return t


def _response_from(v: Any) -> tuple[float, float]:
    gamma, offset = _floats(v, 2)
    if not (1.0 <= gamma <= 8.0 and -0.15 <= offset <= 8.0):  # as stitch._response.check_response
        raise ValueError(f"response (gamma, offset) must lie in [1, 8] x [-0.15, 8], got {v!r}")
    return gamma, offset


def _lens_from_dict(d: dict[str, Any]) -> LensProfile:
    lens = LensProfile(
        center=_floats(d["center"], 2),  # type: ignore[arg-type]
        radius=float(d["radius"]),
        fov_deg=float(d.get("fov_deg", 195.0)),
        distortion=_floats(d.get("distortion", (0, 0, 0, 0)), 4),  # type: ignore[arg-type]
        rotation_ypr=_floats(d.get("rotation_ypr", (0, 0, 0)), 3),  # type: ignore[arg-type]
        source=int(d.get("source", 0)),
        exposure=float(d.get("exposure", 1.0)),
        color_gain=_floats(d.get("color_gain", (1, 1, 1)), 3),  # type: ignore[arg-type]
        vignetting=_floats(d.get("vignetting", (0, 0, 0)), 3),  # type: ignore[arg-type]
    )
    if not (lens.radius > 0 and 90.0 < lens.fov_deg < 360.0 and lens.exposure > 0):
        raise ValueError("lens radius, fov_deg (90..360) and exposure must be positive")
    return lens
