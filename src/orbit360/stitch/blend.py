"""Blending across the overlap band, and a seam that follows the scene.

- ``laplacian_blend``: multi-band blending (Burt and Adelson) of two layers under a seam
  mask: each band of spatial frequency is blended over a width proportional to its
  wavelength, so low frequencies (exposure, shading) cross the seam smoothly while edges
  stay sharp instead of doubling.
- ``SeamTracker``: per frame, the seam path of least difference of the two lenses
  through the overlap ring (dynamic programming, one column of the ring at a time) on
  the difference averaged over a short window of frames, and the mean of the last few
  such paths: it follows the scene without flickering, and depends on a fixed number of
  past frames only (a segmented job gets the seams of one pass).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from ._ring import dirs_to_ring, lens_project

if TYPE_CHECKING:
    from ..profile import LensProfile
    from .plan import StitchPlan

__all__ = ["laplacian_blend", "laplacian_blend_u8", "blend_difference", "mask_pyramid", "SeamTracker", "SEAM_WINDOW_S", "SEAM_SETTLE_S"]

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


SEAM_WINDOW_S = 0.3
"""The tracked seam's cost is the two lenses' difference averaged over this much of the
video (``SeamTracker``): noise and compression averaged out, a near object that stays
for a moment counted."""
SEAM_SETTLE_S = 0.2
"""Its path is the mean of the least-cost paths of this much of the video: a change of
path is a glide over these frames, never a jump."""
PRIOR_CODES = 3.0
"""Cost (code values of difference) of a seam at the edge of its range instead of on the
geometric seam: where the lenses agree to within noise, the seam stays where the
geometry puts it."""
STEP_CODES = 3.0
"""Cost of a seam step of one ring row between adjacent columns (a smooth seam)."""
NOISE_CODES = 4.0
"""Differences up to this (code values, luma plus chroma, averaged over the window) cost
nothing: noise, compression and the rim's softness make the lenses differ that much
anywhere; a near object, by tens of code values."""
POLE_DEG = 12.0
"""Within this many degrees of the equirect's poles (the rig's +-y) the seam stays the
geometric one: the output stretches the poles over whole rows, so a seam that moved there
would be blended over a band as wide as the frame for a few degrees of sphere."""
_DIFF_SCALE = 16  # difference maps kept as uint16 sixteenths of a code value (sums exact)
_BT601_CHROMA = (0.5 / (1.0 - 0.114), 0.5 / (1.0 - 0.299))  # Cb, Cr per (B - Y), (R - Y)


class SeamTracker:
    """Seam of least difference through the overlap ring, with a finite memory.

    The ring (see ``_ring``) has ``width`` columns around the front lens' axis; in each,
    ``rows`` samples across the seam, ``step`` radians apart and centred on the geometric
    seam (both lenses equally far off-axis), row k at offset (k - ``centre``) * ``step``.
    Per frame, both compensated lenses are sampled there and their difference (luma plus
    chroma, in code values) is kept; the seam of a frame is found on the difference
    averaged over the last ``window`` frames (less ``NOISE_CODES``): a dynamic program
    picks one row per column, moving at most one row between adjacent columns
    (``STEP_CODES`` a row) and closing on itself, pulled towards the geometric seam
    (``PRIOR_CODES``). The seam returned is the
    mean of the last ``settle`` such paths, so a change of path glides over ``settle``
    frames instead of jumping. Offsets stay within 0.4 of the blend band's half width
    (beyond, the seam would meet the band's edge), and at 0 near the output's poles
    (``POLE_DEG``).

    The seam of frame n depends on frames n - ``memory_frames`` .. n only (no other
    state; sums kept in integers, so the order frames entered in does not round
    differently): a video cut into segments, each starting ``memory_frames`` frames
    early (``StitchPlan.observe``), gets the seams of one pass.

    ``update(frame)`` (recorded RGB), ``update_rgb`` (compensated RGB) and
    ``update_planes`` (compensated yuv420p planes) return the seam as an offset from the
    geometric seam per ring column (radians, positive towards the front lens' axis), the
    form ``StitchPlan.apply(frame, seam=...)`` takes; all zero is the geometric seam.
    """

    def __init__(
        self,
        plan: "StitchPlan",
        *,
        width: int | None = None,
        fps: float = 30.0,
        window: int | None = None,
        settle: int | None = None,
    ) -> None:
        self.plan = plan
        self.width = int(width or plan.seam_width)
        half = plan.seam_half_rad
        self.step = 2.0 * np.pi / self.width
        self.centre = max(1, int(math.floor(0.4 * half / self.step)))
        self.rows = 2 * self.centre + 1
        phi = (np.arange(self.width) + 0.5) / self.width * 2.0 * np.pi
        self.geo_eps = _geometric_elevation(plan.rig.lenses, phi, half)
        eps = self.geo_eps[None, :] + (np.arange(self.rows)[:, None] - self.centre) * self.step
        c = np.cos(eps)
        dirs = np.stack([c * np.cos(phi)[None, :], c * np.sin(phi)[None, :], np.sin(eps)], axis=-1)
        # ring positions in the recorded frame per lens (remap convention), and at half
        # size for the chroma planes
        self._maps: list[tuple[NDArray[np.float32], NDArray[np.float32]]] = []
        self._half_maps: list[tuple[NDArray[np.float32], NDArray[np.float32]]] = []
        valid_all = np.ones((self.rows, self.width), bool)
        for lens in plan.rig.lenses:
            xy, valid, _ = lens_project(lens, dirs, margin_px=1.0)
            self._maps.append((xy[..., 0].astype(np.float32) - 0.5, xy[..., 1].astype(np.float32) - 0.5))
            self._half_maps.append(((xy[..., 0] / 2.0).astype(np.float32) - 0.5, (xy[..., 1] / 2.0).astype(np.float32) - 0.5))
            valid_all &= valid
        prior = PRIOR_CODES * np.abs(np.arange(self.rows)[:, None] - self.centre) / self.centre
        polar = np.abs(np.sin(phi)) > math.cos(math.radians(POLE_DEG))  # (ring azimuth 90 and 270 degrees: +-y)
        self._base = np.where(valid_all & ~polar[None, :], prior, 1e4).astype(np.float32)
        self._base[self.centre] = 0.0  # the geometric seam itself is always open
        fps = max(float(fps), 1.0)
        self.window = int(window or max(1, round(SEAM_WINDOW_S * fps)))
        self.settle = int(settle or max(1, round(SEAM_SETTLE_S * fps)))
        self._diffs = _WindowSum(self.window, (self.rows, self.width), np.uint16, np.int32)
        self._paths = _WindowSum(self.settle, (self.width,), np.int32, np.int64)

    @property
    def memory_frames(self) -> int:
        """Frames before a frame whose content its seam depends on (``StitchPlan.memory_frames``)."""
        return self.window + self.settle - 2

    @property
    def seam_rows(self) -> NDArray[np.float64]:
        """The current seam as fractional ring rows per column (``centre``: the geometric
        seam, as before any frame)."""
        if not self._paths.count:
            return np.full(self.width, float(self.centre))
        return self._paths.total / float(self._paths.count)

    @property
    def offsets(self) -> NDArray[np.float64]:
        """The current seam as ``update`` returns it."""
        return self.rows_to_offsets(self.seam_rows)

    def rows_to_offsets(self, rows: NDArray[np.floating]) -> NDArray[np.float64]:
        """Offsets from the geometric seam (radians) of fractional ring rows."""
        return (np.asarray(rows, np.float64) - self.centre) * self.step

    def reset(self) -> None:
        """Forget every frame (a cut, or unrelated stills)."""
        self._diffs.reset()
        self._paths.reset()

    # ---- the difference of the lenses over the ring -----------------------------------
    def difference_rgb(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Difference of the lenses over the ring, (rows, width) code values, from a
        compensated RGB frame: |dY| + |dCb| + |dCr| (BT.601, full range)."""
        a, b = (cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for mx, my in self._maps)
        d = a.astype(np.float32) - b.astype(np.float32)
        dy = 0.299 * d[..., 0] + 0.587 * d[..., 1] + 0.114 * d[..., 2]
        out = np.abs(dy)
        out += np.abs(_BT601_CHROMA[0] * (d[..., 2] - dy))
        out += np.abs(_BT601_CHROMA[1] * (d[..., 0] - dy))
        return cv2.GaussianBlur(out, (0, 0), 1.0)

    def difference_planes(self, y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8]) -> NDArray[np.float32]:
        """As ``difference_rgb``, from compensated limited-range yuv420p planes (chroma
        sampled at half size: the same ring, the same units)."""
        out = np.zeros((self.rows, self.width), np.float32)
        for plane, maps, scale in ((y, self._maps, 255.0 / 219.0), (u, self._half_maps, 255.0 / 224.0), (v, self._half_maps, 255.0 / 224.0)):
            a, b = (cv2.remap(plane, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for mx, my in maps)
            out += np.float32(scale) * cv2.absdiff(a, b).astype(np.float32)
        return cv2.GaussianBlur(out, (0, 0), 1.0)

    # ---- per frame --------------------------------------------------------------------
    def update(self, frame: NDArray[np.uint8]) -> NDArray[np.float64]:
        """The seam for a recorded RGB frame (compensated here by the plan)."""
        return self.update_rgb(self.plan.compensated(frame))

    def update_rgb(self, rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
        """The seam for a compensated RGB frame."""
        return self.push(self.difference_rgb(rgb))

    def update_planes(self, y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8]) -> NDArray[np.float64]:
        """The seam for compensated yuv420p planes."""
        return self.push(self.difference_planes(y, u, v))

    def push(self, diff: NDArray[np.floating]) -> NDArray[np.float64]:
        """Take one frame's difference map (rows, width) and return its seam."""
        q = np.clip(np.round(np.asarray(diff, np.float32) * _DIFF_SCALE), 0, 65535).astype(np.uint16)
        self._diffs.push(q)
        cost = self._diffs.total.astype(np.float32) * np.float32(1.0 / (_DIFF_SCALE * self._diffs.count))
        cost = np.maximum(cost - np.float32(NOISE_CODES), np.float32(0.0)) + self._base
        path = _closed_dp(cost, STEP_CODES, prefer=self.centre)
        self._paths.push(path)
        return self.offsets


class _WindowSum:
    """The exact sum of the last ``size`` integer arrays pushed (a ring buffer): the sum
    over a sliding window that does not depend on where a run started."""

    def __init__(self, size: int, shape: tuple[int, ...], item: type, total: type) -> None:
        self._items = np.zeros((size, *shape), item)
        self._total_type = total
        self.reset()

    def reset(self) -> None:
        self.total: NDArray[np.integer] = np.zeros(self._items.shape[1:], self._total_type)
        self.pushed = 0

    @property
    def count(self) -> int:
        """How many arrays the sum holds (at most ``size``)."""
        return min(self.pushed, len(self._items))

    def push(self, a: NDArray[np.integer]) -> None:
        slot = self.pushed % len(self._items)
        if self.pushed >= len(self._items):
            self.total -= self._items[slot]
        self._items[slot] = a
        self.total += a
        self.pushed += 1


def _geometric_elevation(lenses: "tuple[LensProfile, ...]", phi: NDArray[np.float64], half: float) -> NDArray[np.float64]:
    """Per ring azimuth, the elevation where both lenses are equally far off-axis
    (secant steps on the difference of the off-axis angles, which grows about twice as
    fast as the elevation), within +-``half``."""

    def gap(eps: NDArray[np.float64]) -> NDArray[np.float64]:
        c = np.cos(eps)
        d = np.stack([c * np.cos(phi), c * np.sin(phi), np.sin(eps)], axis=-1)
        th = []
        for lens in lenses:
            local = lens.rotation().inverse(d)
            th.append(np.arctan2(np.hypot(local[..., 0], local[..., 1]), local[..., 2]))
        return th[1] - th[0]

    a, b = np.zeros_like(phi), np.full_like(phi, 1e-3)
    ga, gb = gap(a), gap(b)
    for _ in range(6):
        moved = np.abs(b - a) > 1e-12
        slope = np.where(moved, gb - ga, 2.0) / np.where(moved, b - a, 1.0)
        slope = np.where(np.abs(slope) > 0.5, slope, 2.0)  # (a step that changed nothing)
        c = np.clip(b - gb / slope, -half, half)
        a, ga, b, gb = b, gb, c, gap(c)
    return b


def _closed_dp(cost: NDArray[np.float32], step_cost: float, prefer: int = 0) -> NDArray[np.int32]:
    """Least-cost path through ``cost`` (rows, cols), one row per column, |row step| <= 1
    between adjacent columns (each step costing ``step_cost``), closed around the ring.

    The path is pinned where the ring is cheapest to cross (the column whose best row
    costs least, at that row) and run once around from there; only the forward pass's
    per-column minimum is a Python loop (a few numpy calls on one column), the choice of
    predecessors is taken for all columns at once afterwards. Of equal pins, the first
    column and the row ``prefer``."""
    rows, width = cost.shape
    best_rows = np.where(cost[prefer] <= cost.min(axis=0), prefer, np.argmin(cost, axis=0))
    c0 = int(np.argmin(cost[best_rows, np.arange(width)]))
    r0 = int(best_rows[c0])
    acc = np.ascontiguousarray(np.roll(cost, -c0, axis=1).T)  # (width, rows): one column a row
    big = np.float32(1e9)
    acc[0, :] = big
    acc[0, r0] = cost[r0, c0]
    step = np.float32(step_cost)
    moved = np.empty(rows, np.float32)
    best = np.empty(rows, np.float32)
    for x in range(1, width):
        prev = acc[x - 1]
        np.add(prev, step, out=moved)
        best[0] = prev[0]
        np.minimum(prev[1:], moved[:-1], out=best[1:])
        np.minimum(best[:-1], moved[1:], out=best[:-1])
        acc[x] += best
    # predecessors of every cell: -1, 0, +1 rows (ties: stay, then up)
    prev = acc[:-1]
    up = np.full_like(prev, big)
    up[:, 1:] = prev[:, :-1] + step
    down = np.full_like(prev, big)
    down[:, :-1] = prev[:, 1:] + step
    choice = np.where(prev <= np.minimum(up, down), 0, np.where(up <= down, -1, 1)).astype(np.int8).tolist()
    # close the ring: the last column within one row of the pinned start
    ends = [r for r in (r0, r0 - 1, r0 + 1) if 0 <= r < rows]
    y = min(ends, key=lambda r: float(acc[width - 1, r]) + (0.0 if r == r0 else float(step)))
    path = [0] * width
    for x in range(width - 1, 0, -1):
        path[x] = y
        y += choice[x - 1][y]
    path[0] = y
    return np.roll(np.asarray(path, np.int32), c0)


def ring_coords(dirs: NDArray[np.floating], width: int, half: float) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Ring column (int) and elevation (radians) of rig directions (..., 3)."""
    xy = dirs_to_ring(dirs, width, 2, half)
    col = np.clip(np.floor(xy[..., 0]).astype(np.int32), 0, width - 1)
    d = np.asarray(dirs, np.float64)
    eps = np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1])).astype(np.float32)
    return col, eps
