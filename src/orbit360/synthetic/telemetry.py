"""Synthetic GoPro telemetry for a known camera motion: ground truth for orientation tests.

``synthetic_gpmd``: payloads laid out as a HERO7/MAX writes them: GYRO and ACCL as int16
with SCAL, MTRX/ORIN/ORIO describing the stored axis order, optional CORI quaternions at
frame rate, one payload per ``payload_s`` seconds. ``attach_gyro``: a Fusion card's GYRO
track added to a recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..geometry.quaternions import from_matrices, qconj, qmul, to_rotvec
from ..orient import CORI_AXES, GOPRO_TO_RIG, axes_matrix, axial
from ..telemetry import GpmdSample, attach_gpmd, encode_device, encode_klv, encode_stream, gpmd_track_from_samples
from .motion import CameraMotion

__all__ = ["body_rates", "synthetic_gpmd", "attach_gyro"]

GYRO_SCAL = 1878.0  # HERO7's: int16 covers ±17 rad/s
ACCL_SCAL = 418.0
STORED_ORDER = "YxZ"  # HERO6/7's ORIN
OUTPUT_ORDER = "ZXY"  # their ORIO


def _orientations(motion: CameraMotion, times: NDArray[np.float64]) -> NDArray[np.float64]:
    return from_matrices(np.stack([motion(float(t)).matrix for t in times]))


def body_rates(motion: CameraMotion, times: NDArray[np.float64], h: float = 1e-4) -> NDArray[np.float64]:
    """Angular velocity (rad/s, rig frame) of ``motion`` at ``times`` by central difference."""
    before, after = _orientations(motion, times - h), _orientations(motion, times + h)
    return to_rotvec(qmul(qconj(before), after)) / (2 * h)


def synthetic_gpmd(
    motion: CameraMotion,
    duration: float,
    *,
    gyro_hz: float = 200.0,
    payload_s: float = 1.0,
    cori_hz: float | None = None,
    gravity: bool = False,
    timescale: int = 1000,
    gyro_bias: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[GpmdSample]:
    """gpmd samples for ``motion`` (world = motion(t)(rig)) over ``duration`` seconds.

    ACCL is zero (weightless) unless ``gravity``; then it is the specific force of a
    camera at rest in 1 g, pointing up (+y world) seen in the rig. ``gyro_bias`` (rad/s,
    rig frame) is added to every gyro sample, as a real gyro's offset.
    """
    # GoPro's axes to the rig: directions by GOPRO_TO_RIG, rates and rotation axes by its
    # axial form (both orthogonal: the inverse is the transpose)
    rig_to_stored = axes_matrix(STORED_ORDER).T @ GOPRO_TO_RIG.T
    rig_to_stored_axial = axes_matrix(STORED_ORDER).T @ axial(GOPRO_TO_RIG).T
    mtrx = axes_matrix(OUTPUT_ORDER).T @ axes_matrix(STORED_ORDER)
    orientation_meta = [
        encode_klv("MTRX", "f", mtrx.reshape(1, 9)),
        encode_klv("ORIN", "c", STORED_ORDER),
        encode_klv("ORIO", "c", OUTPUT_ORDER),
    ]
    q_start = _orientations(motion, np.array([0.0]))[0]
    samples: list[GpmdSample] = []
    total_gyro = total_cori = 0
    n_payloads = int(np.ceil(duration / payload_s - 1e-9))
    for k in range(n_payloads):
        start_ticks = round(k * payload_s * timescale)
        dur_ticks = round(min(payload_s, duration - k * payload_s) * timescale)
        start, dur = start_ticks / timescale, dur_ticks / timescale
        n = max(1, round(gyro_hz * dur))
        t = start + np.arange(n) * dur / n  # the times the parser will give them
        rates = (body_rates(motion, t) + np.asarray(gyro_bias)) @ rig_to_stored_axial.T
        if gravity:
            world_up = np.array([0.0, 9.80665, 0.0])
            accl_rig = np.einsum("nji,j->ni", np.stack([motion(float(x)).matrix for x in t]), world_up)
        else:
            accl_rig = np.zeros((n, 3))
        total_gyro += n
        streams = [
            encode_stream("ACCL", accl_rig @ rig_to_stored.T, scale=ACCL_SCAL, name="Accelerometer", units="m/s²",
                          total_samples=total_gyro, metadata=orientation_meta),
            encode_stream("GYRO", rates, scale=GYRO_SCAL, name="Gyroscope", units="rad/s",
                          total_samples=total_gyro, metadata=orientation_meta),
        ]  # fmt: skip
        if cori_hz:
            m = max(1, round(cori_hz * dur))
            tc = start + np.arange(m) * dur / m
            q = qmul(qconj(q_start), _orientations(motion, tc))
            vec = q[:, 1:] @ (axes_matrix(CORI_AXES).T @ axial(GOPRO_TO_RIG).T).T
            total_cori += m
            streams.append(encode_stream("CORI", np.concatenate([q[:, :1], vec], axis=1), scale=32767.0,
                                         name="CameraOrientation", total_samples=total_cori))  # fmt: skip
        payload = encode_device(1, "orbit360 synthetic", streams)
        samples.append(GpmdSample(payload, start, dur, start_ticks, dur_ticks))
    return samples


def attach_gyro(path: Path, t: NDArray[np.float64], w: NDArray[np.float64], start: float, seconds: float) -> None:
    """Add a gpmd track to ``path`` holding GYRO (rad/s) of ``w`` over [start, start + seconds)."""
    keep = (t >= start) & (t < start + seconds)
    values = w[keep]
    payload = encode_device(1, "Fusion", [encode_stream("GYRO", values, type_char="s", scale=1000.0, units="rad/s")])
    tmp = path.with_name(path.stem + ".gyro" + path.suffix)
    attach_gpmd(path, gpmd_track_from_samples([GpmdSample(payload, 0.0, seconds, 0, int(round(seconds * 1000)))]), tmp)
    tmp.replace(path)
