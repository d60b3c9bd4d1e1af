"""Exposure following over time on real GoPro Fusion 3K frames (issue 15, point 2): no
flicker on a steady shot, a change of light followed within the window.

Each of the five real frames becomes a 45-frame "steady shot" at 30 fps: the frame with
fresh sensor-like noise (Gaussian, 2 code values) and a fresh JPEG compression (quality
90) per frame, and from frame 20 on the back lens' recording brightened by half a stop
(linear light, sRGB, clipped at white) as a lens' auto exposure does. The per-frame
factors come from the plan's own follower (``StitchPlan.observe``, RGB path, and the
Y-plane path of yuv420p frames). Figures per frame set: the single-frame measurement's
noise (sd of the log ratio on the steady part), the flicker (largest frame-to-frame change
of the lenses' log factors on the steady part, frames 15-19 and 35-44, and as luma code
values at mid-grey), and the frames after the change until the factors are within 1% of
their settled value. Also the cost of the measurement per frame at 2880 wide.

    PYTHONPATH=src .venv/bin/python bench/quality/follow_temporal.py [--rig rig.json] [--save-rig rig.json]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from orbit360.profile import RigProfile
from orbit360.stitch import StitchPlan, calibrate_rig
from orbit360.video._convert import rgb_to_yuv420p

from follow import _frames  # (this folder's: the five frames side by side, a median timing)

N, CHANGE, FPS = 45, 20, 30.0
MID_GREY_CODES_PER_LOG = 118.0 / 2.4  # d(code)/d(ln light) of sRGB near code 118


def _brighten(img: np.ndarray, stops: float) -> np.ndarray:
    x = img.astype(np.float64) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) * 2.0**stops
    lin = np.clip(lin, 0.0, 1.0)
    return np.round(255.0 * np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)).astype(np.uint8)


def _shot(frame: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    half = frame.shape[1] // 2
    bright = frame.copy()
    bright[:, half:] = _brighten(frame[:, half:], 0.5)
    out = []
    for k in range(N):
        src = bright if k >= CHANGE else frame
        noisy = np.clip(np.round(src + rng.normal(0.0, 2.0, src.shape)), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=Path, default=Path("/work/shared/samples/real/fusion3k"))
    ap.add_argument("--rig", type=Path, help="a calibrated rig (default: calibrate on the five frames)")
    ap.add_argument("--save-rig", type=Path)
    args = ap.parse_args()
    frames = _frames(args.samples)
    size = (frames[0].shape[1], frames[0].shape[0])
    if args.rig:
        rig = RigProfile.load(args.rig)
    else:
        rig = calibrate_rig(frames, size, nominal=RigProfile.nominal(size, fov_deg=190.0)).rig
        if args.save_rig:
            rig.save(args.save_rig)
    plan = StitchPlan.build(rig, 1024, follow=True, fps=FPS)
    steady = list(range(15, CHANGE)) + list(range(CHANGE + 15, N))
    print(f"window {plan.memory_frames + 1} frames at {FPS:g} fps")
    print("| frame set | path | measurement sd (log) | flicker: max frame-to-frame change of log factor (codes at mid-grey) | frames to within 1% after +0.5 stop on the back lens | settled log ratio removed |")
    print("|---|---|---|---|---|---|")
    for i, frame in enumerate(frames):
        shot = _shot(frame, 100 + i)
        for path in ("rgb", "yuv"):
            plan.reset()
            stitch = plan if path == "rgb" else plan.yuv420()
            raw, logs = [], []
            for img in shot:
                src = img if path == "rgb" else rgb_to_yuv420p(img)
                seen = stitch.observe(src)
                fa, fb = seen.factors
                logs.append(math.log(fa))
                m = plan._follower.history[-1]  # type: ignore[attr-defined]
                raw.append(np.nan if m is None else m)
            logs_a = np.array(logs)
            flicker = float(np.max(np.abs(np.diff(logs_a)[np.array(steady[1:]) - 1])))
            settled = float(np.mean(logs_a[CHANGE + 15 :]))
            late = np.abs(logs_a[CHANGE:] - settled) > 0.01
            after = int(np.flatnonzero(late)[-1]) + 1 if late.any() else 0
            sd = float(np.nanstd(np.array(raw)[CHANGE + 1 :]))
            print(
                f"| img{i + 1} | {path} | {sd:.4f} | {flicker:.5f} ({2 * flicker * MID_GREY_CODES_PER_LOG:.3f}) | {after} | "
                f"{-2 * logs_a[CHANGE - 1]:+.3f} -> {-2 * settled:+.3f} |"
            )
    # cost at 2880 wide: CPU time of one thread (OpenCV on one thread: the figures do not
    # depend on what else the machine runs), interleaved, median of 12
    cv2.setNumThreads(1)
    fixed, big = StitchPlan.build(rig, 2880), StitchPlan.build(rig, 2880, follow=True, fps=FPS)
    frame = frames[4]
    yuv = rgb_to_yuv420p(frame)
    fy, by = fixed.yuv420(), big.yuv420()
    seen_y, seen_rgb = by.observe(yuv), big.observe(frame)
    out_y, out_rgb = np.empty((1440 * 3 // 2, 2880), np.uint8), np.empty((1440, 2880, 3), np.uint8)
    jobs = {
        "yuv420p stitch, fixed plan": lambda: fy.apply(yuv, out=out_y),
        "yuv420p stitch of an observed frame, following": lambda: by.apply(seen_y, out=out_y),
        "yuv420p observe (measure + window; decoding thread)": lambda: by.observe(yuv),
        "RGB stitch, fixed plan": lambda: fixed.apply(frame, out=out_rgb),
        "RGB stitch of an observed frame, following": lambda: big.apply(seen_rgb, out=out_rgb),
        "RGB observe (measure + window; decoding thread)": lambda: big.observe(frame),
    }
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(12):
        for k, fn in jobs.items():
            t0 = time.thread_time()
            fn()
            times[k].append(1000.0 * (time.thread_time() - t0))
    for k, v in times.items():
        print(f"2880 wide, {k}: {float(np.median(v)):.1f} ms CPU")


if __name__ == "__main__":
    main()
