"""Camera formats, each opened as a ``RigSource`` the stitcher can consume.

``open_rig(path)`` detects the format; today: side-by-side dual fisheye in one track.
"""

from __future__ import annotations

from .._types import StrPath
from ._source import FramePlan, RigSource, SideBySideSource, open_side_by_side

__all__ = ["RigSource", "FramePlan", "SideBySideSource", "open_rig", "open_side_by_side"]


def open_rig(path: StrPath) -> RigSource:
    """Open a camera recording (file or folder) as a RigSource, detecting its format."""
    return open_side_by_side(path)
