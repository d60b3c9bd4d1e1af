"""Where a fisheye's image circle lies in its frame: found from the picture, robustly.

A fisheye images the scene inside a circle; outside it the sensor sees the lens barrel
(dark, or faintly lit by stray light). Along any ray from the circle's centre the picture
therefore *drops* where the ray crosses the circle. Everything else that drops along a
ray (a horizon, a dark tree against the sky, a flare's halo, the edge of a lit barrel
ring further out, the frame border where the sensor crops the circle) does not lie on
one circle about the same centre for most rays. So:

1. Rays from the guessed centre; the picture (brightest value over the frames, lightly
   blurred) sampled along each at half-pixel steps, only inside the frame (a circle cut
   by the frame edges, as Insta360's crop or the GoPro Fusion's 1568x1504 frames, gives
   edge points only where it is visible; the frame border itself is never an edge).
2. On each ray the few strongest drops (local minima of the radial derivative, well above
   its noise, which keeps dark frames working) at sub-pixel position (parabola).
3. RANSAC: circles through three drops on different rays; the one that the most rays
   agree with (at most one point a ray) wins, then a least-squares fit on its inliers,
   repeated with the inliers re-picked from the fitted circle.
4. A fit that too few rays support, or whose supporting rays cover too little of the
   circle, is not trusted: the caller keeps the camera's own geometry, and says so.

Sizes scale with the guessed radius (rays, blur, tolerances), so a 480 px and a 5.7K
lens are found alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["CircleFit", "find_image_circle"]

_SEARCH = (0.7, 1.3)  # radii searched, as fractions of the guessed radius
_PER_RAY = 3  # strongest drops kept on each ray
_HYPOTHESES = 2000  # RANSAC circles tried
_MIN_SUPPORT = 0.15  # fraction of the rays that see the circle inside the frame
_MAX_GAP_DEG = 200.0  # largest angle between supporting rays


@dataclass(frozen=True)
class CircleFit:
    """One lens's image circle, in the coordinates of the picture it was found in.

    :param center: (cx, cy), pixel centres at i + 0.5.
    :param radius: pixels.
    :param rms: RMS distance of the edge points to the circle, pixels (nan when not fitted).
    :param points: edge points the fit used.
    :param rays: rays whose sample of the circle lies inside the frame.
    :param found: whether the circle was seen and fitted; when not, ``center`` and
        ``radius`` are the guess and ``reason`` says why.
    """

    center: tuple[float, float]
    radius: float
    rms: float
    points: int
    rays: int
    found: bool
    reason: str = ""


def find_image_circle(peak: NDArray[np.floating] | NDArray[np.uint8], guess: tuple[float, float, float]) -> CircleFit:
    """The image circle in ``peak`` (h, w), the brightest value of each pixel over the
    frames (one frame for a photo), near ``guess`` = (cx, cy, radius)."""
    img = np.ascontiguousarray(peak, dtype=np.float32)
    h, w = img.shape
    gx, gy, gr = (float(v) for v in guess)
    sigma = max(1.0, gr / 500.0)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    n_rays = int(np.clip(round(2.0 * math.pi * gr / 6.0), 180, 1440))
    step = 0.5
    radii = np.arange(_SEARCH[0] * gr, _SEARCH[1] * gr, step, dtype=np.float64)
    ang = np.arange(n_rays) * (2.0 * math.pi / n_rays)
    xs = gx + np.cos(ang)[:, None] * radii[None, :]
    ys = gy + np.sin(ang)[:, None] * radii[None, :]
    # never read across the frame border: the border of a cut circle is not its edge
    margin = 2.0 + 2.0 * sigma
    inside = (xs > margin) & (xs < w - margin) & (ys > margin) & (ys < h - margin)
    prof = cv2.remap(img, (xs - 0.5).astype(np.float32), (ys - 0.5).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # radial derivative over +-1 px (one code value a pixel is a gentle slope, not an edge)
    k = max(1, int(round(1.0 / step)))
    d = np.full(prof.shape, np.inf, np.float32)
    d[:, k:-k] = prof[:, 2 * k :] - prof[:, : -2 * k]
    ok = np.zeros(prof.shape, bool)
    ok[:, k:-k] = inside[:, 2 * k :] & inside[:, : -2 * k]
    d[~ok] = np.inf
    circle_rays = _rays_seeing(gx, gy, gr, ang, w, h, margin)
    fallback = CircleFit((gx, gy), gr, float("nan"), 0, circle_rays, False)
    valid = d[ok]
    if valid.size < 100:
        return _fail(fallback, "the circle lies outside the frame")
    noise = 1.4826 * float(np.median(np.abs(valid - np.median(valid))))
    scale = float(np.percentile(img, 99.5)) - float(np.percentile(img, 0.5))
    thr = max(4.0 * noise, 0.03 * scale, 1.0)
    # local minima of the derivative (drops), strong enough
    left = np.full_like(d, np.inf)
    left[:, 1:] = d[:, :-1]
    right = np.full_like(d, np.inf)
    right[:, :-1] = d[:, 1:]
    cand = ok & (d <= left) & (d < right) & (-d >= thr)
    masked = np.where(cand, d, np.inf)
    order = np.argsort(masked, axis=1)[:, :_PER_RAY]
    ray_idx = np.repeat(np.arange(n_rays), order.shape[1])
    col = order.reshape(-1)
    keep = np.isfinite(masked[ray_idx, col])
    ray_idx, col = ray_idx[keep], col[keep]
    if ray_idx.size < 10:
        return _fail(fallback, f"no edge where the guessed circle lies (only {ray_idx.size} drops along {n_rays} rays)")
    # sub-pixel position of each drop (parabola through the derivative around it)
    c0 = np.clip(col, 1, d.shape[1] - 2)
    dm, d0, dp = d[ray_idx, c0 - 1], d[ray_idx, c0], d[ray_idx, c0 + 1]
    den = dm - 2.0 * d0 + dp
    good = np.isfinite(den) & (den > 1e-6)
    off = np.zeros(den.shape)
    off[good] = 0.5 * (dm[good] - dp[good]) / den[good]
    r_pt = radii[0] + (c0 + np.clip(off, -0.5, 0.5)) * step
    px = gx + np.cos(ang[ray_idx]) * r_pt
    py = gy + np.sin(ang[ray_idx]) * r_pt
    pts = np.stack([px, py], -1)
    tol = max(1.5, 0.004 * gr)
    strength = -d[ray_idx, c0].astype(np.float64)
    best = _ransac(pts, ray_idx, strength, n_rays, (gx, gy, gr), tol)
    if best is None:
        return _fail(fallback, f"no circle through the {ray_idx.size} edge points")
    sel = _nearest_per_ray(pts, ray_idx, best, tol)
    q = _fit_circle(pts[sel], best)
    for _ in range(2):  # re-pick the inliers from the fitted circle, tighter
        sel = _nearest_per_ray(pts, ray_idx, q, max(1.0, min(tol, 3.0 * _rms(pts[sel], q))))
        q = _fit_circle(pts[sel], q)
    rms = _rms(pts[sel], q)
    support = int(sel.size)
    circle_rays = _rays_seeing(float(q[0]), float(q[1]), float(q[2]), ang, w, h, margin)
    gap = _largest_gap_deg(np.sort(ang[ray_idx[sel]]))
    fit = CircleFit((float(q[0]), float(q[1])), float(q[2]), rms, support, circle_rays, True)
    need = max(24, int(_MIN_SUPPORT * circle_rays))
    if support < need:
        return _fail(fallback, f"only {support} of {circle_rays} rays see an edge on one circle (need {need})")
    if gap > _MAX_GAP_DEG:
        return _fail(fallback, f"the edge is seen over too short an arc (a gap of {gap:.0f} deg)")
    if abs(q[2] / gr - 1.0) > 0.28 or math.hypot(q[0] - gx, q[1] - gy) > 0.25 * gr:
        return _fail(fallback, f"the circle found (r {q[2]:.1f} at {q[0]:.1f}, {q[1]:.1f}) is far from the expected one")
    return fit


def _fail(fallback: CircleFit, reason: str) -> CircleFit:
    return CircleFit(fallback.center, fallback.radius, float("nan"), 0, fallback.rays, False, reason)


def _rays_seeing(gx: float, gy: float, gr: float, ang: NDArray[np.float64], w: int, h: int, margin: float) -> int:
    """How many rays cross the guessed circle inside the frame."""
    x = gx + np.cos(ang) * gr
    y = gy + np.sin(ang) * gr
    return int(np.count_nonzero((x > margin) & (x < w - margin) & (y > margin) & (y < h - margin)))


def _circles_through(a: NDArray[np.float64], b: NDArray[np.float64], c: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Centres (x, y) and radii of the circles through point triples (H, 2) each."""
    ax, ay, bx, by, cx, cy = a[:, 0], a[:, 1], b[:, 0], b[:, 1], c[:, 0], c[:, 1]
    den = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    den = np.where(np.abs(den) < 1e-9, np.nan, den)
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / den
    uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / den
    return ux, uy, np.hypot(ax - ux, ay - uy)


