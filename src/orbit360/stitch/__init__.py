"""Dual-fisheye stitching: plans (precomputed maps and weights) and the frame stitcher."""

from .plan import BandRect, StitchPlan

__all__ = ["StitchPlan", "BandRect"]
