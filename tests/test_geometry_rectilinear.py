"""Rectilinear and stereographic projections: round trips, FOV meaning, and each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbit360.geometry.rectilinear import dirs_to_rectilinear, pixel_centres, rectilinear_grid_rays, rectilinear_to_dirs
from orbit360.geometry.stereographic import dirs_to_stereographic, stereographic_grid_rays, stereographic_to_dirs

SIZE = (640, 360)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


@settings(max_examples=60, deadline=None)
@given(
    fov=st.floats(10, 170),
    x=st.floats(0, SIZE[0] - 1e-6),
    y=st.floats(0, SIZE[1] - 1e-6),
)
def test_rectilinear_round_trip(fov: float, x: float, y: float) -> None:
    dirs = rectilinear_to_dirs([[x, y]], SIZE, fov)
    assert np.linalg.norm(dirs[0]) == pytest.approx(1.0)
    xy, valid = dirs_to_rectilinear(dirs, SIZE, fov)
    assert valid[0]
    np.testing.assert_allclose(xy[0], [x, y], atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    fov=st.floats(10, 350),
    x=st.floats(0, SIZE[0] - 1e-6),
    y=st.floats(0, SIZE[1] - 1e-6),
)
def test_stereographic_round_trip(fov: float, x: float, y: float) -> None:
    dirs = stereographic_to_dirs([[x, y]], SIZE, fov)
    assert np.linalg.norm(dirs[0]) == pytest.approx(1.0)
    xy, valid = dirs_to_stereographic(dirs, SIZE, fov)
    assert valid[0]
    np.testing.assert_allclose(xy[0], [x, y], atol=1e-6)


@pytest.mark.parametrize("to_dirs", [rectilinear_to_dirs, stereographic_to_dirs])
def test_axes_and_horizontal_fov(to_dirs) -> None:
    w, h = SIZE
    fov = 100.0
    centre, right_edge, left_edge, above = to_dirs([[w / 2, h / 2], [w, h / 2], [0, h / 2], [w / 2, 0]], SIZE, fov)
    np.testing.assert_allclose(centre, [0, 0, 1], atol=1e-12)
    # The full width spans the FOV, split evenly either side of +z, right edge towards +x.
    assert angle_between(centre, right_edge) == pytest.approx(fov / 2)
    assert angle_between(centre, left_edge) == pytest.approx(fov / 2)
    assert right_edge[0] > 0 > left_edge[0] and abs(right_edge[1]) < 1e-12
    assert above[1] > 0 and abs(above[0]) < 1e-12  # image top is +y (up)


def test_stereographic_covers_more_than_a_hemisphere() -> None:
    # A little planet at 300 degrees shows rays pointing backwards at the edges.
    edge = stereographic_to_dirs([[SIZE[0], SIZE[1] / 2]], SIZE, 300.0)[0]
    assert angle_between(edge, np.array([0.0, 0.0, 1.0])) == pytest.approx(150.0)
    assert edge[2] < 0


def test_directions_outside_the_view_are_invalid() -> None:
    dirs = np.array([[0, 0, -1.0], [1.0, 0, 0], [0, 0, 1.0], [0.9, 0, 0.1]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    xy, valid = dirs_to_rectilinear(dirs, SIZE, 90.0)
    assert valid.tolist() == [False, False, True, False]
    assert np.isnan(xy[0]).all() and np.isnan(xy[1]).all()
    xy, valid = dirs_to_stereographic(dirs, SIZE, 90.0)
    assert valid.tolist() == [False, False, True, False]  # -z maps to infinity
    assert np.isnan(xy[0]).all()


def test_both_projections_share_azimuth_and_agree_near_the_centre() -> None:
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(500, 3))
    dirs[:, 2] = np.abs(dirs[:, 2]) + 0.5
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    centre = np.array([SIZE[0] / 2, SIZE[1] / 2])
    rect, _ = dirs_to_rectilinear(dirs, SIZE, 90.0)
    # Same focal length: stereographic f = (w/2) / (2 tan(fov/4)) equals rectilinear's when
    # 2 tan(fov_s / 4) = tan(45 deg), i.e. fov_s = 4 atan(1/2).
    stereo, _ = dirs_to_stereographic(dirs, SIZE, float(np.degrees(4 * np.arctan(0.5))))
    a, b = rect - centre, stereo - centre
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    assert np.max(np.abs(cross) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)) < 1e-9
    assert np.all(np.sum(a * b, axis=1) >= 0)
    # r_rect = f tan(theta), r_stereo = 2 f tan(theta / 2): equal to first order in theta.
    theta = np.arccos(dirs[:, 2])
    ratio = np.linalg.norm(a, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-12)
    np.testing.assert_allclose(ratio, np.tan(theta) / (2 * np.tan(theta / 2)), rtol=1e-9)
    near = theta < np.radians(3)
    assert np.all(np.abs(ratio[near] - 1) < 2e-3)


def test_pixel_centres_are_at_half_integers() -> None:
    grid = pixel_centres((4, 2))
    assert grid.shape == (2, 4, 2)
    np.testing.assert_array_equal(grid[0, 0], [0.5, 0.5])
    np.testing.assert_array_equal(grid[1, 3], [3.5, 1.5])


@pytest.mark.parametrize("fov", [0.0, 180.0, -5.0])
def test_impossible_rectilinear_fov_is_refused(fov: float) -> None:
    with pytest.raises(ValueError, match="FOV"):
        rectilinear_to_dirs([[0, 0]], SIZE, fov)


@pytest.mark.parametrize(
    ("grid_rays", "to_dirs", "fov"),
    [(rectilinear_grid_rays, rectilinear_to_dirs, 75.0), (stereographic_grid_rays, stereographic_to_dirs, 290.0)],
)
def test_grid_rays_point_like_the_projection(grid_rays, to_dirs, fov) -> None:
    size = (96, 54)
    rays = grid_rays(size, fov).astype(np.float64)
    assert rays.shape == (54, 96, 3)
    unit = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    np.testing.assert_allclose(unit, to_dirs(pixel_centres(size), size, fov), atol=1e-6)