def _ransac(
    pts: NDArray[np.float64], ray_idx: NDArray[np.int64], strength: NDArray[np.float64], n_rays: int, guess: tuple[float, float, float], tol: float
) -> NDArray[np.float64] | None:
    """The circle (cx, cy, r) that the most rays have a drop on, or None."""
    gx, gy, gr = guess
    rng = np.random.default_rng(0)
    n = len(pts)
    # triples on rays at least 30 deg apart (a short arc fixes no circle), stronger drops
    # drawn more often (the circle's edge is the strongest drop on most rays)
    i = rng.choice(n, size=(_HYPOTHESES * 3, 3), p=strength / strength.sum())
    ri = ray_idx[i]
    sep = n_rays / 12
    apart = np.ones(len(i), bool)
    for p, q in ((0, 1), (1, 2), (0, 2)):
        dr = np.abs(ri[:, p] - ri[:, q])
        apart &= np.minimum(dr, n_rays - dr) > sep
    i = i[apart][:_HYPOTHESES]
    if not len(i):
        return None
    ux, uy, r = _circles_through(pts[i[:, 0]], pts[i[:, 1]], pts[i[:, 2]])
    plausible = np.isfinite(r) & (np.abs(r / gr - 1.0) < 0.3) & (np.hypot(ux - gx, uy - gy) < 0.25 * gr)
    if not plausible.any():
        return None
    ux, uy, r = ux[plausible], uy[plausible], r[plausible]
    dist = np.abs(np.hypot(pts[None, :, 0] - ux[:, None], pts[None, :, 1] - uy[:, None]) - r[:, None])
    # support: rays with a drop on the circle (several drops of one ray count once)
    on = np.zeros((len(r), n_rays), bool)
    hyp, pt = np.nonzero(dist < tol)
    on[hyp, ray_idx[pt]] = True
    support = on.sum(axis=1)
    # the few best, each refitted to its inliers and scored again (a hypothesis through
    # three points a little off the edge supports fewer rays than the circle it is near)
    best, most = None, -1
    for k in np.argsort(-support)[:8]:
        q = np.array([ux[k], uy[k], r[k]], np.float64)
        sel = _nearest_per_ray(pts, ray_idx, q, tol)
        if sel.size >= 3:
            q = _fit_circle(pts[sel], q)
        count = _nearest_per_ray(pts, ray_idx, q, tol).size
        if count > most:
            best, most = q, count
    return best


