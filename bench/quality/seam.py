"""The tracked seam on the real GoPro Fusion 3K frames and on a synthetic near object
(issue 15, point 3): where the tracked seam leaves the geometric one, full-size crops of
both stitches side by side (geometric | tracked | tracked with its seam drawn), as PNG;
per frame the share of the ring the seam moved off the geometric one and the lenses'
mean difference along each seam (luma + chroma code values, the tracker's own measure).

The five real frames are not consecutive (seconds apart), so each is stitched as a photo
is: the tracker starts afresh (its first frame takes its path whole).

    PYTHONPATH=src .venv/bin/python bench/quality/seam.py --out DIR [--rig rig.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from orbit360.geometry import dirs_to_equirect
from orbit360.profile import RigProfile
from orbit360.stitch import StitchPlan, calibrate_rig
from orbit360.stitch.blend import SeamTracker
from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig
from orbit360.synthetic import ParallaxScene
from orbit360.cameras import open_photo


def _fusion(folder: Path) -> list[np.ndarray]:
    # (the front and back stills side by side, RGB: ``open_photo`` finds the pair)
    return [open_photo(folder / f"GPFR0003_img{i}.jpg").frame for i in range(1, 6)]


def _seam_pixels(plan: StitchPlan, tracker: SeamTracker, offsets: np.ndarray) -> np.ndarray:
    """Equirect (x, y) of the seam at every ring column."""
    phi = (np.arange(tracker.width) + 0.5) / tracker.width * 2.0 * np.pi
    eps = tracker.geo_eps + offsets
    d = np.stack([np.cos(eps) * np.cos(phi), np.cos(eps) * np.sin(phi), np.sin(eps)], -1)
    return dirs_to_equirect(d, plan.size)


def _mean_difference(tracker: SeamTracker, diff: np.ndarray, offsets: np.ndarray) -> float:
    rows = np.clip(np.round(offsets / tracker.step + tracker.centre).astype(int), 0, tracker.rows - 1)
    return float(diff[rows, np.arange(tracker.width)].mean())


def crops(name: str, rig: RigProfile, frame: np.ndarray, width: int, out: Path, count: int = 3, size: int = 256) -> str:
    plan = StitchPlan.build(rig, width)
    tracker = SeamTracker(plan)
    comp = plan.compensated(frame)
    diff = tracker.difference_rgb(comp)
    offsets = tracker.update_rgb(comp)
    geo, tracked = plan.apply(frame), plan.apply(frame, seam=offsets)
    w, h = plan.size
    line = _seam_pixels(plan, tracker, offsets)
    drawn = tracked.copy()
    pts = np.round(line).astype(np.int32)
    for a, b in zip(pts, np.roll(pts, -1, axis=0)):
        if abs(int(a[0]) - int(b[0])) < w // 2:  # (not across the longitude wrap)
            cv2.line(drawn, tuple(int(v) for v in a), tuple(int(v) for v in b), (255, 0, 0), 1)
    # crops where the seam moved furthest, a ring quarter apart at least
    order = np.argsort(-np.abs(offsets))
    picked: list[int] = []
    for c in order:
        if abs(offsets[c]) == 0 or len(picked) == count:
            break
        if all(min(abs(c - p), tracker.width - abs(c - p)) > tracker.width // 16 for p in picked):
            picked.append(int(c))
    tiles = []
    for c in picked:
        x, y = (int(v) for v in line[c])
        x0, y0 = int(np.clip(x - size // 2, 0, w - size)), int(np.clip(y - size // 2, 0, h - size))
        sl = (slice(y0, y0 + size), slice(x0, x0 + size))
        sep = np.full((size, 4, 3), 255, np.uint8)
        tiles.append(np.concatenate([geo[sl], sep, tracked[sl], sep, drawn[sl]], axis=1))
    if tiles:
        sheet = np.concatenate(sum(([t, np.full((4, t.shape[1], 3), 255, np.uint8)] for t in tiles), [])[:-1], axis=0)
        cv2.imwrite(str(out / f"{name}_seam_crops.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    moved = float(np.mean(offsets != 0))
    return (
        f"| {name} | {100 * moved:.0f}% | {np.degrees(np.abs(offsets).max()):.2f} | "
        f"{_mean_difference(tracker, diff, np.zeros_like(offsets)):.2f} | {_mean_difference(tracker, diff, offsets):.2f} | {len(tiles)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=Path, default=Path("/work/shared/samples/real/fusion3k"))
    ap.add_argument("--rig", type=Path, help="a calibrated rig (JSON) for the Fusion frames; calibrated and saved there when absent")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| frame | ring off the geometric seam | furthest (deg) | lens difference along the geometric seam | along the tracked seam | crops |")
    print("|---|---|---|---|---|---|")
    # synthetic: a near object straddling the seam
    rig = misaligned_rig((2048, 1024), seed=41, misalign_deg=0.4, fov_deg=196.0, exposure_stops=0.7)
    near = ParallaxScene(RigRenderer(rig, make_scene(2048, seed=9)), radius_deg=2.5, parallax_deg=1.8)
    print(crops("synthetic_near_object", rig, near.render(91.0, 30.0), 2048, args.out), flush=True)
    frames = _fusion(args.samples)
    size = (frames[0].shape[1], frames[0].shape[0])
    if args.rig is not None and args.rig.exists():
        rig = RigProfile.load(args.rig)
    else:
        rig = calibrate_rig(frames, size, nominal=RigProfile.nominal(size, fov_deg=190.0)).rig
        if args.rig is not None:
            rig.save(args.rig)
    for i, frame in enumerate(frames):
        print(crops(f"fusion3k_img{i + 1}", rig, frame, 3072, args.out), flush=True)


if __name__ == "__main__":
    main()
