"""Camera orientation over time from GPMF: CORI quaternions or the integrated gyro.

Axes. GoPro stores each IMU sample in a per-model component order, described by
MTRX/ORIO (HERO6+: MTRX maps the stored order ORIN to the output order ORIO, e.g.
"ZXY") or by ORIN alone, or implied by the model (HERO5: Z,X,Y; Fusion: -Y,X,Z).
We first bring every sample to GoPro's IMU axes (X, Y, Z), then to the rig frame
(+x right, +y up, +z forward) with ``GOPRO_TO_RIG``. Measured on the real samples,
not taken from a figure:

- GoPro's Z is up: a camera at rest reads +g on Z in every HERO sample;
- (X, Y, Z) is a right-handed frame with the gyro's rates by the right-hand rule: the
  low-passed ACCL turns as -GYRO x ACCL on the HERO7 and the MAX (a fixed world vector
  seen from a turning body), not as +GYRO x ACCL;
- X points left and Y backward (Z up and right-handed allow only this or X right and Y
  forward): on the HERO7 walking sample, the camera's rotation measured from its own
  frames (five-point essential matrices of tracked corners, so walking's translation
  does not pass for rotation) follows the gyro about all three axes with these signs
  (rates low-passed over a second, as the camera's own stabilisation leaves only the
  slow turns in the picture; tests/test_orient.py).

The rig frame is left-handed (right, up, forward), GoPro's right-handed: directions
(ACCL, MAGN) map by ``GOPRO_TO_RIG`` (a reflection, det -1), and rotations, axial
vectors (GYRO rates, CORI's vector part), by ``axial(GOPRO_TO_RIG)`` = det · matrix.
A camera mounted otherwise, or a model whose IMU sits differently, needs
``imu_to_rig=`` (the directions' mapping; rotations follow) or the alignment that
``estimate_orientation`` measures from video.

Orientation ``q(t)`` maps rig directions at time t to the reference frame, the rig at
the track's start: ``ref = q(t) ⊗ rig``. The gyro measures body rates ``w`` (rad/s in
the rig frame), so ``q(t + dt) = q(t) ⊗ exp(w dt / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import TelemetryError
from ..telemetry import Stream, Telemetry, TimedStream
from ..geometry.quaternions import cumulative_product, from_rotvec, interpolate, qmul, qnormalize

__all__ = [
    "GOPRO_TO_RIG",
    "CORI_AXES",
    "OrientationTrack",
    "axes_matrix",
    "axial",
    "stored_to_gopro",
    "imu_rates",
    "gyro_track",
    "cori_track",
    "specific_force",
]

GOPRO_TO_RIG = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Rig direction = GOPRO_TO_RIG @ (X, Y, Z): x = -X (X points left), y = Z (up), z = -Y
(Y points backward). Rotations map by ``axial(GOPRO_TO_RIG)``."""

_AXIAL_KEYS = ("GYRO",)
"""IMU streams of axial vectors (rotation rates): they map by ``axial``."""

_AXIS = {"X": 0, "Y": 1, "Z": 2}

CORI_AXES = "XZY"
"""GoPro axes of CORI's vector part (x, y, z). Measured, not documented: on the MAX
sample, CORI read this way matches the gyro integrated here (MTRX applied) to 0.08°
RMS over 10 s (29° of motion), at a lag of 0.02 s; no other signed permutation comes
within 5°."""


def axial(to_rig: ArrayLike) -> NDArray[np.float64]:
    """The mapping of axial vectors (angular rates, rotation axes) under the mapping
    ``to_rig`` of directions: ``det(to_rig) * to_rig``. A reflection (between a right-
    and a left-handed frame) turns a rotation's sense: its axis takes the extra sign."""
    m = np.asarray(to_rig, dtype=np.float64)
    return float(np.sign(np.linalg.det(m))) * m


def axes_matrix(letters: str) -> NDArray[np.float64]:
    """Matrix taking components stored in the order ``letters`` to (X, Y, Z).

    ``"YxZ"``: component 0 is +Y, component 1 is -X (lower case = negative), 2 is +Z.
    """
    if len(letters) != 3 or {c.upper() for c in letters} != {"X", "Y", "Z"}:
        raise TelemetryError(f"axis order {letters!r} is not a permutation of X, Y, Z")
    m = np.zeros((3, 3))
    for i, c in enumerate(letters):
        m[_AXIS[c.upper()], i] = 1.0 if c.isupper() else -1.0
    return m


def stored_to_gopro(stream: Stream) -> NDArray[np.float64]:
    """Matrix taking one stored IMU sample of ``stream`` to GoPro's (X, Y, Z) axes."""
    if stream.matrix is not None:
        out_order = stream.orio if stream.orio and len(stream.orio) == 3 else "ZXY"
        return axes_matrix(out_order) @ stream.matrix
    if stream.orin and len(stream.orin) == 3:
        return axes_matrix(stream.orin)
    if "fusion" in stream.device_name.lower():
        return axes_matrix("yXZ")  # gpmf-parser README: Fusion data order -Y,X,Z
    return axes_matrix("ZXY")  # HERO5 and the STNM "Gyroscope (z,x,y)"


