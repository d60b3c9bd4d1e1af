"""StitchPlan: everything a dual-fisheye → equirect stitch needs, computed once per
(rig, output size) and reused for every frame.

Principle of operation (after FFmpeg's v360):

1. For each output pixel, the unit direction in the rig frame (equirect geometry).
2. Per lens: rotate into the lens frame, project through the fisheye model to a source
   pixel in the recorded frame, and note whether the lens sees it (inside its FOV).
3. Blend weight of the front lens from the angular distances to both optical axes: 1 where
   only the front lens sees the pixel, 0 where only the back lens does, a ramp across the
   overlap band.
4. A *dominant* map sends every output pixel to the lens with the larger weight; one
   fixed-point ``cv2.remap`` of that map produces the whole picture ("copy where one lens
   alone covers a pixel").
5. The pixels whose weight is strictly between 0 and 1 are grouped into a few rectangles
   (the overlap band); per frame only those are remapped from both lenses and blended.

Photometric compensation (exposure, colour gain, vignetting) is a per-pixel gain of each
lens, applied in the encoded domain as ``gain ** (1 / 2.2)`` (a linear-light gain under a
2.2 power-law transfer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import dirs_to_fisheye, lonlat_to_dirs
from ..profile import RigProfile

__all__ = ["StitchPlan", "BandRect", "ENCODED_GAMMA"]

ENCODED_GAMMA = 2.2
"""Transfer exponent used to turn linear-light gains into encoded-value gains."""

_ROW_CHUNK = 256  # rows of output computed at once while planning (bounds planner memory)


@dataclass(frozen=True)
class BandRect:
    """One rectangle of the overlap band, with what is needed to blend it.

    ``maps[i]`` are the fixed-point remap maps of lens i over the rectangle,
    ``weight`` the front lens' weight (float32, h×w), ``gains[i]`` the encoded-domain
    per-channel gains of lens i (h×w×3, float32) or None when neutral.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    maps: tuple[tuple[NDArray[np.int16], NDArray[np.uint16]], ...]
    weight: NDArray[np.float32]
    gains: tuple[NDArray[np.float32] | None, ...]


