"""Per-frame exposure following on the real GoPro Fusion 3K frames (issue 15): the seam
step of every frame with the calibration's fixed gains, with following, and with no
compensation; the cost of following at 2880 wide (RGB and yuv420p paths); seam crops
(full size) before/after as PNG.

    PYTHONPATH=src .venv/bin/python bench/quality/follow.py --out DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from orbit360.profile import RigProfile
from orbit360.stitch import StitchPlan, calibrate_rig
from orbit360.stitch.report import photometric_report, seam_crops
from orbit360.video._convert import rgb_to_yuv420p
from orbit360.cameras import open_photo



def _frames(folder: Path) -> list[np.ndarray]:
    # (the front and back stills side by side, RGB: ``open_photo`` finds the pair)
    return [open_photo(folder / f"GPFR0003_img{i}.jpg").frame for i in range(1, 6)]


def _ms(fn, n: int = 8) -> float:  # type: ignore[no-untyped-def]
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=Path, default=Path("/work/shared/samples/real/fusion3k"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frames = _frames(args.samples)
    size = (frames[0].shape[1], frames[0].shape[0])
    rig = calibrate_rig(frames, size, nominal=RigProfile.nominal(size, fov_deg=190.0)).rig
    plain = rig.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses))
    reps = {"fixed": photometric_report(rig, frames), "follow": photometric_report(rig, frames, follow=True), "none": photometric_report(plain, frames)}
    print("| frame | step fixed | step following | step uncompensated | mean abs diff fixed / following / none | brightness fixed / following | factors front, back |")
    print("|---|---|---|---|---|---|---|")
    for i in range(len(frames)):
        g = lambda k, f: reps[k][f][i]  # noqa: E731
        fa = reps["follow"]["follow_factors_per_frame"][i]
        print(
            f"| img{i + 1} | {g('fixed', 'seam_step_max_codes_per_frame'):.2f} | {g('follow', 'seam_step_max_codes_per_frame'):.2f} | "
            f"{g('none', 'seam_step_max_codes_per_frame'):.2f} | {g('fixed', 'seam_mean_abs_difference_codes_per_frame'):.2f} / "
            f"{g('follow', 'seam_mean_abs_difference_codes_per_frame'):.2f} / {g('none', 'seam_mean_abs_difference_codes_per_frame'):.2f} | "
            f"{g('fixed', 'brightness_vs_footage_per_frame'):.3f} / {g('follow', 'brightness_vs_footage_per_frame'):.3f} | {fa[0]:.3f}, {fa[1]:.3f} |"
        )
        for name, kw in (("fixed", {}), ("follow", {"follow": True})):
            tiles = seam_crops(rig, frames[i], **kw)
            cv2.imwrite(str(args.out / f"fusion3k_img{i + 1}_seams_{name}.png"), cv2.cvtColor(tiles, cv2.COLOR_RGB2BGR))
    # cost at 2880 wide
    frame = frames[4]
    yuv = rgb_to_yuv420p(frame)
    for follow in (False, True):
        plan = StitchPlan.build(rig, 2880, follow=follow)
        ys = plan.yuv420()
        print(f"2880 wide, following {follow}: RGB {_ms(lambda: plan.apply(frame)):.1f} ms, yuv420p {_ms(lambda: ys.apply(yuv)):.1f} ms")
        if follow:
            m = plan._follower.measure  # type: ignore[attr-defined]
            print(f"  measurement alone: RGB {_ms(lambda: m.measure_rgb(frame)):.1f} ms, Y plane {_ms(lambda: m.measure_luma(yuv[: frame.shape[0]])):.1f} ms ({m.samples} samples)")


if __name__ == "__main__":
    main()
