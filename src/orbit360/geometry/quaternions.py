"""Unit quaternions (w, x, y, z) over arrays: orientation tracks and view paths.

``geometry.Rotation`` is one rotation; a gyro track is thousands, so these work on
(..., 4) arrays. Same convention as ``geometry.rotation``: ``q`` rotates rig directions
into the reference frame, and ``qmul(a, b)`` applies ``b`` first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "qmul",
    "qconj",
    "qnormalize",
    "from_rotvec",
    "to_rotvec",
    "cumulative_product",
    "continuous",
    "interpolate",
    "slerp",
    "rotvec_to_matrix",
    "matrix_to_rotvec",
    "to_matrices",
    "from_matrices",
    "angle_between",
    "qlog",
    "qexp",
]

Quats = NDArray[np.float64]


def qmul(a: ArrayLike, b: ArrayLike) -> Quats:
    """Hamilton product ``a ⊗ b`` row by row (broadcasting)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def qconj(q: ArrayLike) -> Quats:
    """Conjugate = inverse for unit quaternions."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def qnormalize(q: ArrayLike) -> Quats:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def from_rotvec(v: ArrayLike) -> Quats:
    """Quaternion of rotation vectors (axis * angle in radians), exact for any angle."""
    v = np.asarray(v, dtype=np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle -> 1/2 as angle -> 0; use the series below 1e-8 to avoid 0/0.
    k = np.where(angle > 1e-8, np.sin(half) / np.where(angle > 1e-8, angle, 1.0), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), k * v], axis=-1)


def to_rotvec(q: ArrayLike) -> NDArray[np.float64]:
    """Rotation vectors of quaternions (shortest arc: angle in [0, pi])."""
    q = qnormalize(q)
    q = np.where(q[..., :1] < 0, -q, q)
    vec = q[..., 1:]
    s = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    k = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return k * vec


def rotvec_to_matrix(v: ArrayLike) -> NDArray[np.float64]:
    """(..., 3, 3) rotation matrices of (..., 3) rotation vectors (axis * angle, radians)."""
    return to_matrices(from_rotvec(v))


def matrix_to_rotvec(m: ArrayLike) -> NDArray[np.float64]:
    """Rotation vectors (angle in [0, pi]) of (..., 3, 3) rotation matrices."""
    return to_rotvec(from_matrices(m))


def cumulative_product(q: ArrayLike) -> Quats:
    """``out[i] = q[0] ⊗ q[1] ⊗ ... ⊗ q[i]`` as a parallel prefix scan.

    log2(n) vectorised passes (Hillis-Steele) instead of n sequential products; the
    order of factors is kept, so it is exact for non-commuting rotations.
    """
    out = qnormalize(q).copy()
    step = 1
    n = out.shape[0]
    while step < n:
        out[step:] = qnormalize(qmul(out[:-step], out[step:]))
        step *= 2
    return out


def continuous(q: ArrayLike) -> Quats:
    """Flip signs so consecutive quaternions are on the same hemisphere (q and -q are the
    same rotation; filters and interpolation need a continuous path)."""
    q = np.asarray(q, dtype=np.float64).copy()
    if q.shape[0] < 2:
        return q
    flips = np.sum(q[1:] * q[:-1], axis=-1) < 0
    sign = np.concatenate([[1.0], np.where(np.cumsum(flips) % 2 == 1, -1.0, 1.0)])
    return q * sign[:, None]


def interpolate(times: ArrayLike, q: ArrayLike, at: ArrayLike) -> Quats:
    """Slerp the track ``q`` (sampled at increasing ``times``) at ``at``; clamps outside."""
    times = np.asarray(times, dtype=np.float64)
    q = continuous(q)
    at = np.asarray(at, dtype=np.float64)
    if times.shape[0] == 1:
        return np.repeat(q[:1], at.shape[0], axis=0)
    i = np.clip(np.searchsorted(times, at, side="right") - 1, 0, times.shape[0] - 2)
    span = times[i + 1] - times[i]
    f = np.clip((at - times[i]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return slerp(q[i], q[i + 1], f)


def slerp(a: ArrayLike, b: ArrayLike, t: ArrayLike, *, shortest_arc: bool = True) -> Quats:
    """Spherical linear interpolation from ``a`` to ``b`` at fractions ``t``, row by row
    (all three broadcast: (..., 4), (..., 4), (...)); inputs are normalised first.

    ``shortest_arc``: negate ``b`` where it lies on the far hemisphere from ``a`` (q and
    -q are the same rotation). False keeps the arc as given, as squad's control points need.
    """
    a = qnormalize(a)
    b = qnormalize(b)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    if shortest_arc:
        b = np.where(dot < 0, -b, b)
        dot = np.abs(dot)
    dot = np.clip(dot, -1.0, 1.0)
    tt = np.asarray(t, dtype=np.float64)[..., None]
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6  # (anti)parallel: the linear blend is exact enough
    safe = np.where(near, 1.0, sin_theta)
    wa = np.where(near, 1.0 - tt, np.sin((1.0 - tt) * theta) / safe)
    wb = np.where(near, tt, np.sin(tt * theta) / safe)
    return qnormalize(wa * a + wb * b)


def to_matrices(q: ArrayLike) -> NDArray[np.float64]:
    """(..., 3, 3) rotation matrices of (..., 4) quaternions."""
    w, x, y, z = np.moveaxis(qnormalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def from_matrices(m: ArrayLike) -> Quats:
    """Quaternions of (..., 3, 3) rotation matrices (via the largest of 4 pivots, vectorised)."""
    m = np.asarray(m, dtype=np.float64)
    t = np.trace(m, axis1=-2, axis2=-1)
    # Four candidate (unnormalised) quaternions; pick per row the one with the largest norm.
    cands = np.stack(
        [
            np.stack([1 + t, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - t, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - t, m[..., 1, 2] + m[..., 2, 1]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - t], -1),
        ],
        axis=-2,
    )
    best = np.argmax(np.linalg.norm(cands, axis=-1), axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = qnormalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def angle_between(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Angle in radians of the rotation taking ``a`` to ``b``, row by row."""
    d = np.abs(np.sum(qnormalize(a) * qnormalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def qlog(q: ArrayLike) -> Quats:
    """Log of unit quaternions, (0, axis * half_angle), keeping the arc as given (no
    hemisphere flip: squad's control points may lie on the far side)."""
    q = np.asarray(q, dtype=np.float64)
    v = q[..., 1:]
    norm_v = np.linalg.norm(v, axis=-1, keepdims=True)
    half_angle = np.arctan2(norm_v, q[..., :1])
    scale = np.where(norm_v > 1e-12, half_angle / np.maximum(norm_v, 1e-12), 1.0)
    return np.concatenate([np.zeros_like(half_angle), v * scale], axis=-1)


def qexp(q: ArrayLike) -> Quats:
    """Exp of pure quaternions (0, v): the inverse of ``qlog``."""
    q = np.asarray(q, dtype=np.float64)
    v = q[..., 1:]
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    scale = np.where(angle > 1e-12, np.sin(angle) / np.maximum(angle, 1e-12), 1.0)
    return np.concatenate([np.cos(angle), v * scale], axis=-1)