@dataclass
class StitchPlan:
    """Precomputed maps and weights for stitching one rig to one equirect size.

    Build with ``StitchPlan.build(rig, width)``; then ``plan.apply(frame)`` per frame.
    ``frame`` is the recorded side-by-side frame (h, w, 3) uint8 RGB.
    """

    rig: RigProfile
    size: tuple[int, int]
    dominant_maps: tuple[NDArray[np.int16], NDArray[np.uint16]]
    dominant_gain: NDArray[np.float32] | None
    bands: list[BandRect]
    weight: NDArray[np.float32] = field(repr=False)
    blend_width_deg: float = 0.0

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build(cls, rig: RigProfile, width: int, *, blend_width_deg: float | None = None, compensate: bool = True) -> "StitchPlan":
        """Plan the stitch of ``rig`` to an equirect ``width`` × ``width // 2``.

        :param blend_width_deg: full width of the feathered band across the seam, in
            degrees of difference between the two lenses' off-axis angles; default 80% of
            the overlap the narrower lens allows.
        :param compensate: apply the lenses' exposure, colour and vignetting models.
        """
        if width < 16 or width % 2:
            raise ValueError(f"output width must be even and >= 16, got {width}")
        if len(rig.lenses) != 2:
            raise ValueError("a dual-fisheye rig has exactly two lenses")
        w, h = int(width), int(width) // 2
        overlap = min(l.fov_deg for l in rig.lenses) - 180.0
        if blend_width_deg is None:
            blend_width_deg = max(0.5, 0.8 * overlap) if overlap > 0 else 0.5
        half = np.radians(blend_width_deg) / 2.0

        mapx = np.empty((h, w), np.float32)
        mapy = np.empty((h, w), np.float32)
        weight = np.empty((h, w), np.float32)
        lens_maps = [(np.empty((h, w), np.float32), np.empty((h, w), np.float32)) for _ in rig.lenses]
        need_gain = compensate and any(_has_photometry(l) for l in rig.lenses)
        lens_gain = [np.empty((h, w, 3), np.float32) for _ in rig.lenses] if need_gain else None

        for y0 in range(0, h, _ROW_CHUNK):
            y1 = min(h, y0 + _ROW_CHUNK)
            dirs = _rows_dirs(w, h, y0, y1)
            thetas, valids = [], []
            for i, lens in enumerate(rig.lenses):
                local = lens.rotation().inverse(dirs)
                xy, valid = dirs_to_fisheye(local, lens.model(), lens.max_theta)
                theta = np.arctan2(np.hypot(local[..., 0], local[..., 1]), local[..., 2])
                lens_maps[i][0][y0:y1] = xy[..., 0] - 0.5
                lens_maps[i][1][y0:y1] = xy[..., 1] - 0.5
                thetas.append(theta)
                valids.append(valid)
                if lens_gain is not None:
                    r_norm = np.hypot(xy[..., 0] - lens.center[0], xy[..., 1] - lens.center[1]) / lens.radius
                    lin = lens.exposure * lens.vignetting_gain(np.minimum(r_norm, 1.0))[..., None] * np.asarray(lens.color_gain)
                    lens_gain[i][y0:y1] = (1.0 / np.maximum(lin, 1e-3)) ** (1.0 / ENCODED_GAMMA)
            # front weight: ramp across the seam where both lenses are equally far off-axis
            wf = np.clip(0.5 + (thetas[1] - thetas[0]) / (2.0 * half), 0.0, 1.0)
            wf = np.where(~valids[0], 0.0, np.where(~valids[1], 1.0, wf))
            weight[y0:y1] = wf
        front = weight >= 0.5
        mapx[:] = np.where(front, lens_maps[0][0], lens_maps[1][0])
        mapy[:] = np.where(front, lens_maps[0][1], lens_maps[1][1])
        dominant = cv2.convertMaps(mapx, mapy, cv2.CV_16SC2)
        dominant_gain = None
        if lens_gain is not None:
            dominant_gain = np.where(front[..., None], lens_gain[0], lens_gain[1]).astype(np.float32)
        bands = [_band_rect(r, lens_maps, weight, lens_gain) for r in _band_rects(weight)]
        return cls(rig, (w, h), dominant, dominant_gain, bands, weight, float(blend_width_deg))

    # ---- applying ------------------------------------------------------------------------
    def apply(self, frame: NDArray[np.uint8], out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
        """Stitch one recorded frame to equirect (h, w, 3) uint8 RGB."""
        fw, fh = self.rig.frame_size
        if frame.shape[0] != fh or frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, plan expects {fw}x{fh}")
        m1, m2 = self.dominant_maps
        out = cv2.remap(frame, m1, m2, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_CONSTANT)
        if self.dominant_gain is not None:
            scaled = out * self.dominant_gain
            np.clip(scaled + 0.5, 0, 255, out=scaled)
            out[:] = scaled
        for b in self.bands:
            out[b.y0 : b.y1, b.x0 : b.x1] = self.blend_band(frame, b)
        return out

    def blend_band(self, frame: NDArray[np.uint8], band: BandRect) -> NDArray[np.uint8]:
        """Feather-blend both lenses over one band rectangle."""
        layers = []
        for (m1, m2), gain in zip(band.maps, band.gains):
            px = cv2.remap(frame, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT).astype(np.float32)
            layers.append(px * gain if gain is not None else px)
        wf = band.weight[..., None]
        blended = layers[1] + (layers[0] - layers[1]) * wf
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _has_photometry(lens) -> bool:  # type: ignore[no-untyped-def]
    return lens.exposure != 1.0 or any(g != 1.0 for g in lens.color_gain) or any(v != 0.0 for v in lens.vignetting)


def _rows_dirs(w: int, h: int, y0: int, y1: int) -> NDArray[np.float64]:
    """Directions of the pixel centres of output rows [y0, y1)."""
    lon = ((np.arange(w) + 0.5) / w - 0.5) * 2.0 * np.pi
    lat = (0.5 - (np.arange(y0, y1) + 0.5) / h) * np.pi
    return lonlat_to_dirs(lon[None, :], lat[:, None])


def _band_rects(weight: NDArray[np.float32], block: int = 32, gap: int = 16) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1) covering every pixel with 0 < weight < 1.

    Rows are grouped in blocks; in each block the columns holding band pixels are split
    into runs (separated by more than ``gap`` band-free columns), one rectangle per run.
    """
    h, w = weight.shape
    mixed = (weight > 0.0) & (weight < 1.0)
    rects: list[tuple[int, int, int, int]] = []
    for y0 in range(0, h, block):
        y1 = min(h, y0 + block)
        cols = np.flatnonzero(mixed[y0:y1].any(axis=0))
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > gap)
        starts = np.concatenate([[cols[0]], cols[breaks + 1]])
        ends = np.concatenate([cols[breaks], [cols[-1]]]) + 1
        rects.extend((int(a), y0, int(b), y1) for a, b in zip(starts, ends))
    return rects


def _band_rect(
    r: tuple[int, int, int, int],
    lens_maps: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    weight: NDArray[np.float32],
    lens_gain: list[NDArray[np.float32]] | None,
) -> BandRect:
    x0, y0, x1, y1 = r
    maps = tuple(cv2.convertMaps(np.ascontiguousarray(mx[y0:y1, x0:x1]), np.ascontiguousarray(my[y0:y1, x0:x1]), cv2.CV_16SC2) for mx, my in lens_maps)
    gains = tuple(np.ascontiguousarray(g[y0:y1, x0:x1]) for g in lens_gain) if lens_gain is not None else (None, None)
    return BandRect(x0, y0, x1, y1, maps, np.ascontiguousarray(weight[y0:y1, x0:x1]), gains)  # type: ignore[arg-type]
