"""Jobs: stitching a recording end to end (decode → stitch → encode → metadata).

- ``stitch``: the front door; chooses one of the two below (``job``).
- ``stitch_video``: one machine, one pass, the three stages overlapped in threads.
- ``stitch_segmented``: segments on a local process pool or a Dask cluster, joined without
  re-encoding, resumable after a crash.
"""

from ._stages import StageTimings, run_stages
from .job import is_segmented, stitch
from .segmented import DEFAULT_SEGMENT_FRAMES, JobResult, stitch_segmented
from .single import StitchResult, stitch_video

__all__ = [
    "stitch", "is_segmented", "StitchResult", "stitch_video", "stitch_segmented", "JobResult", "StageTimings", "run_stages",
    "DEFAULT_SEGMENT_FRAMES",
]
