"""Jobs: stitching a recording end to end (decode → stitch → encode → metadata)."""

from .single import StitchResult, stitch_video

__all__ = ["StitchResult", "stitch_video"]
