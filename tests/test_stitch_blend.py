"""Blending and seams: exact photometric compensation, multi-band blend, the seam tracker."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.metrics import band_rows, psnr
from orbit360.stitch import StitchPlan
from orbit360.stitch.blend import SeamTracker, laplacian_blend
from orbit360.stitch.plan import DECODE_LUT, apply_gain, gain_index
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
    difference that leaves it whole (on the first frame at once, then a bounded step per
    frame as the scene changes) and holds still."""
    from orbit360.stitch._ring import lens_project

    rig = misaligned_rig(SIZE, seed=7304, misalign_deg=0.5, exposure_stops=1.0)
    renderer = RigRenderer(rig, scene)
    plan = StitchPlan.build(rig, SIZE[0])
    tracker = SeamTracker(plan)
    frame = renderer.render()
    cols = np.arange(int(tracker.width * 0.30), int(tracker.width * 0.36))
    geo = tracker.seam_rows[cols].mean()
    top, bottom = geo - 1.5, geo + 1.5  # the object spans 3 ring rows around the seam (inside the blend band)
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 256, (64, 400, 3)).astype(np.uint8)
    az = np.linspace(cols[0], cols[-1] + 1, 400) / tracker.width * 2 * np.pi
    rows = np.linspace(top, bottom, 64)
    eps = tracker.row_to_eps(rows)
    for lens, shift in zip(rig.lenses, (0, 12)):  # 12 texture columns of parallax
        a, e = np.meshgrid(az, eps)
        d = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
        xy, valid, _ = lens_project(lens, d)
        tex = np.roll(texture, shift, axis=1).reshape(-1, 3)
        for (x, y), c in zip(xy[valid].astype(int), tex[valid]):
            frame[y : y + 2, x : x + 2] = c
    geo_cost = tracker.difference(frame)[np.round(tracker.seam_rows[cols]).astype(int), cols].mean()
    steps = []
    prev = tracker.seam_rows.copy()
    for _ in range(20):
        tracker.update(frame)
        steps.append(float(np.abs(tracker.seam_rows - prev).max()))
        prev = tracker.seam_rows.copy()
    inner = cols[3:-3]
    path = tracker.seam_rows[inner]
    assert np.all((path <= top + 0.5) | (path >= bottom - 0.5)), (path, top, bottom)
    new_cost = tracker.difference(frame)[np.round(tracker.seam_rows[cols]).astype(int), cols].mean()
    assert new_cost < 0.5 * geo_cost
    # the first frame takes its path whole (nothing shown yet to be stable with); from then
    # on the seam moves a bounded step per frame
    assert max(steps[1:]) <= tracker.max_step_rows + 1e-9
    assert steps[-1] == 0.0  # converged: no flicker on a still scene
    # and after a cut (reset) the next frame's seam avoids the object at once
    tracker.reset()
    tracker.update(frame)
    assert np.all((tracker.seam_rows[inner] <= top + 0.5) | (tracker.seam_rows[inner] >= bottom - 0.5))
    out = plan.apply(frame, seam=tracker.row_to_eps(tracker.seam_rows))
    assert out.shape == (SIZE[1], SIZE[0], 3)


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
    # the seam stays within a couple of ring rows of the geometric one
    assert np.abs(tracker.seam_rows - tracker._geo).max() <= 3.0


def test_plan_with_tracked_seam_matches_a_separate_tracker(scene) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig(SIZE, seed=7306, misalign_deg=0.4, exposure_stops=1.0)
    renderer = RigRenderer(rig, scene)
    tracked = StitchPlan.build(rig, SIZE[0], seam="tracked")
    plain = StitchPlan.build(rig, SIZE[0])
    tracker = SeamTracker(plain)
    motion = pan_motion(25.0)
    for i in range(3):
        frame = renderer.render(motion(i / 30))
        np.testing.assert_array_equal(tracked.apply(frame), plain.apply(frame, seam=tracker.update(frame)))
    tracked.reset_seam()
    with pytest.raises(ValueError, match="tracked"):
        StitchPlan.build(rig, SIZE[0], blend="feather", seam="tracked")
    with pytest.raises(ValueError, match="columns"):
        plain.apply(frame, seam=np.zeros(7))
