"""Camera orientation from telemetry: levelling (lock) and stabilising (smooth) 360 video.

For the stitcher::

    rotations = estimate_orientation("GX010123.MP4", frame_times, mode="lock",
                                     video_motion=measure_video_motion(frames, frame_times))
    # output pixel looking along d shows the stitched rig sphere at rotations[i](d)

``orientation_for_frames(source, frame_times)`` gives the camera orientation itself
(relative to the first frame); ``plan_orientation`` returns the rotations with the
evidence (source, time offset found, levelling).
"""

from ._api import (
    OrientationPlan,
    OrientMode,
    TelemetrySource,
    estimate_orientation,
    gravity_level,
    orientation_for_frames,
    orientation_track,
    plan_orientation,
)
from ._imu import CORI_AXES, GOPRO_TO_RIG, OrientationTrack, cori_track, gyro_track, imu_rates
from ._smooth import DEFAULT_SMOOTHING_S, smooth_quaternions
from ._synthetic import body_rates, synthetic_gpmd
from ._video import (
    VideoMotion,
    estimate_axes,
    estimate_gyro_bias,
    estimate_time_offset,
    measure_rig_motion,
    measure_video_motion,
    rotation_between,
)

__all__ = [
    "CORI_AXES",
    "DEFAULT_SMOOTHING_S",
    "GOPRO_TO_RIG",
    "OrientMode",
    "OrientationPlan",
    "OrientationTrack",
    "TelemetrySource",
    "VideoMotion",
    "body_rates",
    "cori_track",
    "estimate_axes",
    "estimate_gyro_bias",
    "estimate_orientation",
    "estimate_time_offset",
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
    "synthetic_gpmd",
]
