"""Camera orientation from telemetry: levelling (lock) and stabilising (smooth) 360 video.

For the stitcher::

    rotations = estimate_orientation("GX010123.MP4", frame_times, mode="lock",
                                     video_motion=measure_video_motion(frames, frame_times))
    # output pixel looking along d shows the stitched rig sphere at rotations[i](d)

``orientation_for_frames(source, frame_times)`` gives the camera orientation itself
(relative to the first frame); ``plan_orientation`` returns the rotations with the
evidence (source, time offset found, levelling).

``find_earth``/``earth_rotations`` give ``--orient earth`` (the Earth's limb found in the
frames); ``SphereRotator`` turns stitched frames by per-frame rotations.

Names are imported on first use (``_lazy``): ``from orbit360.orient import OrientMode``
does not load the numerical modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._api import (
        OrientationPlan, TelemetrySource, estimate_orientation, gravity_level, orientation_for_frames, orientation_track,
        plan_orientation,
    )
    from .modes import OrientMode, TELEMETRY_MODES
    from ._imu import CORI_AXES, GOPRO_TO_RIG, OrientationTrack, axes_matrix, axial, cori_track, gyro_track, imu_rates
    from ._smooth import DEFAULT_SMOOTHING_S, smooth_quaternions
    from ._video import (
        VideoMotion, estimate_axes, estimate_gyro_bias, estimate_time_offset, measure_rig_motion, measure_video_motion,
        rotation_between,
    )
    from ._earth import DETECT_WIDTH, EarthFix, EarthSummary, earth_rotations, find_earth
    from ._apply import SphereRotator

_HOMES = {
    **dict.fromkeys(["OrientationPlan", "TelemetrySource", "estimate_orientation", "gravity_level", "orientation_for_frames",
                     "orientation_track", "plan_orientation"], "_api"),
    **dict.fromkeys(["OrientMode", "TELEMETRY_MODES"], "modes"),
    **dict.fromkeys(["CORI_AXES", "GOPRO_TO_RIG", "OrientationTrack", "axes_matrix", "axial", "cori_track", "gyro_track",
                     "imu_rates"], "_imu"),
    **dict.fromkeys(["DEFAULT_SMOOTHING_S", "smooth_quaternions"], "_smooth"),
    **dict.fromkeys(["VideoMotion", "estimate_axes", "estimate_gyro_bias", "estimate_time_offset", "measure_rig_motion",
                     "measure_video_motion", "rotation_between"], "_video"),
    **dict.fromkeys(["EarthFix", "EarthSummary", "find_earth", "earth_rotations", "DETECT_WIDTH"], "_earth"),
    **dict.fromkeys(["SphereRotator"], "_apply"),
}

__all__ = [
    "CORI_AXES",
    "DEFAULT_SMOOTHING_S",
    "DETECT_WIDTH",
    "EarthFix",
    "EarthSummary",
    "GOPRO_TO_RIG",
    "OrientMode",
    "OrientationPlan",
    "OrientationTrack",
    "SphereRotator",
    "TELEMETRY_MODES",
    "TelemetrySource",
    "VideoMotion",
    "axes_matrix",
    "axial",
    "cori_track",
    "earth_rotations",
    "estimate_axes",
    "estimate_gyro_bias",
    "estimate_orientation",
    "estimate_time_offset",
    "find_earth",
    "gravity_level",
    "gyro_track",
    "imu_rates",
    "measure_rig_motion",
    "measure_video_motion",
    "orientation_for_frames",
    "orientation_track",
    "plan_orientation",
    "rotation_between",
    "smooth_quaternions",
]

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
