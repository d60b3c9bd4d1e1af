"""Dual-fisheye stitching: plans (precomputed maps and weights), self-calibration,
photometric compensation, multi-band blending and a seam that follows the scene."""

from .calibrate import CalibrationResult, calibrate_rig
from .blend import SeamTracker
from .plan import BandRect, StitchPlan

__all__ = ["StitchPlan", "BandRect", "CalibrationResult", "calibrate_rig", "SeamTracker"]
