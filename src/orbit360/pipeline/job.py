"""One entry point for stitching a recording: it chooses the single or the segmented job.

``stitch_video`` runs one pass on this machine; ``stitch_segmented`` splits the job into
resumable segments for a process pool or a Dask cluster. A caller who names neither
segments, workers nor a scheduler gets the single pass, as the ``stitch`` command does.
"""

from __future__ import annotations

from collections.abc import Callable

from .._types import StrPath
from ..orient import OrientMode
from ..profile import RigProfile
from ..video import EncodeOptions
from .segmented import DEFAULT_SEGMENT_FRAMES, JobResult, stitch_segmented
from .single import StitchResult, stitch_video

__all__ = ["stitch", "is_segmented"]


def is_segmented(segment_frames: int | None, workers: int | None, scheduler: str | None) -> bool:
    """True when any of the segmented job's settings is given (the ``stitch`` command's rule)."""
    return segment_frames is not None or workers is not None or scheduler is not None


def stitch(
    input: StrPath,
    output: StrPath,
    *,
    rig: RigProfile | None = None,
    width: int | None = None,
    options: EncodeOptions = EncodeOptions(),
    orient: OrientMode | str = OrientMode.OFF,
    start_s: float | None = None,
    stop_s: float | None = None,
    segment_frames: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    salvage: bool = True,
    reference: StrPath | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    job_log: Callable[[str], None] | None = None,
) -> StitchResult | JobResult:
    """Stitch the dual-lens recording ``input`` to an equirect 360 MP4 at ``output``.

    :param rig: the rig profile; None: self-calibrated once from the footage.
    :param segment_frames, workers, scheduler: any of them runs the job in resumable
        segments (``stitch_segmented``; ``segment_frames`` defaults to
        ``DEFAULT_SEGMENT_FRAMES``), none of them a single pass (``stitch_video``).
    :param salvage: a recording whose moov is missing is salvaged first (into a temporary
        folder beside ``output``), with ``reference`` as the healthy clip if given.
    :param orient, start_s, stop_s, options, width, progress, log: as ``stitch_video``.
    :param job_log: where the segmented job's messages go ("reused K/N segments", the
        rig and orientation found, ...); default ``log``.
    :returns: a ``StitchResult`` (single pass) or a ``JobResult`` (segments); both carry
        ``output``, ``frames``, ``size``, ``encoder`` and ``rig``, and ``summary()``.
    """
    def run(playable: StrPath) -> StitchResult | JobResult:
        if not is_segmented(segment_frames, workers, scheduler):
            return stitch_video(playable, output, rig=rig, width=width, options=options, progress=progress,
                                calibrate=rig is None, log=log, orient=orient, start_s=start_s, stop_s=stop_s)
        return stitch_segmented(playable, output, rig=rig, width=width, options=options,
                                segment_frames=segment_frames or DEFAULT_SEGMENT_FRAMES, workers=workers,
                                scheduler=scheduler, progress=progress, log=job_log or log, calibrate=rig is None, orient=orient,
                                start_s=start_s, stop_s=stop_s)

    if not salvage:
        return run(input)
    from ..salvage import salvaged_if_broken

    with salvaged_if_broken(input, beside=output, reference=reference, log=log) as playable:
        return run(playable)
