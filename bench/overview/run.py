"""Overview benchmark: CPU time of `orbit360 overview` per hour of 5.2K footage.

A one-hour side-by-side dual-fisheye recording (default 5376x2688, 30 fps, H.264) is made
at low cost and cached under --work: a few distinct GOPs of --gop frames (one key frame,
then P frames of a still camera, which x264 codes as a few bytes each) are encoded once,
at different camera headings, and their packets are repeated with shifted timestamps until
the hour is full (a valid stream: every GOP starts with an IDR). The overview touches only
key frames, so what it costs depends on the key frames it decodes, not on what fills the
GOPs between them.

Then `make_overview(every_s=30)` runs in this process and the script prints the wall time,
the CPU time (user + sys of this process and its threads) and both per hour of footage.

    .venv/bin/python bench/overview/run.py [--size 5376x2688] [--hours 1] [--gop 300]
        [--every 30] [--work /tmp/orbit360-bench-overview]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

FPS = 30
DISTINCT_GOPS = 4


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_recording(path: Path, size: tuple[int, int], hours: float, gop: int) -> Path:
    """The long recording at ``path`` (kept when it exists)."""
    import av
    import numpy as np

    from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig
    from orbit360.geometry import Rotation

    if path.exists():
        return path
    rig = misaligned_rig(size, seed=52, misalign_deg=0.4)
    renderer = RigRenderer(rig, make_scene(2048, seed=53))
    rng = np.random.default_rng(54)
    gops = path.with_suffix(".gops.mp4")
    out = av.open(str(gops), "w")
    s = out.add_stream("libx264", rate=FPS)
    s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
    s.time_base = Fraction(1, FPS)
    s.options = {"preset": "ultrafast", "crf": "23", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"}
    pts = 0
    for k in range(DISTINCT_GOPS):
        rgb = renderer.render(Rotation.from_ypr(360.0 * k / DISTINCT_GOPS, 10.0 * k, 0.0))
        # sensor-like grain: key frames as costly to code and decode as a camera's, not
        # the smooth upsampled scene's
        rgb = np.clip(rgb + rng.normal(0.0, 3.0, rgb.shape), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(format="yuv420p")
        for _ in range(gop):
            frame.pts = pts
            pts += 1
            for p in s.encode(frame):
                out.mux(p)
        print(f"  encoded GOP {k + 1}/{DISTINCT_GOPS}", file=sys.stderr)
    for p in s.encode(None):
        out.mux(p)
    out.close()
    # repeat the GOPs' packets until the hour is full
    total = int(round(hours * 3600 * FPS))
    with av.open(str(gops)) as src:
        ins = src.streams.video[0]
        packets = [(bytes(p), p.is_keyframe) for p in src.demux(ins) if p.size]
        tmp = path.with_suffix(".part.mp4")
        dst = av.open(str(tmp), "w")
        os_ = dst.add_stream_from_template(ins)
        os_.time_base = ins.time_base
        tick = int(round(1 / (FPS * ins.time_base)))
        for i in range(total):
            data, key = packets[i % len(packets)]
            pk = av.Packet(data)
            pk.stream = os_
            pk.pts = pk.dts = i * tick
            pk.duration = tick
            pk.time_base = ins.time_base
            pk.is_keyframe = key
            dst.mux(pk)
        dst.close()
    tmp.rename(path)
    gops.unlink()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="5376x2688")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--gop", type=int, default=300)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/orbit360-bench-overview"))
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    a.work.mkdir(parents=True, exist_ok=True)
    rec = make_recording(a.work / f"sbs_{w}x{h}_{a.hours:g}h_gop{a.gop}.mp4", (w, h), a.hours, a.gop)
    from orbit360.overview import make_overview

    c0, t0 = _cpu(), time.perf_counter()
    o = make_overview(rec, a.work / "sheet.jpg", every_s=a.every)
    cpu, wall = _cpu() - c0, time.perf_counter() - t0
    hours = o.duration_s / 3600
    from orbit360.isobmff import read_movie

    v = read_movie(rec).tracks[0]
    key_mb = float(v.sizes[v.sync_samples].mean()) / 1e6
    print(f"{rec.name}: {rec.stat().st_size / 1e6:.0f} MB, {o.duration_s / 3600:.2f} h, key frames {key_mb:.2f} MB each, "
          f"{len(o.thumbnails)} thumbnails")
    print(f"overview: wall {wall:.1f} s, CPU {cpu:.1f} s; per hour of footage: wall {wall / hours:.1f} s, CPU {cpu / hours:.1f} s")
    print(f"sheet: {a.work / 'sheet.jpg'}")


if __name__ == "__main__":
    main()
