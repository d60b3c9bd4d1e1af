"""Throughput benchmark: orbit360 stitch beside an FFmpeg v360 transcode, same input, same run.

For each output size (2880x1440, 5760x2880) a synthetic dual-fisheye recording of the same
size is rendered once (a panning camera, misaligned lenses with exposure, colour and
vignetting differences, so compensation and multi-band blending have work to do) and
cached under --work. Then, each in its own process (peak memory is that process' max RSS):

- orbit360: ``stitch_video`` (decode thread -> StitchPlan.apply -> encode thread), with the
  rig given (no calibration); end-to-end fps including the plan build and the join, the
  pipeline fps without them, and each stage's busy time per frame;
- ffmpeg v360: a PyAV filter graph, decode -> v360 (dfisheye -> equirect, 195 deg, bilinear)
  -> the same encoder, preset and CRF -> MP4;
- without the encoder: decode -> stitch -> discard, orbit360 (decode thread + apply)
  beside FFmpeg (decode + v360 filter graph);
- stitch alone: ``plan.apply`` on frames already decoded into memory, beside one plain
  ``cv2.remap`` (fixed-point maps, bilinear) of the same frames to the same output size,
  plus the plan variants (feather blend, no compensation) to show what each part costs.

    .venv/bin/python bench/throughput/run.py [--sizes 2880,5760] [--frames 48,24]
        [--preset medium] [--crf 20] [--work /tmp/orbit360-bench] [--json out.json]

Prints a markdown table (the one in bench/RESULTS.md, "Throughput").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _runs import X264Sink, cpu_s, make_in_child, measure, report, serve_child, sizes_and_frames

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

UNIQUE_FRAMES = 12  # rendered frames; the recording plays them forth and back (smooth pan)


# ---- input ------------------------------------------------------------------------------
def make_input(work: Path, width: int, frames: int) -> tuple[Path, Path]:
    """The cached recording ``in_W_N.mp4`` and its rig JSON."""
    import numpy as np

    from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig, pan_motion
    from orbit360.video import EncodeOptions, VideoWriter

    path, rig_json = work / f"in_{width}_{frames}.mp4", work / f"rig_{width}.json"
    if path.is_file() and rig_json.is_file():
        return path, rig_json
    scene_npy = work / "scene_2048.npy"
    if scene_npy.is_file():
        scene = np.load(scene_npy)
    else:
        scene = make_scene(2048, seed=5)
        np.save(scene_npy, scene)
    rig = misaligned_rig((width, width // 2), seed=5)
    rig.save(rig_json)
    renderer = RigRenderer(rig, scene)
    motion = pan_motion(20.0, 3.0)
    unique = [renderer.render(motion(i / 30.0)) for i in range(UNIQUE_FRAMES)]
    order = list(range(UNIQUE_FRAMES)) + list(range(UNIQUE_FRAMES - 2, 0, -1))
    # camera-like input: high bit rate, key frame every second
    with VideoWriter(path, size=(width, width // 2), fps=30, options=EncodeOptions(crf=16, preset="veryfast", gop=30)) as w:
        for i in range(frames):
            w.write(unique[order[i % len(order)]])
    return path, rig_json


# ---- the measured runs (each in a child process) ------------------------------------------
def run_orbit360(inp: str, rig_json: str, out: str, crf: int, preset: str, yuv: bool = True) -> dict:
    from orbit360.pipeline import stitch_video
    from orbit360.profile import RigProfile
    from orbit360.video import EncodeOptions

    rig = RigProfile.load(rig_json)
    t0, c0 = time.perf_counter(), cpu_s()
    r = stitch_video(inp, out, rig=rig, options=EncodeOptions(crf=crf, preset=preset, encoder="libx264"), yuv=yuv)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    t = r.timings
    return {
        "frames": r.frames, "wall_s": wall, "fps": r.frames / wall, "pipeline_fps": t.fps, "cpu_s": cpu,
        "ms_per_frame": t.per_frame_ms(), "bottleneck": t.bottleneck, "pipeline_wall_s": t.wall_s,
    }


def run_orbit360_plain(inp: str, rig_json: str, out: str, crf: int, preset: str) -> dict:
    """orbit360's pipeline (decode thread, stitch, encode thread, same writer) doing only
    v360's work: a plain remap of the planes, no compensation, no blending. Against v360
    it separates the pipeline's own cost from the stitch's extra work."""
    import numpy as np

    from orbit360.cameras import open_rig
    from orbit360.pipeline._frames import frame_work
    from orbit360.pipeline._stages import run_stages, stitch_threads
    from orbit360.profile import RigProfile
    from orbit360.video import EncodeOptions, VideoWriter

    t0, c0 = time.perf_counter(), cpu_s()
    source = open_rig(inp)
    plan = source.plan(source.frame_size[0], RigProfile.load(rig_json))
    job = frame_work(source, plan)
    chroma = plan.yuv420().chroma_plan
    w, h = plan.size

    def plain(item, out=None):  # type: ignore[no-untyped-def]
        _, frame = item  # (index, planes), as frame_work numbers them
        out = np.empty((h * 3 // 2, w), np.uint8) if out is None else out
        remap_planes(frame, out, plan.dominant_xy, chroma.dominant_xy)
        return out

    with VideoWriter(out, size=plan.size, fps=source.fps, options=EncodeOptions(crf=crf, preset=preset, encoder="libx264")) as wr:
        with stitch_threads(wr.encoder, preset):
            t = run_stages(job.frames, plain, wr.write, finish=wr.close)
    wall = time.perf_counter() - t0
    return {"frames": t.frames, "wall_s": wall, "fps": t.frames / wall, "pipeline_fps": t.fps, "cpu_s": cpu_s() - c0}




def remap_planes(frame, out, luma_maps, chroma_maps) -> None:  # type: ignore[no-untyped-def]
    """A plain remap of yuv420p planes into ``out``: luma with ``luma_maps``, both chroma
    planes with ``chroma_maps`` (float or fixed-point, bilinear): v360's work per frame."""
    import cv2

    from orbit360.video._convert import yuv420p_planes

    for src, dst, maps in zip(yuv420p_planes(frame), yuv420p_planes(out), (luma_maps, chroma_maps, chroma_maps)):
        cv2.remap(src, *maps, cv2.INTER_LINEAR, dst=dst)


