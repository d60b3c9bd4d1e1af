"""Segmented, resumable stitching on a local process pool or a Dask cluster.

A job is the input cut into segments of ``segment_frames`` frames. Each segment is
stitched and encoded on its own (``_segment.run_segment``: one pool task or one Dask task,
the pixel work in the worker) into the job's work folder beside the output, then the
segments are joined into one MP4 without re-encoding (``video._concat``), with the
source's audio and telemetry copied once and the spherical metadata written once. Only
then is the result renamed to the output's name: while the job runs, nothing exists there.

Resume: the work folder keeps finished segments with their records (``_work``). Running
the same job again (same input identity and settings: the same job key) reuses every
segment whose record matches and whose file is intact (size, SHA-256, exact frame count,
first frame a key frame), redoes the others, and reuses the rig calibrated by the first
run. A different key (changed input or settings) discards the old segments.

Progress: each worker writes its frame count to a small file in the work folder; the
driver polls them and reports one total for the whole job (a shared filesystem is already
required on a cluster, so this works there too).

On a cluster, start the workers without glibc's ``MALLOC_TRIM_THRESHOLD_`` that Dask sets
by default (Dask config ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_:
null``): a 5.2K segment ran 1.5x faster without it (bench/scale).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .._files import check_input_file, check_output_dir, within_job
from .._types import StrPath
from ..errors import InputError, JobError, OutputError
from ..orient import OrientMode
from ..profile import RigProfile
from ..cameras import RigSource
from ..timerange import FrameSpan
from ..video import EncodeOptions
from ._rig import calibrate_source
from ._runners import Runner, runner_for
from ._segment import JobSpec
from .single import output_width
from ._stages import StageTimings
from ._work import (
    MANIFEST_VERSION,
    Record,
    SegmentTask,
    WorkFolder,
    input_identity,
    job_key,
    read_json,
    segment_ranges,
    sha256_file,
)

__all__ = ["stitch_segmented", "JobResult", "DEFAULT_SEGMENT_FRAMES"]

DEFAULT_SEGMENT_FRAMES = 600
"""Frames per segment when none is given: 20 s at 30 fps (about 3 minutes of one 2-core
worker at 5.7K)."""

_POLL_S = 0.2


@dataclass(frozen=True)
class JobResult:
    """What a segmented job did."""

    output: Path
    frames: int
    size: tuple[int, int]
    encoder: str
    rig: RigProfile | None
    segments: int
    reused: int
    records: list[Record]
    """Per segment (in order): its record, with ``"reused": True`` when it came from an
    earlier run; ``pid``/``host``/``worker`` say where it was stitched."""
    timings: StageTimings = field(default_factory=StageTimings)
    """Stage busy times summed over the segments stitched by this run."""
    wall_s: float = 0.0
    join_s: float = 0.0
    rig_source: str = "given"
    """"given" (--lens), "calibrated", "nominal" or "cached" (from the work folder)."""

    def summary(self) -> str:
        """What was written, in a line."""
        return (
            f"wrote {self.output}: {self.frames} frames in {self.segments} segments ({self.reused} reused), "
            f"{self.size[0]}x{self.size[1]}, {self.encoder}, spherical metadata V1+V2"
        )


@within_job
def stitch_segmented(
    input: StrPath,
    output: StrPath,
    *,
    rig: RigProfile | None = None,
    width: int | None = None,
    options: EncodeOptions = EncodeOptions(),
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    calibrate: bool = False,
    keep_work: bool = False,
    verify_decode: bool = True,
    orient: OrientMode | str = OrientMode.OFF,
    yuv: bool = True,
    start_s: float | None = None,
    stop_s: float | None = None,
) -> JobResult:
    """Stitch ``input`` to ``output`` in segments, resumably; see the module docstring.

    :param rig: the rig profile; None: self-calibrate once (``calibrate``) or the
        source's nominal rig. The rig is kept in the work folder, so a resumed job uses it.
    :param segment_frames: frames per segment (each segment >= 1 task).
    :param workers: local worker processes (default: one per core); ignored with
        ``scheduler``.
    :param scheduler: a Dask scheduler address (``tcp://HOST:PORT``): the segments run on
        that cluster's workers, which must see ``input`` and ``output``'s folder at the same
        paths.
    :param progress: ``progress(frames_done, frames_total)`` for the whole job.
    :param log: receives one-line messages (``"reused K/N segments"``, ...).
    :param keep_work: keep the work folder after success (its segments and manifest).
    :param verify_decode: each worker decodes its segment once to check the frame count.
    :param orient: an ``OrientMode`` ("off", "lock", "smooth", "earth"): per-frame rotations from the camera's
        telemetry, computed once per job and kept in the work folder for the workers.
    :param yuv: stitch yuv420p planes as decoded where the source and plan allow (as
        ``stitch_video``); False: through RGB.
    :param start_s, stop_s: only the frames of [start_s, stop_s) seconds (as
        ``stitch_video``): the segments cut that range, and the range is part of the job key.
    """
    from ..cameras import open_rig
    from ..timerange import frame_span

    started = time.monotonic()
    say = log or (lambda _msg: None)
    inp, out = _check_paths(input, output)
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
    source = open_rig(inp)
    try:
        if source.frame_count <= 0:
            raise InputError("the video track has no frames", path=inp)
        span = frame_span(start_s, stop_s, fps=source.fps, frame_count=source.frame_count, path=inp)
        width = output_width(width or source.frame_size[0], source=inp)
        if rig is not None:
            # the same camera at another resolution scales; another crop fails here, not once
            # per segment on every worker of a cluster
            rig = rig.scaled_to(source.frame_size, path=inp)
        with runner_for(scheduler, workers) as runner:
            opts = replace(options, encoder=runner.resolve_encoder(options), threads=runner.encoder_threads(options))
            identity = input_identity(inp)
            settings = _job_settings(opts, width, rig, calibrate, segment_frames, source.frame_count, span, orient, yuv)
            key = job_key(identity, settings)
            tasks = segment_ranges(span.frames, segment_frames, first=span.start)
            with WorkFolder(out) as work:
                manifest = _manifest(work, key, identity, settings)
                job_rig, rig_source = _job_rig(source, rig, work.path / "rig.json", calibrate, say)
                if rig_source == "cached":
                    say("rig: reused the rig found by the earlier run of this job")
                manifest.update(
                    output=str(out.resolve()), segments=[[t.start, t.stop] for t in tasks], rig_source=rig_source,
                    runner=runner.describe(),
                )
                work.write_manifest(manifest)
                rotations_file = _rotations_file(work, source, job_rig, orient, span, say)
                records = _reusable_records(work.path, tasks, key)
                reused = len(records)
                say(f"reused {reused}/{len(tasks)} segments")
                spec = JobSpec(
                    str(inp), str(work.path.resolve()), key, job_rig.to_dict() if job_rig is not None else None,
                    width, opts, source.fps, verify_decode, runner.stitchers,
                    str(rotations_file.resolve()) if rotations_file is not None else None, bool(yuv),
                )
                timings = _stitch_missing(runner, spec, tasks, records, work, manifest, progress, span.frames)
                join_s = _join(work.path, tasks, source, out, span)
                ordered = [records[t.index] for t in tasks]
                if not keep_work:
                    work.remove()
    finally:
        source.close()
    first = ordered[0]
    return JobResult(
        out, span.frames, (width, width // 2), str(first.get("encoder", opts.encoder)), job_rig,
        len(tasks), reused, ordered, timings, time.monotonic() - started, join_s, rig_source,
    )


# ---- the job's steps ----------------------------------------------------------------------
def _check_paths(input: StrPath, output: StrPath) -> tuple[Path, Path]:
    """The input (resolved) and the output, checked before anything is opened or written."""
    inp = check_input_file(input).resolve()
    out = check_output_dir(output)
    if out.exists() and out.resolve() == inp:
        raise OutputError("the output would overwrite the input", path=out)
    return inp, out


def _job_settings(
    opts: EncodeOptions, width: int, rig: RigProfile | None, calibrate: bool, segment_frames: int, frames: int,
    span: FrameSpan, orient: OrientMode | str, yuv: bool,
) -> Record:
    """Every setting that changes the segments' pixels or bitstream (hashed into the job key)."""
    return {
        "manifest": MANIFEST_VERSION,
        "orbit360": _version(),
        "width": width,
        "rig": rig.to_dict() if rig is not None else ("calibrate" if calibrate else "nominal"),
        "codec": opts.codec,
        "encoder": opts.encoder,
        "crf": opts.crf,
        "preset": opts.preset,
        "gop": opts.gop,
        "bframes": opts.bframes,
        "segment_frames": segment_frames,
        "frames": frames,
        "range": [span.start, span.stop],
        "orient": orient,
        "yuv": bool(yuv),
    }


def _manifest(work: WorkFolder, key: str, identity: Record, settings: Record) -> Record:
    """The work folder's manifest of this job; a new one (the folder emptied) when the
    folder holds another job's or none."""
    manifest = work.manifest()
    if manifest is None or manifest.get("key") != key:
        work.reset()
        manifest = {"key": key, "input": identity, "settings": settings, "created": time.time(), "ran": {}}
    return manifest


def _rotations_file(
    work: WorkFolder, source: RigSource, rig: RigProfile | None, orient: OrientMode | str, span: FrameSpan, say: Callable[[str], None]
) -> Path | None:
    """The job's per-frame rotations (.npy in the work folder, computed once per job), or
    None without orientation."""
    if orient == OrientMode.OFF:
        return None
    rotations_file = work.path / "rotations.npy"
    if not rotations_file.exists():
        from ._orient import job_rotations

        try:
            rotations = job_rotations(source, rig, orient, log=say, frames=(span.start, span.stop))
        except InputError:
            if not any(work.path.glob("seg-*.mp4")):  # nothing to resume: leave nothing behind
                work.remove()
            raise
        np.save(rotations_file.with_suffix(".part.npy"), rotations)
        os.replace(rotations_file.with_suffix(".part.npy"), rotations_file)
    return rotations_file


def _reusable_records(work: Path, tasks: list[SegmentTask], key: str) -> dict[int, Record]:
    """The records of this job's finished, intact segments (marked reused); what is left of
    the others is removed."""
    records: dict[int, Record] = {}
    for t in tasks:
        rec = _reusable(work, t, key)
        if rec is not None:
            records[t.index] = {**rec, "reused": True}
        else:
            for name in (t.name, t.record_name, t.progress_name):
                (work / name).unlink(missing_ok=True)
    return records


def _stitch_missing(
    runner: Runner, spec: JobSpec, tasks: list[SegmentTask], records: dict[int, Record], work: WorkFolder, manifest: Record,
    progress: Callable[[int, int], None] | None, total: int,
) -> StageTimings:
    """Run the segments without a record; their stage timings summed."""
    todo = [t for t in tasks if t.index not in records]
    timings = StageTimings()
    if todo:
        for rec in _run_all(runner, spec, todo, tasks, records, work, manifest, progress, total):
            timings = timings + StageTimings.from_dict(rec["timings"])  # type: ignore[arg-type]
    elif progress is not None:
        progress(total, total)
    return timings


def _join(work: Path, tasks: list[SegmentTask], source: RigSource, out: Path, span: FrameSpan) -> float:
    """Join the segments with the source's audio and telemetry into ``out``; the seconds it took."""
    from ..video import concat_segments

    t0 = time.monotonic()
    joined = work / "joined.mp4"
    ranged = span.frames != source.frame_count
    concat_segments(
        [work / t.name for t in tasks], joined, audio_from=source.audio_path, telemetry_from=source.telemetry_path,
        span=span.seconds if ranged else None,
    )
    os.replace(joined, out)
    return time.monotonic() - t0


def _run_all(
    runner: Runner,
    spec: JobSpec,
    todo: list[SegmentTask],
    tasks: list[SegmentTask],
    records: dict[int, Record],
    work: WorkFolder,
    manifest: Record,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> Iterator[Record]:
    """Run ``todo`` on the runner; yield each new record as it lands."""
    pending = {runner.submit(spec, t): t for t in todo}
    try:
        while pending:
            for fut in [f for f in pending if f.done()]:
                t = pending.pop(fut)
                try:
                    rec = fut.result()
                except Exception as exc:  # noqa: BLE001 - any failure of a segment fails the job
                    raise JobError(f"segment {t.index} (frames {t.start}..{t.stop - 1}) failed: {exc}", path=spec.input) from exc
                records[t.index] = {**rec, "reused": False}
                ran = manifest["ran"]
                assert isinstance(ran, dict)
                ran[str(t.index)] = {k: rec.get(k) for k in ("pid", "host", "worker", "seconds", "encoder")}
                work.write_manifest(manifest)
                yield rec
            if progress is not None:
                progress(_frames_done(work.path, tasks, records), total)
            if pending:
                time.sleep(_POLL_S)
    finally:
        for fut in pending:
            fut.cancel()
    if progress is not None:
        progress(total, total)


def _frames_done(work: Path, tasks: list[SegmentTask], records: dict[int, Record]) -> int:
    done = 0
    for t in tasks:
        if t.index in records:
            done += t.frames
            continue
        try:
            done += min(t.frames, int((work / t.progress_name).read_text() or 0))
        except (OSError, ValueError):
            pass
    return done


def _reusable(work: Path, task: SegmentTask, key: str) -> Record | None:
    """The record of a finished segment of this job whose file is intact, else None."""
    from ..video import check_segment

    rec = read_json(work / task.record_name)
    seg = work / task.name
    if rec is None or rec.get("key") != key or rec.get("start") != task.start or rec.get("stop") != task.stop:
        return None
    try:
        if seg.stat().st_size != rec.get("size") or sha256_file(seg) != rec.get("sha256"):
            return None
        check_segment(seg, task.frames, decode=False)
    except (OSError, JobError):
        return None
    return rec


def _job_rig(
    source: RigSource, rig: RigProfile | None, cache: Path, calibrate: bool, warn: Callable[[str], None]
) -> tuple[RigProfile | None, str]:
    """The rig for the whole job: given, cached in the work folder, or found once."""
    if rig is not None:
        return rig, "given"
    if cache.is_file():
        try:
            return RigProfile.load(cache), "cached"
        except InputError:
            cache.unlink(missing_ok=True)
    if calibrate:
        found, how = calibrate_source(source, warn=warn)
    else:
        found, how = source.nominal_rig(), "nominal"
    if found is not None:
        found.save(cache)
    return found, how


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("orbit360")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        return "0+unknown"


