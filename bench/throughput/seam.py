"""What the tracked seam costs per frame (issue 15, point 3): the yuv420p stitch of a
following plan (what a video job uses) with the geometric seam and with the tracked one,
frames in memory, on a synthetic rig of the output's size with a near object sliding
along the seam (``synthetic.parallax``: the seam leaves the geometric one and moves).

Per size: CPU ms per frame (process time, OpenCV on one thread, as the pipeline's stitch
thread runs beside x264 on a small machine) and wall ms with OpenCV's default threads,
median over the frames, the two plans in turns; the tracker alone (ring difference,
window, dynamic program); how many of the tracked plan's row blocks a frame blends.

    PYTHONPATH=src .venv/bin/python bench/throughput/seam.py [--sizes 2880,5228] [--frames 24]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from orbit360.stitch import following_plan
from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig
from orbit360.synthetic import ParallaxScene
from orbit360.video import yuv420p_planes
from orbit360.video._convert import rgb_to_yuv420p


def _frames(width: int, count: int) -> list[np.ndarray]:
    rig = misaligned_rig((width, width // 2), seed=31, misalign_deg=0.4, fov_deg=196.0, exposure_stops=0.7)
    scene = ParallaxScene(RigRenderer(rig, make_scene(2048, seed=9)), radius_deg=2.5, parallax_deg=1.8)
    unique = [rgb_to_yuv420p(scene.render(91.0, -10.0 + 1.5 * t)) for t in range(8)]
    return [unique[t % 8] for t in range(count)], rig  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2880,5228")
    ap.add_argument("--frames", type=int, default=24)
    args = ap.parse_args()
    threads = cv2.getNumThreads()
    print("| output | geometric CPU ms | tracked CPU ms | cost | geometric wall ms | tracked wall ms | cost | tracker alone ms | row blocks blended |")
    print("|---|---|---|---|---|---|---|---|---|")
    for width in (int(s) for s in args.sizes.split(",")):
        frames, rig = _frames(width, args.frames)  # type: ignore[misc]
        plans = {s: following_plan(rig, width, seam=s) for s in ("geometric", "tracked")}
        stitches = {s: p.yuv420() for s, p in plans.items()}
        out = np.empty((width // 2 * 3 // 2, width), np.uint8)
        cpu: dict[str, list[float]] = {s: [] for s in plans}
        wall: dict[str, list[float]] = {s: [] for s in plans}
        blocks = []
        for mode, store, clock in (("cpu", cpu, time.process_time), ("wall", wall, time.perf_counter)):
            cv2.setNumThreads(1 if mode == "cpu" else threads)
            for p in plans.values():
                p.reset()
            for f in frames:
                for s, st in stitches.items():
                    t0 = clock()
                    st.apply(f, out=out)
                    store[s].append(clock() - t0)
                if mode == "cpu":
                    p = plans["tracked"]
                    seam = p._tracker.offsets.astype(np.float32)  # type: ignore[union-attr]
                    blocks.append(sum(p._seam_departs(b, seam) for b in p.track_bands))
        cv2.setNumThreads(1)
        tr = plans["tracked"]._tracker
        y, u, v = (c.copy() for c in stitches["tracked"].gain.apply(yuv420p_planes(frames[0])))  # type: ignore[union-attr]
        t0 = time.process_time()
        for _ in range(10):
            tr.push(tr.difference_planes(y, u, v))  # type: ignore[union-attr]
        alone = (time.process_time() - t0) / 10
        cv2.setNumThreads(threads)
        g, t = (np.median(cpu[s]) * 1e3 for s in ("geometric", "tracked"))
        gw, tw = (np.median(wall[s]) * 1e3 for s in ("geometric", "tracked"))
        n = len(plans["tracked"].track_bands)
        print(
            f"| {width}x{width // 2} | {g:.1f} | {t:.1f} | {100 * (t / g - 1):+.0f}% | {gw:.1f} | {tw:.1f} | {100 * (tw / gw - 1):+.0f}% | "
            f"{alone * 1e3:.1f} | {np.median(blocks):.0f} of {n} (max {max(blocks)}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
