"""Where an end-to-end frame's CPU goes, orbit360 beside FFmpeg v360, each stage alone on one thread.

On a machine where the encoder takes most of the CPU, "orbit360 at least as fast as
v360 end to end" is a sum: decoding (the same decoder for both), the stitch, and the
encoder on each tool's output (the same x264 settings, different pictures). This times
each part on one thread, frame by frame with the tools taken in turn (each meets the
same machine state within milliseconds: on a shared machine, runs of the same command
minutes apart differ by 5-20%), keeping the best of a few rounds:

- decode: the input decoded into memory (yuv420p planes), once per round;
- stitch: v360 (dfisheye -> equirect, 195 deg, bilinear; filter graph on one thread),
  orbit360's ``YuvStitch.apply`` (compensation + multi-band blend), and a plain
  ``cv2.remap`` of the same planes with orbit360's maps (the floor of any remap stitch);
- encode: libx264 (the run's preset and CRF, one thread) on v360's output, on
  orbit360's, and on the plain remap's (orbit360's lens geometry, no compensation, no
  blend).

It prints the per-frame sums and three ratios of v360's total over orbit360's: as they
are (the end-to-end fps ratio this machine can give when both keep every core busy);
with orbit360's stitch time replaced by the plain remap's (compensation and blending
computed for free, their picture encoded as it is); and the plain remap's whole
pipeline (no compensation or blend at all, only the calibrated geometry).

    .venv/bin/python bench/throughput/budget.py [--sizes 2880,5760] [--frames 48,24]
        [--rounds 3] [--preset medium] [--crf 20] [--work /tmp/orbit360-bench]

Inputs are ``run.py``'s (rendered there if missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _runs import X264Sink, make_in_child, sizes_and_frames

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))


def decode(inp: Path, n: int) -> tuple[list, float]:  # type: ignore[type-arg]
    """The first ``n`` frames of ``inp`` (PyAV frames) and the decode time per frame (s), one thread."""
    import av

    with av.open(str(inp)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        frames = []
        t0 = time.perf_counter()
        for f in c.decode(s):
            frames.append(f)
            if len(frames) == n:
                break
        return frames, (time.perf_counter() - t0) / len(frames)


def v360_filter(inp: Path):  # type: ignore[no-untyped-def]
    """``f(frame) -> yuv420p array``: ``run.py``'s v360 filter graph, on one thread."""
    import av

    from run import _v360_graph

    with av.open(str(inp)) as c:
        graph = _v360_graph(c.streams.video[0], threads=1)

    def run(frame):  # type: ignore[no-untyped-def]
        graph.push(frame)
        return graph.pull().to_ndarray(format="yuv420p")

    return run


def interleaved(steps: dict, count: int) -> dict[str, float]:  # type: ignore[type-arg]
    """``steps[name](i)`` for i in range(count), the names taken in turn for every i (so
    each tool meets the same machine state within milliseconds): seconds per call, the
    first call of each (set-up) not counted."""
    spent = dict.fromkeys(steps, 0.0)
    names = list(steps)
    for i in range(count):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            steps[name](i)
            if i:
                spent[name] += time.perf_counter() - t0
    return {k: v / max(1, count - 1) for k, v in spent.items()}