def _nearest_per_ray(pts: NDArray[np.float64], ray_idx: NDArray[np.int64], q: NDArray[np.float64], tol: float) -> NDArray[np.intp]:
    """Indices of the points within ``tol`` of circle ``q``, the nearest one per ray."""
    dist = np.abs(np.hypot(pts[:, 0] - q[0], pts[:, 1] - q[1]) - q[2])
    cand = np.flatnonzero(dist < tol)
    if not cand.size:
        return cand
    order = cand[np.lexsort((dist[cand], ray_idx[cand]))]
    first = np.ones(order.size, bool)
    first[1:] = ray_idx[order[1:]] != ray_idx[order[:-1]]
    return order[first]


def _fit_circle(pts: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    """Geometric least-squares circle through ``pts`` (Gauss-Newton from ``q``)."""
    q = q.astype(np.float64).copy()
    if len(pts) < 3:
        return q
    for _ in range(10):
        dx, dy = pts[:, 0] - q[0], pts[:, 1] - q[1]
        rr = np.maximum(np.hypot(dx, dy), 1e-9)
        res = rr - q[2]
        jac = np.stack([-dx / rr, -dy / rr, -np.ones_like(rr)], -1)
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        q += step
        if np.abs(step).max() < 1e-4:
            break
    return q


def _rms(pts: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    res = np.hypot(pts[:, 0] - q[0], pts[:, 1] - q[1]) - q[2]
    return float(np.sqrt(np.mean(res * res))) if res.size else float("inf")


def _largest_gap_deg(sorted_ang: NDArray[np.float64]) -> float:
    if sorted_ang.size < 2:
        return 360.0
    gaps = np.diff(np.concatenate([sorted_ang, sorted_ang[:1] + 2.0 * math.pi]))
    return float(np.degrees(gaps.max()))
