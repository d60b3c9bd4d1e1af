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

Photometric compensation (exposure, colour gain, vignetting) is a per-pixel linear-light
gain of each lens, exact under the sRGB transfer: the plan stores, per pixel and channel,
the row of a (gain level × code value) table, 4096 log-spaced gains from 1/16 to 16 (0.14%
apart); per frame that is one integer add and one table gather.

Blending over the band: ``blend="multiband"`` (default) blends each frequency band over a
width matching its wavelength (``blend.laplacian_blend``) across a sharp seam: the
geometric one (both lenses equally far off-axis), or the per-frame seam of least
difference that ``blend.SeamTracker`` finds and passes as ``apply(frame, seam=...)``.
``blend="feather"`` is a linear ramp across the band. Band rectangles are padded so the
pyramids see context; only their inner part is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import dirs_to_fisheye, lonlat_to_dirs
from ..profile import LensProfile, RigProfile
from .blend import laplacian_blend, ring_coords

__all__ = ["StitchPlan", "BandRect", "ENCODED_GAMMA", "DECODE_LUT", "gain_index", "apply_gain", "BLENDS"]

ENCODED_GAMMA = 2.2
"""Power-law approximation of the transfer (kept for callers; compensation uses sRGB)."""

BLENDS = ("multiband", "feather")

_ROW_CHUNK = 256  # rows of output computed at once while planning (bounds planner memory)


def _make_luts() -> NDArray[np.float32]:
    x = np.arange(256, dtype=np.float64) / 255.0
    dec = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return dec.astype(np.float32)


DECODE_LUT = _make_luts()
"""``DECODE_LUT[v]``: linear light of sRGB code value v (0..255)."""

_GAIN_K = 4096
_GAIN_LOG2 = 4.0  # gains from 2**-4 to 2**4


def _make_gain_tables() -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    gains = np.exp2(np.linspace(-_GAIN_LOG2, _GAIN_LOG2, _GAIN_K)).astype(np.float32)
    lin = np.clip(DECODE_LUT[None, :] * gains[:, None], 0.0, 1.0)
    enc = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055) * 255.0
    return np.clip(np.round(enc), 0, 255).astype(np.uint8).ravel(), enc.astype(np.float32).ravel()


_TABLE_U8, _TABLE_F32 = _make_gain_tables()


def gain_index(gain: NDArray[np.floating]) -> NDArray[np.int32]:
    """Offsets into the gain tables of linear-light gains (any shape), for ``apply_gain``."""
    lg = np.log2(np.clip(np.asarray(gain, np.float64), 2.0**-_GAIN_LOG2, 2.0**_GAIN_LOG2))
    return (np.round((lg + _GAIN_LOG2) / (2 * _GAIN_LOG2) * (_GAIN_K - 1)).astype(np.int32) * 256)


def apply_gain(
    values: NDArray[np.uint8], index: NDArray[np.int32], *, as_float: bool = False, out: NDArray[np.uint8] | None = None
) -> NDArray[np.uint8] | NDArray[np.float32]:
    """sRGB code values with linear-light gains applied (``index`` from ``gain_index``)."""
    idx = np.add(index, values, dtype=np.int32)
    if as_float:
        return np.take(_TABLE_F32, idx)
    return np.take(_TABLE_U8, idx, out=out, mode="clip") if out is not None else np.take(_TABLE_U8, idx)


def _lens_linear_gain(lens: LensProfile, xy: NDArray[np.float64]) -> NDArray[np.float32]:
    """Linear-light gain (..., 3) undoing ``lens``' exposure, colour and vignetting at frame positions."""
    r_norm = np.hypot(xy[..., 0] - lens.center[0], xy[..., 1] - lens.center[1]) / lens.radius
    lin = lens.exposure * lens.vignetting_gain(np.minimum(r_norm, 1.0))[..., None] * np.asarray(lens.color_gain)
    return (1.0 / np.maximum(lin, 1e-3)).astype(np.float32)


