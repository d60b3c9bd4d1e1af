"""StitchPlan: the true profile reconstructs the ground-truth scene (PSNR >= 30 dB)."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.metrics import band_rows, psnr
from orbit360.profile import RigProfile
from orbit360.stitch import StitchPlan
from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig, pan_motion


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene(1024, seed=21)


@pytest.mark.parametrize("seed,exposure_stops", [(101, 0.0), (202, 1.0)])
def test_true_profile_psnr(scene: np.ndarray, seed: int, exposure_stops: float) -> None:
    rig = misaligned_rig((1280, 640), seed=seed, misalign_deg=0.8, center_offset_px=4.0, exposure_stops=exposure_stops)
    renderer = RigRenderer(rig, scene)
    plan = StitchPlan.build(rig, 1280)
    orientation = pan_motion(20.0)(0.7)
    out = plan.apply(renderer.render(orientation))
    gt = renderer.ground_truth((1280, 640), orientation)
    assert psnr(out, gt, rows=band_rows(640)) >= 30.0


def test_plan_is_reused_and_band_covers_every_mixed_pixel(scene: np.ndarray) -> None:
    rig = misaligned_rig((640, 320), seed=5)
    plan = StitchPlan.build(rig, 640)
    mixed = (plan.weight > 0) & (plan.weight < 1)
    covered = np.zeros_like(mixed)
    for b in plan.bands:
        covered[b.y0 : b.y1, b.x0 : b.x1] = True
    assert mixed.any() and not (mixed & ~covered).any()
    # the band is a small part of the picture: most pixels are a plain copy
    assert covered.mean() < 0.35
    renderer = RigRenderer(rig, scene)
    a = plan.apply(renderer.render())
    b = plan.apply(renderer.render())
    np.testing.assert_array_equal(a, b)


def test_wrong_profile_scores_far_lower(scene: np.ndarray) -> None:
    """The PSNR figure can fail: a nominal profile on a misaligned rig scores much lower."""
    rig = misaligned_rig((1280, 640), seed=7, misalign_deg=1.0, center_offset_px=5.0, exposure_stops=1.0)
    renderer = RigRenderer(rig, scene)
    frame = renderer.render()
    gt = renderer.ground_truth((1280, 640))
    good = psnr(StitchPlan.build(rig, 1280).apply(frame), gt, rows=band_rows(640))
    bad = psnr(StitchPlan.build(RigProfile.nominal((1280, 640), fill=0.98), 1280).apply(frame), gt, rows=band_rows(640))
    assert good - bad > 8.0
