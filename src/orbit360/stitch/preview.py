"""A picture of a calibration for a person to look at: the stitch with its seam and overlap."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..profile import RigProfile
from .plan import StitchPlan

__all__ = ["render_preview", "calibration_preview", "write_calibration_preview"]


def render_preview(rig: RigProfile, frame: NDArray[np.uint8], *, width: int = 2048, caption: str | None = None) -> NDArray[np.uint8]:
    """Stitched equirect (RGB uint8) with the overlap band tinted and its edges drawn in
    yellow, the seam (both lenses equally far off-axis) in red, and a caption."""
    plan = StitchPlan.build(rig, width)
    out = plan.apply(frame)
    w = plan.weight
    band = (w > 0.0) & (w < 1.0)
    tint = out.astype(np.float32)
    tint[band] = 0.8 * tint[band] + 0.2 * np.array([255.0, 220.0, 0.0])
    out = np.clip(tint, 0, 255).astype(np.uint8)
    out[_outline(band)] = (255, 220, 0)
    out[_outline(w >= 0.5)] = (255, 0, 0)
    text = caption or "orbit360 calibrate: red = seam, yellow = overlap band"
    scale = max(0.45, width / 2000)
    lines = text.splitlines()
    step = int(28 * scale) + 6
    banner = out[: step * len(lines) + 8]
    banner[:] = (banner * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        org = (10, step * (i + 1))
        cv2.putText(out, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    return out


def calibration_preview(rig: RigProfile, frame: NDArray[np.uint8], *, caption: str) -> NDArray[np.uint8]:
    """What ``orbit360 calibrate --preview`` shows: ``render_preview`` at the frame's width
    (1024 to 4096 wide) above full-size crops of the seam (``report.seam_crops``)."""
    from .report import seam_crops

    img = render_preview(rig, frame, width=min(4096, max(1024, int(frame.shape[1]))), caption=caption)
    crops = seam_crops(rig, frame)  # full size, below the overview
    pad = np.zeros((crops.shape[0], max(0, img.shape[1] - crops.shape[1]), 3), np.uint8)
    return np.concatenate([img, np.concatenate([crops[:, : img.shape[1]], pad], axis=1)])


def write_calibration_preview(rig: RigProfile, frame: NDArray[np.uint8], path: StrPath, *, caption: str) -> None:
    """``calibration_preview`` written to ``path`` (PNG or JPEG by its suffix), complete or
    not at all. Raises OutputError when the picture cannot be written."""
    from .._files import atomic_output
    from ..errors import OutputError

    img = calibration_preview(rig, frame, caption=caption)
    with atomic_output(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OutputError("could not write PNG", path=path)


def _outline(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels on the border of a region (2 px wide; the image edge is not a border)."""
    m = mask.astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    grown = cv2.dilate(m, k, borderType=cv2.BORDER_REPLICATE)
    shrunk = cv2.erode(m, k, borderType=cv2.BORDER_REPLICATE)
    return (grown - shrunk) > 0
