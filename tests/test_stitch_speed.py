"""The fast stitch path keeps the quality: fixed-point compensation, int16 multi-band
blending, geometric-seam band rectangles, thread-local scratch (correctness, not timings)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import orbit360.stitch.gains as gains_mod
import orbit360.stitch.plan as plan_mod
from orbit360.stitch import StitchPlan
from orbit360.stitch.blend import laplacian_blend, laplacian_blend_u8, mask_pyramid
from orbit360.stitch.gains import DECODE_LUT, SourceGain
from orbit360.synthetic import RigRenderer, linear_to_srgb, make_scene, misaligned_rig

SIZE = (1280, 640)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene(1024, seed=404)


def test_source_gain_within_one_code_of_exact_srgb() -> None:
    rng = np.random.default_rng(11)
    values = rng.integers(0, 256, (300, 200, 3)).astype(np.uint8)
    gains = np.exp2(rng.uniform(-4.0, 4.0, (300, 200, 3)))
    mult = np.round(np.power(gains, 1 / 2.4) * (1 << gains_mod._A_BITS)).astype(np.uint16)
    got = SourceGain(mult).apply(values, np.empty_like(values)).astype(int)
    want = np.round(linear_to_srgb(np.clip(DECODE_LUT[values] * gains, 0.0, 1.0)) * 255.0).astype(int)
    assert np.abs(got - want).max() <= 1
    ones = np.full(values.shape, 1 << gains_mod._A_BITS, np.uint16)
    assert np.abs(SourceGain(ones).apply(values, np.empty_like(values)).astype(int) - values).max() <= 1


def test_int16_multiband_matches_float_blend() -> None:
    rng = np.random.default_rng(12)
    a = rng.integers(0, 256, (96, 160, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) // 2 + rng.integers(0, 100, a.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 160), np.float32)
    mask[:, :70] = 1.0
    mask[30:60, 60:90] = 1.0
    want = np.clip(laplacian_blend(a.astype(np.float32), b.astype(np.float32), mask, 4) + 0.5, 0, 255)
    got = laplacian_blend_u8(a, b, mask_pyramid(mask, 4))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    # weights of 0 or 1 everywhere give the layers back exactly
    np.testing.assert_array_equal(laplacian_blend_u8(a, b, mask_pyramid(np.ones((96, 160)), 4)), a)
    inner = (slice(8, 40), slice(16, 100))
    np.testing.assert_array_equal(laplacian_blend_u8(a, b, mask_pyramid(mask, 4), inner=inner), got[inner])


def test_geometric_seam_bands_match_a_wide_band(scene: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = misaligned_rig(SIZE, seed=4041, misalign_deg=0.8, exposure_stops=1.0)
    frame = RigRenderer(rig, scene).render()
    plan = StitchPlan.build(rig, SIZE[0])
    narrow = plan.apply(frame)
    raw_narrow = StitchPlan.build(rig, SIZE[0], compensate=False).apply(frame)
    monkeypatch.setattr(plan_mod, "_SEAM_REACH", 16.0)
    monkeypatch.setattr(plan_mod, "_SEAM_PAD_Y", 1.0)
    wide = StitchPlan.build(rig, SIZE[0]).apply(frame)
    assert np.abs(narrow.astype(int) - wide.astype(int)).max() <= 1
    # without compensation (a 1-stop gap for the low bands to spread): within 3 code
    # values, more than 2 on a handful of pixels (the half padding above and below)
    raw_wide = StitchPlan.build(rig, SIZE[0], compensate=False).apply(frame)
    d = np.abs(raw_narrow.astype(int) - raw_wide.astype(int))
    assert d.max() <= 3 and (d > 2).mean() < 1e-4
    area = sum((b.py1 - b.py0) * (b.px1 - b.px0) for b in plan.seam_bands) / (SIZE[0] * SIZE[1])
    assert 0 < area < 0.3


def test_apply_in_threads_and_band_by_band(scene: np.ndarray) -> None:
    rig = misaligned_rig(SIZE, seed=4042, exposure_stops=1.0)
    renderer = RigRenderer(rig, scene)
    frames = [renderer.render(), renderer.render()[:, ::-1].copy()]
    for blend in ("multiband", "feather"):
        plan = StitchPlan.build(rig, SIZE[0], blend=blend)
        serial = [plan.apply(f) for f in frames]
        with ThreadPoolExecutor(2) as pool:
            threaded = list(pool.map(plan.apply, frames * 3))
        for i, out in enumerate(threaded):
            np.testing.assert_array_equal(out, serial[i % 2])
        b = plan.bands[0]
        got = plan.blend_band(frames[0], b) if blend == "feather" else None
        if got is not None:
            np.testing.assert_array_equal(got, serial[0][b.y0 : b.y1, b.x0 : b.x1])
    # a plan travels by pickle (thread-local scratch rebuilt on the other side)
    import pickle

    again = pickle.loads(pickle.dumps(plan))
    np.testing.assert_array_equal(again.apply(frames[0]), serial[0])
    # a plan without photometry compensates nothing
    neutral = StitchPlan.build(misaligned_rig(SIZE, seed=4043, exposure_stops=0.0).replace(
        lenses=tuple(l.replace(vignetting=(0.0, 0.0, 0.0), color_gain=(1.0, 1.0, 1.0), exposure=1.0) for l in rig.lenses)), SIZE[0])
    assert neutral.source_gain is None and not neutral.compensating


@pytest.mark.parametrize("width, step", [(1440, 2), (2880, 3), (4096, 4)])
def test_interpolated_lens_maps_match_exact_projection(width: int, step: int) -> None:
    """Large plans project every 2nd to 4th pixel (more apart on wider outputs) and
    interpolate: within 0.02 px of projecting every pixel (fixed-point maps resolve 1/32
    px), over the poles and across the wrap, also through a distorted (k1..k4) lens."""
    from orbit360.stitch.plan import _geometry_step, _LensGrid

    size = (width, width // 2)
    rig = misaligned_rig(size, seed=12, misalign_deg=1.0)
    assert _geometry_step(size[0]) == step
    for lens in (*rig.lenses, rig.lenses[1].replace(distortion=(0.05, -0.02, 0.004, -0.0003))):
        coarse = (np.empty(size[::-1], np.float32), np.empty(size[::-1], np.float32))
        exact = (np.empty(size[::-1], np.float32), np.empty(size[::-1], np.float32))
        grid = _LensGrid.project(lens, size, step)
        # in row chunks that do not line up with the grid (the plan's are 256 rows)
        t_coarse = np.concatenate([grid.rows(y0, min(size[1], y0 + 97), coarse) for y0 in range(0, size[1], 97)])
        t1 = _LensGrid.project(lens, size, 1).rows(0, size[1], exact)
        whole = np.empty_like(t_coarse)
        whole_maps = (np.empty_like(coarse[0]), np.empty_like(coarse[1]))
        whole[:] = grid.rows(0, size[1], whole_maps)  # chunks give what the whole grid gives
        np.testing.assert_array_equal(t_coarse, whole)
        np.testing.assert_array_equal(coarse[0], whole_maps[0])
        seen = t1 <= lens.max_theta
        err = np.maximum(np.abs(coarse[0] - exact[0]), np.abs(coarse[1] - exact[1]))[seen]
        assert err.max() < 0.02
        assert np.degrees(np.abs(t_coarse - t1)[seen & (t1 > np.radians(5))]).max() < 0.01
        assert seen[0].any() and seen[:, 0].any()  # the checked area reaches a pole and the wrap


def test_near_marks_pixels_within_reach_of_a_side_change() -> None:
    """The seam zone: Chebyshev distance <= reach from a pixel whose 4-neighbour lies on
    the other side; the frame's border is no change."""
    from orbit360.stitch.plan import _near

    side = np.zeros((40, 60), bool)
    side[:, :25] = True  # a vertical change between columns 24 and 25
    side[30:, 50] = True  # and a short one near the bottom right
    got = _near(side, 3)
    ys, xs = np.mgrid[0:40, 0:60]
    edge = np.zeros_like(side)
    edge[:, 1:] |= side[:, 1:] != side[:, :-1]
    edge[:, :-1] |= side[:, 1:] != side[:, :-1]
    edge[1:] |= side[1:] != side[:-1]
    edge[:-1] |= side[1:] != side[:-1]
    ey, ex = np.nonzero(edge)
    want = (np.maximum(np.abs(ys[..., None] - ey), np.abs(xs[..., None] - ex)) <= 3).any(-1)
    assert got.dtype == bool and np.array_equal(got, want)
    assert got[:, 21:29].all() and not got[:20, 29:46].any() and not _near(np.ones((9, 9), bool), 2).any()
