"""Dual-lens photos as a one-frame RigSource: a GoPro Fusion photo pair or one dual-fisheye JPEG.

- GoPro Fusion: the front lens writes ``GFnnnnnn.JPG``, the back lens ``GBnnnnnn.JPG``
  (same number, same folder); either name finds the pair. Stills taken from a Fusion
  video pair keep its lens prefixes (``GPFR0003_x.jpg`` beside ``GPBK0003_x.jpg``): the
  same. The frame is front beside back, as a Fusion video pair (``PairSource``).
- One JPEG holding both circles side by side (Ricoh THETA, Insta360, Samsung Gear 360
  exports): 2:1, with dark corners around the circles; an equirect JPEG (picture in
  those corners) is refused: it is already a photo sphere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .._files import check_input_file
from .._types import StrPath
from ..errors import InputError
from ..profile import RigProfile
from ._content import has_image_circles
from .kinds import Layout

if TYPE_CHECKING:
    from ..stitch import StitchPlan

__all__ = ["PhotoSource", "open_photo", "is_photo", "fusion_photo_pair"]

_PHOTO_SUFFIXES = {".jpg", ".jpeg"}
_FUSION_PHOTO = re.compile(r"^G([FB])(\d{6})$", re.IGNORECASE)
_FUSION_VIDEO_STILL = re.compile(r"^GP(FR|BK)(\d{4}.*)$", re.IGNORECASE)
LAYOUT_PHOTO_PAIR = Layout.PHOTO_PAIR
LAYOUT_PHOTO_SBS = Layout.PHOTO_SIDE_BY_SIDE


def is_photo(path: StrPath) -> bool:
    """Whether ``path`` names a JPEG (by its suffix)."""
    return Path(path).suffix.lower() in _PHOTO_SUFFIXES


def fusion_photo_pair(path: StrPath) -> tuple[Path, Path] | None:
    """(front GF, back GB) of a GoPro Fusion photo named either way, or None when the name
    is not a Fusion photo's. Raises InputError when the partner is missing."""
    p = Path(path)
    m = _FUSION_PHOTO.match(p.stem)
    if m is not None:
        front = m.group(1).upper() == "F"
        want = "G" + ("B" if front else "F") + m.group(2)
    else:
        m = _FUSION_VIDEO_STILL.match(p.stem)
        if m is None:
            return None
        front = m.group(1).upper() == "FR"
        want = "GP" + ("BK" if front else "FR") + m.group(2)
    partner = next((q for q in sorted(p.parent.iterdir()) if q.is_file() and q.stem.upper() == want.upper() and is_photo(q)), None)
    if partner is None:
        raise InputError(f"GoPro Fusion photo without its {'back' if front else 'front'} lens {want}{p.suffix} beside it", path=p)
    return (p, partner) if front else (partner, p)


def _read_rgb(path: Path) -> NDArray[np.uint8]:
    import cv2

    check_input_file(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("not a readable JPEG", path=path)
    return np.ascontiguousarray(img[:, :, ::-1])


@dataclass
class PhotoSource:
    """One dual-lens photo, opened as a recording of one frame (``RigSource``)."""

    frame: NDArray[np.uint8] = field(repr=False)
    paths: tuple[Path, ...]
    camera: str
    layout: str
    fps: Fraction = Fraction(1)
    frame_count: int = 1
    audio_path: Path | None = None
    telemetry_path: Path | None = None
    frame_size: tuple[int, int] = field(init=False)
    yuv_format: None = None
    """A decoded JPEG is RGB: no yuv420p planes to give."""

    def __post_init__(self) -> None:
        self.frame_size = (int(self.frame.shape[1]), int(self.frame.shape[0]))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        if start <= 0 and (stop is None or stop > 0):
            yield self.frame

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        """None to give (``yuv_format`` is None): the ``RigSource`` rule."""
        raise ValueError("a photo has no yuv420p frames (yuv_format is None)")

    def nominal_rig(self) -> RigProfile:
        from ._optics import known_nominal_rig

        return known_nominal_rig(self.frame_size, self.camera)

    def plan(self, width: int, rig: RigProfile | None) -> StitchPlan:
        from ..stitch import following_plan

        rig = rig or self.nominal_rig()
        if tuple(rig.frame_size) != tuple(self.frame_size):
            raise InputError(
                f"rig profile is for {rig.frame_size[0]}x{rig.frame_size[1]} frames, the photo is {self.frame_size[0]}x{self.frame_size[1]}",
                path=self.paths[0],
            )
        return following_plan(rig, width)

    def close(self) -> None:
        pass


def open_photo(path: StrPath) -> PhotoSource:
    """The dual-lens photo at ``path``: a Fusion pair found from either file, or one
    side-by-side dual-fisheye JPEG. Raises InputError naming the file otherwise."""
    p = check_input_file(path)
    pair = fusion_photo_pair(p)
    if pair is not None:
        front, back = (_read_rgb(q) for q in pair)
        if front.shape != back.shape:
            raise InputError(f"the two lenses' photos differ in size ({front.shape[1]}x{front.shape[0]} and {back.shape[1]}x{back.shape[0]})", path=pair[1])
        return PhotoSource(np.concatenate([front, back], axis=1), pair, "GoPro Fusion", f"{LAYOUT_PHOTO_PAIR} ({pair[0].name} + {pair[1].name})")
    img = _read_rgb(p)
    h, w = img.shape[:2]
    if abs(w / h - 2.0) > 0.02:
        raise InputError(f"photo is {w}x{h}, not a 2:1 side-by-side dual-fisheye picture (nor a GoPro Fusion GF/GB pair)", path=p)
    if has_image_circles(img) is False:
        raise InputError("already an equirectangular photo (no image circles in the picture): nothing to stitch", path=p)
    return PhotoSource(img, (p,), "unknown", LAYOUT_PHOTO_SBS)
