"""The one home of rotation maths (geometry.rotation, geometry.quaternions), checked
against known values and against independent implementations (OpenCV's Rodrigues,
SciPy's Rotation)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation as SciRotation

from orbit360.geometry import Rotation, kabsch, matrix_to_quaternion, quaternion_to_matrix, slerp
from orbit360.geometry import quaternions as Q

RNG = np.random.default_rng(7)


def _random_quats(n: int) -> np.ndarray:
    q = RNG.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quaternion_matrix_known_values_and_scipy() -> None:
    h = np.sqrt(0.5)
    # 90 degrees about +y takes +z (forward) to +x (right)
    np.testing.assert_allclose(quaternion_to_matrix([h, 0, h, 0]), [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-15)
    q = _random_quats(200)
    scipy_m = SciRotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # SciPy is (x, y, z, w)
    np.testing.assert_allclose(Q.to_matrices(q), scipy_m, atol=1e-12)
    for qi, mi in zip(q[:50], scipy_m[:50]):
        np.testing.assert_allclose(quaternion_to_matrix(qi), mi, atol=1e-12)
        back = matrix_to_quaternion(mi)
        assert back[0] >= 0
        np.testing.assert_allclose(back, qi if qi[0] >= 0 else -qi, atol=1e-12)
    np.testing.assert_allclose(Q.from_matrices(scipy_m), np.where(q[:, :1] < 0, -q, q), atol=1e-12)


def test_rotation_vectors_against_rodrigues() -> None:
    axes = RNG.normal(size=(100, 3))
    v = axes / np.linalg.norm(axes, axis=1, keepdims=True) * RNG.uniform(0, 3.1, size=(100, 1))  # angles < pi
    v = np.concatenate([v, [[0.0, 0.0, 0.0], [1e-10, 0, 0], [0, 0, np.pi - 1e-9]]])
    m = Q.rotvec_to_matrix(v)
    for vi, mi in zip(v, m):
        np.testing.assert_allclose(mi, cv2.Rodrigues(vi)[0], atol=1e-12)
    np.testing.assert_allclose(Q.matrix_to_rotvec(m[:100]), v[:100], atol=1e-9)
    np.testing.assert_allclose(Q.to_rotvec(Q.from_rotvec(v[:100])), v[:100], atol=1e-12)


def test_slerp_known_values_and_arcs() -> None:
    q0 = Rotation.identity().as_quaternion()
    q80 = Rotation.from_axis_angle([0, 1, 0], 80, degrees=True).as_quaternion()
    mid = Rotation.from_quaternion(slerp(q0, q80, 0.5))
    assert abs(np.degrees(mid.angle) - 40.0) < 1e-10
    # q and -q are one rotation: the shortest arc ignores the sign ...
    np.testing.assert_allclose(slerp(q0, -q80, [0.25, 0.5]), slerp(q0, q80, [0.25, 0.5]), atol=1e-12)
    # ... the arc as given (squad's) goes the long way round: 140 degrees at the middle
    far = Q.slerp(q0, -q80, 0.5, shortest_arc=False)
    assert abs(np.degrees(Rotation.from_quaternion(far).angle) - 140.0) < 1e-9
    # row by row it equals the exp/log form a * exp(t log(a^-1 b)) and agrees with SciPy's
    a, b = _random_quats(300), _random_quats(300)
    t = RNG.uniform(0, 1, 300)
    b = np.where(np.sum(a * b, axis=1, keepdims=True) < 0, -b, b)
    expected = Q.qmul(a, Q.from_rotvec(t[:, None] * Q.to_rotvec(Q.qmul(Q.qconj(a), b))))
    got = Q.slerp(a, b, t)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(Q.slerp(a, a, t), a, atol=1e-12)  # no 0/0 at equal ends


def test_track_interpolation_is_slerp_between_samples() -> None:
    q = Q.continuous(Q.cumulative_product(np.concatenate([[[1.0, 0, 0, 0]], Q.from_rotvec(RNG.normal(scale=0.1, size=(49, 3)))])))
    times = np.arange(50) / 10.0
    at = np.array([-1.0, 0.25, 1.07, 4.9, 7.0])
    got = Q.interpolate(times, q, at)
    np.testing.assert_allclose(got[0], q[0], atol=1e-15)  # held outside the track
    np.testing.assert_allclose(got[-1], q[-1], atol=1e-15)
    np.testing.assert_allclose(got[1], Q.slerp(q[2], q[3], 0.5), atol=1e-15)
    np.testing.assert_allclose(got[2], Q.slerp(q[10], q[11], 0.7), atol=1e-12)


def test_kabsch_recovers_a_rotation_and_matches_scipy() -> None:
    truth = Rotation.from_ypr(33.0, -12.0, 71.0).matrix
    a = RNG.normal(size=(80, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = a @ truth.T + RNG.normal(scale=1e-3, size=a.shape)
    r = kabsch(a, b)
    assert abs(np.linalg.det(r) - 1.0) < 1e-12
    assert np.degrees(Rotation(r.T @ truth).angle) < 0.05
    scipy_r, _ = SciRotation.align_vectors(b, a)
    np.testing.assert_allclose(r, scipy_r.as_matrix(), atol=1e-9)
    # mirrored points: the best proper rotation, never a reflection
    mirrored = a * np.array([1.0, 1.0, -1.0])
    assert abs(np.linalg.det(kabsch(a, mirrored)) - 1.0) < 1e-12
