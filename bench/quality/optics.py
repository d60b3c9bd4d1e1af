"""Real optics: self-calibration of realistic rigs at several sizes, and of real camera frames.

Run: ``PYTHONPATH=src .venv/bin/python bench/quality/optics.py [--rigs] [--real] [--sizes 480,960,1440,2880] [--seeds 8101,8102]``

**Realistic rigs** (``synthetic.optics.realistic_rig``; seeds never used while developing):
the real photograph ``samples/real/theta_v_equirect.jpg`` as the world, two different
lenses r = f sin(a theta)/a (not the stitcher's default equidistant model), focal lengths
about 1% apart, circles touching the frame edges, the back lens up to 1° off. Three
calibration frames with the camera turning (up to 40°), a fourth orientation scored
against the ground truth (band rows within 60° of the equator). Per rig: PSNR of the
self-calibrated stitch and of the stitch with the true parameters (``compensate=False``:
the rigs have no photometric differences; this bench is about geometry), each lens' FOV
error where the true circle ends (the mapping) and as reported (with the circle fit's
radius error), centre and rotation errors, residuals, calibration time.

**Real frames** (``samples/real``): GoPro Fusion 3K video frames (5 pairs, front + back
files side by side), the Fusion photo pair, the THETA Z1 frame. Per sample: what
calibration found, its residuals, and the stitch; seam crops (the two places ±90° from
the front axis on the horizon, full size) saved as PNG under ``bench/quality/optics/``,
ours above fusion2sphere's where the sample set has its output; the whole stitch as JPEG.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from orbit360.errors import CalibrationError
from orbit360.geometry import Rotation, undistort_theta
from orbit360.metrics import band_rows, psnr
from orbit360.profile import RigProfile
from orbit360.stitch import StitchPlan, calibrate_rig
from orbit360.synthetic.optics import PhotoRigRenderer, realistic_rig
from orbit360.cameras import open_photo

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples" / "real"
OUT = Path(__file__).resolve().parent / "optics"


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _save(name: str, img: np.ndarray) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def rigs(sizes: list[int], seeds: list[int]) -> list[str]:
    picture = _rgb(SAMPLES / "theta_v_equirect.jpg")
    turns = [Rotation.from_ypr(40.0 * t, 8.0 * np.sin(3.0 * t), 4.0 * t) for t in np.linspace(0.0, 1.0, 3)]
    unseen = Rotation.from_ypr(-70.0, 4.0, 2.0)
    lines = [
        "| lens px | seed | self-cal PSNR | true PSNR | self − true dB | FOV err at true circle ° (front, back) "
        "| FOV err reported ° | centre err px | rot err ° | overlap rms ° (tracks) | motion rms ° (tracks) | calib s |",
        "|" + "---|" * 12,
    ]
    for size in sizes:
        for seed in seeds:
            rig = realistic_rig(size, seed)
            true = rig.profile()
            renderer = PhotoRigRenderer(rig, picture)
            frames = [renderer.render(m) for m in turns]
            t0 = time.perf_counter()
            result = calibrate_rig(frames, rig.frame_size, photometric=False)
            t_cal = time.perf_counter() - t0
            frame, truth = renderer.render(unseen), renderer.ground_truth(rig.frame_size, unseen)
            rows = band_rows(rig.frame_size[1])
            ours = psnr(StitchPlan.build(result.rig, rig.frame_size[0], compensate=False).apply(frame), truth, rows=rows)
            ideal = psnr(StitchPlan.build(true, rig.frame_size[0], compensate=False).apply(frame), truth, rows=rows)
            fov_map = [
                float(np.degrees(2.0 * undistort_theta(l.radius / e.focal, e.distortion))) - t.fov_deg
                for e, t, l in zip(result.rig.lenses, true.lenses, rig.lenses)
            ]
            fov_rep = [e.fov_deg - t.fov_deg for e, t in zip(result.rig.lenses, true.lenses)]
            centre = max(float(np.hypot(*np.subtract(e.center, t.center))) for e, t in zip(result.rig.lenses, true.lenses))
            rot = float(np.degrees(Rotation(result.rig.lenses[1].rotation().matrix.T @ true.lenses[1].rotation().matrix).angle))
            line = (
                f"| {size} | {seed} | {ours:.2f} | {ideal:.2f} | {ours - ideal:+.2f} | {fov_map[0]:+.3f}, {fov_map[1]:+.3f} "
                f"| {fov_rep[0]:+.3f}, {fov_rep[1]:+.3f} | {centre:.3f} | {rot:.4f} | {result.residual_deg:.4f} ({result.matches}) "
                f"| {result.motion_residual_deg:.4f} ({result.motion_tracks}) | {t_cal:.1f} |"
            )
            print(line, flush=True)
            lines.append(line)
    return lines


# ---- real frames ----------------------------------------------------------------------------
def _seam_crops(eq: np.ndarray) -> np.ndarray:
    """The two seam regions (±90° from the front axis, ±25° around the horizon), side by side."""
    h, w = eq.shape[:2]
    half = w // 12  # 30° wide
    rows = slice(int(h * (0.5 - 25 / 180)), int(h * (0.5 + 25 / 180)))
    crops = [eq[rows, (int(w * c) - half) % w : (int(w * c) - half) % w + 2 * half] for c in (0.25, 0.75)]
    return np.concatenate([crops[0], np.full((crops[0].shape[0], 8, 3), 255, np.uint8), crops[1]], axis=1)


def _describe(result) -> str:  # type: ignore[no-untyped-def]
    lenses = "; ".join(
        f"lens {i}: focal {l.focal:.1f} px, FOV {l.fov_deg:.2f}°, k1 {l.distortion[0]:+.4f}, centre ({l.center[0]:.1f}, {l.center[1]:.1f}), r {l.radius:.1f}"
        for i, l in enumerate(result.rig.lenses)
    )
    y, p, r = result.rig.lenses[1].rotation_ypr
    return (
        f"overlap {result.residual_deg:.4f}° ({result.matches} tracks), motion {result.motion_residual_deg:.4f}° "
        f"({result.motion_tracks} tracks); {lenses}; back ypr ({y:.2f}, {p:.2f}, {r:.2f})"
    )


def real() -> list[str]:
    samples: list[tuple[str, list[np.ndarray], np.ndarray | None]] = []
    fus = SAMPLES / "fusion3k"
    pairs = [open_photo(fus / f"GPFR0003_img{i}.jpg").frame for i in range(1, 6)]  # front | back, RGB
    samples.append(("fusion3k", pairs, _rgb(fus / "fusion2sphere_img1.jpg")))
    ph = SAMPLES / "fusion_photo"
    samples.append(("fusion_photo", [np.concatenate([_rgb(ph / "GF064364.jpeg"), _rgb(ph / "GB064364.jpeg")], axis=1)], None))
    samples.append(("theta_z1", [_rgb(SAMPLES / "theta_z1_dualfisheye.jpg")], None))
    lines = ["| sample | frames | size | calibration | calib s |", "|---|---|---|---|---|"]
    for name, frames, peer in samples:
        h, w = frames[0].shape[:2]
        t0 = time.perf_counter()
        try:
            result = calibrate_rig(frames, (w, h), nominal=RigProfile.nominal((w, h)), photometric=False)
            rig, found = result.rig, _describe(result) + "".join(f"; warning: {x}" for x in result.warnings)
        except CalibrationError as exc:
            rig, found = RigProfile.nominal((w, h)), f"FAILED: {exc.message} (nominal rig used)"
        t_cal = time.perf_counter() - t0
        width = min(4096, 2 * (w // 2))
        eq = StitchPlan.build(rig, width, compensate=False).apply(frames[0])
        _save(f"{name}_stitch.jpg", cv2.resize(eq, (min(width, 2048), min(width, 2048) // 2), interpolation=cv2.INTER_AREA))
        crops = _seam_crops(eq)
        if peer is not None:
            peer_eq = cv2.resize(peer, (eq.shape[1], eq.shape[0]), interpolation=cv2.INTER_AREA)
            crops = np.concatenate([crops, np.full((8, crops.shape[1], 3), 255, np.uint8), _seam_crops(peer_eq)], axis=0)
        _save(f"{name}_seams.png", crops)
        line = f"| {name} | {len(frames)} | {w}x{h} | {found} | {t_cal:.1f} |"
        print(line, flush=True)
        lines.append(line)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rigs", action="store_true", help="the realistic synthetic rigs")
    ap.add_argument("--real", action="store_true", help="the real camera frames")
    ap.add_argument("--sizes", default="480,960,1440,2880", help="lens sizes in px (comma separated)")
    ap.add_argument("--seeds", default="8101,8102", help="rig seeds (comma separated)")
    args = ap.parse_args()
    out = []
    if args.rigs or not args.real:
        out += rigs([int(s) for s in args.sizes.split(",")], [int(s) for s in args.seeds.split(",")]) + [""]
    if args.real or not args.rigs:
        out += real()
    print()
    print("\n".join(out))


if __name__ == "__main__":
    main()