def _v360_graph(vin, threads: int = 0):  # type: ignore[no-untyped-def]
    """FFmpeg's v360 for the decoded stream ``vin`` (threaded decoding turned on):
    dfisheye -> equirect of the input's size, 195 degree lenses, bilinear; on ``threads``
    threads (0: the filter graph's default, one per core)."""
    import av

    vin.thread_type = "AUTO"
    w, h = vin.codec_context.width, vin.codec_context.height
    graph = av.filter.Graph()
    if threads:
        graph.threads = threads
    buf = graph.add_buffer(template=vin)
    v360 = graph.add("v360", f"input=dfisheye:output=e:ih_fov=195:iv_fov=195:interp=line:w={w}:h={h}")
    sink = graph.add("buffersink")
    buf.link_to(v360)
    v360.link_to(sink)
    graph.configure()
    return graph


def run_v360(inp: str, out: str, crf: int, preset: str) -> dict:
    import av

    t0, c0 = time.perf_counter(), cpu_s()
    with av.open(inp) as src, av.open(out, "w", format="mp4") as dst:
        vin = src.streams.video[0]
        graph = _v360_graph(vin)
        enc = X264Sink(dst, vin.average_rate, (vin.codec_context.width, vin.codec_context.height), crf, preset)
        for frame in src.decode(vin):
            graph.vpush(frame)
            enc.drain(graph.vpull)
        graph.vpush(None)
        enc.drain(graph.vpull)
        enc.finish()
    wall = time.perf_counter() - t0
    return {"frames": enc.frames, "wall_s": wall, "fps": enc.frames / wall, "cpu_s": cpu_s() - c0}


