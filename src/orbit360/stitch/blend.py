"""Blending across the overlap band, and a seam that follows the scene.

- ``laplacian_blend``: multi-band blending (Burt and Adelson) of two layers under a seam
  mask: each band of spatial frequency is blended over a width proportional to its
  wavelength, so low frequencies (exposure, shading) cross the seam smoothly while edges
  stay sharp instead of doubling.
- ``SeamTracker``: per frame, the seam path of least colour difference through the
  overlap ring (dynamic programming, one column of the ring at a time), pulled towards
  the previous frame's path and limited in how far it may move per frame, so it follows
  the scene without flickering; the first frame (and the first after ``reset``) takes
  its path whole.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from ._ring import dirs_to_ring, lens_project, ring_dirs

if TYPE_CHECKING:
    from .plan import StitchPlan

__all__ = ["laplacian_blend", "laplacian_blend_u8", "blend_difference", "mask_pyramid", "SeamTracker"]

DIFF_BITS = 4
"""``laplacian_blend_u8`` carries the difference of the two layers in int16 with this many
fractional bits (1/16 of a code value): within one code value of the float blend."""
WEIGHT_BITS = 12
"""Fixed-point weights of ``mask_pyramid``: 1.0 is ``1 << WEIGHT_BITS``."""


def laplacian_blend(
    a: NDArray[np.float32], b: NDArray[np.float32], weight_a: NDArray[np.float32], levels: int
) -> NDArray[np.float32]:
    """Multi-band blend of ``a`` and ``b`` (h, w, 3) float32 with ``a``'s weight (h, w).

    ``levels`` pyramid levels: the coarsest band is blended over about 2**levels pixels.
    """
    ga, gb, gw = [a], [b], [weight_a.astype(np.float32)]
    for _ in range(levels):
        if min(ga[-1].shape[:2]) < 4:
            break
        ga.append(cv2.pyrDown(ga[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        gw.append(cv2.pyrDown(gw[-1]))
    w = gw[-1][..., None]
    out = gb[-1] + (ga[-1] - gb[-1]) * w
    for lvl in range(len(ga) - 2, -1, -1):
        h, wd = ga[lvl].shape[:2]
        up_a = cv2.pyrUp(ga[lvl + 1], dstsize=(wd, h))
        up_b = cv2.pyrUp(gb[lvl + 1], dstsize=(wd, h))
        la = ga[lvl] - up_a
        lb = gb[lvl] - up_b
        w = gw[lvl][..., None]
        out = cv2.pyrUp(out, dstsize=(wd, h)) + lb + (la - lb) * w
    return out


def mask_pyramid(weight_a: NDArray[np.floating], levels: int, channels: int = 3) -> list[NDArray[np.int16]]:
    """Gaussian pyramid of ``a``'s weight (h, w) as fixed-point (h_k, w_k, channels) int16
    layers ((h_k, w_k) for one channel; ``1 << WEIGHT_BITS`` = 1.0), the form
    ``laplacian_blend_u8`` takes for layers of that many channels; level 0 first.
    Stops, as ``laplacian_blend`` does, before a level under 4 pixels."""
    gw = [np.asarray(weight_a, np.float32)]
    for _ in range(levels):
        if min(gw[-1].shape[:2]) < 4:
            break
        gw.append(cv2.pyrDown(gw[-1]))
    one = float(1 << WEIGHT_BITS)
    fixed = [np.round(g * one).astype(np.int16) for g in gw]
    return fixed if channels == 1 else [cv2.merge([g] * channels) for g in fixed]


def laplacian_blend_u8(
    a: NDArray[np.uint8],
    b: NDArray[np.uint8],
    weights: list[NDArray[np.int16]],
    *,
    inner: tuple[slice, slice] | None = None,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Multi-band blend of uint8 layers ``a`` and ``b`` ((h, w, 3), or (h, w) for one
    plane); ``weights`` from ``mask_pyramid`` with as many channels.

    The same blend as ``laplacian_blend``, computed on one pyramid instead of two: the
    Laplacian pyramid is linear, so blending the pyramids of ``a`` and ``b`` is ``b`` plus
    the collapsed pyramid of ``a - b`` weighted level by level. That difference is carried
    in int16 with ``DIFF_BITS`` fractional bits; where a weight is 0 or 1 over a level's
    support the result is exact, elsewhere within one code value of the float blend.

    :param inner: the part (rows, columns) of the layers to return (the rest is context
        for the pyramid); default all of it.
    :param out: where to write the result (shape of ``inner``); allocated when None.
    """
    d = cv2.subtract(a, b, dtype=cv2.CV_16S)
    return blend_difference(d, b, weights, inner=inner, out=out)


