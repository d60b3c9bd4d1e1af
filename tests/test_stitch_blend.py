"""Blending and seams: exact photometric compensation, multi-band blend, the seam tracker."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.metrics import band_rows, psnr
from orbit360.stitch import StitchPlan
from orbit360.stitch.blend import SeamTracker, laplacian_blend
from orbit360.stitch.gains import DECODE_LUT, apply_gain, gain_index
from orbit360.stitch.quality import seam_step
from orbit360.synthetic import RigRenderer, linear_to_srgb, make_scene, misaligned_rig, pan_motion

SIZE = (1280, 640)
ROWS = band_rows(640)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene(1024, seed=727)


def test_gain_table_matches_srgb_maths() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 256, (200, 3)).astype(np.uint8)
    gains = np.exp2(rng.uniform(-3.0, 3.0, (200, 3)))
    got = apply_gain(values, gain_index(gains)).astype(int)
    want = np.round(linear_to_srgb(DECODE_LUT[values] * gains) * 255.0).astype(int)
    assert np.abs(got - want).max() <= 1
    assert np.array_equal(apply_gain(values, gain_index(np.ones((200, 3)))), values)


def test_laplacian_blend_reconstructs_and_transitions_smoothly() -> None:
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 255, (64, 96, 3)).astype(np.float32)
    ones = np.ones((64, 96), np.float32)
    np.testing.assert_allclose(laplacian_blend(a, a * 0.0, ones, 4), a, atol=1e-3)
    # two flat images and a sharp seam: the low band spreads the step over several pixels
    lo, hi = np.full((32, 64, 3), 50.0, np.float32), np.full((32, 64, 3), 150.0, np.float32)
    mask = np.zeros((32, 64), np.float32)
    mask[:, 32:] = 1.0
    row = laplacian_blend(hi, lo, mask, 3)[16, :, 0]
    assert np.all(np.diff(row) >= -1e-3) and row[0] == pytest.approx(50, abs=1) and row[-1] == pytest.approx(150, abs=1)
    assert (row[36] - row[28]) < 100.0 * 0.9  # not a hard step


@pytest.mark.parametrize("seed,stops", [(7301, 2.0), (7302, 0.0)])
def test_true_profile_exact_compensation_and_invisible_seam(scene, seed, stops) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig(SIZE, seed=seed, misalign_deg=0.9, center_offset_px=4.0, fov_deg=193.0, exposure_stops=stops)
    renderer = RigRenderer(rig, scene)
    frame, truth = renderer.render(), renderer.ground_truth(SIZE)
    for blend in ("multiband", "feather"):
        plan = StitchPlan.build(rig, SIZE[0], blend=blend)
        out = plan.apply(frame)
        assert psnr(out, truth, rows=ROWS) >= 42.0
        assert seam_step(out, truth, plan.weight >= 0.5, rows=ROWS) < 0.5
    # without compensation a 2-stop gap is a glaring step
    if stops:
        raw = StitchPlan.build(rig, SIZE[0], compensate=False)
        assert seam_step(raw.apply(frame), truth, raw.weight >= 0.5, rows=ROWS) > 10.0


def test_multiband_keeps_band_structure(scene) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig(SIZE, seed=7303)
    plan = StitchPlan.build(rig, SIZE[0])
    assert plan.blend == "multiband" and plan.levels >= 1
    mixed = (plan.weight > 0) & (plan.weight < 1)
    covered = np.zeros_like(mixed)
    for b in plan.bands:
        assert b.px0 <= b.x0 < b.x1 <= b.px1 and b.py0 <= b.y0 < b.y1 <= b.py1
        covered[b.y0 : b.y1, b.x0 : b.x1] = True
    assert not (mixed & ~covered).any() and covered.mean() < 0.35
    with pytest.raises(ValueError, match="blend"):
        StitchPlan.build(rig, SIZE[0], blend="poisson")


def test_seam_goes_around_a_parallax_object_and_does_not_flicker(scene) -> None:  # type: ignore[no-untyped-def]
    """A near object straddling the geometric seam lands at different places in the two
    lenses (parallax). The geometric seam cuts it; the tracked seam takes a path of low
    difference that leaves it whole (on the first frame at once: nothing shown yet to
    be stable with), then holds still on a still scene, and after a cut (reset) takes
    the same path again."""
    from orbit360.synthetic import ParallaxScene

    rig = misaligned_rig(SIZE, seed=7304, misalign_deg=0.5, exposure_stops=1.0)
    near = ParallaxScene(RigRenderer(rig, scene), radius_deg=1.6, parallax_deg=1.5)
    plan = StitchPlan.build(rig, SIZE[0])
    tracker = SeamTracker(plan)
    frame = near.render(91.5, 20.0)
    truths = near.truths(SIZE, 91.5, 20.0)
    region = np.zeros(plan.weight.shape, bool)
    rows = slice(int((90 - 25) / 180 * SIZE[1]), int((90 - 15) / 180 * SIZE[1]))
    region[rows] = ((plan.weight > 0) & (plan.weight < 1))[rows]
    first = tracker.update(frame).copy()
    assert np.abs(first).max() > 0  # off the geometric seam somewhere
    score = lambda out: max(psnr(out[region], t[region]) for t in truths)  # noqa: E731
    cut, whole = score(plan.apply(frame)), score(plan.apply(frame, seam=first))
    assert whole > cut + 1.0, (whole, cut)
    for _ in range(tracker.memory_frames):
        seam = tracker.update(frame)
    np.testing.assert_array_equal(seam, first)  # a still scene: no flicker
    tracker.reset()
    np.testing.assert_array_equal(tracker.update(frame), first)


def test_seam_tracker_on_clean_moving_footage_stays_put(scene) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig(SIZE, seed=7305, misalign_deg=0.3, exposure_stops=2.0)
    renderer = RigRenderer(rig, scene)
    plan = StitchPlan.build(rig, SIZE[0])
    tracker = SeamTracker(plan)
    motion = pan_motion(30.0)
    for i in range(6):
        o = motion(i / 30)
        seam = tracker.update(renderer.render(o))
        out = plan.apply(renderer.render(o), seam=seam)
        assert psnr(out, renderer.ground_truth(SIZE, o), rows=ROWS) >= 42.0
    # the seam stays on the geometric one but for a few columns (where the lenses see the
    # synthetic scene's poles differently), there within 3 ring rows
    assert np.abs(tracker.offsets).max() <= 3 * tracker.step + 1e-12
    assert np.mean(tracker.offsets == 0) > 0.9


def test_plan_with_tracked_seam_matches_a_separate_tracker(scene) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig(SIZE, seed=7306, misalign_deg=0.4, exposure_stops=1.0)
    renderer = RigRenderer(rig, scene)
    tracked = StitchPlan.build(rig, SIZE[0], seam="tracked")
    other = StitchPlan.build(rig, SIZE[0], seam="tracked")
    plain = StitchPlan.build(rig, SIZE[0])
    tracker = SeamTracker(other)
    motion = pan_motion(25.0)
    for i in range(3):
        frame = renderer.render(motion(i / 30))
        seam = tracker.update(frame)
        out = tracked.apply(frame)
        np.testing.assert_array_equal(out, other.apply(frame, seam=seam))
        # the tracked plan blends only the rectangles the seam departs in, over the
        # geometric seam's: the whole band blended with the same seam gives the same picture
        assert psnr(out, plain.apply(frame, seam=seam)) > 50.0
    tracked.reset()
    with pytest.raises(ValueError, match="tracked"):
        StitchPlan.build(rig, SIZE[0], blend="feather", seam="tracked")
    with pytest.raises(ValueError, match="columns"):
        plain.apply(frame, seam=np.zeros(7))