def run_v360_only(inp: str) -> dict:
    """Decode -> v360 -> discard: FFmpeg's stitch without the encoder."""
    import av

    t0, c0 = time.perf_counter(), cpu_s()
    n = 0
    with av.open(inp) as src:
        vin = src.streams.video[0]
        graph = _v360_graph(vin)
        for frame in list(src.decode(vin)) + [None]:
            graph.vpush(frame)
            while True:
                try:
                    graph.vpull()
                    n += 1
                except (av.BlockingIOError, av.EOFError):
                    break
    wall = time.perf_counter() - t0
    return {"frames": n, "wall_s": wall, "fps": n / wall, "cpu_s": cpu_s() - c0}


def run_orbit360_only(inp: str, rig_json: str) -> dict:
    """Decode thread -> stitch (the pipeline's own choice: yuv420p planes) -> discard:
    orbit360's stitch without the encoder."""
    from orbit360.cameras import open_rig
    from orbit360.pipeline import run_stages
    from orbit360.pipeline._frames import frame_work
    from orbit360.profile import RigProfile

    source = open_rig(inp)
    plan = source.plan(source.frame_size[0], RigProfile.load(rig_json))
    job = frame_work(source, plan)
    job.stitch((0, next(iter(source.frames(0, 1) if not job.yuv else source.yuv420_frames(0, 1)))))  # build the YUV parts
    c0 = cpu_s()
    t = run_stages(job.frames, job.stitch, lambda f: None)
    return {"frames": t.frames, "wall_s": t.wall_s, "fps": t.fps, "yuv": job.yuv, "cpu_s": cpu_s() - c0}


