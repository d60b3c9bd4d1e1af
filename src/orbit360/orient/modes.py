"""How a stitched video is turned, frame by frame (``stitch --orient``).

A ``StrEnum``: each member is its own string, so ``mode == "lock"``, JSON and messages
read exactly as the plain strings did. This module imports nothing heavy: the stitch job
checks the mode before it loads the orientation code.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrientMode", "TELEMETRY_MODES"]


class OrientMode(StrEnum):
    OFF = "off"
    """As stitched: the rig's own frame."""
    LOCK = "lock"
    """Horizon and heading held (the camera's motion telemetry, levelled by gravity)."""
    SMOOTH = "smooth"
    """Shake removed, deliberate turns kept (the same telemetry, low-passed)."""
    EARTH = "earth"
    """In orbit: the Earth's centre straight down (found in the frames), heading from the gyro."""


TELEMETRY_MODES = frozenset({OrientMode.OFF, OrientMode.LOCK, OrientMode.SMOOTH})
"""The modes ``orient.plan_orientation`` computes from telemetry alone (``earth`` also
looks at the frames: ``orient._earth``)."""
