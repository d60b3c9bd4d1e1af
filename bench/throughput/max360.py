"""GoPro MAX ``.360`` benchmark: orbit360 beside FFmpeg's ``vstack,v360=eac``, same input, same run.

A ``.360`` holds an equi-angular cubemap in two HEVC tracks, with the strips where the
lenses meet stored twice (``orbit360.cameras._max``). FFmpeg has no CPU filter for that
layout (``gopromax_opencl`` needs OpenCL); what a user of FFmpeg alone can do is stack the
tracks and read them as a plain 3x2 EAC (``vstack,v360=input=eac:output=e``), which is
the same kind of work (decode two tracks, one remap, encode) and so the speed peer here,
with the picture it gives scored too. Input: a synthetic 5.6K recording (tracks
4096x1344, the camera's size; a panning scene, ``write_max_recording``), cached under
--work. Each run in its own process, in turns:

- orbit360 ``stitch_video`` as decoded planes (the default) and through RGB (``yuv=False``,
  the path before planes): fps, CPU seconds a frame (all threads), stage times;
- FFmpeg: decode both tracks -> vstack -> v360 eac -> equirect, bilinear -> the same
  encoder, preset and CRF;
- picture: PSNR of each output's frames against the scene's ground truth (rows within 60
  degrees of the equator, every 4th frame, decoded from the encoded files).

    .venv/bin/python bench/throughput/max360.py [--frames 48] [--repeat 2] [--width 5376]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _runs import X264Sink, cpu_s, make_in_child, measure, report, serve_child

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

TRACK = (4096, 1344)
SCENE_SEED = 21




def make_input(work: Path, frames: int) -> Path:
    from orbit360.synthetic import write_max_recording
    from orbit360.synthetic import make_scene, pan_motion

    path = work / f"GS01{frames:04d}.360"
    if not path.is_file():
        write_max_recording(path, make_scene(2048, seed=SCENE_SEED), track_size=TRACK, frames=frames, motion=pan_motion(25.0), crf=18)
    return path


def run_orbit360(inp: str, out: str, width: int, crf: int, preset: str, yuv: bool) -> dict:
    from orbit360.pipeline import stitch_video
    from orbit360.video import EncodeOptions

    t0, c0 = time.perf_counter(), cpu_s()
    r = stitch_video(inp, out, width=width, options=EncodeOptions(crf=crf, preset=preset, encoder="libx264"), yuv=yuv)
    wall = time.perf_counter() - t0
    return {"frames": r.frames, "fps": r.frames / wall, "cpu_s": cpu_s() - c0, "ms_per_frame": r.timings.per_frame_ms()}


def run_ffmpeg(inp: str, out: str, width: int, crf: int, preset: str) -> dict:
    import av

    t0, c0 = time.perf_counter(), cpu_s()
    with av.open(inp) as a, av.open(inp) as b, av.open(out, "w", format="mp4") as dst:
        sa, sb = a.streams.video[0], b.streams.video[1]
        sa.thread_type = sb.thread_type = "AUTO"
        graph = av.filter.Graph()
        ba, bb = graph.add_buffer(template=sa), graph.add_buffer(template=sb)
        stack = graph.add("vstack", "inputs=2")
        v360 = graph.add("v360", f"input=eac:output=e:interp=line:w={width}:h={width // 2}")
        sink = graph.add("buffersink")
        ba.link_to(stack, 0, 0)
        bb.link_to(stack, 0, 1)
        stack.link_to(v360)
        v360.link_to(sink)
        graph.configure()
        enc = X264Sink(dst, sa.average_rate, (width, width // 2), crf, preset)
        for fa, fb in zip(a.decode(sa), b.decode(sb)):
            ba.push(fa)
            bb.push(fb)
            enc.drain(sink.pull)
        ba.push(None)
        bb.push(None)
        enc.drain(sink.pull)
        enc.finish()
    wall = time.perf_counter() - t0
    return {"frames": enc.frames, "fps": enc.frames / wall, "cpu_s": cpu_s() - c0}


def score(out: str, frames: int) -> dict:
    """Mean PSNR (dB) against the ground truth over every 4th decoded frame."""
    import numpy as np

    from orbit360.synthetic import Truth
    from orbit360.metrics import band_rows, psnr
    from orbit360.synthetic import make_scene, pan_motion
    from orbit360.video import open_reader

    truth = Truth(make_scene(2048, seed=SCENE_SEED), 30, pan_motion(25.0))
    scores = []
    with open_reader(out) as r:
        for i, f in r.indexed_frames(0, frames):
            if i % 4 == 0:
                scores.append(psnr(f, truth.ground_truth(i, (f.shape[1], f.shape[0])), rows=band_rows(f.shape[0])))
    return {"psnr": float(np.mean(scores)), "scored": len(scores)}


def child(argv: list[str]) -> None:
    kind, inp, out, width, crf, preset = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5]
    if kind == "ffmpeg":
        res = run_ffmpeg(inp, out, width, crf, preset)
    else:
        res = run_orbit360(inp, out, width, crf, preset, yuv=kind == "orbit360")
    report(res)




def main() -> None:
    if serve_child(child, lambda a: make_input(Path(a[0]), int(a[1]))):
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--width", type=int, default=5376, help="equirect width (the camera's own 5.6K export is 5376)")
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--work", default="/tmp/orbit360-bench")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    make_in_child(__file__, str(work), str(a.frames))  # (its peak memory is not ours)
    inp = make_input(work, a.frames)
    kinds = ("orbit360", "ffmpeg", "orbit360-rgb")
    rows = []
    for rep in range(a.repeat):
        for kind in kinds:
            out = work / f"max_{kind}.mp4"
            res = measure(__file__, kind, str(inp), str(out), str(a.width), str(a.crf), a.preset)
            if rep == 0:
                res.update(score(str(out), a.frames))
            rows.append((rep + 1, kind, res))
            print(f"# run {rep + 1} {kind}: {res['fps']:.2f} fps", file=sys.stderr, flush=True)
    print(f"\n{a.width}x{a.width // 2} from tracks {TRACK[0]}x{TRACK[1]}, {a.frames} frames; libx264 {a.preset}, CRF {a.crf}\n")
    print("| run | pipeline | fps | CPU s/frame | stage ms decode / stitch / encode | peak MB | PSNR dB |")
    print("|---|---|---|---|---|---|---|")
    for rep, kind, r in rows:
        st = r.get("ms_per_frame")
        stages = " / ".join(f"{st[k]:.0f}" for k in ("decode", "stitch", "encode")) if st else "-"
        ps = f"{r['psnr']:.2f}" if "psnr" in r else ""
        print(f"| {rep} | {kind} | {r['fps']:.2f} | {r['cpu_s'] / r['frames']:.3f} | {stages} | {r['peak_rss_mb']:.0f} | {ps} |")
    for rep in range(1, a.repeat + 1):
        got = {k: r for n, k, r in rows if n == rep}
        print(f"- run {rep}: orbit360 / FFmpeg {got['orbit360']['fps'] / got['ffmpeg']['fps']:.2f}x fps, "
              f"{(got['ffmpeg']['cpu_s'] / got['ffmpeg']['frames']) / (got['orbit360']['cpu_s'] / got['orbit360']['frames']):.2f}x CPU; "
              f"planes / RGB path {got['orbit360']['fps'] / got['orbit360-rgb']['fps']:.2f}x fps")


if __name__ == "__main__":
    main()
