"""RemapPlan: a FramePlan for formats that are already a sphere (EAC tiles), no lens model.

Built once per (layout, output size): every equirect output pixel gets a source position
in the recorded frame (one ``cv2.remap``). Where a layout stores the same directions
twice (the GoPro MAX overlap strips), a second source position and a blend weight are
kept for just those pixels, and mixed in after the remap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import equirect_grid_dirs

__all__ = ["RemapPlan", "SourceMap"]

SourceMap = Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]]
"""``f(dirs (N, 3)) -> (xy (N, 2), xy_b (N, 2) or None, weight_b (N,) or None)``: source
positions (x, y) in the recorded frame, pixel centres at i + 0.5; where ``weight_b > 0``
the output is ``(1 - w) * frame[xy] + w * frame[xy_b]``."""

_ROWS = 128  # output rows planned at once (bounds planner memory)


@dataclass
class RemapPlan:
    """Precomputed equirect maps for one recorded-frame size; ``apply(frame)`` per frame."""

    size: tuple[int, int]
    frame_size: tuple[int, int]
    maps: tuple[NDArray, NDArray] = field(repr=False)
    blend_index: NDArray[np.int64] = field(repr=False)
    blend_maps: tuple[NDArray[np.float32], NDArray[np.float32]] = field(repr=False)
    blend_weight: NDArray[np.float32] = field(repr=False)
    rig: None = None

    @classmethod
    def build(cls, source_map: SourceMap, frame_size: tuple[int, int], width: int) -> "RemapPlan":
        """Plan an equirect of ``width`` x ``width // 2`` from frames of ``frame_size``."""
        if width < 16 or width % 2:
            raise ValueError(f"output width must be even and >= 16, got {width}")
        w, h = int(width), int(width) // 2
        mapx = np.empty((h, w), np.float32)
        mapy = np.empty((h, w), np.float32)
        idx_parts, bx_parts, by_parts, bw_parts = [], [], [], []
        for y0 in range(0, h, _ROWS):
            y1 = min(h, y0 + _ROWS)
            dirs = equirect_grid_dirs((w, h), rows=(y0, y1))
            flat = dirs.reshape(-1, 3)
            xy, xy_b, wb = source_map(flat)
            mapx[y0:y1] = (xy[:, 0] - 0.5).reshape(y1 - y0, w)
            mapy[y0:y1] = (xy[:, 1] - 0.5).reshape(y1 - y0, w)
            if xy_b is not None and wb is not None:
                sel = np.flatnonzero(wb > 0)
                idx_parts.append(sel + y0 * w)
                bx_parts.append(xy_b[sel, 0] - 0.5)
                by_parts.append(xy_b[sel, 1] - 0.5)
                bw_parts.append(wb[sel])
        maps = cv2.convertMaps(mapx, mapy, cv2.CV_16SC2)
        cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)  # noqa: E731
        index = cat(idx_parts, np.int64)
        bmaps = (_block(cat(bx_parts, np.float32)), _block(cat(by_parts, np.float32)))
        return cls((w, h), (int(frame_size[0]), int(frame_size[1])), maps, index, bmaps, cat(bw_parts, np.float32))

    def apply(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
        fw, fh = self.frame_size
        if frame.shape[0] != fh or frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, plan expects {fw}x{fh}")
        out = cv2.remap(frame, self.maps[0], self.maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.blend_index.size:
            b = cv2.remap(frame, self.blend_maps[0], self.blend_maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            flat = out.reshape(-1, out.shape[-1])
            a = flat[self.blend_index].astype(np.float32)
            wgt = self.blend_weight[:, None]
            b = b.reshape(-1, out.shape[-1])[: self.blend_index.size].astype(np.float32)
            flat[self.blend_index] = np.clip(a + (b - a) * wgt + 0.5, 0, 255).astype(np.uint8)
        return out


def _block(values: NDArray[np.float32], cols: int = 1024) -> NDArray[np.float32]:
    """Values laid out as rows of ``cols`` (cv2.remap takes at most 32767 columns), zero-padded."""
    n = -(-values.size // cols) * cols
    out = np.zeros(max(n, cols), np.float32)
    out[: values.size] = values
    return out.reshape(-1, cols)