@dataclass(frozen=True, eq=False)
class OrientationTrack:
    """Orientation samples: ``q[i]`` (w, x, y, z) at ``t[i]`` seconds (telemetry clock)."""

    t: NDArray[np.float64]
    q: NDArray[np.float64]
    source: str
    """"CORI" (the camera's own fusion) or "GYRO" (integrated here)."""

    def at(self, times: ArrayLike) -> NDArray[np.float64]:
        """Orientation at ``times`` (slerp between samples, held outside the track)."""
        return interpolate(self.t, self.q, np.atleast_1d(np.asarray(times, dtype=np.float64)))


def _camera_blocks(tel: Telemetry, key: str) -> list[TimedStream]:
    """Blocks of ``key`` from the first device that writes it (a Bluetooth sensor's or a
    drone's IMU is another body and must not be mixed into the camera's)."""
    parts = [ts for ts in tel.of(key) if ts.stream.values is not None and ts.stream.values.shape[0]]
    if not parts:
        return []
    device = parts[0].stream.device_id
    return [ts for ts in parts if ts.stream.device_id == device]


def imu_rates(tel: Telemetry, key: str = "GYRO", imu_to_rig: ArrayLike | None = None) -> tuple[NDArray, NDArray]:
    """Times (s) and (N, 3) rig-frame vectors of an IMU stream (GYRO rad/s, ACCL m/s²).

    ``imu_to_rig`` (3x3) overrides the mapping of directions from GoPro (X, Y, Z) to the
    rig frame; GYRO's rates map by its ``axial`` form.
    """
    to_rig = GOPRO_TO_RIG if imu_to_rig is None else np.asarray(imu_to_rig, dtype=np.float64)
    if key in _AXIAL_KEYS:
        to_rig = axial(to_rig)
    blocks = _camera_blocks(tel, key)
    if not blocks:
        return np.zeros(0), np.zeros((0, 3))
    ts, vs = [], []
    for b in blocks:
        v = b.stream.values
        if v.shape[1] != 3:
            raise TelemetryError(f"{key} has {v.shape[1]} components, expected 3", offset=b.stream.offset)
        ts.append(b.t)
        vs.append(v @ (to_rig @ stored_to_gopro(b.stream)).T)
    t = np.concatenate(ts)
    v = np.concatenate(vs)
    finite = np.isfinite(v).all(axis=1)  # a float stream may carry NaN: skip, do not spread it
    t, v = t[finite], v[finite]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    keep = np.concatenate([[True], np.diff(t) > 0])  # a repeated instant adds no information
    return t[keep], v[keep]


def gyro_track(tel: Telemetry, imu_to_rig: ArrayLike | None = None, *, bias: ArrayLike | None = None) -> OrientationTrack | None:
    """Integrate the camera's gyro into an orientation track (identity at the first sample).

    Each step uses the mean of the two rates bounding it (trapezoid), applied as one
    rotation; the steps are chained with a parallel prefix product. ``bias`` (rad/s,
    rig frame) is subtracted first.
    """
    t, w = imu_rates(tel, "GYRO", imu_to_rig)
    if t.shape[0] < 2:
        return None
    if bias is not None:
        w = w - np.asarray(bias, dtype=np.float64)
    steps = 0.5 * (w[1:] + w[:-1]) * np.diff(t)[:, None]
    dq = np.concatenate([[[1.0, 0.0, 0.0, 0.0]], from_rotvec(steps)])
    return OrientationTrack(t, cumulative_product(dq), "GYRO")


def _quaternion_blocks(tel: Telemetry, key: str, to_rig: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    blocks = _camera_blocks(tel, key)
    if not blocks:
        return np.zeros(0), np.zeros((0, 4))
    t = np.concatenate([b.t for b in blocks])
    q = np.concatenate([b.stream.values for b in blocks])
    if q.shape[1] != 4:
        raise TelemetryError(f"{key} has {q.shape[1]} components, expected a quaternion", offset=blocks[0].stream.offset)
    # Vector part (a rotation's axis: axial): CORI's order -> GoPro (X, Y, Z) -> rig axes.
    q = np.concatenate([q[:, :1], q[:, 1:] @ (axial(to_rig) @ axes_matrix(CORI_AXES)).T], axis=1)
    usable = np.isfinite(q).all(axis=1) & (np.linalg.norm(q, axis=1) > 0.5)  # int16/32767: ~1
    return t[usable], qnormalize(q[usable])


def cori_track(tel: Telemetry, imu_to_rig: ArrayLike | None = None) -> OrientationTrack | None:
    """The camera body's own orientation (CORI), relative to its first sample; None when
    the recording has none. IORI (the in-camera stabilisation of a flat picture) is not
    applied: 360 recordings are not stabilised in camera, and the gyro path has no IORI."""
    to_rig = GOPRO_TO_RIG if imu_to_rig is None else np.asarray(imu_to_rig, dtype=np.float64)
    t, q = _quaternion_blocks(tel, "CORI", to_rig)
    if t.shape[0] == 0:
        return None
    q0_inv = q[0] * np.array([1.0, -1.0, -1.0, -1.0])
    return OrientationTrack(t, qnormalize(qmul(q0_inv, q)), "CORI")


def specific_force(tel: Telemetry, imu_to_rig: ArrayLike | None = None) -> tuple[NDArray, NDArray]:
    """ACCL in the rig frame (m/s²): at rest it points *up* with magnitude g; in free fall
    or orbit it is near zero."""
    return imu_rates(tel, "ACCL", imu_to_rig)
