"""Stitching a dual-lens photo to a photo-sphere JPEG (GPano XMP).

The same stages as video, on one frame: self-calibration from the photo itself (image
circles, overlap geometry, photometry; the camera's nominal rig when that fails, never a
mostly empty sphere: ``_rig.calibrate_source``), ``StitchPlan.apply`` on the RGB frame,
and ``still.write_photosphere`` (written to a temporary name, renamed when complete).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._types import StrPath
from ..profile import RigProfile

__all__ = ["PhotoResult", "stitch_photo"]


@dataclass(frozen=True)
class PhotoResult:
    output: Path
    inputs: tuple[Path, ...]
    size: tuple[int, int]
    calibration: str
    """"given" (a rig was passed), "calibrated" or "nominal"."""

    def summary(self) -> str:
        """What was written, in a line."""
        return f"wrote {self.output}: photo sphere {self.size[0]}x{self.size[1]} (GPano XMP), rig {self.calibration}"


def stitch_photo(
    src: StrPath, dst: StrPath, *, rig: RigProfile | None = None, width: int | None = None, quality: int = 92, log: Callable[[str], None] | None = None
) -> PhotoResult:
    """Stitch the dual-lens photo ``src`` (a GoPro Fusion GF/GB pair by either name, or one
    side-by-side dual-fisheye JPEG) to the photo sphere ``dst``; ``width`` defaults to the
    recorded frame's width (rounded down to a multiple of 4)."""
    from ..cameras import is_photo, open_photo
    from ..errors import OutputError
    from ..still import write_photosphere
    from ._rig import calibrate_source

    if not is_photo(dst):
        raise OutputError("a photo sphere is a JPEG: name the output .jpg", path=dst)
    source = open_photo(src)
    how = "given"
    if rig is None:
        rig, how = calibrate_source(source, warn=log)
    w = (int(width) if width else source.frame_size[0]) // 4 * 4
    plan = source.plan(w, rig)
    out = write_photosphere(plan.apply(source.frame), dst, quality=quality)
    return PhotoResult(out, source.paths, plan.size, how)
