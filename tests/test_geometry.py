"""Round trips between every pair of geometry representations, plus fixed known values."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.geometry import (
    FisheyeModel,
    Rotation,
    dirs_to_equirect,
    dirs_to_fisheye,
    equirect_grid_dirs,
    equirect_to_dirs,
    fisheye_to_dirs,
    matrix_to_quaternion,
    matrix_to_ypr,
    quaternion_to_matrix,
    slerp,
    ypr_to_matrix,
)

rng = np.random.default_rng(12345)


def random_dirs(n: int) -> np.ndarray:
    d = rng.standard_normal((n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_equirect_known_directions() -> None:
    size = (360, 180)
    # centre of the image looks forward (+z); quarter width right looks +x; top row looks up
    np.testing.assert_allclose(equirect_to_dirs([180.0, 90.0], size), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(equirect_to_dirs([270.0, 90.0], size), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(equirect_to_dirs([90.0, 90.0], size), [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(equirect_to_dirs([10.0, 0.0], size), [0, 1, 0], atol=1e-12)


def test_equirect_round_trip() -> None:
    size = (4096, 2048)
    xy = rng.uniform([0, 1], [4096, 2047], (1000, 2))
    back = dirs_to_equirect(equirect_to_dirs(xy, size), size)
    np.testing.assert_allclose(back, xy, atol=1e-7)
    d = random_dirs(1000)
    np.testing.assert_allclose(equirect_to_dirs(dirs_to_equirect(d, size), size), d, atol=1e-12)


def test_equirect_grid_matches_pointwise() -> None:
    size = (64, 32)
    grid = equirect_grid_dirs(size)
    ys, xs = np.mgrid[0:32, 0:64] + 0.5
    np.testing.assert_allclose(grid, equirect_to_dirs(np.stack([xs, ys], -1), size), atol=1e-12)


@pytest.mark.parametrize("k", [(0, 0, 0, 0), (0.02, -0.005, 0.001, -0.0002), (-0.03, 0.004, 0, 0)])
def test_fisheye_round_trip(k: tuple[float, float, float, float]) -> None:
    model = FisheyeModel(640.5, 320.25, 190.0, k)
    d = random_dirs(2000)
    xy, valid = dirs_to_fisheye(d, model, max_theta=np.radians(97.5))
    back, valid2 = fisheye_to_dirs(xy[valid], model)
    assert valid2.all()
    np.testing.assert_allclose(back, d[valid], atol=1e-9)
    assert 0.4 < valid.mean() < 0.6  # a 195° lens sees a bit more than half the sphere


def test_fisheye_equidistant_known_values() -> None:
    model = FisheyeModel(100.0, 100.0, 50.0)
    xy, _ = dirs_to_fisheye(np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]]), model)
    # the axis lands at the centre; 90° off axis lands focal * pi/2 away (right, and up = -y)
    np.testing.assert_allclose(xy, [[100, 100], [100 + 50 * np.pi / 2, 100], [100, 100 - 50 * np.pi / 2]], atol=1e-9)


def test_ypr_convention() -> None:
    fwd = np.array([0, 0, 1.0])
    np.testing.assert_allclose(Rotation.from_ypr(90, 0, 0)(fwd), [1, 0, 0], atol=1e-12)  # yaw right
    np.testing.assert_allclose(Rotation.from_ypr(0, 90, 0)(fwd), [0, 1, 0], atol=1e-12)  # pitch up
    # positive roll: the camera's right side goes down
    np.testing.assert_allclose(Rotation.from_ypr(0, 0, 90)([1.0, 0, 0]), [0, -1, 0], atol=1e-12)


def test_rotation_round_trips_between_all_forms() -> None:
    for _ in range(200):
        y, p, r = rng.uniform([-179, -89, -179], [179, 89, 179])
        m = ypr_to_matrix(y, p, r)
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(m) == pytest.approx(1.0)
        np.testing.assert_allclose(matrix_to_ypr(m), (y, p, r), atol=1e-8)
        q = matrix_to_quaternion(m)
        np.testing.assert_allclose(quaternion_to_matrix(q), m, atol=1e-12)
        rot = Rotation.from_quaternion(q)
        np.testing.assert_allclose(rot.as_ypr(), (y, p, r), atol=1e-8)
        np.testing.assert_allclose(Rotation.from_ypr(*rot.as_ypr()).as_quaternion(), q, atol=1e-10)


def test_rotation_inverse_and_compose() -> None:
    a = Rotation.from_ypr(30, -20, 5)
    b = Rotation.from_ypr(-100, 45, 60)
    d = random_dirs(50)
    np.testing.assert_allclose(a.inverse(a(d)), d, atol=1e-12)
    np.testing.assert_allclose((a @ b)(d), a(b(d)), atol=1e-12)
    assert (a @ a.inverse).angle == pytest.approx(0.0, abs=1e-7)


def test_slerp_halfway_and_endpoints() -> None:
    q0 = Rotation.identity().as_quaternion()
    q1 = Rotation.from_axis_angle([0, 1, 0], 80, degrees=True).as_quaternion()
    mid = Rotation.from_quaternion(slerp(q0, q1, 0.5))
    assert np.degrees(mid.angle) == pytest.approx(40.0)
    np.testing.assert_allclose(slerp(q0, q1, [0.0, 1.0]), [q0, q1], atol=1e-12)