def lens_gain_index(rig: RigProfile, dirs: NDArray[np.float64]) -> list[NDArray[np.int32]]:
    """Per lens, the compensation gain (..., 3) at rig directions, as ``gain_index`` offsets."""
    out = []
    for lens in rig.lenses:
        local = lens.rotation().inverse(dirs)
        xy, _ = dirs_to_fisheye(local, lens.model(), lens.max_theta)
        out.append(gain_index(_lens_linear_gain(lens, xy)))
    return out


@dataclass(frozen=True)
class BandRect:
    """One rectangle of the overlap band, with what is needed to blend it.

    The rectangle [x0, x1) × [y0, y1) holds band pixels; it is computed over the padded
    rectangle [px0, px1) × [py0, py1) (context for the pyramids) and only the inner part
    is written. Arrays cover the padded rectangle: ``maps[i]`` the fixed-point remap maps
    of lens i, ``weight`` the front lens' feather weight, ``seam_mask`` 1 where the front
    lens wins at the geometric seam, ``valid[i]`` where lens i sees the pixel, ``gains[i]``
    lens i's linear-light gains as ``gain_index`` offsets (h×w×3) or None when neutral, ``ring_col``/``ring_eps``
    each pixel's seam-ring column and elevation (for a per-frame seam), ``full[i]`` whether
    lens i sees the whole padded rectangle.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    maps: tuple[tuple[NDArray[np.int16], NDArray[np.uint16]], ...]
    weight: NDArray[np.float32]
    gains: tuple[NDArray[np.int32] | None, ...]
    px0: int = 0
    py0: int = 0
    px1: int = 0
    py1: int = 0
    seam_mask: NDArray[np.float32] | None = None
    valid: tuple[NDArray[np.bool_], ...] = ()
    ring_col: NDArray[np.int32] | None = None
    ring_eps: NDArray[np.float32] | None = None
    full: tuple[bool, ...] = (False, False)


@dataclass
class StitchPlan:
    """Precomputed maps and weights for stitching one rig to one equirect size.

    Build with ``StitchPlan.build(rig, width)``; then ``plan.apply(frame)`` per frame.
    ``frame`` is the recorded side-by-side frame (h, w, 3) uint8 RGB.
    """

    rig: RigProfile
    size: tuple[int, int]
    dominant_maps: tuple[NDArray[np.int16], NDArray[np.uint16]]
    dominant_gain: NDArray[np.int32] | None
    bands: list[BandRect]
    weight: NDArray[np.float32] = field(repr=False)
    blend_width_deg: float = 0.0
    blend: str = "multiband"
    levels: int = 0
    compensate: bool = True
    seam_half_rad: float = 0.0
    seam_width: int = 0
    seam: str = "geometric"
    _tracker: object | None = field(default=None, repr=False)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        rig: RigProfile,
        width: int,
        *,
        blend_width_deg: float | None = None,
        compensate: bool = True,
        blend: str = "multiband",
        seam_width: int | None = None,
        seam: str = "geometric",
    ) -> "StitchPlan":
        """Plan the stitch of ``rig`` to an equirect ``width`` × ``width // 2``.

        :param blend_width_deg: full width of the band across the seam, in degrees of
            difference between the two lenses' off-axis angles; default 80% of the
            overlap the narrower lens allows.
        :param compensate: apply the lenses' exposure, colour and vignetting models.
        :param blend: "multiband" (Laplacian pyramid across a sharp seam) or "feather".
        :param seam_width: columns of the seam ring a per-frame seam is given in
            (``SeamTracker``); default width // 4.
        :param seam: "geometric" (fixed: both lenses equally far off-axis; ``apply`` is
            stateless) or "tracked" (multiband only: ``apply`` runs a ``SeamTracker``, so
            the plan then holds state and frames must come in order; ``reset_seam()``
            at a cut).
        """
        if width < 16 or width % 2:
            raise ValueError(f"output width must be even and >= 16, got {width}")
        if len(rig.lenses) != 2:
            raise ValueError("a dual-fisheye rig has exactly two lenses")
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        if seam not in ("geometric", "tracked") or (seam == "tracked" and blend != "multiband"):
            raise ValueError(f"seam must be 'geometric', or 'tracked' with the multiband blend, got {seam!r} with {blend!r}")
        w, h = int(width), int(width) // 2
        overlap = min(l.fov_deg for l in rig.lenses) - 180.0
        if blend_width_deg is None:
            blend_width_deg = max(0.5, 0.8 * overlap) if overlap > 0 else 0.5
        half = np.radians(blend_width_deg) / 2.0
        seam_width = int(seam_width or max(64, w // 4))
        # multiband: coarsest band about as wide as the blend band at the equator, where
        # the off-axis angle difference changes twice as fast as longitude
        band_px = blend_width_deg / 2.0 / 360.0 * w
        levels = int(np.clip(math.floor(math.log2(max(band_px, 2.0) / 2.0)), 1, 6)) if blend == "multiband" else 0
        pad = 2**levels if levels else 0

        mapx = np.empty((h, w), np.float32)
        mapy = np.empty((h, w), np.float32)
        weight = np.empty((h, w), np.float32)
        front_side = np.empty((h, w), bool)
        lens_maps = [(np.empty((h, w), np.float32), np.empty((h, w), np.float32)) for _ in rig.lenses]
        lens_valid = [np.empty((h, w), bool) for _ in rig.lenses]
        need_gain = compensate and any(_has_photometry(l) for l in rig.lenses)
        lens_gain = [np.empty((h, w, 3), np.float32) for _ in rig.lenses] if need_gain else None
        ring_col = np.empty((h, w), np.int32)
        ring_eps = np.empty((h, w), np.float32)

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
                lens_valid[i][y0:y1] = valid
                thetas.append(theta)
                valids.append(valid)
                if lens_gain is not None:
                    lens_gain[i][y0:y1] = _lens_linear_gain(lens, xy)
            # front weight: ramp across the seam where both lenses are equally far off-axis
            wf = np.clip(0.5 + (thetas[1] - thetas[0]) / (2.0 * half), 0.0, 1.0)
            wf = np.where(~valids[0], 0.0, np.where(~valids[1], 1.0, wf))
            weight[y0:y1] = wf
            front_side[y0:y1] = np.where(~valids[0], False, np.where(~valids[1], True, thetas[0] <= thetas[1]))
            ring_col[y0:y1], ring_eps[y0:y1] = ring_coords(dirs, seam_width, half)
        front = weight >= 0.5
        mapx[:] = np.where(front, lens_maps[0][0], lens_maps[1][0])
        mapy[:] = np.where(front, lens_maps[0][1], lens_maps[1][1])
        dominant = cv2.convertMaps(mapx, mapy, cv2.CV_16SC2)
        dominant_gain = None
        if lens_gain is not None:
            dominant_gain = gain_index(np.where(front[..., None], lens_gain[0], lens_gain[1]))
        block = max(32, 4 * pad)  # padding costs less on taller rectangles
        ctx = _PlanArrays(lens_maps, lens_valid, weight, front_side, lens_gain, ring_col, ring_eps)
        bands = [_band_rect(r, ctx, pad, blend == "multiband") for r in _band_rects(weight, block=block)]
        plan = cls(
            rig, (w, h), dominant, dominant_gain, bands, weight, float(blend_width_deg),
            blend, levels, bool(compensate), float(half), seam_width, seam,
        )
        if seam == "tracked":
            from .blend import SeamTracker

            plan._tracker = SeamTracker(plan, width=seam_width)
        return plan

    def reset_seam(self) -> None:
        """Forget the tracked seam's history (at a scene cut); no-op for a geometric seam."""
        if self._tracker is not None:
            self._tracker.reset()  # type: ignore[attr-defined]

    # ---- applying ------------------------------------------------------------------------
    def apply(
        self, frame: NDArray[np.uint8], out: NDArray[np.uint8] | None = None, *, seam: NDArray[np.floating] | None = None
    ) -> NDArray[np.uint8]:
        """Stitch one recorded frame to equirect (h, w, 3) uint8 RGB.

        :param seam: optional per-frame seam from ``SeamTracker.update`` (elevation in
            radians per seam-ring column); default the plan's own (geometric, or tracked
            when built with ``seam="tracked"``). Multiband only.
        """
        fw, fh = self.rig.frame_size
        if frame.shape[0] != fh or frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, plan expects {fw}x{fh}")
        m1, m2 = self.dominant_maps
        out = cv2.remap(frame, m1, m2, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_CONSTANT)
        if self.dominant_gain is not None:
            apply_gain(out, self.dominant_gain, out=out)
        if seam is None and self._tracker is not None:
            seam = self._tracker.update(frame)  # type: ignore[attr-defined]
        seam_eps = None if seam is None else np.asarray(seam, np.float32)
        if seam_eps is not None and seam_eps.shape != (self.seam_width,):
            raise ValueError(f"seam must have {self.seam_width} columns, got shape {seam_eps.shape}")
        for b in self.bands:
            out[b.y0 : b.y1, b.x0 : b.x1] = self.blend_band(frame, b, seam=seam_eps)
        return out

    def blend_band(self, frame: NDArray[np.uint8], band: BandRect, *, seam: NDArray[np.float32] | None = None) -> NDArray[np.uint8]:
        """Blend both lenses over one band rectangle; returns its inner part, uint8."""
        layers = []
        for (m1, m2), gain in zip(band.maps, band.gains):
            px = cv2.remap(frame, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            if gain is not None:
                layers.append(apply_gain(px, gain, as_float=True))  # type: ignore[arg-type]
            else:
                layers.append(px.astype(np.float32))
        iy0, iy1 = band.y0 - band.py0, band.y1 - band.py0
        ix0, ix1 = band.x0 - band.px0, band.x1 - band.px0
        if self.blend == "feather":
            wf = band.weight[..., None]
            blended = layers[1] + (layers[0] - layers[1]) * wf
        else:
            if seam is not None and band.ring_col is not None and band.ring_eps is not None:
                mask = (band.ring_eps > seam[band.ring_col]).astype(np.float32)
                mask = np.where(band.valid[0], np.where(band.valid[1], mask, 1.0), 0.0).astype(np.float32)
            else:
                mask = band.seam_mask  # type: ignore[assignment]
            # where a lens sees nothing, lend it the other's pixels: the coarse levels of
            # the pyramid then never pull in black from outside an image circle
            full = band.full
            a = layers[0] if full[0] else np.where(band.valid[0][..., None], layers[0], layers[1])
            b = layers[1] if full[1] else np.where(band.valid[1][..., None], layers[1], layers[0])
            blended = laplacian_blend(a, b, mask, self.levels)
        return np.clip(blended[iy0:iy1, ix0:ix1] + 0.5, 0, 255).astype(np.uint8)


@dataclass
class _PlanArrays:
    lens_maps: list[tuple[NDArray[np.float32], NDArray[np.float32]]]
    lens_valid: list[NDArray[np.bool_]]
    weight: NDArray[np.float32]
    front_side: NDArray[np.bool_]
    lens_gain: list[NDArray[np.float32]] | None
    ring_col: NDArray[np.int32]
    ring_eps: NDArray[np.float32]


def _has_photometry(lens: LensProfile) -> bool:
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


def _band_rect(r: tuple[int, int, int, int], ctx: _PlanArrays, pad: int, multiband: bool) -> BandRect:
    x0, y0, x1, y1 = r
    h, w = ctx.weight.shape
    px0, py0, px1, py1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    sl = (slice(py0, py1), slice(px0, px1))
    maps = tuple(
        cv2.convertMaps(np.ascontiguousarray(mx[sl]), np.ascontiguousarray(my[sl]), cv2.CV_16SC2) for mx, my in ctx.lens_maps
    )
    gains = tuple(gain_index(g[sl]) for g in ctx.lens_gain) if ctx.lens_gain is not None else (None, None)
    seam_mask = ctx.front_side[sl].astype(np.float32) if multiband else None
    return BandRect(
        x0, y0, x1, y1, maps, np.ascontiguousarray(ctx.weight[sl]), gains,  # type: ignore[arg-type]
        px0, py0, px1, py1, seam_mask,
        tuple(np.ascontiguousarray(v[sl]) for v in ctx.lens_valid),
        np.ascontiguousarray(ctx.ring_col[sl]), np.ascontiguousarray(ctx.ring_eps[sl]),
        tuple(bool(v[sl].all()) for v in ctx.lens_valid),
    )
