"""RigSource: what every camera format looks like to the stitcher.

A camera format (side-by-side dual fisheye, GoPro Fusion front/back pair, GoPro MAX
.360 with two EAC tracks, Insta360 .insv, a GoPro chapter set) is opened as a
``RigSource``. It yields *recorded frames* (one RGB ndarray per output frame, in the
layout its ``nominal_rig`` describes) and builds the plan that turns such a frame into
equirect. The pipeline only ever talks to this interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..errors import InputError
from ..profile import RigProfile
from ..stitch import FramePlan, StitchPlan, YuvFrame
from .kinds import Layout

if TYPE_CHECKING:
    from ..video import YuvFormat

__all__ = ["RigSource", "FramePlan", "SideBySideSource", "open_side_by_side"]


@runtime_checkable
class RigSource(Protocol):
    """A recording from a 360 camera, opened for stitching.

    - ``paths``: the input files (one, or several for pairs and chapter sets).
    - ``camera``/``layout``: human-readable maker + model and layout names.
    - ``fps``, ``frame_count``, ``frame_size`` (size of the recorded frame it yields).
    - ``frames(start, stop)``: recorded frames with index in [start, stop).
    - ``nominal_rig()``: the best profile known without calibration (None when the
      format needs none, e.g. EAC, which is already a sphere).
    - ``plan(width, rig)``: the FramePlan for an equirect of ``width``.
    - ``audio_path``: the file whose audio tracks are copied to the output (or None).
    - ``telemetry_path``: the file holding gpmd telemetry (or None).
    - ``yuv_format``: how the recorded frames are coded when ``yuv420_frames`` can give
      them as decoded yuv420p planes (8-bit 4:2:0, BT.601/BT.709), else None;
      ``yuv420_frames(start, stop)``: those planes (only when ``yuv_format`` is set), in
      the layout of ``frames``.
    """

    paths: tuple[Path, ...]
    camera: str
    layout: str
    fps: Fraction
    frame_count: int
    frame_size: tuple[int, int]
    audio_path: Path | None
    telemetry_path: Path | None

    @property
    def yuv_format(self) -> YuvFormat | None: ...

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]: ...

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[YuvFrame]: ...

    def nominal_rig(self) -> RigProfile | None: ...

    def plan(self, width: int, rig: RigProfile | None) -> FramePlan: ...

    def close(self) -> None: ...


@dataclass
class SideBySideSource:
    """Both image circles side by side in one video track (Insta360, Theta, Gear 360 exports,
    and synthetic rigs)."""

    path: Path
    camera: str = "unknown"
    layout: str = Layout.SIDE_BY_SIDE
    fov_deg: float = 195.0
    rig_hint: RigProfile | None = None
    """The camera's own lens data (e.g. an Insta360 trailer), used as the nominal rig."""
    paths: tuple[Path, ...] = field(init=False)
    fps: Fraction = field(init=False)
    frame_count: int = field(init=False)
    frame_size: tuple[int, int] = field(init=False)
    audio_path: Path | None = field(init=False)
    telemetry_path: Path | None = field(init=False)
    yuv_format: "YuvFormat | None" = field(init=False)
    """How the recorded yuv420p frames are coded when ``yuv420_frames`` can give them as
    decoded (8-bit 4:2:0, BT.601/BT.709), else None."""

    def __post_init__(self) -> None:
        from ..video import open_reader

        self.paths = (self.path,)
        with open_reader(self.path) as r:
            w, h = r.size
            if h <= 0 or abs(w / h - 2.0) > 0.02:
                raise InputError(
                    f"video is {w}x{h}, not a 2:1 side-by-side dual-fisheye frame (single-lens or already stitched?)",
                    path=self.path,
                )
            self.fps, self.frame_count, self.frame_size = r.fps, r.frame_count, r.size
            self.yuv_format = r.yuv_format
        self.audio_path = self.path
        self.telemetry_path = self.path

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        from ..video import open_reader

        with open_reader(self.path) as r:
            yield from r.frames(start, stop)

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[YuvFrame]:
        """Recorded frames as decoded yuv420p planes (Y, U, V): views of the decoder's
        buffers, no conversion and no copy."""
        from ..video import open_reader

        with open_reader(self.path) as r:
            yield from r.frames(start, stop, yuv420=True)

    def nominal_rig(self) -> RigProfile:
        if self.rig_hint is not None:
            return self.rig_hint
        return RigProfile.nominal(self.frame_size, fov_deg=self.fov_deg, camera=self.camera)

    def plan(self, width: int, rig: RigProfile | None) -> StitchPlan:
        from ..stitch import following_plan

        rig = rig or self.nominal_rig()
        rig = rig.scaled_to(self.frame_size, path=self.path)  # same camera at another resolution
        # each lens exposes on its own, frame by frame: followed (``stitch._follow``)
        return following_plan(rig, width, fps=float(self.fps))

    def close(self) -> None:
        pass


def open_side_by_side(path: StrPath, **kw: object) -> SideBySideSource:
    return SideBySideSource(Path(path), **kw)  # type: ignore[arg-type]
