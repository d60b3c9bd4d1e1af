"""Synthetic recordings with known ground truth, for tests, benchmarks and the demo.

A synthetic recording is rendered from a known equirect *scene*, a known rig (a
``RigProfile`` with misalignment, off-centre circles, exposure, colour and vignetting,
or a ``RealisticRig`` of two real-lens models) and a known camera *motion*; every
generator returns its ``Truth``, from which the ideal stitch of any frame follows::

    truth = write_rig_video("rig.mp4", misaligned_rig((1280, 640), seed=1), make_scene(2048),
                            frames=30, motion=pan_motion(20.0), audio=True)
    ideal = truth.ground_truth(12, (2048, 1024))

Modules, one job each:

- ``scene``: the equirect world (``make_scene``); ``orbit``: the world from orbit and
  the orbital recording (``write_orbital_recording``);
- ``motion``: ``CameraMotion`` (time -> orientation) and the stock motions;
- ``truth``: ``Truth``, the one ground-truth type;
- ``rig``: imperfect rigs (``misaligned_rig``) and ``RigRenderer``; ``optics``: rigs of two
  real-lens models (``realistic_rig``, ``PhotoRigRenderer``); ``photometry``: rigs that
  clip and do not write sRGB (``Camera``); ``parallax``: a near object each lens sees
  in its own direction (``ParallaxScene``);
- ``cameras``: recordings in each camera's layout (side by side, MAX, Fusion, Insta360);
  ``encode``: the multi-track MP4s and tags they need; ``audio``: their sound;
- ``telemetry``: GPMF for a known motion (``synthetic_gpmd``), a Fusion card's gyro;
- ``damage``: salvage inputs (camera-like recordings, power loss, a GoPro file
  without its index).

Single-track video goes through the production ``video.VideoWriter`` (sound as its
``audio=`` PCM input). Names are imported on first use: ``from orbit360.synthetic import
pan_motion`` does not load the encoders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .audio import noise_audio, tone_audio
    from .cameras import write_fusion_pair, write_insv, write_max_recording, write_rig_video
    from .damage import gopro_without_index, simulate_power_loss, write_camera_like_recording
    from .encode import add_udta, write_streams
    from .motion import CameraMotion, pan_motion, shake_motion, static_motion
    from .optics import PhotoRigRenderer, RealisticRig, SineLens, realistic_rig, world_equirect
    from .parallax import ParallaxScene
    from .orbit import EARTH_RADIUS_KM, earth_angular_radius_deg, orbital_scene, station_scene, write_orbital_recording
    from .rig import RigRenderer, linear_to_srgb, misaligned_rig, srgb_to_linear
    from .scene import make_scene
    from .telemetry import attach_gyro, body_rates, synthetic_gpmd
    from .truth import Truth, scene_in_directions

_HOMES = {
    **dict.fromkeys(["noise_audio", "tone_audio"], "audio"),
    **dict.fromkeys(["write_fusion_pair", "write_insv", "write_max_recording", "write_rig_video"], "cameras"),
    **dict.fromkeys(["gopro_without_index", "simulate_power_loss", "write_camera_like_recording"], "damage"),
    **dict.fromkeys(["add_udta", "write_streams"], "encode"),
    **dict.fromkeys(["CameraMotion", "pan_motion", "shake_motion", "static_motion"], "motion"),
    **dict.fromkeys(["PhotoRigRenderer", "RealisticRig", "SineLens", "realistic_rig", "world_equirect"], "optics"),
    **dict.fromkeys(["EARTH_RADIUS_KM", "earth_angular_radius_deg", "orbital_scene", "station_scene",
                     "write_orbital_recording"], "orbit"),
    **dict.fromkeys(["ParallaxScene"], "parallax"),
    **dict.fromkeys(["RigRenderer", "linear_to_srgb", "misaligned_rig", "srgb_to_linear"], "rig"),
    **dict.fromkeys(["make_scene"], "scene"),
    **dict.fromkeys(["attach_gyro", "body_rates", "synthetic_gpmd"], "telemetry"),
    **dict.fromkeys(["Truth", "scene_in_directions"], "truth"),
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