class OneThreadX264:
    """libx264 on one thread (the run's preset and CRF) into an in-memory MP4."""

    def __init__(self, size: tuple[int, int], fps: int, crf: int, preset: str) -> None:
        import io

        import av

        self.buf = io.BytesIO()
        self.dst = av.open(self.buf, "w", format="mp4")
        self.sink = X264Sink(self.dst, fps, size, crf, preset)
        self.sink.stream.codec_context.thread_count = 1

    def write(self, picture) -> None:  # type: ignore[no-untyped-def]
        import av

        self.sink.write(av.VideoFrame.from_ndarray(picture, format="yuv420p"))

    def close(self) -> tuple[float, int]:
        """Flush: (seconds, bytes of the file)."""
        t0 = time.perf_counter()
        self.sink.finish()
        spent = time.perf_counter() - t0
        self.dst.close()
        return spent, self.buf.getbuffer().nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2880,5760")
    ap.add_argument("--frames", default="48,24", help="frames per size (comma list, matched to --sizes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/orbit360-bench"))
    a = ap.parse_args()

    import cv2
    import numpy as np

    from orbit360.profile import RigProfile
    from orbit360.stitch import StitchPlan
    from orbit360.video._convert import yuv420p_planes
    from run import make_input

    cv2.setNumThreads(1)
    a.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for w, n in sizes_and_frames(a.sizes, a.frames):
        make_in_child(str(REPO / "bench/throughput/run.py"), str(a.work), str(w), str(n))
        inp, rig_json = make_input(a.work, w, n)
        plan = StitchPlan.build(RigProfile.load(rig_json), w)
        yuv = plan.yuv420()
        chroma = yuv.chroma_plan
        h = w // 2

        def plain(planes, out):  # type: ignore[no-untyped-def]
            out = np.empty((h * 3 // 2, w), np.uint8) if out is None else out
            for src, dst, maps in zip(planes, yuv420p_planes(out), (plan.dominant_xy, chroma.dominant_xy, chroma.dominant_xy)):
                cv2.remap(src, *maps, cv2.INTER_LINEAR, dst=dst)
            return out

        best: dict[str, float] = {}
        sizes_b: dict[str, int] = {}
        for r in range(a.rounds):
            frames, t_dec = decode(inp, n)
            planes = [yuv420p_planes(f.to_ndarray(format="yuv420p")) for f in frames]
            v360 = v360_filter(inp)
            outs: dict[str, list] = {"v360": [], "orbit360": [], "plain": []}  # type: ignore[type-arg]
            parts = {"decode": t_dec}
            parts |= interleaved({
                "v360": lambda i: outs["v360"].append(v360(frames[i])),
                "apply": lambda i: outs["orbit360"].append(yuv.apply(planes[i], np.empty((h * 3 // 2, w), np.uint8))),
                "plain": lambda i: outs["plain"].append(plain(planes[i], None)),
            }, n)
            encoders = {k: OneThreadX264((w, h), 30, a.crf, a.preset) for k in outs}
            parts |= {f"x264 {k}": v for k, v in interleaved({k: (lambda i, k=k: encoders[k].write(outs[k][i])) for k in outs}, n).items()}
            for k, e in encoders.items():  # the flush (the last frames' work) shared out per frame
                flush_s, sizes_b[f"x264 {k}"] = e.close()
                parts[f"x264 {k}"] += flush_s / max(1, n - 1)
            for k, v in parts.items():
                best[k] = min(best.get(k, v), v)
            print(f"# {w}: round {r + 1}: " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in parts.items()), file=sys.stderr, flush=True)
        rows.append((w, n, best, sizes_b))

    print(f"\nms per frame, one thread each, best of {a.rounds} rounds; libx264 preset {a.preset}, CRF {a.crf}\n")
    print("| output | decode | v360 | orbit360 apply | plain remap | x264 on v360's | x264 on orbit360's | x264 on the plain remap's | v360 total | orbit360 total | ratio | ratio, comp. + blend free | ratio, plain remap | bytes orbit360 / plain / v360 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w, n, b, sz in rows:
        tv = b["decode"] + b["v360"] + b["x264 v360"]
        to = b["decode"] + b["apply"] + b["x264 orbit360"]
        tf = b["decode"] + b["plain"] + b["x264 orbit360"]
        tp = b["decode"] + b["plain"] + b["x264 plain"]
        ms = {k: 1000 * v for k, v in b.items()}
        print(f"| {w}x{w // 2} | {ms['decode']:.1f} | {ms['v360']:.1f} | {ms['apply']:.1f} | {ms['plain']:.1f} | "
              f"{ms['x264 v360']:.1f} | {ms['x264 orbit360']:.1f} | {ms['x264 plain']:.1f} | {1000 * tv:.1f} | {1000 * to:.1f} | "
              f"{tv / to:.3f} | {tv / tf:.3f} | {tv / tp:.3f} | {sz['x264 orbit360'] / sz['x264 v360']:.3f} / {sz['x264 plain'] / sz['x264 v360']:.3f} / 1 |")


if __name__ == "__main__":
    main()
