"""Scale benchmark: the cost of one segment at 5.2K on a Dask worker, and the plan for eight
hours of footage.

A synthetic 5.2K side-by-side recording (5248x2624, panning, misaligned lenses) is rendered
once and cached under --work. A ``dask.distributed.LocalCluster`` with ONE worker process
(the whole machine: one task at a time, the segment's own threads and x264's use the cores)
stitches it in segments through ``stitch_segmented(scheduler=...)``, exactly as a cluster
would. From the segment records it reports, per segment: wall seconds, seconds per frame,
the stage busy times, the plan build (once per worker process, cached after), the decode
check, and the join's throughput; then the number of such workers that finish eight hours
(864,000 frames at 30 fps) in eight hours of wall time, and what limits it.

``--trim-compare`` also runs one segment on a worker started with Dask's default
``MALLOC_TRIM_THRESHOLD_=65536`` (DESIGN.md says unsetting it is 1.8x faster per segment).

    .venv/bin/python bench/scale/run.py [--width 5248] [--segment-frames 24] [--segments 2]
        [--preset medium] [--crf 20] [--work /tmp/orbit360-bench] [--trim-compare]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench" / "throughput"))

EIGHT_HOURS_S = 8 * 3600
FPS = 30
CAMERA_MBIT_S = 120.0  # what 5.2K-5.7K 360 cameras record (GoPro MAX / Insta360 class), assumed


def run_job(inp: Path, rig_json: Path, out: Path, *, segment_frames: int, preset: str, crf: int, trim: bool) -> dict:
    import dask
    import distributed

    from orbit360.pipeline import stitch_segmented
    from orbit360.profile import RigProfile
    from orbit360.video import EncodeOptions

    cfg = {} if trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    if not trim:  # a nanny started earlier in this process may have left it in our environment
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set(cfg):
        with distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR,
            memory_limit=0,
        ) as cluster, distributed.Client(cluster) as client:
            env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
            t0 = time.perf_counter()
            job = stitch_segmented(
                inp, out, rig=RigProfile.load(rig_json), options=EncodeOptions(crf=crf, preset=preset, encoder="libx264"),
                segment_frames=segment_frames, scheduler=cluster.scheduler_address, keep_work=False,
            )
            wall = time.perf_counter() - t0
    return {
        "wall_s": wall, "join_s": job.join_s, "frames": job.frames, "bytes": out.stat().st_size,
        "records": job.records, "malloc_trim_env": sorted(set(map(str, env.values()))),
    }


def main() -> None:
    from run import make_input  # bench/throughput/run.py: the cached synthetic recording

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=5248)
    ap.add_argument("--segment-frames", type=int, default=24)
    ap.add_argument("--segments", type=int, default=2)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/orbit360-bench"))
    ap.add_argument("--trim-compare", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    frames = a.segment_frames * a.segments
    t0 = time.perf_counter()
    inp, rig_json = make_input(a.work, a.width, frames)
    print(f"# input {inp.name} ready ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    res = run_job(inp, rig_json, a.work / "scale_out.mp4", segment_frames=a.segment_frames, preset=a.preset, crf=a.crf, trim=False)
    trim = None
    if a.trim_compare:
        one, _ = make_input(a.work, a.width, a.segment_frames)
        ref = run_job(one, rig_json, a.work / "scale_notrim.mp4", segment_frames=a.segment_frames, preset=a.preset, crf=a.crf, trim=False)
        with_trim = run_job(one, rig_json, a.work / "scale_trim.mp4", segment_frames=a.segment_frames, preset=a.preset, crf=a.crf, trim=True)
        trim = {"with_trim": with_trim, "without": ref}
    if a.json:
        a.json.write_text(json.dumps({"job": res, "trim": trim}, indent=2, default=str))

    recs = res["records"]
    w, h = a.width, a.width // 2
    print(f"\n{os.cpu_count()} cores, one Dask worker process; {w}x{h} output, libx264 {a.preset} CRF {a.crf}, "
          f"{a.segment_frames}-frame segments\n")
    print("| segment | frames | wall s | s/frame | decode ms/f | stitch ms/f | encode ms/f | plan build s | decode check s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in recs:
        t = r["timings"]
        n = max(r["frames"], 1)
        print(f"| {r['index']} | {r['frames']} | {r['seconds']:.1f} | {r['seconds'] / n:.2f} | {1000 * t['decode_s'] / n:.0f} | "
              f"{1000 * t['stitch_s'] / n:.0f} | {1000 * t['encode_s'] / n:.0f} | {r['plan_s']:.1f} | {r['verify_s']:.2f} |")
    steady = [r for r in recs[1:]] or recs  # the first segment pays the worker's plan build
    s_per_frame = sum(r["seconds"] - r["plan_s"] for r in steady) / sum(r["frames"] for r in steady)
    bytes_per_frame = res["bytes"] / res["frames"]
    join_rate = res["bytes"] / max(res["join_s"], 1e-6)
    total_frames = EIGHT_HOURS_S * FPS
    out_gb = bytes_per_frame * total_frames / 1e9
    in_gb = CAMERA_MBIT_S / 8 * EIGHT_HOURS_S / 1e3
    join_local_s = out_gb * 1e9 / join_rate
    join_net_s = 2 * out_gb * 1e9 / 117e6  # read segments + write the output over 1 GbE
    workers = s_per_frame * total_frames / (EIGHT_HOURS_S - join_net_s)
    print(f"\nsteady state: {s_per_frame:.2f} s per frame per worker ({1 / s_per_frame:.2f} fps); "
          f"output {bytes_per_frame / 1e3:.0f} kB/frame; join {join_rate / 1e6:.0f} MB/s here")
    print(f"eight hours = {total_frames} frames: {s_per_frame * total_frames / 3600:.0f} worker-hours; "
          f"output ~{out_gb:.0f} GB, input ~{in_gb:.0f} GB at {CAMERA_MBIT_S:.0f} Mbit/s")
    print(f"join: {join_local_s / 60:.0f} min at this disk's rate, {join_net_s / 60:.0f} min over 1 GbE (read + write)")
    print(f"workers for 8 h in 8 h (join over 1 GbE inside the budget): {workers:.0f} "
          f"(+10% for stragglers and retries: {workers * 1.1:.0f})")
    per_worker_mbit = (CAMERA_MBIT_S + bytes_per_frame * 8 * FPS / 1e6) / FPS * (1 / s_per_frame)
    print(f"network per worker: {per_worker_mbit:.1f} Mbit/s; all workers: {per_worker_mbit * workers:.0f} Mbit/s")
    if trim:
        a_, b_ = trim["with_trim"]["records"][0], trim["without"]["records"][0]
        envs = trim["with_trim"]["malloc_trim_env"], trim["without"]["malloc_trim_env"]
        print(f"\nMALLOC_TRIM_THRESHOLD_=65536 (Dask default): {a_['seconds']:.1f} s per segment; unset: {b_['seconds']:.1f} s "
              f"(x{a_['seconds'] / b_['seconds']:.2f}; worker environments {envs[0]} / {envs[1]})")


if __name__ == "__main__":
    main()
