"""The pipeline: staged stitching, segments on a process pool and on a real Dask cluster,
the join without re-encoding, resume after SIGKILL, and what invalidates a job.

A lossless encode (libx264, CRF 0) makes "segmented == unsegmented, frame for frame" an
exact comparison: both runs decode the same input frames, stitch them with the same plan
and store them losslessly, so any frame dropped, repeated or reordered at a join, or any
segment that started from the wrong input frame, shows up as a pixel difference.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.errors import JobError
from orbit360.isobmff import read_movie
from orbit360.isobmff.spherical import read_spherical
from orbit360.pipeline import StageTimings, run_stages, stitch_segmented, stitch_video
from orbit360.pipeline._stages import usable_cpus
from orbit360.pipeline._work import work_folder_for
from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, tone_audio, write_rig_video
from orbit360.video import EncodeOptions, VideoWriter
from orbit360.video._concat import check_segment, concat_segments

FRAMES = 40
LOSSLESS = EncodeOptions(crf=0, preset="ultrafast")


# ---- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A 640x320 dual-fisheye recording, panning, with audio, key frame every 12 frames
    (so segment starts fall inside the input's GOPs)."""
    d = tmp_path_factory.mktemp("rig")
    rig = misaligned_rig((640, 320), seed=3)
    path = d / "in.mp4"
    write_rig_video(path, rig, make_scene(1024, seed=3), frames=FRAMES, fps=30, motion=pan_motion(25.0), audio=True, gop=12)
    rig_json = d / "rig.json"
    rig.save(rig_json)
    return {"path": path, "rig": rig, "rig_json": rig_json, "dir": d}


def decode(path: Path) -> tuple[list[np.ndarray], list[int], Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames, pts = [], []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="rgb24"))
            pts.append(f.pts)
        return frames, pts, Fraction(s.time_base)


