"""The ground truth of a synthetic recording: the scene and motion it was rendered from.

Every generator in this package returns a ``Truth``. Because the scene, the camera's
motion and the frame timing are known, so is the ideal stitch of every frame:
``ground_truth(i, size)`` is the scene seen from the camera's orientation at frame ``i``,
in the rig frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .._types import SizeLike
from ..geometry import Rotation, dirs_to_equirect, equirect_grid_dirs
from ..profile import RigProfile
from .motion import CameraMotion, static_motion

__all__ = ["Truth", "scene_in_directions"]

WORLD_DOWN = np.array([0.0, -1.0, 0.0])


def scene_in_directions(scene: NDArray[np.uint8], dirs: NDArray[np.float64]) -> NDArray[np.uint8]:
    """The equirect ``scene`` sampled (bilinear, wrapping in longitude) in world directions ``dirs`` (..., 3)."""
    sh, sw = scene.shape[:2]
    xy = dirs_to_equirect(dirs, (sw, sh)).astype(np.float32) - 0.5
    # INTER_AREA is not available for remap; the scenes are band-limited, linear is fine
    return cv2.remap(scene, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


@dataclass
class Truth:
    """What a synthetic recording was rendered from: enough to recompute any frame's ideal stitch.

    Frame ``i`` of the recording (after any synchronisation) shows time
    ``(i + first_frame) / fps``.

    :param scene: the equirect world (RGB uint8, +y up); what is fixed to the camera (the
        orbital recording's station) and unlit frames are not in it.
    :param fps: frame rate of the recording.
    :param motion: the camera's orientation at each instant.
    :param first_frame: the instant of frame 0, in frames.
    :param path: the file written (None for a pair of files or a render in memory).
    :param rig: the rig the lenses were rendered through (None for the MAX's EAC tracks).
    :param frames: frames written.
    :param without_telemetry: the same recording before its telemetry track was added,
        when it was kept.
    """

    scene: NDArray[np.uint8]
    fps: Fraction
    motion: CameraMotion = static_motion
    first_frame: int = 0
    path: Path | None = None
    rig: RigProfile | None = None
    frames: int = 0
    without_telemetry: Path | None = None

    def orientation(self, index: int) -> Rotation:
        """The camera's orientation at frame ``index``."""
        return self.motion((index + self.first_frame) / float(self.fps))

    def ground_truth(self, index: int, size: SizeLike) -> NDArray[np.uint8]:
        """The ideal stitch of frame ``index``: equirect RGB at ``size``, in the rig frame."""
        return scene_in_directions(self.scene, self.orientation(index)(equirect_grid_dirs(size)))

    def nadir(self, index: int) -> NDArray[np.float64]:
        """Where the world's "down" (-y) lies on the rig sphere at frame ``index``."""
        return self.orientation(index).inverse(WORLD_DOWN)
