"""Jobs: stitching a recording end to end (decode → stitch → encode → metadata)."""

from .single import StitchJob, StitchResult, stitch_video

__all__ = ["StitchJob", "StitchResult", "stitch_video"]
