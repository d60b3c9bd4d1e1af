"""Stitch quality figures against a known ground truth (tests and bench/quality).

- ``ssim``: the structural similarity index (Wang et al. 2004) on luma, Gaussian window
  sigma 1.5, constants for 8-bit values; 1 for identical images.
- ``seam_step``: the colour step a stitch puts across its seam, in code values. For each
  row, the mean of a few pixels on either side of the seam is compared, and the same is
  done on the ground truth at the same pixels; the step is the difference of the two
  differences (so the scene's own gradient does not count), averaged over rows and
  reported as the largest of the three channels' absolute values. Under one code value
  it is invisible.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["ssim", "seam_step", "seam_columns", "tone_matched"]


def ssim(a: NDArray[np.uint8], b: NDArray[np.uint8], *, rows: slice | None = None) -> float:
    """Mean SSIM of the luma of two RGB uint8 images (optionally over ``rows`` only)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    ya = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    yb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(ya), blur(yb)
    va = blur(ya * ya) - ma * ma
    vb = blur(yb * yb) - mb * mb
    cov = blur(ya * yb) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    if rows is not None:
        s = s[rows]
    return float(s.mean())


def seam_columns(front: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(row, column) of every left-to-right change of the front-lens mask (the seam)."""
    change = front[:, 1:] != front[:, :-1]
    ys, xs = np.nonzero(change)
    return list(zip(ys.tolist(), (xs + 1).tolist()))


def seam_step(
    out: NDArray[np.uint8],
    truth: NDArray[np.uint8],
    front: NDArray[np.bool_],
    *,
    rows: slice | None = None,
    near: int = 1,
    far: int = 4,
) -> float:
    """Colour step across the seam (code values), net of the ground truth's own step.

    :param front: (h, w) True where the stitch takes the front lens (``plan.weight >= 0.5``).
    :param near, far: pixels [near, far] away from the seam on each side are averaged.
    """
    h, w = front.shape
    r0, r1 = (rows.start or 0, rows.stop or h) if rows is not None else (0, h)
    diffs = []
    o = out.astype(np.float64)
    t = truth.astype(np.float64)
    for y, x in seam_columns(front):
        if not r0 <= y < r1 or x - far < 0 or x + far > w - 1:
            continue
        left = slice(x - far, x - near + 1)
        right = slice(x + near - 1, x + far)
        d_out = o[y, left].mean(axis=0) - o[y, right].mean(axis=0)
        d_gt = t[y, left].mean(axis=0) - t[y, right].mean(axis=0)
        sign = 1.0 if front[y, x - 1] else -1.0  # front minus back
        diffs.append(sign * (d_out - d_gt))
    if not diffs:
        return 0.0
    return float(np.abs(np.mean(diffs, axis=0)).max())


def tone_matched(out: NDArray[np.uint8], truth: NDArray[np.uint8], *, rows: slice | None = None) -> NDArray[np.uint8]:
    """``out`` through the one global tone curve per channel (monotone, code value to code
    value) that brings it closest to ``truth``: the mean truth of each output code value,
    made non-decreasing. Comparing this with the truth leaves the choice of overall
    exposure and tone free while seams, halos and local errors still count."""
    sel = (slice(None) if rows is None else rows)
    res = np.empty_like(out)
    for c in range(out.shape[2]):
        o = out[sel][..., c].ravel().astype(np.int64)
        t = truth[sel][..., c].ravel().astype(np.float64)
        count = np.bincount(o, minlength=256).astype(np.float64)
        total = np.bincount(o, weights=t, minlength=256)
        codes = np.arange(256, dtype=np.float64)
        have = count > 0
        mean = np.interp(codes, codes[have], total[have] / count[have]) if have.any() else codes
        # non-decreasing: pool adjacent violators approximately by a running max of the
        # forward pass and a running min of the backward pass, averaged
        up = np.maximum.accumulate(mean)
        down = np.minimum.accumulate(mean[::-1])[::-1]
        curve = np.clip(np.round(0.5 * (up + down)), 0, 255).astype(np.uint8)
        res[..., c] = curve[out[..., c]]
    return res