def run_stitch_alone(inp: str, rig_json: str, frames: int) -> dict:
    """The stitch on frames in memory, beside plain remaps of the same frames: RGB (one
    3-channel remap) and yuv420p planes (luma at full size, two chroma planes at half
    size: what v360 does), each output pixel from the lens facing it. Each with the maps
    cv2.remap is fastest with: fixed-point for RGB, float for one-channel planes (OpenCV
    5; the planes with fixed-point maps are timed too)."""
    import cv2
    import numpy as np

    from orbit360.geometry import dirs_to_fisheye, equirect_grid_dirs
    from orbit360.profile import RigProfile
    from orbit360.stitch import StitchPlan
    from orbit360.stitch._yuv import half_rig
    from orbit360.video import open_reader
    from orbit360.video._convert import yuv420p_to_rgb

    rig = RigProfile.load(rig_json)
    w = rig.frame_size[0]
    with open_reader(inp) as r:
        # contiguous copies of the decoder's planes (it reuses its buffers), one array each
        yuv = [np.concatenate([p.reshape(-1) for p in f]).reshape(-1, w) for _, f in zip(range(frames), r.frames(yuv420=True))]
        fmt = r.yuv_format
    rgb = [yuv420p_to_rgb(f) for f in yuv]

    cpu: dict[str, float] = {}

    def per_frame_ms(fn, data, name: str = "") -> float:  # type: ignore[no-untyped-def]
        """Wall ms per frame, best of three passes (load spikes on a shared machine); the
        CPU ms per frame (all threads) of the same pass goes to ``cpu[name]``."""
        fn(data[0])
        best = (float("inf"), 0.0)
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            for f in data:
                fn(f)
            best = min(best, (1000 * (time.perf_counter() - t0) / len(data), 1000 * (time.process_time() - c0) / len(data)))
        if name:
            cpu[name] = best[1]
        return best[0]

    def plain_maps(r: RigProfile, width: int):  # type: ignore[no-untyped-def]
        dirs = equirect_grid_dirs((width, width // 2))
        mx = np.empty(dirs.shape[:2], np.float32)
        my = np.empty(dirs.shape[:2], np.float32)
        front = dirs[..., 2] >= 0
        for i, lens in enumerate(r.lenses):
            xy, _ = dirs_to_fisheye(lens.rotation().inverse(dirs), lens.model(), lens.max_theta)
            sel = front if i == 0 else ~front
            mx[sel], my[sel] = xy[..., 0][sel] - 0.5, xy[..., 1][sel] - 0.5
        return (mx, my), cv2.convertMaps(mx, my, cv2.CV_16SC2)

    (mxy, (m1, m2)), (cxy, cfix) = plain_maps(rig, w), plain_maps(half_rig(rig), w // 2)
    out = np.empty((w // 2, w, 3), np.uint8)
    out_yuv = np.empty((w // 2 * 3 // 2, w), np.uint8)

    res = {
        "frames": len(yuv),
        "remap_ms": per_frame_ms(lambda f: cv2.remap(f, m1, m2, cv2.INTER_LINEAR, dst=out), rgb, "remap"),
        "remap_yuv_ms": per_frame_ms(lambda f: remap_planes(f, out_yuv, mxy, cxy), yuv, "remap_yuv"),
        "remap_yuv_fixed_ms": per_frame_ms(lambda f: remap_planes(f, out_yuv, (m1, m2), cfix), yuv, "remap_yuv_fixed"),
    }
    for name, kw in (("apply_ms", {}), ("feather_ms", {"blend": "feather"}), ("no_compensation_ms", {"compensate": False})):
        t0 = time.perf_counter()
        plan = StitchPlan.build(rig, w, **kw)
        if name == "apply_ms":
            res["plan_build_s"] = time.perf_counter() - t0
            res["band_fraction"] = sum((b.y1 - b.y0) * (b.x1 - b.x0) for b in plan.seam_bands) / (w * w // 2)
            res["rgb_apply_ms"] = per_frame_ms(lambda f: plan.apply(f, out=out), rgb, "rgb_apply")
        t0 = time.perf_counter()
        ys = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range)
        if name == "apply_ms":
            res["yuv_build_s"] = time.perf_counter() - t0
        res[name] = per_frame_ms(lambda f: ys.apply(f, out=out_yuv), yuv, name)
        if name == "apply_ms":
            # on one OpenCV thread, as the pipeline runs the stitch beside a software
            # encoder on machines of up to 4 cores (pipeline._stages.stitch_threads)
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                res["one_thread"] = {
                    "remap_yuv_ms": per_frame_ms(lambda f: remap_planes(f, out_yuv, mxy, cxy), yuv),
                    "apply_ms": per_frame_ms(lambda f: ys.apply(f, out=out_yuv), yuv),
                }
            finally:
                cv2.setNumThreads(threads)
        plan = ys = None  # free before the next variant is built
    res["cpu_ms"] = cpu
    res["ratio_to_remap"] = res["apply_ms"] / res["remap_yuv_ms"]
    res["ratio_to_rgb_remap"] = res["apply_ms"] / res["remap_ms"]
    res["rgb_ratio_to_remap"] = res["rgb_apply_ms"] / res["remap_ms"]
    return res


def child(argv: list[str]) -> None:
    kind, args = argv[0], argv[1:]
    if kind in ("orbit360", "orbit360-rgb"):
        res = run_orbit360(args[0], args[1], args[2], int(args[3]), args[4], yuv=kind == "orbit360")
    elif kind == "orbit360-plain":
        res = run_orbit360_plain(args[0], args[1], args[2], int(args[3]), args[4])
    elif kind == "v360":
        res = run_v360(args[0], args[1], int(args[2]), args[3])
    elif kind == "v360-only":
        res = run_v360_only(args[0])
    elif kind == "orbit360-only":
        res = run_orbit360_only(args[0], args[1])
    else:
        res = run_stitch_alone(args[0], args[1], int(args[2]))
    report(res)




def main() -> None:
    if serve_child(child, lambda a: make_input(Path(a[0]), int(a[1]), int(a[2]))):
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2880,5760")
    ap.add_argument("--frames", default="48,24", help="frames per size (comma list, matched to --sizes)")
    ap.add_argument("--stitch-frames", type=int, default=8, help="frames held in memory for the stitch-alone timing")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/orbit360-bench"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--with-rgb", action="store_true", help="also run orbit360 through its RGB path (yuv=False)")
    ap.add_argument("--with-plain", action="store_true", help="also run orbit360's pipeline with a plain remap (v360's work)")
    ap.add_argument("--repeat", type=int, default=1, help="orbit360 / v360 pairs per size, run in turns")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for w, n in sizes_and_frames(a.sizes, a.frames):
        t0 = time.perf_counter()
        make_in_child(__file__, str(a.work), str(w), str(n))  # (its peak memory is not ours)
        inp, rig_json = make_input(a.work, w, n)
        print(f"# {w}x{w // 2}: input {inp.name} ready ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        pairs, plains = [], []
        for _ in range(max(1, a.repeat)):  # in turns, so load drift hits both alike
            pairs.append((measure(__file__, "orbit360", str(inp), str(rig_json), str(a.work / f"o360_{w}.mp4"), str(a.crf), a.preset),
                          measure(__file__, "v360", str(inp), str(a.work / f"v360_{w}.mp4"), str(a.crf), a.preset)))
            if a.with_plain:
                plains.append(measure(__file__, "orbit360-plain", str(inp), str(rig_json), str(a.work / f"o360p_{w}.mp4"), str(a.crf), a.preset))
        ours, peer = sorted(pairs, key=lambda p: p[0]["fps"] / p[1]["fps"])[len(pairs) // 2]  # the median pair
        ours_rgb = measure(__file__, "orbit360-rgb", str(inp), str(rig_json), str(a.work / f"o360rgb_{w}.mp4"), str(a.crf), a.preset) if a.with_rgb else None
        alone = measure(__file__, "stitch", str(inp), str(rig_json), str(min(a.stitch_frames, n)))
        ours_only = measure(__file__, "orbit360-only", str(inp), str(rig_json))
        peer_only = measure(__file__, "v360-only", str(inp))
        rows.append({"width": w, "frames": n, "orbit360": ours, "v360": peer, "stitch": alone, "load": os.getloadavg()[0],
                     "orbit360_only": ours_only, "v360_only": peer_only, "orbit360_rgb": ours_rgb, "pairs": pairs, "plains": plains})
        print(f"# {w}: orbit360 {ours['fps']:.2f} fps, v360 {peer['fps']:.2f} fps", file=sys.stderr, flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    cpu = os.cpu_count()
    print(f"\n{cpu} cores; libx264 preset {a.preset}, CRF {a.crf}, same input per size; fps = frames / wall time\n")
    print("| output | frames | orbit360 fps | v360 fps | ratio | orbit360 pipeline fps | pipeline / v360 | orbit360 RGB path fps (ratio) | orbit360 peak MB | v360 peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        o, v, g = r["orbit360"], r["v360"], r["orbit360_rgb"]
        rgb = f"{g['fps']:.2f} ({g['fps'] / v['fps']:.2f})" if g else "-"
        print(f"| {r['width']}x{r['width'] // 2} | {r['frames']} | {o['fps']:.2f} | {v['fps']:.2f} | {o['fps'] / v['fps']:.2f} | "
              f"{o['pipeline_fps']:.2f} | {o['pipeline_fps'] / v['fps']:.2f} | {rgb} | {o['peak_rss_mb']:.0f} | {v['peak_rss_mb']:.0f} |")
    print("\nEvery orbit360 / v360 pair, in turns (fps ratio; CPU seconds per frame, all threads, and v360's over ours):\n")
    print("| output | frames | pair | orbit360 fps | v360 fps | ratio | orbit360 CPU s/frame | v360 CPU s/frame | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for k, (o, v) in enumerate(r["pairs"]):
            oc, vc = o["cpu_s"] / o["frames"], v["cpu_s"] / v["frames"]
            print(f"| {r['width']}x{r['width'] // 2} | {r['frames']} | {k + 1} | {o['fps']:.2f} | {v['fps']:.2f} | "
                  f"{o['fps'] / v['fps']:.2f} | {oc:.3f} | {vc:.3f} | {vc / oc:.2f} |")
    if any(r["plains"] for r in rows):
        print("\norbit360's pipeline with a plain remap (v360's work), run after each pair:\n")
        print("| output | frames | run | fps | ratio to the pair's v360 | CPU s/frame | v360 CPU over it |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            for k, (p, (_, v)) in enumerate(zip(r["plains"], r["pairs"])):
                pc, vc = p["cpu_s"] / p["frames"], v["cpu_s"] / v["frames"]
                print(f"| {r['width']}x{r['width'] // 2} | {r['frames']} | {k + 1} | {p['fps']:.2f} | {p['fps'] / v['fps']:.2f} | {pc:.3f} | {vc / pc:.2f} |")
    print("\nStage busy time per frame inside orbit360's pipeline (ms; the stages run in parallel threads):\n")
    print("| output | decode | stitch | encode | bottleneck |")
    print("|---|---|---|---|---|")
    for r in rows:
        m = r["orbit360"]["ms_per_frame"]
        print(f"| {r['width']}x{r['width'] // 2} | {m['decode']:.0f} | {m['stitch']:.0f} | {m['encode']:.0f} | {r['orbit360']['bottleneck']} |")
    print("\nWithout the encoder: decode -> stitch -> discard (fps):\n")
    print("| output | orbit360 (decode thread + stitch) | FFmpeg decode + v360 | ratio | CPU ms/frame orbit360 / v360 |")
    print("|---|---|---|---|---|")
    for r in rows:
        o, v = r["orbit360_only"], r["v360_only"]
        print(f"| {r['width']}x{r['width'] // 2} | {o['fps']:.2f} | {v['fps']:.2f} | {o['fps'] / v['fps']:.2f} | "
              f"{1000 * o['cpu_s'] / o['frames']:.0f} / {1000 * v['cpu_s'] / v['frames']:.0f} |")
    print("\nStitch stage alone, frames in memory (ms per frame):\n")
    print("| output | plain remap, yuv420p planes, float maps (fixed-point) | YuvStitch.apply (multiband + comp.) | ratio | plain remap, RGB | ratio to it | RGB plan.apply (ratio to RGB remap) | feather + comp. | multiband, no comp. | band area | plan build s (+ YUV parts) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stitch"]
        print(f"| {r['width']}x{r['width'] // 2} | {s['remap_yuv_ms']:.0f} ({s['remap_yuv_fixed_ms']:.0f}) | {s['apply_ms']:.0f} | {s['ratio_to_remap']:.2f} | "
              f"{s['remap_ms']:.0f} | {s['ratio_to_rgb_remap']:.2f} | {s['rgb_apply_ms']:.0f} ({s['rgb_ratio_to_remap']:.2f}) | "
              f"{s['feather_ms']:.0f} | {s['no_compensation_ms']:.0f} | {100 * s['band_fraction']:.0f}% | "
              f"{s['plan_build_s']:.1f} (+{s['yuv_build_s']:.1f}) |")
    print("\nOn one OpenCV thread (how the pipeline runs the stitch beside x264 on up to 4 cores):\n")
    print("| output | plain remap, planes, float maps | YuvStitch.apply | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        t = r["stitch"]["one_thread"]
        print(f"| {r['width']}x{r['width'] // 2} | {t['remap_yuv_ms']:.1f} | {t['apply_ms']:.1f} | {t['apply_ms'] / t['remap_yuv_ms']:.2f} |")
    print("\nThe same, CPU ms per frame (all threads; the pass with the best wall time):\n")
    print("| output | plain remap, planes, float maps (fixed-point) | YuvStitch.apply | ratio | plain remap, RGB | RGB plan.apply | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["stitch"]["cpu_ms"]
        print(f"| {r['width']}x{r['width'] // 2} | {c['remap_yuv']:.0f} ({c['remap_yuv_fixed']:.0f}) | {c['apply_ms']:.0f} | {c['apply_ms'] / c['remap_yuv']:.2f} | "
              f"{c['remap']:.0f} | {c['rgb_apply']:.0f} | {c['rgb_apply'] / c['remap']:.2f} |")


if __name__ == "__main__":
    main()