def blend_difference(
    diff: NDArray[np.int16],
    b: NDArray[np.uint8],
    weights: list[NDArray[np.int16]],
    *,
    inner: tuple[slice, slice] | None = None,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """``laplacian_blend_u8`` given ``diff`` = a - b (int16, in code values; overwritten)
    instead of ``a``; ``b`` may already be cut to ``inner``."""
    d = diff
    np.left_shift(d, DIFF_BITS, out=d)
    gauss = [d]
    for _ in range(len(weights) - 1):
        gauss.append(cv2.pyrDown(gauss[-1]))
    wscale = 1.0 / (1 << WEIGHT_BITS)
    acc = cv2.multiply(gauss[-1], weights[-1], scale=wscale)
    for lvl in range(len(gauss) - 2, -1, -1):
        h, w = gauss[lvl].shape[:2]
        lap = cv2.subtract(gauss[lvl], cv2.pyrUp(gauss[lvl + 1], dstsize=(w, h)))
        cv2.multiply(lap, weights[lvl], dst=lap, scale=wscale)
        acc = cv2.add(cv2.pyrUp(acc, dstsize=(w, h)), lap)
    if inner is not None:
        acc = acc[inner]
        if b.shape[:2] != acc.shape[:2]:
            b = b[inner]
    np.add(acc, 1 << (DIFF_BITS - 1), out=acc)
    np.right_shift(acc, DIFF_BITS, out=acc)  # rounded (half up) to code values
    return cv2.add(b, acc, dst=out, dtype=cv2.CV_8U)


class SeamTracker:
    """Seam of least difference through the overlap ring, stable from frame to frame.

    The ring (see ``_ring``) has ``width`` columns around the front lens' axis and
    ``rows`` rows across the blend band. Per frame, both lenses are sampled into it
    (photometrically compensated), the per-pixel colour difference is the cost, and a
    dynamic program picks one row per column, moving at most one row between adjacent
    columns and closing on itself. Two terms keep it stable: ``stickiness`` (cost per row
    of distance from the previous frame's seam) and ``max_step_rows`` (how far a column's
    seam may move between frames).

    ``update(frame)`` returns the seam as an elevation per ring column (radians), the
    form ``StitchPlan.apply(frame, seam=...)`` takes.
    """

    def __init__(
        self,
        plan: "StitchPlan",
        *,
        width: int | None = None,
        stickiness: float = 2.0,
        centre_pull: float = 0.5,
        max_step_rows: float = 0.5,
    ) -> None:
        from .plan import lens_gain_index

        self.plan = plan
        self.width = int(width or plan.seam_width)
        self.half = plan.seam_half_rad
        step = 2.0 * np.pi / self.width
        self.rows = max(5, int(round(2.0 * self.half / step)) | 1)
        dirs = ring_dirs(self.width, self.rows, self.half)
        self._maps = []
        valid_all = np.ones((self.rows, self.width), bool)
        thetas = []
        for lens in plan.rig.lenses:
            xy, valid, _ = lens_project(lens, dirs, margin_px=1.0)
            self._maps.append((xy[..., 0].astype(np.float32) - 0.5, xy[..., 1].astype(np.float32) - 0.5))
            valid_all &= valid
            local = lens.rotation().inverse(dirs)
            thetas.append(np.arctan2(np.hypot(local[..., 0], local[..., 1]), local[..., 2]))
        self._gains = lens_gain_index(plan.rig, dirs) if plan.compensate else None
        # geometric seam (both lenses equally far off-axis) as the neutral path
        geo = np.argmin(np.abs(thetas[0] - thetas[1]), axis=0).astype(np.float64)
        self._geo = geo
        rows_idx = np.arange(self.rows)[:, None]
        # the plan blends only where the lenses' off-axis angles differ by less than the
        # band's half width (elevation within about half of it): a seam beyond would meet
        # the dominant copy at the band's edge, so those rows are closed
        inside = np.abs(self.row_to_eps(np.arange(self.rows)))[:, None] <= 0.4 * self.half
        self._base_cost = np.where(valid_all & inside, centre_pull * np.abs(rows_idx - geo[None, :]) / self.rows, 1e3).astype(np.float32)
        self.stickiness = float(stickiness)
        self.max_step_rows = float(max_step_rows)
        self.seam_rows: NDArray[np.float64] = geo.copy()
        self._fresh = True  # the first frame (or the first after a cut) takes its path whole

    @property
    def memory_frames(self) -> int:
        """Frames of history the seam carries (``StitchPlan.memory_frames``): it moves at
        most ``max_step_rows`` a frame, so in ``rows / max_step_rows`` frames it can cross
        its whole band (after a pre-roll that long it is close to, not equal to, the seam
        of a run from the start)."""
        return math.ceil(self.rows / self.max_step_rows)

    def row_to_eps(self, rows: NDArray[np.floating]) -> NDArray[np.float64]:
        """Elevation (radians) of fractional ring rows (row index i has its centre at i + 0.5)."""
        return self.half * (1.0 - 2.0 * (np.asarray(rows, np.float64) + 0.5) / self.rows)

    def difference(self, frame: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Per-pixel colour difference of the two lenses over the ring, (rows, width)."""
        from .plan import apply_gain

        layers = []
        for i, (mx, my) in enumerate(self._maps):
            px = cv2.remap(frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            if self._gains is not None:
                layers.append(apply_gain(px, self._gains[i], as_float=True, response=self.plan.rig.response))
            else:
                layers.append(px.astype(np.float32))
        d = np.abs(layers[0] - layers[1]).sum(axis=2) / 3.0
        return cv2.GaussianBlur(d, (0, 0), 1.0)

    def update(self, frame: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Seam for this frame: elevation (radians) per ring column."""
        cost = self.difference(frame) / 255.0 * 20.0 + self._base_cost
        rows_idx = np.arange(self.rows)[:, None]
        cost = cost + self.stickiness * np.abs(rows_idx - self.seam_rows[None, :]) / self.rows
        path = _closed_dp(cost, int(round(self.seam_rows[0])))
        if self._fresh:
            # nothing on screen to stay stable with: the path where the lenses agree, whole
            self.seam_rows = path
            self._fresh = False
            return self.row_to_eps(self.seam_rows)
        step = np.clip(path - self.seam_rows, -self.max_step_rows, self.max_step_rows)
        self.seam_rows = self.seam_rows + step
        return self.row_to_eps(self.seam_rows)

    def reset(self) -> None:
        self.seam_rows = self._geo.copy()
        self._fresh = True


def _closed_dp(cost: NDArray[np.float32], start: int) -> NDArray[np.float64]:
    """Least-cost path, one row per column, |row step| <= 1, starting and ending at ``start``."""
    rows, width = cost.shape
    big = np.float32(1e9)
    acc = np.full(rows, big, np.float32)
    acc[start] = cost[start, 0]
    back = np.zeros((rows, width), np.int8)
    for x in range(1, width):
        up = np.concatenate([[big], acc[:-1]])
        down = np.concatenate([acc[1:], [big]])
        stack = np.stack([up, acc, down])
        k = np.argmin(stack, axis=0)
        acc = stack[k, np.arange(rows)] + cost[:, x]
        back[:, x] = k.astype(np.int8) - 1
    path = np.empty(width, np.int64)
    y = start if acc[start] < big else int(np.argmin(acc))
    for x in range(width - 1, -1, -1):
        path[x] = y
        y = y + int(back[y, x]) if x > 0 else y
    return path.astype(np.float64)


def ring_coords(dirs: NDArray[np.floating], width: int, half: float) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Ring column (int) and elevation (radians) of rig directions (..., 3)."""
    xy = dirs_to_ring(dirs, width, 2, half)
    col = np.clip(np.floor(xy[..., 0]).astype(np.int32), 0, width - 1)
    d = np.asarray(dirs, np.float64)
    eps = np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1])).astype(np.float32)
    return col, eps