@pytest.fixture(scope="module")
def unsegmented(rec, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("single") / "single.mp4"
    result = stitch_video(rec["path"], out, rig=rec["rig"], options=LOSSLESS)
    frames, _, _ = decode(out)
    return {"path": out, "frames": frames, "result": result}


def assert_same_frames(path: Path, reference: list[np.ndarray]) -> None:
    frames, pts, tb = decode(path)
    assert len(frames) == len(reference) == FRAMES
    for i, (a, b) in enumerate(zip(frames, reference)):
        assert np.array_equal(a, b), f"frame {i} differs from the unsegmented run"
    assert_even_timestamps(pts, tb)


def assert_even_timestamps(pts: list[int], tb: Fraction) -> None:
    steps = np.diff(pts)
    assert pts[0] == 0 and np.all(steps == steps[0]) and steps[0] > 0, f"timestamps {pts}"
    assert steps[0] * tb == Fraction(1, 30)


# ---- the staged pipeline -----------------------------------------------------------------
def test_stages_overlap_and_time_each_stage(unsegmented) -> None:  # type: ignore[no-untyped-def]
    t: StageTimings = unsegmented["result"].timings
    assert t.frames == FRAMES
    assert t.decode_s > 0 and t.stitch_s > 0 and t.encode_s > 0
    assert t.bottleneck in ("decode", "stitch", "encode")
    # the stages overlap: the wall time is less than the sum of the busy times
    assert t.wall_s < t.decode_s + t.stitch_s + t.encode_s


def test_stages_keep_order_reuse_buffers_and_reraise() -> None:
    src = [np.full((4, 4, 3), i, np.uint8) for i in range(50)]
    seen: list[int] = []
    ids: set[int] = set()

    def apply(frame, out=None):  # type: ignore[no-untyped-def]
        out = np.empty_like(frame) if out is None else out
        ids.add(id(out))
        np.add(frame, 1, out=out)
        return out

    t = run_stages(iter(src), apply, lambda f: seen.append(int(f[0, 0, 0])), depth=2)
    assert seen == list(range(1, 51)) and t.frames == 50
    assert len(ids) <= 2 * 2 + 2  # a small pool of reused output buffers

    # several stitch threads finishing out of order: still written in input order
    import random

    rng = random.Random(7)

    def slow_apply(frame, out=None):  # type: ignore[no-untyped-def]
        time.sleep(rng.random() * 0.01)
        return apply(frame, out=out)

    seen.clear()
    t = run_stages(iter(src), slow_apply, lambda f: seen.append(int(f[0, 0, 0])), depth=2, stitchers=3)
    assert seen == list(range(1, 51)) and t.frames == 50

    def bad_decode():  # type: ignore[no-untyped-def]
        yield src[0]
        raise ValueError("decoder broke")

    with pytest.raises(ValueError, match="decoder broke"):
        run_stages(bad_decode(), lambda f, out=None: f, lambda f: None)

    def bad_write(f):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_stages(iter(src), lambda f, out=None: f, bad_write)
    with pytest.raises(OSError, match="disk full"):
        run_stages(iter(src), lambda f, out=None: f, bad_write, stitchers=3)

    def bad_apply(f, out=None):  # type: ignore[no-untyped-def]
        if int(f[0, 0, 0]) == 17:
            raise RuntimeError("stitch broke")
        return f

    with pytest.raises(RuntimeError, match="stitch broke"):
        run_stages(iter(src), bad_apply, lambda f: None, stitchers=3)


# ---- segments on the local process pool --------------------------------------------------
def test_segmented_equals_unsegmented_frame_for_frame(rec, unsegmented, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "seg.mp4"
    logs: list[str] = []
    seen: list[tuple[int, int]] = []
    job = stitch_segmented(
        rec["path"], out, rig=rec["rig"], options=LOSSLESS, segment_frames=9, workers=2,
        log=logs.append, progress=lambda d, n: seen.append((d, n)),
    )
    assert "reused 0/4 segments" in logs
    assert job.segments == 4 and job.reused == 0 and job.frames == FRAMES
    assert [r["frames"] for r in job.records] == [9, 9, 9, 13]  # a 4-frame tail joins the last segment
    assert len({r["pid"] for r in job.records} - {os.getpid()}) >= 1  # stitched in pool processes
    assert os.getpid() not in {r["pid"] for r in job.records}
    assert_same_frames(out, unsegmented["frames"])
    # one progress total for the whole job, never going back, ending at the frame count
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (FRAMES, FRAMES) and {n for _, n in seen} == {FRAMES}
    # audio from the source once, spherical metadata once, the work folder gone
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
    raw = out.read_bytes()
    assert raw.count(b"sv3d") == 1 and raw.count(bytes.fromhex("ffcc8263f8554a938814587a02521fdd")) == 1
    meta = read_spherical(out)
    assert meta is not None and meta.has_v1 and meta.has_v2
    assert not work_folder_for(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.mp4"]


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_lossy_join_with_b_frames_has_no_gap_or_repeat(rec, tmp_path: Path, codec: str) -> None:  # type: ignore[no-untyped-def]
    opts = EncodeOptions(codec=codec, crf=18, preset="fast")
    single = tmp_path / "single.mp4"
    stitch_video(rec["path"], single, rig=rec["rig"], options=opts)
    out = tmp_path / "seg.mp4"
    stitch_segmented(rec["path"], out, rig=rec["rig"], options=opts, segment_frames=13, workers=2)
    video = read_movie(out).track("vide")
    assert video is not None and video.composition_offsets.any(), "expected B-frames (reordered samples)"
    assert video.sample_count == FRAMES
    a, pts, tb = decode(out)
    b, _, _ = decode(single)
    assert_even_timestamps(pts, tb)
    assert len(a) == len(b) == FRAMES
    mse = np.array([[np.mean((x.astype(np.float32) - y) ** 2) for y in b] for x in a])
    # each joined frame is closest to the unsegmented frame of the same index
    assert np.array_equal(mse.argmin(axis=1), np.arange(FRAMES))
    psnr = 10 * np.log10(255.0**2 / np.maximum(np.diag(mse), 1e-6))
    assert psnr.min() > 35.0
    if codec == "h264":
        # the two workers' encoders share the cores: each x264 (frame threads) took its share
        settings = re.findall(rb"x264 - core .*? threads=(\d+) lookahead_threads=\d+ sliced_threads=(\d)", out.read_bytes())
        assert len(settings) == 3  # one per segment
        assert set(settings) == {(str(max(1, usable_cpus() // 2)).encode(), b"0")}


def test_encoder_threads_are_shared_only_between_concurrent_segments() -> None:
    from orbit360.pipeline._runners import _share_of

    assert _share_of(8, 1) == 0  # a segment alone: x264's own choice
    assert [_share_of(2, 2), _share_of(16, 3), _share_of(2, 4)] == [1, 5, 1]


# ---- segments on a Dask cluster ------------------------------------------------------------
def test_dask_local_cluster_runs_the_segments(rec, unsegmented, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # a nanny may have left it here
    import logging

    import dask

    out = tmp_path / "dask.mp4"
    logs: list[str] = []
    # DESIGN.md: workers without MALLOC_TRIM_THRESHOLD_ (glibc keeps its dynamic mmap threshold)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster, distributed.Client(cluster) as client:
            worker_pids = client.run(os.getpid)  # {worker address: pid}
            seen: list[tuple[int, int]] = []
            job = stitch_segmented(
                rec["path"], out, rig=rec["rig"], options=LOSSLESS, segment_frames=9, scheduler=cluster.scheduler_address,
                log=logs.append, progress=lambda d, n: seen.append((d, n)),
            )
            ran = client.run(lambda dask_worker: sorted({str(e[0]) for e in dask_worker.state.log if "orbit360-segment" in str(e[0])}))
    assert "reused 0/4 segments" in logs and job.segments == 4
    # one progress total for the job, from the workers' progress files
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (FRAMES, FRAMES)
    # every segment ran in a worker of that cluster (its address and pid), none in this process
    for r in job.records:
        assert r["worker"] in worker_pids and r["pid"] == worker_pids[r["worker"]] != os.getpid()
    # and the workers' own task logs hold one task per segment
    keys = sorted(k for ks in ran.values() for k in ks)
    assert len(keys) == 4 and [k[-5:] for k in keys] == [f"{i:05d}" for i in range(4)]
    assert_same_frames(out, unsegmented["frames"])
    # two one-thread workers on this host: each segment's x264 took half its cores
    threads = re.findall(rb"x264 - core .*? threads=(\d+) ", out.read_bytes())
    assert len(threads) == 4 and set(threads) == {str(max(1, usable_cpus() // 2)).encode()}


# ---- resume and invalidation ------------------------------------------------------------
def test_rerun_reuses_and_changes_invalidate(rec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.mp4"
    src.write_bytes(rec["path"].read_bytes())
    out = tmp_path / "o.mp4"
    fast = EncodeOptions(crf=30, preset="ultrafast")

    def run(options: EncodeOptions = fast) -> tuple[list[str], object]:
        logs: list[str] = []
        job = stitch_segmented(src, out, rig=rec["rig"], options=options, segment_frames=10, workers=1, log=logs.append, keep_work=True)
        return logs, job

    logs, job = run()
    assert "reused 0/4 segments" in logs
    work = work_folder_for(out)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["settings"]["crf"] == 30 and len(manifest["ran"]) == 4
    first = out.read_bytes()
    logs, _ = run()
    assert "reused 4/4 segments" in logs
    assert out.read_bytes() == first  # the join of the same segments is the same file
    # a damaged segment is found and redone, the others reused
    seg = work / "seg-00002.mp4"
    seg.write_bytes(seg.read_bytes()[:-100])
    logs, _ = run()
    assert "reused 3/4 segments" in logs
    # changed settings: nothing reused
    logs, _ = run(EncodeOptions(crf=31, preset="ultrafast"))
    assert "reused 0/4 segments" in logs
    # changed input (same size, different bytes in the middle... and a new mtime)
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    src.write_bytes(bytes(data))
    logs, _ = run(EncodeOptions(crf=31, preset="ultrafast"))
    assert "reused 0/4 segments" in logs


def test_sigkill_mid_job_then_rerun_reuses_segments(rec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Kill the whole process group of a running `orbit360 stitch` (driver and pool
    workers), then run the same command again. No --lens: the rig is calibrated once
    and the rerun takes it from the work folder."""
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "orbit360", "stitch", str(rec["path"]), "-o", str(out), "--crf", "0",
           "--preset", "ultrafast", "--segment-frames", "5", "--workers", "1", "--width", "1280"]
    work = work_folder_for(out)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert not out.exists(), "the output appeared at its final name while the job ran"
            if len(list(work.glob("seg-*.json"))) >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("no segment finished in time")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not out.exists()
    done_before = len(list(work.glob("seg-*.json")))
    rig_json = work / "rig.json"
    assert rig_json.is_file(), "the calibrated rig is kept for the rerun"
    from orbit360.profile import RigProfile

    rig = RigProfile.load(rig_json)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    line = next(l for l in rerun.stdout.splitlines() if "reused" in l and "segments" in l)
    reused, n = (int(x) for x in line.split("reused ")[1].split(" segments")[0].split("/"))
    assert n == 8 and 2 <= done_before <= reused < n
    assert "rig: reused" in rerun.stdout  # no second calibration
    assert not work.exists()
    # identical to an unsegmented run with the same (calibrated) rig
    single = tmp_path / "single.mp4"
    stitch_video(rec["path"], single, rig=rig, width=1280, options=LOSSLESS)
    assert_same_frames(out, decode(single)[0])


# ---- the join's checks --------------------------------------------------------------------
def _segment(path: Path, frames: int, size: tuple[int, int] = (64, 32), crf: int = 20) -> Path:
    with VideoWriter(path, size=size, fps=30, options=EncodeOptions(crf=crf, preset="ultrafast")) as w:
        for i in range(frames):
            w.write(np.full((size[1], size[0], 3), 10 * i % 255, np.uint8))
    return path


def test_check_segment_and_concat_refuse_bad_segments(tmp_path: Path) -> None:
    a = _segment(tmp_path / "a.mp4", 5)
    assert check_segment(a, 5).frames == 5
    with pytest.raises(JobError, match="expected 6"):
        check_segment(a, 6)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(a.read_bytes()[:-40])
    with pytest.raises(JobError):
        check_segment(cut, 5)
    other = _segment(tmp_path / "b.mp4", 5, size=(128, 64))
    with pytest.raises(JobError, match="segment 1 was encoded with other codec parameters"):
        concat_segments([a, other], tmp_path / "j.mp4")
    assert not (tmp_path / "j.mp4").exists()


def test_join_of_segments_with_different_reorder_delays(tmp_path: Path) -> None:
    """A one-frame segment has no B-frame delay, a long one has: the join presents both
    with the larger delay, so the times still run on evenly."""
    import cv2

    def moving(path: Path, frames: int, first: int) -> Path:
        with VideoWriter(path, size=(128, 64), fps=30, options=EncodeOptions(crf=20, preset="fast", bframes=3)) as w:
            for i in range(first, first + frames):
                img = np.zeros((64, 128, 3), np.uint8)
                cv2.circle(img, (10 + 3 * i, 32), 12, (255, 200, 0), -1)
                w.write(img)
        return path

    a, b = moving(tmp_path / "a.mp4", 12, 0), moving(tmp_path / "b.mp4", 1, 12)
    delays = [read_movie(p).track("vide").edits[0].media_time for p in (a, b)]  # type: ignore[union-attr]
    assert delays[0] > delays[1], delays
    out = tmp_path / "j.mp4"
    concat_segments([a, b], out)
    frames, pts, tb = decode(out)
    assert len(frames) == 13
    steps = np.diff(pts)
    assert pts[0] == 0 and np.all(steps == steps[0]) and steps[0] * tb == Fraction(1, 30)
    # the last frame is the one-frame segment's picture, after all of the first one's
    ref, _, _ = decode(b)
    assert np.array_equal(frames[-1], ref[0])


def test_join_copies_audio_timecode_and_telemetry_of_a_gopro_file_once(gopro_hero7: Path, tmp_path: Path) -> None:
    src = gopro_hero7
    segs = [_segment(tmp_path / "a.mp4", 7), _segment(tmp_path / "b.mp4", 6)]
    out = tmp_path / "j.mp4"
    concat_segments(segs, out, audio_from=src, telemetry_from=src)
    source, joined = read_movie(src), read_movie(out)
    assert [t.codec for t in joined.tracks] == [b"avc1", b"mp4a", b"tmcd", b"gpmd"]  # no fdsc: it described the old bytes
    assert joined.tracks[0].sample_count == 13 and joined.udta == source.udta
    with open(src, "rb") as a, open(out, "rb") as b:
        for codec in (b"mp4a", b"tmcd", b"gpmd"):
            old, new = source.tracks_by_codec(codec)[0], joined.tracks_by_codec(codec)[0]
            assert new.sample_count == old.sample_count and np.array_equal(new.durations, old.durations)
            for i in range(old.sample_count):
                a.seek(int(old.offsets[i])), b.seek(int(new.offsets[i]))
                assert a.read(int(old.sizes[i])) == b.read(int(new.sizes[i]))
    from orbit360.telemetry import read_telemetry

    assert read_telemetry(out).series("GYRO").values.shape[0] == read_telemetry(src).series("GYRO").values.shape[0] > 0
    with av.open(str(out)) as c:  # FFmpeg demuxes every track
        assert sum(1 for p in c.demux() if p.size) >= 13 + 550
    # audio and telemetry from different files (a chapter set's joined audio)
    tone = tmp_path / "tone.mp4"
    with VideoWriter(tone, size=(64, 32), fps=30, options=EncodeOptions(preset="ultrafast"), audio=tone_audio(13 / 30)) as w:
        for _ in range(13):
            w.write(np.zeros((32, 64, 3), np.uint8))
    both = tmp_path / "both.mp4"
    concat_segments(segs, both, audio_from=tone, telemetry_from=src)
    tracks = read_movie(both).tracks
    assert [t.codec for t in tracks] == [b"avc1", b"mp4a", b"tmcd", b"gpmd"]
    assert tracks[1].sample_count == read_movie(tone).track("soun").sample_count
    assert [t.track_id for t in tracks] == [1, 2, 3, 4]


def test_dask_missing_is_one_line_job_error(rec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(JobError, match=r"pip install 'orbit360\[dask\]'"):
        stitch_segmented(rec["path"], tmp_path / "o.mp4", rig=rec["rig"], scheduler="tcp://127.0.0.1:1")


def test_cli_rejects_encoder_codec_conflict_and_missing_gpu(rec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from orbit360.cli import main

    assert main(["stitch", str(rec["path"]), "-o", str(tmp_path / "o.mp4"), "--encoder", "libx265", "--codec", "h264"]) == 2
    if "h264_nvenc" in av.codecs_available:
        from orbit360.video._writer import _nvenc_usable

        if not _nvenc_usable("h264_nvenc"):
            code = main(["stitch", str(rec["path"]), "-o", str(tmp_path / "o.mp4"), "--lens", str(rec["rig_json"]),
                         "--encoder", "h264_nvenc", "--segment-frames", "20", "--workers", "1"])
            assert code == 2
    assert not (tmp_path / "o.mp4").exists()


def test_stitch_threads_policy() -> None:
    """One OpenCV thread only while a slow software encoder shares a small machine."""
    import cv2

    from orbit360.pipeline._stages import stitch_threads

    before = cv2.getNumThreads()
    with stitch_threads("libx264", "medium", cpus=2):
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == before
    for args in (("h264_nvenc", "medium", 2), ("libx264", "ultrafast", 2), ("libx265", "slow", 16)):
        with stitch_threads(args[0], args[1], cpus=args[2]):
            assert cv2.getNumThreads() == before


# ---- temporal state: observed in order, stitched in any thread -----------------------------
@pytest.mark.parametrize("yuv", [True, False])
def test_followed_exposure_pre_rolls_and_stitches_in_several_threads(rec, yuv: bool) -> None:  # type: ignore[no-untyped-def]
    """A video plan follows each lens' exposure (state from frame to frame, finite memory):
    frames [30, 40) stitched from a start at frame 30 (the plan's pre-roll observed first)
    are the same bytes as those frames of a run from frame 0, and three stitch threads give
    the same bytes as one (the state is observed in the decoding thread, in order); without
    the pre-roll, frame 30 comes out otherwise."""
    from orbit360.cameras import open_rig
    from orbit360.pipeline._frames import frame_work

    source = open_rig(rec["path"])
    try:
        plan = source.plan(640, rec["rig"])
        assert plan.follow and 0 < plan.memory_frames < 30  # (followed exposure and tracked seam: 14 + 13)

        def stitched(start: int, stitchers: int) -> list[np.ndarray]:
            work = frame_work(source, plan, start=start, stop=FRAMES, yuv=yuv)
            out: list[np.ndarray] = []
            run_stages(work.frames, work.stitch, lambda f: out.append(np.array(f)), stitchers=stitchers)
            return out

        whole, part, threaded = stitched(0, 1), stitched(30, 1), stitched(30, 3)
        fmt = source.yuv_format
        stitch = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range) if yuv else plan
        plan.reset()  # frame 30 on its own: no history
        alone = np.array(stitch.apply(next(iter(source.yuv420_frames(30, 31) if yuv else source.frames(30, 31)))))
    finally:
        source.close()
    assert len(whole) == FRAMES and len(part) == len(threaded) == FRAMES - 30
    assert all(np.array_equal(a, b) for a, b in zip(whole[30:], part))
    assert all(np.array_equal(a, b) for a, b in zip(part, threaded))
    assert not np.array_equal(alone, part[0])
