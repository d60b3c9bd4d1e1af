"""RemapPlan: a FramePlan for formats that are already a sphere (EAC tiles), no lens model.

Built once per (layout, output size): every equirect output pixel gets a source position
in the recorded frame (one ``cv2.remap``). Where a layout stores the same directions
twice (the GoPro MAX overlap strips), both source positions and a blend weight are kept
for just those pixels, laid out in rows of ``_BLOCK`` (a remap gives each copy as a small
image, blended there and written back to the output pixels they belong to).

Video is stitched as decoded, in yuv420p planes (``RemapPlan.yuv420``, ``RemapYuv``):
luma by the plan's maps, chroma by the plan of the same layout at half size, no colour
conversion on either side (at 5.4K on one core here: about 25 ms a frame after decoding
and 120 before encoding; the whole stitch 89 ms against 243, bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import equirect_grid_dirs
from ..stitch import run_chunks
from ..video import Planes, stitch_planes

__all__ = ["RemapPlan", "RemapYuv", "SourceMap"]

SourceMap = Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]]
"""``f(dirs (N, 3)) -> (xy (N, 2), xy_b (N, 2) or None, weight_b (N,) or None)``: source
positions (x, y) in the recorded frame, pixel centres at i + 0.5; where ``weight_b > 0``
the output is ``(1 - w) * frame[xy] + w * frame[xy_b]``."""

_ROWS = 128  # output rows planned at once (bounds planner memory)
_BLOCK = 1024  # columns of the blend pixels' block layout (cv2.remap takes at most 32767)


@dataclass
class RemapPlan:
    """Precomputed equirect maps for one recorded-frame size; ``apply(frame)`` per frame.

    ``blend_rows`` / ``blend_cols`` are the output pixels where two copies are mixed;
    ``blend_a`` / ``blend_b`` the positions of both copies and ``blend_weight`` the second
    one's weight, each in rows of ``_BLOCK`` (zero-padded past the last pixel).
    """

    size: tuple[int, int]
    frame_size: tuple[int, int]
    maps: tuple[NDArray, NDArray] = field(repr=False)
    blend_rows: NDArray[np.intp] = field(repr=False)
    blend_cols: NDArray[np.intp] = field(repr=False)
    blend_a: tuple[NDArray[np.float32], NDArray[np.float32]] = field(repr=False)
    blend_b: tuple[NDArray[np.float32], NDArray[np.float32]] = field(repr=False)
    blend_weight: NDArray[np.float32] = field(repr=False)
    blend_weight_a: NDArray[np.float32] = field(repr=False)
    """1 - ``blend_weight`` (1 on the padding, so ``cv2.blendLinear`` never divides by 0)."""
    rig: None = None
    chroma_map: SourceMap | None = field(default=None, repr=False)
    """The source map of the same layout for a frame of half the size: where 4:2:0 chroma
    is read (``yuv420``); None: this plan stitches RGB frames only."""

    @classmethod
    def build(cls, source_map: SourceMap, frame_size: tuple[int, int], width: int, *, chroma_map: SourceMap | None = None) -> "RemapPlan":
        """Plan an equirect of ``width`` x ``width // 2`` from frames of ``frame_size``;
        ``chroma_map``: the layout's source map at half size (for yuv420p frames)."""
        if width < 16 or width % 2:
            raise ValueError(f"output width must be even and >= 16, got {width}")
        w, h = int(width), int(width) // 2
        mapx = np.empty((h, w), np.float32)
        mapy = np.empty((h, w), np.float32)
        found: dict[int, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]] = {}

        def rows(y0: int) -> None:
            y1 = min(h, y0 + _ROWS)
            dirs = equirect_grid_dirs((w, h), rows=(y0, y1))
            xy, xy_b, wb = source_map(dirs.reshape(-1, 3))
            mapx[y0:y1] = (xy[:, 0] - 0.5).reshape(y1 - y0, w)
            mapy[y0:y1] = (xy[:, 1] - 0.5).reshape(y1 - y0, w)
            if xy_b is not None and wb is not None:
                sel = np.flatnonzero(wb > 0)
                found[y0] = (sel + y0 * w, xy[sel] - 0.5, xy_b[sel] - 0.5, wb[sel])

        # row chunks are independent and numpy releases the GIL: one per core at a time
        run_chunks(rows, range(0, h, _ROWS))
        parts = [found[y0] for y0 in sorted(found)]
        maps = cv2.convertMaps(mapx, mapy, cv2.CV_16SC2)
        index = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)

        def block(k: int, col: int | None) -> NDArray[np.float32]:
            values = [p[k] if col is None else p[k][:, col] for p in parts]
            return _block(np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32))

        weight = block(3, None)
        weight_a = np.where(np.arange(weight.size).reshape(weight.shape) < index.size, 1.0 - weight, 1.0).astype(np.float32)
        return cls(
            (w, h), (int(frame_size[0]), int(frame_size[1])), maps, (index // w).astype(np.intp), (index % w).astype(np.intp),
            (block(1, 0), block(1, 1)), (block(2, 0), block(2, 1)), weight, weight_a, chroma_map=chroma_map,
        )

    memory_frames = 0
    """A remap keeps no state from frame to frame (``FramePlan``)."""

    @property
    def stitches_yuv420(self) -> bool:
        """Whether ``yuv420`` serves this plan: the layout's chroma map is known, the width
        a multiple of 4 and the recorded frame even."""
        fw, fh = self.frame_size
        return self.chroma_map is not None and self.size[0] % 4 == 0 and fw % 2 == 0 and fh % 2 == 0

    def observe(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """No state to advance (``FramePlan``): the frame as it is."""
        return frame

    def reset(self) -> None:
        """No state to forget (``FramePlan``)."""

    def apply(self, frame: NDArray[np.uint8], out: NDArray[np.uint8] | None = None, *, index: int | None = None) -> NDArray[np.uint8]:
        """The equirect (h, w, 3) of one recorded RGB frame, into ``out`` when given
        ((h, w, 3) uint8); ``index`` (the frame's number, ``FramePlan``) is not used."""
        fw, fh = self.frame_size
        if frame.shape[0] != fh or frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, plan expects {fw}x{fh}")
        w, h = self.size
        if out is not None and (out.shape != (h, w) + frame.shape[2:] or out.dtype != np.uint8):
            raise ValueError(f"out is {out.shape} {out.dtype}, the plan stitches {(h, w) + frame.shape[2:]} uint8")
        out = cv2.remap(frame, self.maps[0], self.maps[1], cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_REPLICATE)
        self._blend(frame, out)
        return out

    def _blend(self, src: NDArray[np.uint8], out: NDArray[np.uint8]) -> None:
        """Mix both copies where the layout holds two, into ``out`` (any row stride)."""
        n = self.blend_rows.size
        if not n:
            return
        a = cv2.remap(src, *self.blend_a, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        b = cv2.remap(src, *self.blend_b, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mixed = cv2.blendLinear(a, b, self.blend_weight_a, self.blend_weight)
        out[self.blend_rows, self.blend_cols] = mixed.reshape((-1,) + mixed.shape[2:])[:n]

    def yuv420(self, *, matrix: str = "bt601", full_range: bool = False) -> "RemapYuv":
        """This plan for yuv420p frames: planes stitched with no colour conversion, so the
        output keeps the recording's ``matrix`` (taken for ``StitchPlan.yuv420``'s
        signature), in limited range. Built on first use and kept."""
        cache = self.__dict__.setdefault("_yuv", {})
        key = bool(full_range)
        if key not in cache:
            cache[key] = RemapYuv(self, full_range=key)
        return cache[key]  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("_yuv", None)  # rebuilt on use (chroma plan, float maps)
        return state


class RemapYuv:
    """A ``RemapPlan`` for yuv420p frames: ``RemapPlan.yuv420()``; ``apply(frame, out)``.

    Luma is remapped with the plan's own positions, as float maps (the faster kind for one
    uint8 channel in OpenCV 5); the chroma planes, sited at the centre of each 2x2 block,
    by the plan of the same layout for a frame and an output of half the size. A full-range
    recording is brought to limited range by one table per plane on the output.
    """

    def __init__(self, plan: RemapPlan, *, full_range: bool = False) -> None:
        if plan.chroma_map is None:
            raise ValueError("this plan has no chroma source map: it stitches RGB frames only")
        w, h = plan.size
        fw, fh = plan.frame_size
        if w % 4 or fw % 2 or fh % 2:
            raise ValueError(f"yuv420p needs an output width that is a multiple of 4 and an even frame, got {w} and {fw}x{fh}")
        self.plan = plan
        self.size = plan.size
        self.full_range = bool(full_range)
        self.luma_maps = cv2.convertMaps(plan.maps[0], plan.maps[1], cv2.CV_32FC1)
        self.chroma = RemapPlan.build(plan.chroma_map, (fw // 2, fh // 2), w // 2)
        self.chroma_maps = cv2.convertMaps(self.chroma.maps[0], self.chroma.maps[1], cv2.CV_32FC1)
        self.luts = _RANGE_LUTS if full_range else None

    memory_frames = 0
    """No state from frame to frame (``YuvPlan``)."""

    def observe(self, frame: "NDArray[np.uint8] | Planes") -> "NDArray[np.uint8] | Planes":
        """No state to advance (``YuvPlan``): the frame as it is."""
        return frame

    def apply(
        self, frame: "NDArray[np.uint8] | Planes", out: "NDArray[np.uint8] | Planes | None" = None, *, index: int | None = None
    ) -> "NDArray[np.uint8] | Planes":
        """Stitch one recorded yuv420p frame (one (fh * 3 // 2, fw) array, or its (Y, U, V)
        planes); into ``out`` when given (an array of the output's layout or plane views);
        ``index`` is not used."""
        planes, out, dst = stitch_planes(frame, self.plan.frame_size, out, self.size)
        for k, (src, plane) in enumerate(zip(planes, dst)):
            plan, maps = (self.plan, self.luma_maps) if k == 0 else (self.chroma, self.chroma_maps)
            cv2.remap(src, *maps, cv2.INTER_LINEAR, dst=plane, borderMode=cv2.BORDER_REPLICATE)
            plan._blend(src, plane)
            if self.luts is not None:
                cv2.LUT(plane, self.luts[min(k, 1)], dst=plane)
        return out


def _range_luts() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Full-range code value -> limited range: luma 0..255 -> 16..235, chroma about 128
    scaled by 224 / 255."""
    v = np.arange(256, dtype=np.float64)
    luma = np.round(16.0 + v * 219.0 / 255.0)
    chroma = np.round(128.0 + (v - 128.0) * 224.0 / 255.0)
    return luma.astype(np.uint8), np.clip(chroma, 0, 255).astype(np.uint8)


_RANGE_LUTS = _range_luts()


def _block(values: NDArray[np.float32], cols: int = _BLOCK) -> NDArray[np.float32]:
    """Values laid out as rows of ``cols`` (cv2.remap takes at most 32767 columns), zero-padded."""
    n = -(-values.size // cols) * cols
    out = np.zeros(max(n, cols), np.float32)
    out[: values.size] = values
    return out.reshape(-1, cols)
