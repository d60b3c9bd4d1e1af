"""Dual-fisheye stitching: plans (precomputed maps and weights), self-calibration,
photometric compensation, multi-band blending and a seam that follows the scene.

The package is also callable: ``orbit360.stitch(input, output, ...)`` is
``orbit360.pipeline.stitch``, the whole job (see ``orbit360._callable``).
"""

from .._callable import make_package_callable

from .calibrate import CalibrationResult, calibrate_rig
from .blend import SeamTracker
from ._parallel import run_chunks
from ._ring import lens_project
from .frameplan import FramePlan, Observed, RgbFrame, YuvFrame, YuvPlan
from .plan import BandRect, StitchPlan, following_plan

__all__ = ["FramePlan", "YuvPlan", "RgbFrame", "YuvFrame", "Observed", "StitchPlan", "following_plan", "BandRect", "CalibrationResult", "calibrate_rig", "SeamTracker", "run_chunks", "lens_project"]

make_package_callable(__name__, "orbit360.pipeline.job:stitch")
