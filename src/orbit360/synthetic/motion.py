"""Camera motions: the camera's orientation at each instant, ``world_dir = motion(t)(rig_dir)``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..geometry import Rotation

__all__ = ["CameraMotion", "static_motion", "pan_motion", "shake_motion"]

CameraMotion = Callable[[float], Rotation]
"""Camera orientation at time t (seconds): ``world_dir = motion(t)(rig_dir)``."""


def static_motion(t: float) -> Rotation:
    """A camera that never turns."""
    return Rotation.identity()


def pan_motion(yaw_deg_per_s: float = 10.0, pitch_deg_per_s: float = 0.0) -> CameraMotion:
    """A steady turn: yaw (and optionally pitch) growing linearly with time."""
    return lambda t: Rotation.from_ypr(yaw_deg_per_s * t, pitch_deg_per_s * t, 0.0)


def shake_motion(amplitude_deg: float = 2.0, hz: float = 5.0, base: CameraMotion = static_motion) -> CameraMotion:
    """A sinusoidal shake on all three axes on top of ``base``."""

    def motion(t: float) -> Rotation:
        s = np.sin(2 * np.pi * hz * t)
        c = np.cos(2 * np.pi * hz * t * 0.9)
        return base(t) @ Rotation.from_ypr(amplitude_deg * s, amplitude_deg * 0.7 * c, amplitude_deg * 0.5 * s)

    return motion
