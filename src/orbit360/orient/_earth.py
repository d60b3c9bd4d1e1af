"""Orientation from the Earth: footage from orbit, where an accelerometer feels no "down".

Seen from orbit the Earth is a bright disc against black space, and its limb is a circle
on the sphere of directions: the directions at angle ``rho`` from the Earth's centre, with
``sin rho = R / (R + h)`` (70.2° from 400 km). ``find_earth`` finds it in one stitched
equirect frame:

1. split the frame into bright and dark (Otsu's threshold on luminance); the Earth is the
   largest bright region by solid angle (regions joined across the ±180° seam);
2. limb points: where a pixel of that region borders a dark pixel (space), located to a
   fraction of a pixel where the luminance crosses the threshold, as unit directions;
   bright neighbours (the station in front of the Earth, the sun) give no limb point;
3. a small circle fitted on the sphere: the plane ``n . p = cos rho`` through the points
   (RANSAC on triples, then least squares on the inliers), which rejects the edges of
   nearby structure that happen to border space; ``n`` is the Earth's centre: the nadir.

A fit is accepted only when it is physically an Earth: radius between 20° and 85° (orbits
from ~150 km to ~12,000 km; a straight edge of the station is a great circle, 90°), enough
limb points on the circle spanning enough arc, and the cap mostly bright.

``earth_rotations`` turns the per-frame nadirs into the stitcher's rotations (output
direction d shows the rig sphere at M d): the Earth's centre straight down in every frame;
the heading follows the gyro (the lock rotations: the first frame's heading held) or,
without one, the previous frame (the smallest turn that puts the Earth down). Frames where
no Earth was found keep the last correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import equirect_grid_dirs, equirect_to_dirs

__all__ = ["EarthFix", "find_earth", "earth_rotations", "EarthSummary", "DOWN", "DETECT_WIDTH"]

DOWN = np.array([0.0, -1.0, 0.0])
DETECT_WIDTH = 1024
"""Width of the stitched frames the Earth is looked for in (0.35° a pixel)."""
MIN_RADIUS_DEG, MAX_RADIUS_DEG = 20.0, 85.0
_INLIER_DEG = 0.6
_MIN_LIMB_POINTS = 60
_MIN_ARC_DEG = 60.0
_RANSAC_TRIES = 256


@dataclass(frozen=True)
class EarthFix:
    """The Earth found in one frame."""

    nadir: NDArray[np.float64]
    """Unit direction of the Earth's centre on the frame's sphere."""
    radius_deg: float
    """Angular radius of the limb circle."""
    limb_points: int
    """Limb points on the circle (inliers)."""
    rms_deg: float
    """RMS distance of those points from the circle."""


# ---- finding the Earth in a frame ---------------------------------------------------------
def _luma(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _threshold(luma: NDArray[np.float32]) -> float:
    """Luminance between space and the Earth: Otsu's threshold on log luminance, where
    black space is one mode and the whole Earth (dark oceans to white clouds, a factor of
    ten in linear light) the other; never within 8 code values of the black level (the
    darkest tenth of the frame: space, with its noise and any black lift)."""
    log = np.log1p(luma)
    scaled = np.round(log * (255.0 / np.log1p(255.0))).astype(np.uint8)
    t, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    black = float(np.percentile(luma, 10))
    return max(float(np.expm1(t * np.log1p(255.0) / 255.0)), black + 8.0)


def _largest_region(bright: NDArray[np.bool_], weight: NDArray[np.float64]) -> NDArray[np.bool_]:
    """The bright region with the largest solid angle, regions touching across the seam joined."""
    n, labels = cv2.connectedComponents(bright.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(bright)
    parent = np.arange(n)

    def root(a: int) -> int:
        while parent[a] != a:
            a = int(parent[a])
        return a

    left, right = labels[:, 0], labels[:, -1]
    for a, b in set(zip(left[(left > 0) & (right > 0)].tolist(), right[(left > 0) & (right > 0)].tolist())):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n)])
    merged = roots[labels]
    area = np.bincount(merged.ravel(), weights=np.broadcast_to(weight, labels.shape).ravel(), minlength=n)
    area[0] = 0.0
    return merged == int(np.argmax(area))


def _limb_points(luma: NDArray[np.float32], region: NDArray[np.bool_], dark: NDArray[np.bool_], tau: float) -> NDArray[np.float64]:
    """Sub-pixel points (x, y) where ``region`` borders ``dark``, at the threshold crossing."""
    h, w = luma.shape
    pts = []
    # horizontal neighbours (wrapping across the seam) and vertical ones
    for axis in (1, 0):
        nxt_l = np.roll(luma, -1, axis=1) if axis == 1 else luma[1:]
        cur_l = luma if axis == 1 else luma[:-1]
        nxt_r = np.roll(region, -1, axis=1) if axis == 1 else region[1:]
        cur_r = region if axis == 1 else region[:-1]
        nxt_d = np.roll(dark, -1, axis=1) if axis == 1 else dark[1:]
        cur_d = dark if axis == 1 else dark[:-1]
        edge = (cur_r & nxt_d) | (cur_d & nxt_r)
        ys, xs = np.nonzero(edge)
        a, b = cur_l[ys, xs], nxt_l[ys, xs]
        frac = np.clip((tau - a) / np.where(b != a, b - a, 1.0), 0.0, 1.0)
        if axis == 1:
            pts.append(np.stack([(xs + 0.5 + frac) % w, ys + 0.5], -1))
        else:
            pts.append(np.stack([xs + 0.5, ys + 0.5 + frac], -1))
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _plane_fit(p: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """(n, c) of the plane n . p = c through unit vectors ``p`` (least squares), c >= 0."""
    mean = p.mean(axis=0)
    _, _, vt = np.linalg.svd(p - mean, full_matrices=False)
    n = vt[-1]
    c = float(n @ mean)
    return (n, c) if c >= 0 else (-n, -c)


def _ransac_circle(p: NDArray[np.float64], rng: np.random.Generator) -> tuple[NDArray[np.float64], float, NDArray[np.bool_]]:
    """The small circle with the most points within ``_INLIER_DEG``, refined on them."""
    k = len(p)
    idx = rng.integers(0, k, size=(_RANSAC_TRIES, 3))
    a, b, c = p[idx[:, 0]], p[idx[:, 1]], p[idx[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n = n[ok] / norm[ok, None]
    d = np.einsum("ij,ij->i", n, a[ok])
    n, d = np.where(d[:, None] < 0, -n, n), np.abs(d)
    keep = (d > np.cos(np.radians(MAX_RADIUS_DEG))) & (d < np.cos(np.radians(MIN_RADIUS_DEG)))
    if not keep.any():
        return np.zeros(3), 0.0, np.zeros(k, bool)
    n, d = n[keep], d[keep]
    sin_rho = np.sqrt(1.0 - d**2)
    tol = np.radians(_INLIER_DEG)
    counts = (np.abs(p @ n.T - d[None, :]) / sin_rho[None, :] < tol).sum(axis=0)
    best = int(np.argmax(counts))
    normal, cos_rho = n[best], float(d[best])
    inliers = np.abs(p @ normal - cos_rho) / np.sqrt(1 - cos_rho**2) < tol
    for _ in range(3):  # refine: least squares on the inliers, then the inliers again
        if inliers.sum() < 3:
            break
        normal, cos_rho = _plane_fit(p[inliers])
        inliers = np.abs(p @ normal - cos_rho) / np.sqrt(max(1 - cos_rho**2, 1e-12)) < tol
    return normal, cos_rho, inliers


def _arc_deg(p: NDArray[np.float64], n: NDArray[np.float64]) -> float:
    """How much of the circle around ``n`` the points ``p`` cover (degrees, 0 to 360)."""
    u = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    ang = np.degrees(np.arctan2(p @ v, p @ u)) % 360
    bins = np.bincount((ang // 5).astype(int) % 72, minlength=72)
    return 5.0 * float((bins > 0).sum())


def find_earth(frame: NDArray[np.uint8], *, seed: int = 0) -> EarthFix | None:
    """The Earth in one stitched equirect RGB ``frame`` (2:1), or None when it is not
    visible (night side, out of view, hidden) or nothing there fits an Earth."""
    h, w = frame.shape[:2]
    luma = _luma(frame)
    tau = _threshold(luma)
    bright = luma >= tau
    lat = (0.5 - (np.arange(h) + 0.5) / h) * np.pi
    weight = np.cos(lat)[:, None]
    region = _largest_region(bright, weight)
    share = float((region * weight).sum() / (weight.sum() * w))
    cap_min = (1 - np.cos(np.radians(MIN_RADIUS_DEG))) / 2  # the smallest Earth's share of the sphere
    if share < 0.5 * cap_min:
        return None
    xy = _limb_points(luma, region, ~bright, tau)
    if len(xy) < _MIN_LIMB_POINTS:
        return None
    p = equirect_to_dirs(xy, (w, h))
    n, cos_rho, inliers = _ransac_circle(p, np.random.default_rng(seed))
    count = int(inliers.sum())
    if count < max(_MIN_LIMB_POINTS, 0.3 * len(p)):
        return None
    rho = float(np.degrees(np.arccos(np.clip(cos_rho, -1, 1))))
    if not MIN_RADIUS_DEG <= rho <= MAX_RADIUS_DEG or _arc_deg(p[inliers], n) < _MIN_ARC_DEG:
        return None
    # the cap must be the bright side: most of it bright (the station may hide some)
    dirs = equirect_grid_dirs((w, h))
    cap = dirs @ n > cos_rho
    if float(((bright & cap) * weight).sum()) < 0.6 * float((cap * weight).sum()):
        return None
    resid = np.degrees(np.arcsin(np.clip(np.abs(p[inliers] @ n - cos_rho), 0, 1)) / np.sqrt(1 - cos_rho**2))
    return EarthFix(n, rho, count, float(np.sqrt(np.mean(resid**2))))


# ---- rotations for a recording ------------------------------------------------------------
def _turn(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """The smallest rotation taking unit vector ``a`` to ``b`` (Rodrigues)."""
    v = np.cross(a, b)
    c = float(a @ b)
    if c < -1 + 1e-12:  # opposite: any half turn about an axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 0.0, 1.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


@dataclass(frozen=True)
class EarthSummary:
    """What ``earth_rotations`` did, for the job's log line."""

    looked: int
    found: int
    held: int
    """Frames that kept the last rotation's levelling (no Earth found at or after the last
    look before them)."""
    heading: str
    """"gyro" or "previous frame"."""
    missing: tuple[int, ...] = ()
    """The frames looked at where no Earth was found."""

    def line(self, fps: float | None = None) -> str:
        text = f"orientation: earth: found in {self.found}/{self.looked} frames looked at, heading from the {self.heading}"
        if self.missing:
            spans = _spans(self.missing)
            shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:8]) + (", ..." if len(spans) > 8 else "")
            when = f" ({spans[0][0] / fps:.1f} s on)" if fps else ""
            text += f"; not found at frame{'s' if len(self.missing) > 1 else ''} {shown}{when}: {self.held} frames kept the last rotation"
        return text


