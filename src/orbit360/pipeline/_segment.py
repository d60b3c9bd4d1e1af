"""One segment of a job: what runs in a pool process or a Dask worker.

``run_segment(spec, task)`` decodes input frames [start, stop), stitches and encodes them
through the staged pipeline into ``seg-NNNNN.mp4`` in the work folder (its own encoder
session, so it starts on a key frame), checks the result (exact frame count, decodable)
and writes the segment's record last. Everything it needs travels in ``spec`` (plain,
picklable values); input and work folder are paths every worker can open (a shared
filesystem on a cluster).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..cameras import RigSource
from ..errors import JobError
from ..stitch import FramePlan
from ..video import EncodeOptions
from ._work import Record, SegmentTask, sha256_file, write_json

__all__ = ["JobSpec", "run_segment", "where_am_i"]

_PROGRESS_EVERY_S = 0.25


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to stitch any segment of one job."""

    input: str
    work: str
    key: str
    rig: Record | None
    """``RigProfile.to_dict()`` of the job's rig (None: the source needs none)."""
    width: int
    options: EncodeOptions
    """With a concrete encoder name (resolved once per job)."""
    fps: Fraction
    verify_decode: bool = True
    stitchers: int = 0
    """Stitch threads per segment; 0: chosen on the worker from its cores."""
    rotations: str | None = None
    """Path of the job's (frames, 3, 3) orientation rotations (.npy), or None."""
    yuv: bool = True
    """Stitch yuv420p planes as decoded where possible (``_frames``)."""


_PLANS: dict[str, FramePlan] = {}
_PLANS_LOCK = threading.Lock()


def _plan(spec: JobSpec, source: RigSource) -> FramePlan:
    """The job's plan, built once per worker process and job (a 5.7K plan takes seconds)."""
    from ..profile import RigProfile

    cache_key = json.dumps([spec.rig, spec.width, list(source.frame_size)], sort_keys=True)
    # a plan with temporal state (followed exposure, tracked seam) serves one segment at a
    # time: one per thread (a Dask worker may run several segments at once)
    own_key = f"{cache_key} {threading.get_ident()}"
    with _PLANS_LOCK:
        plan = _PLANS.get(cache_key, _PLANS.get(own_key))
    if plan is None:
        rig = RigProfile.from_dict(spec.rig) if spec.rig is not None else None
        plan = source.plan(spec.width, rig)
        stateful = plan.memory_frames > 0
        with _PLANS_LOCK:
            for key in [k for k in _PLANS if not k.startswith(cache_key)]:
                del _PLANS[key]  # one job at a time per worker: keep memory to its plans
            _PLANS[own_key if stateful else cache_key] = plan
    return plan


def where_am_i() -> Record:
    """This process: pid, host, and the Dask worker address when it is one."""
    where: Record = {"pid": os.getpid(), "host": socket.gethostname(), "worker": None}
    if "distributed" in sys.modules:  # never import dask here: the local pool must not need it
        try:
            from distributed import get_worker

            where["worker"] = get_worker().address
        except (ImportError, ValueError):
            pass
    return where


def _write_progress(path: Path, frames: int) -> None:
    try:
        path.write_text(str(frames))
    except OSError:
        pass  # progress is best effort; the segment record is what counts


def run_segment(spec: JobSpec, task: SegmentTask) -> Record:
    """Stitch segment ``task`` of the job ``spec``; return its record (also written beside it)."""
    from ..cameras import open_rig
    from ..video import check_segment
    from ._encode import encode_range

    started = time.time()
    work = Path(spec.work)
    final = work / task.name
    progress_path = work / task.progress_name
    last = [0.0]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S:
            last[0] = now
            _write_progress(progress_path, n)

    source = open_rig(spec.input)
    try:
        t0 = time.perf_counter()
        plan = _plan(spec, source)
        plan_s = time.perf_counter() - t0
        rotations = None if spec.rotations is None else np.load(spec.rotations, mmap_mode="r")
        done = encode_range(
            source, plan, final, fps=spec.fps, options=spec.options, start=task.start, stop=task.stop, rotations=rotations,
            yuv=spec.yuv, stitchers=spec.stitchers, progress=progress,
        )
    finally:
        source.close()
    timings, encoder = done.timings, done.encoder
    if timings.frames != task.frames:
        final.unlink(missing_ok=True)
        raise JobError(
            f"segment {task.index}: decoded {timings.frames} frames of input frames {task.start}..{task.stop - 1}, "
            f"expected {task.frames} (the input is shorter than its index says, or does not decode)",
            path=spec.input,
        )
    t0 = time.perf_counter()
    try:
        check = check_segment(final, task.frames, decode=spec.verify_decode)
    except JobError:
        final.unlink(missing_ok=True)
        raise
    verify_s = time.perf_counter() - t0
    record = {
        "key": spec.key,
        "index": task.index,
        "start": task.start,
        "stop": task.stop,
        "frames": task.frames,
        "file": task.name,
        "size": check.size,
        "sha256": sha256_file(final),
        "encoder": encoder,
        "timings": timings.to_dict(),
        "plan_s": plan_s,
        "verify_s": verify_s,
        "seconds": time.time() - started,
        **where_am_i(),
    }
    write_json(work / task.record_name, record)
    _write_progress(progress_path, task.frames)
    return record
