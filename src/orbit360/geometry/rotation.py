"""Rotations of the sphere: matrices, unit quaternions and yaw/pitch/roll.

Frame: right-handed, +x right, +y up, +z forward (the front lens' optical axis).

Yaw/pitch/roll convention (degrees unless ``degrees=False``)::

    R = Ry(yaw) @ Rx(-pitch) @ Rz(-roll)

- positive yaw turns the view to the right (+z towards +x),
- positive pitch looks up (+z towards +y),
- positive roll turns the camera clockwise about its forward axis, seen from behind it
  (its +x side goes down).

``R`` maps directions in the rotated (camera) frame to the reference (world) frame:
``world = R @ camera``. Quaternions are (w, x, y, z), unit norm, w >= 0 canonical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import quaternions

__all__ = [
    "Rotation",
    "ypr_to_matrix",
    "matrix_to_ypr",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "slerp",
    "axis_angle_to_matrix",
    "kabsch",
]


def _rx(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def ypr_to_matrix(yaw: float, pitch: float, roll: float, *, degrees: bool = True) -> NDArray[np.float64]:
    """Rotation matrix for yaw, pitch, roll (see the module docstring for the convention)."""
    if degrees:
        yaw, pitch, roll = np.radians([yaw, pitch, roll])
    return _ry(yaw) @ _rx(-pitch) @ _rz(-roll)


def matrix_to_ypr(m: ArrayLike, *, degrees: bool = True) -> tuple[float, float, float]:
    """Inverse of ``ypr_to_matrix``; pitch in [-90, 90], yaw and roll in (-180, 180]."""
    m = np.asarray(m, dtype=np.float64)
    # R = Ry(y) Rx(-p) Rz(-r); its third column is R @ z = (cos p sin y, sin p, cos p cos y)
    pitch = np.arcsin(np.clip(m[1, 2], -1.0, 1.0))
    if abs(m[1, 2]) < 1.0 - 1e-9:
        yaw = np.arctan2(m[0, 2], m[2, 2])
        # second row of R is (-cos p sin r, cos p cos r, sin p)
        roll = np.arctan2(-m[1, 0], m[1, 1])
    else:  # gimbal lock: looking straight up or down; fold roll into yaw
        yaw = np.arctan2(-m[2, 0], m[0, 0])
        roll = 0.0
    out = (float(yaw), float(pitch), float(roll))
    return tuple(float(np.degrees(v)) for v in out) if degrees else out  # type: ignore[return-value]


def quaternion_to_matrix(q: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrix of a quaternion (w, x, y, z); normalised first."""
    return quaternions.to_matrices(q)


def matrix_to_quaternion(m: ArrayLike) -> NDArray[np.float64]:
    """Unit quaternion (w, x, y, z) with w >= 0 of a rotation matrix."""
    return quaternions.from_matrices(m)


def axis_angle_to_matrix(axis: ArrayLike, angle: float) -> NDArray[np.float64]:
    """Rotation by ``angle`` radians about ``axis`` (right-hand rule)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    h = angle / 2.0
    return quaternion_to_matrix(np.concatenate([[np.cos(h)], np.sin(h) * a]))


def slerp(q0: ArrayLike, q1: ArrayLike, t: float | ArrayLike) -> NDArray[np.float64]:
    """Spherical linear interpolation between two unit quaternions (shortest arc).

    ``t`` may be a scalar (returns (4,)) or an array (returns (..., 4)).
    """
    return quaternions.slerp(q0, q1, t, shortest_arc=True)


def kabsch(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Rotation R minimising sum |R a_i - b_i|² over matched rows of directions (N, 3)
    (Kabsch: SVD of the cross-covariance, with the sign fixed so R is proper, det +1)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


@dataclass(frozen=True, eq=False)
class Rotation:
    """A rotation of the sphere; call it on (N, 3) directions. ``world = R(camera)``."""

    matrix: NDArray[np.float64]

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (3, 3):
            raise ValueError(f"rotation matrix must be 3x3, got shape {m.shape}")
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)

    @classmethod
    def identity(cls) -> Self:
        return cls(np.eye(3))

    @classmethod
    def from_matrix(cls, m: ArrayLike) -> Self:
        return cls(np.asarray(m, dtype=np.float64))

    @classmethod
    def from_ypr(cls, yaw: float, pitch: float, roll: float, *, degrees: bool = True) -> Self:
        return cls(ypr_to_matrix(yaw, pitch, roll, degrees=degrees))

    @classmethod
    def from_quaternion(cls, q: ArrayLike) -> Self:
        return cls(quaternion_to_matrix(q))

    @classmethod
    def from_axis_angle(cls, axis: ArrayLike, angle: float, *, degrees: bool = False) -> Self:
        return cls(axis_angle_to_matrix(axis, np.radians(angle) if degrees else angle))

    def as_quaternion(self) -> NDArray[np.float64]:
        return matrix_to_quaternion(self.matrix)

    def as_ypr(self, *, degrees: bool = True) -> tuple[float, float, float]:
        return matrix_to_ypr(self.matrix, degrees=degrees)

    @property
    def inverse(self) -> "Rotation":
        return Rotation(self.matrix.T)

    @property
    def angle(self) -> float:
        """Rotation angle in radians, in [0, pi]."""
        return float(np.arccos(np.clip((np.trace(self.matrix) - 1.0) / 2.0, -1.0, 1.0)))

    def __call__(self, dirs: ArrayLike) -> NDArray[np.float64]:
        """Rotate directions of shape (..., 3)."""
        d = np.asarray(dirs, dtype=np.float64)
        return d @ self.matrix.T

    def __matmul__(self, other: "Rotation") -> "Rotation":
        return Rotation(self.matrix @ other.matrix)

    def __repr__(self) -> str:
        y, p, r = self.as_ypr()
        return f"Rotation(yaw={y:.4f}, pitch={p:.4f}, roll={r:.4f})"