def _spans(frames: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of consecutive frame numbers as (first, last)."""
    out: list[tuple[int, int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def _smooth_directions(d: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    """Gaussian low pass of unit vectors (n, 3) over time, renormalised."""
    if sigma <= 0 or len(d) < 3:
        return d
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    padded = np.pad(d, ((r, r), (0, 0)), mode="edge")
    out = np.stack([np.convolve(padded[:, j], k / k.sum(), mode="valid") for j in range(3)], -1)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def earth_rotations(
    nadirs: Sequence[NDArray[np.float64] | None],
    looked_at: Sequence[int],
    frame_count: int,
    *,
    lock: NDArray[np.float64] | None = None,
    smoothing_frames: float = 0.0,
) -> tuple[NDArray[np.float64], EarthSummary]:
    """(frame_count, 3, 3) rotations putting the Earth's centre straight down.

    :param nadirs: per frame looked at (``looked_at[k]``), the Earth's centre on the rig
        sphere or None where it was not found; at least one must be found.
    :param lock: (frame_count, 3, 3) gyro lock rotations (output -> rig, the first frame's
        heading held), or None: no gyro, each frame turned as little as possible from the
        previous one (then every frame must have been looked at).
    :param smoothing_frames: Gaussian sigma, in frames, of the low pass on the Earth's
        direction as the gyro-locked output sees it (gyro drift and orbital motion are
        slow; detection noise is not).
    """
    looked = np.asarray(looked_at, dtype=np.int64)
    found = np.array([n is not None for n in nadirs])
    if not found.any():
        raise ValueError("no Earth found")
    if lock is None:
        out = np.empty((frame_count, 3, 3))
        m = np.eye(3)
        by_frame = {int(i): n for i, n in zip(looked, nadirs)}
        held = 0
        for i in range(frame_count):
            n = by_frame.get(i)
            if n is None:
                held += 1
            else:  # output "down" must show the rig's n: turn the last rotation as little as possible
                m = m @ _turn(DOWN, m.T @ n)
            out[i] = m
        first = int(looked[np.argmax(found)])
        out[:first] = out[first]  # before the first sighting: the first sighting's rotation
        missing = tuple(int(i) for i in looked[~found])
        return out, EarthSummary(len(looked), int(found.sum()), held - first, "previous frame", missing)
    # with the gyro: where the Earth's centre sits in the locked output (it varies slowly)
    seen = np.stack([lock[i].T @ n for i, n in zip(looked, nadirs) if n is not None])
    seen_at, unseen = looked[found], looked[~found]
    frames = np.arange(frame_count)
    last = np.searchsorted(seen_at, frames, side="right") - 1  # the last sighting at or before
    prev = np.clip(last, 0, None)
    nxt = np.clip(last + 1, 0, len(seen_at) - 1)
    # between two sightings with no failed look between them: interpolate; else hold
    failed_between = np.searchsorted(unseen, seen_at[nxt], side="left") - np.searchsorted(unseen, seen_at[prev], side="right")
    interp = (last >= 0) & (last + 1 < len(seen_at)) & (failed_between == 0)
    t = (frames - seen_at[prev]) / np.maximum(seen_at[nxt] - seen_at[prev], 1)
    direction = np.where(interp[:, None], seen[prev] * (1 - t[:, None]) + seen[nxt] * t[:, None], seen[prev])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    direction = _smooth_directions(direction, smoothing_frames)
    held = int((~interp & ~np.isin(frames, seen_at)).sum())
    rotations = lock @ np.stack([_turn(DOWN, d) for d in direction])
    return rotations, EarthSummary(len(looked), int(found.sum()), held, "gyro", tuple(int(i) for i in unseen))
