"""Photometry quality (issue 15): fitted compensation against the true one, no
compensation and FFmpeg v360, on rigs that do not write sRGB; and the real GoPro Fusion
3K frames beside fusion2sphere's stitch.

Run: ``.venv/bin/python bench/quality/photometry.py [--out DIR] [--markdown]``

**Generated rigs** (the forward model of tests/test_photometry.py, written apart from
the stitcher: a real photograph as the world, per-lens exposure, white balance and
falloff, sensor clipping, a flat or sRGB tone curve, optionally a near object seen 4°
apart by the two lenses across the seam), seeds never used while developing. Stage 3 of
the calibration (``_fit_photometry``) on 5 frames of a turning camera, on the rig's
geometry; judged on a frame it did not see. Figures: PSNR (dB) against the world at one
exposure after one global tone curve per channel (``quality.tone_matched``: the overall
exposure is free, seams and halos are not), rows within 60° of the equator; the seam
step of the no-reference report (code values, both lenses unclipped, keep_white off for
all so the figure compares the fitted photometry); frame brightness against the footage.

**Real frames** (../shared/samples/real/fusion3k): the rig self-calibrated from the five
frames, ours against the same stitch uncompensated and fusion2sphere's output: brightness
(mean luma weighted by solid angle) over the footage's, and the no-reference report's
seam step and mean |front - back| along the seam. Seam crops and whole frames are
written as PNG to ``--out`` to be looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # the rig generator lives with its tests

import orbit360.synthetic.photometry as gen  # noqa: E402
from run import V360  # noqa: E402

from orbit360.geometry import Rotation  # noqa: E402
from orbit360.profile import RigProfile  # noqa: E402
from orbit360.stitch import StitchPlan, calibrate_rig  # noqa: E402
from orbit360.stitch.calibrate import _fit_photometry  # noqa: E402
from orbit360.stitch.report import _frame_brightness, photometric_report, seam_crops  # noqa: E402
from orbit360.cameras import open_photo

SAMPLES = HERE.parents[2] / "shared" / "samples"
CASES = [
    # name, exposures, white balance per lens, falloff, flat curve, near object
    ("flat, 2 stops, WB apart", (1.0, 0.25), ((1.0, 1.0, 1.0), (1.1, 1.0, 0.85)), (-0.2, -0.05), True, False),
    ("flat, 1 stop, near object", (0.5, 1.0), ((1.0, 1.0, 1.0), (0.92, 1.0, 1.1)), (-0.3, 0.0), True, True),
    ("sRGB, 1.3 stops, near object", (0.4, 1.0), ((0.95, 1.0, 1.08), (1.0, 1.0, 1.0)), (-0.25, 0.0), False, True),
    ("sRGB, 2 stops, clipped sky", (1.0, 0.25), ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)), (-0.15, -0.05), False, False),
]
SEEDS = (8801, 8802)


def _f(x: float | None) -> str:
    """A figure, or n/a where no sample qualified (e.g. no two lenses agree anywhere)."""
    return "n/a" if x is None else f"{x:.2f}"


def synthetic(out: Path) -> list[str]:
    world = gen.load_world(SAMPLES / "real" / "theta_v_equirect.jpg")  # type: ignore[attr-defined]
    rows = [
        "| rig | seed | ours dB | true dB | uncompensated dB | v360 dB | ours − true | step ours / true / none | brightness | offset fitted (true) | trust |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, exposure, wb, falloff, flat, near in CASES:
        for seed in SEEDS:
            geometry = gen.photometry_geometry(seed)
            cam = gen.Camera(geometry, exposure, wb, falloff, gen.flat_curve if flat else gen.srgb_curve, near)
            frames = [cam.record(world, Rotation.from_ypr(35.0 * t, -6.0 * t, 0.0)) for t in np.linspace(0.0, 1.0, 5)]
            fit, _, _, _, stats = _fit_photometry(frames, geometry, RigProfile.nominal(gen.SIZE))
            turn = Rotation.from_ypr(13.0, -2.0, 0.0)
            frame, truth = cam.record(world, turn), cam.truth(world, turn)
            true_rig = cam.true_rig(gen.FLAT_GAMMA if flat else 2.4).replace(keep_white=fit.keep_white)
            imgs = {
                "ours": StitchPlan.build(fit, gen.SIZE[0]).apply(frame),
                "true": StitchPlan.build(true_rig, gen.SIZE[0]).apply(frame),
                "none": StitchPlan.build(fit, gen.SIZE[0], compensate=False).apply(frame),
            }
            lens = geometry.lenses[0]
            half_fov = lens.fov_deg * (gen.SIZE[1] / 2.0) / lens.radius
            imgs["v360"] = V360(gen.SIZE, gen.SIZE, half_fov)(frame)
            score = {k: gen.score_after_tone_curve(v, truth) for k, v in imgs.items()}
            steps = [photometric_report(r.replace(keep_white=False), [frame])["seam_step_max_codes"] for r in (fit, true_rig)]
            none_rig = fit.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in fit.lenses))
            steps.append(photometric_report(none_rig, [frame])["seam_step_max_codes"])
            bright = _frame_brightness(imgs["ours"]) / _frame_brightness(imgs["none"])
            true_offset = gen.FLAT_OFFSET if flat else 0.055
            rows.append(
                f"| {name} | {seed} | {score['ours']:.2f} | {score['true']:.2f} | {score['none']:.2f} | {score['v360']:.2f} | "
                f"{score['ours'] - score['true']:+.2f} | {' / '.join(_f(x) for x in steps)} | {bright:.3f} | "
                f"{stats['response'][1]:.3f} ({true_offset}) | {stats['trust']:.2f} |"
            )
            print(rows[-1], flush=True)
            if seed == SEEDS[0]:
                strip = np.concatenate([imgs["ours"], imgs["none"], truth], axis=0)
                cv2.imwrite(str(out / f"synthetic_{name.split(',')[0]}_{seed}.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return rows


def real(out: Path) -> list[str]:
    folder = SAMPLES / "real" / "fusion3k"
    frames, peers = [], []
    for i in range(1, 6):
        frames.append(open_photo(folder / f"GPFR0003_img{i}.jpg").frame)  # front | back, RGB
        peers.append(cv2.cvtColor(cv2.imread(str(folder / f"fusion2sphere_img{i}.jpg")), cv2.COLOR_BGR2RGB))
    size = (frames[0].shape[1], frames[0].shape[0])
    result = calibrate_rig(frames, size, nominal=RigProfile.nominal(size, fov_deg=190.0))
    rig = result.rig
    rig.save(out / "fusion3k_rig.json")
    none_rig = rig.replace(lenses=tuple(l.replace(exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses))
    rows = [
        "| frame | ours / footage | fusion2sphere / footage | step ours (uncompensated) | mean abs diff ours (uncompensated) | rejected clipped / parallax |",
        "|---|---|---|---|---|---|",
    ]
    width = 3072
    plan, plain = StitchPlan.build(rig, width), StitchPlan.build(rig, width, compensate=False)
    for i, (frame, peer) in enumerate(zip(frames, peers)):
        ours, none = plan.apply(frame), plain.apply(frame)
        foot = _frame_brightness(none)
        rep = photometric_report(rig, [frame])
        rep0 = photometric_report(none_rig, [frame])
        rows.append(
            f"| img{i + 1} | {_frame_brightness(ours) / foot:.3f} | {_frame_brightness(peer) / foot:.3f} | "
            f"{_f(rep['seam_step_max_codes'])} ({_f(rep0['seam_step_max_codes'])}) | {_f(rep['seam_mean_abs_difference_codes'])} "
            f"({_f(rep0['seam_mean_abs_difference_codes'])}) | {100 * rep['rejected_clipped_fraction']:.0f}% / {100 * rep['rejected_parallax_fraction']:.0f}% |"
        )
        print(rows[-1], flush=True)
        small = [cv2.resize(x, (1536, 768), interpolation=cv2.INTER_AREA) for x in (ours, none, cv2.resize(peer, (width, width // 2)))]
        cv2.imwrite(str(out / f"fusion3k_img{i + 1}_ours_none_peer.png"), cv2.cvtColor(np.concatenate(small, axis=0), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(out / f"fusion3k_img{i + 1}_seams.png"), cv2.cvtColor(seam_crops(rig, frame, width=width), cv2.COLOR_RGB2BGR))
    summary = photometric_report(rig, frames)
    (out / "fusion3k_report.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows.append("")
    rows.append(f"calibration: {result.summary().splitlines()[-1] if result.warnings else ''}")
    rows.append(f"fit: {json.dumps(summary['fit'])}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/orbit360-photometry-bench"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--only", choices=["synthetic", "real"])
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    lines = []
    if a.only != "real":
        lines += synthetic(a.out)
    if a.only != "synthetic":
        lines += [""] + real(a.out)
    if a.markdown:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
