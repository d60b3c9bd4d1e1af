"""Orientation from telemetry: synthetic GPMF with a known trajectory (recovered, locked,
smoothed), the offset between telemetry and video measured from pictures, and the real
MAX sample's CORI against its own gyro."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbit360.errors import TelemetryError
from orbit360.geometry import Rotation, dirs_to_equirect, equirect_grid_dirs
from orbit360.orient import (
    GOPRO_TO_RIG,
    cori_track,
    estimate_orientation,
    gyro_track,
    imu_rates,
    measure_video_motion,
    orientation_for_frames,
    plan_orientation,
    smooth_quaternions,
)
from orbit360.geometry.quaternions import from_matrices, to_rotvec
from orbit360.orient._imu import specific_force
from orbit360.synthetic import make_scene, pan_motion, shake_motion, static_motion, synthetic_gpmd
from orbit360.telemetry import GpmdSample, parse_samples, read_telemetry

FPS = 30


def _angle_deg(r: Rotation) -> float:
    # Independent of the quaternion code under test: the angle from the matrix trace.
    return float(np.degrees(np.arccos(np.clip((np.trace(r.matrix) - 1) / 2, -1, 1))))


def _rms(x: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _tumble(t: float) -> Rotation:
    """A trajectory turning about all three axes at varying rates (no gravity: orbit)."""
    return Rotation.from_ypr(40 * t + 10 * np.sin(1.3 * t), 25 * np.sin(0.7 * t), 60 * np.sin(0.4 * t) + 5 * np.sin(9 * t))


# ---- recovered orientation ----------------------------------------------------------------
@pytest.mark.parametrize("prefer", ["gyro", "cori"])
def test_synthetic_trajectory_recovered_within_0_2_deg(prefer: str) -> None:
    samples = synthetic_gpmd(_tumble, 8.0, cori_hz=FPS if prefer == "cori" else None)
    times = np.arange(8 * FPS) / FPS
    got = orientation_for_frames(samples, times, prefer=prefer)
    truth = [_tumble(0).inverse @ _tumble(t) for t in times]
    errors = [_angle_deg(g.inverse @ w) for g, w in zip(got, truth)]
    total_turn = max(_angle_deg(w) for w in truth)
    assert total_turn > 90  # the test moves the camera a lot
    assert _rms(errors) <= 0.2, (_rms(errors), max(errors))
    assert _angle_deg(got[0]) < 1e-9


def test_lock_brings_every_frame_back_to_the_first() -> None:
    samples = synthetic_gpmd(_tumble, 6.0)
    times = np.arange(6 * FPS) / FPS
    plan = plan_orientation(samples, times, mode="lock", time_offset=0.0)
    assert plan.levelled_by == "first frame" and plan.source == "GYRO"  # ACCL reads 0: no gravity
    # Output direction d shows rig direction M d, i.e. the reference direction O M d.
    residual = [_angle_deg(_tumble(0).inverse @ _tumble(t) @ m) for t, m in zip(times, plan.rotations)]
    assert _rms(residual) <= 0.2


def test_lock_levels_with_gravity_when_accl_measures_1g() -> None:
    tilted = lambda t: Rotation.from_ypr(30 * t, 12.0, -8.0 + 3 * np.sin(2 * t))  # noqa: E731
    samples = synthetic_gpmd(tilted, 4.0, gravity=True)
    times = np.arange(4 * FPS) / FPS
    plan = plan_orientation(samples, times, mode="lock", time_offset=0.0)
    assert plan.levelled_by == "gravity"
    up = np.array([0.0, 1.0, 0.0])
    for t, m in zip(times, plan.rotations):
        # Output "up" shows the world direction C(t) M up: it must be the world's up.
        shown = (tilted(t) @ m).matrix @ up
        assert np.degrees(np.arccos(np.clip(shown @ up, -1, 1))) < 0.3


def test_smooth_keeps_a_slow_pan_and_removes_a_5hz_shake() -> None:
    pan = pan_motion(20.0, 4.0)
    shaky = shake_motion(2.0, 5.0, base=pan)
    times = np.arange(10 * FPS) / FPS
    samples = synthetic_gpmd(shaky, 10.0)
    plan = plan_orientation(samples, times, mode="smooth", time_offset=0.0)
    # What the output shows, in the world: output d shows world direction C(t) M(t) d.
    shown = [shaky(t) @ m for t, m in zip(times, plan.rotations)]
    intended = [pan(t) for t in times]
    shake_before = _rms([_angle_deg(shaky(t).inverse @ i) for t, i in zip(times, intended)])
    inner = slice(FPS // 2, -FPS // 2)  # the ends can only be extrapolated
    after = [_angle_deg(s.inverse @ i) for s, i in zip(shown, intended)]
    assert shake_before > 1.5
    assert _rms(after[inner]) < 0.1 and _rms(after) < 0.25
    # The pan is kept: over 10 s the output turned by the pan's 200 degrees of yaw.
    assert abs(shown[-1].as_ypr()[0] - intended[-1].as_ypr()[0]) < 0.5


def test_smooth_on_a_pure_pan_changes_nothing_and_off_is_identity() -> None:
    times = np.arange(5 * FPS) / FPS
    for pan, inner, limit in ((pan_motion(30.0), slice(None), 0.01), (pan_motion(30.0, -5.0), slice(FPS, -FPS), 0.05)):
        # A turn about one axis at a steady rate is kept exactly, ends included; a turn
        # whose axis drifts (yaw and pitch together) is kept away from the ends.
        q = np.stack([(pan(0).inverse @ pan(t)).as_quaternion() for t in times])
        out = smooth_quaternions(q, FPS)
        errs = [_angle_deg(Rotation.from_quaternion(a).inverse @ Rotation.from_quaternion(b)) for a, b in zip(out, q)]
        assert max(errs[inner]) < limit
    off = estimate_orientation(synthetic_gpmd(pan, 5.0), times, mode="off")
    assert all(np.array_equal(r.matrix, np.eye(3)) for r in off)


# ---- offset from the pictures --------------------------------------------------------------
def _render_equirect(scene: np.ndarray, rot: Rotation, size: tuple[int, int] = (512, 256)) -> np.ndarray:
    dirs = rot(equirect_grid_dirs(size))
    xy = dirs_to_equirect(dirs, (scene.shape[1], scene.shape[0])).astype(np.float32) - 0.5
    return cv2.remap(scene, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def test_time_offset_is_estimated_from_video_motion() -> None:
    scene = make_scene(1024, seed=5)
    motion = shake_motion(2.0, 3.0, base=pan_motion(15.0, 3.0))
    true_offset = 0.137  # telemetry clock = video clock + offset
    times = np.arange(75) / FPS
    frames = [_render_equirect(scene, motion(t + true_offset)) for t in times]
    video = measure_video_motion(frames, times)
    truth = [motion(a + true_offset).inverse @ motion(b + true_offset) for a, b in zip(times[:-1], times[1:])]
    measured = [Rotation.from_axis_angle(v, np.linalg.norm(v)) if np.linalg.norm(v) else Rotation.identity() for v in video.rotvecs]
    assert video.valid.all()
    assert max(_angle_deg(m.inverse @ t) for m, t in zip(measured, truth)) < 0.1

    samples = synthetic_gpmd(motion, 4.0)
    plan = plan_orientation(samples, times, mode="lock", video_motion=video)
    assert abs(plan.time_offset - true_offset) < 0.004 and plan.offset_score > 0.9
    residual = [_angle_deg(motion(true_offset).inverse @ motion(t + true_offset) @ m) for t, m in zip(times, plan.rotations)]
    assert _rms(residual) <= 0.2
    # Without the estimate (offset assumed 0) the same lock is visibly worse.
    assumed = plan_orientation(samples, times, mode="lock", time_offset=0.0)
    worse = [_angle_deg(motion(true_offset).inverse @ motion(t + true_offset) @ m) for t, m in zip(times, assumed.rotations)]
    assert _rms(worse) > 5 * _rms(residual)


def test_wrong_imu_axes_are_measured_from_video() -> None:
    scene = make_scene(1024, seed=6)
    times = np.arange(45) / FPS
    frames = [_render_equirect(scene, _tumble(t)) for t in times]
    video = measure_video_motion(frames, times)
    wrong = Rotation.from_ypr(90, 0, 0).matrix @ GOPRO_TO_RIG  # IMU mounted a quarter turn off
    samples = synthetic_gpmd(_tumble, 2.0)
    plain = plan_orientation(samples, times, imu_to_rig=wrong, time_offset=0.0)
    fitted = plan_orientation(samples, times, imu_to_rig=wrong, time_offset=0.0, video_motion=video, fit_axes=True)
    truth = [_tumble(0).inverse @ _tumble(t) for t in times]
    err_plain = _rms([_angle_deg(c.inverse @ w) for c, w in zip(plain.camera, truth)])
    err_fitted = _rms([_angle_deg(c.inverse @ w) for c, w in zip(fitted.camera, truth)])
    assert err_plain > 5 and err_fitted < 0.3


# ---- real samples --------------------------------------------------------------------------
def test_max_cori_agrees_with_its_integrated_gyro(samples_dir: Path) -> None:
    tel = read_telemetry(samples_dir / "gopro_max-heromode.mp4")
    cori, gyro = cori_track(tel), gyro_track(tel)
    assert cori is not None and gyro is not None
    turned = max(_angle_deg(Rotation.from_quaternion(q)) for q in cori.q)
    best = min(
        _rms([_angle_deg(Rotation.from_quaternion(a).inverse @ Rotation.from_quaternion(b)) for a, b in zip(cori.q, rel)])
        for lag in np.arange(-0.1, 0.101, 0.01)
        for rel in [_relative_at(gyro, cori.t + lag)]
    )
    assert turned > 15 and best < 0.3


def _relative_at(track, times):  # type: ignore[no-untyped-def]
    q = track.at(times)
    first = Rotation.from_quaternion(q[0]).inverse
    return [(first @ Rotation.from_quaternion(x)).as_quaternion() for x in q]


def test_real_payloads_give_orientation_from_the_camera_device_only(samples_dir: Path) -> None:
    data = (samples_dir / "gpmf" / "hero6+ble.raw").read_bytes()
    tel = parse_samples([GpmdSample(data, 0.0, 1.001)])
    t, w = imu_rates(tel, "GYRO")
    assert t.shape[0] == 198 and np.all(np.diff(t) > 0)  # the Bluetooth device adds none
    fusion = parse_samples([GpmdSample((samples_dir / "gpmf" / "Fusion.raw").read_bytes(), 0.0, 1.0)])
    track = gyro_track(fusion)
    assert track is not None and track.q.shape[0] == 3300
    rots = orientation_for_frames(samples_dir / "gopro_hero7.mp4", np.arange(300) / 29.97)
    assert len(rots) == 300 and _angle_deg(rots[0]) < 1e-9 and max(_angle_deg(r) for r in rots) > 1


def test_static_camera_gives_identity() -> None:
    times = np.arange(60) / FPS
    rots = estimate_orientation(synthetic_gpmd(static_motion, 2.0), times, mode="lock")
    assert max(_angle_deg(r) for r in rots) < 0.01


# ---- drift -----------------------------------------------------------------------------------
def test_gyro_bias_is_measured_against_the_video_and_removed() -> None:
    scene = make_scene(1024, seed=8)
    motion = shake_motion(1.5, 2.0, base=pan_motion(12.0, 2.0))
    times = np.arange(90) / FPS
    video = measure_video_motion([_render_equirect(scene, motion(t)) for t in times], times)
    bias = (0.012, -0.02, 0.015)  # rad/s: 1.6 deg/s of drift, 4.6 deg over the clip
    samples = synthetic_gpmd(motion, 3.5, gyro_bias=bias)
    truth = [motion(0).inverse @ motion(t) for t in times]
    fixed = plan_orientation(samples, times, time_offset=0.0, video_motion=video)
    raw = plan_orientation(samples, times, time_offset=0.0)
    err_fixed = _rms([_angle_deg(c.inverse @ w) for c, w in zip(fixed.camera, truth)])
    err_raw = _rms([_angle_deg(c.inverse @ w) for c, w in zip(raw.camera, truth)])
    assert err_raw > 1.5 and err_fixed < 0.2
    np.testing.assert_allclose(fixed.gyro_bias, bias, atol=0.002)


def test_gravity_keeps_the_horizon_level_when_the_gyro_drifts() -> None:
    motion = lambda t: Rotation.from_ypr(25 * t, 6.0, 4.0)  # noqa: E731
    times = np.arange(8 * FPS) / FPS
    samples = synthetic_gpmd(motion, 8.0, gravity=True, gyro_bias=(0.01, 0.0, -0.008))
    plan = plan_orientation(samples, times, mode="lock", time_offset=0.0)
    up = np.array([0.0, 1.0, 0.0])
    tilt = [np.degrees(np.arccos(np.clip((motion(t) @ m).matrix @ up @ up, -1, 1))) for t, m in zip(times, plan.rotations)]
    drift = [_angle_deg(c.inverse @ motion(0).inverse @ motion(t)) for t, c in zip(times, plan.camera)]
    assert max(drift) > 3  # the gyro alone tilts by this much
    assert plan.levelled_by == "gravity" and max(tilt) < 0.6


# ---- through a file --------------------------------------------------------------------------
def test_orientation_from_an_mp4_carrying_synthetic_gpmd(tmp_path: Path) -> None:
    from orbit360.isobmff import MdatSource, write_movie
    from orbit360.telemetry import gpmd_track_from_samples, mux_track, read_gpmd

    samples = synthetic_gpmd(_tumble, 5.0, payload_s=1.001)
    payloads = tmp_path / "payloads.bin"
    payloads.write_bytes(b"".join(s.data for s in samples))
    offsets = np.cumsum([0] + [len(s.data) for s in samples[:-1]])
    track = mux_track(gpmd_track_from_samples(samples), offsets, track_id=1)
    ftyp = b"\x00\x00\x00\x14ftypmp41\x00\x00\x00\x00mp41"
    movie = tmp_path / "synthetic.mp4"
    write_movie(movie, ftyp=ftyp, source=MdatSource(payloads, 0, payloads.stat().st_size), tracks=[track], movie_timescale=1000)

    back = read_gpmd(movie)
    assert back is not None and [s.data for s in back.samples] == [s.data for s in samples]
    times = np.arange(4 * FPS) / FPS
    got = orientation_for_frames(movie, times)
    errors = [_angle_deg(g.inverse @ _tumble(0).inverse @ _tumble(t)) for g, t in zip(got, times)]
    assert _rms(errors) <= 0.2


def test_no_orientation_stream_is_one_line_error() -> None:
    from orbit360.telemetry import encode_device, encode_stream

    payload = encode_device(1, "cam", [encode_stream("SHUT", np.full((24, 1), 0.01), type_char="f")])
    with pytest.raises(TelemetryError, match="neither CORI nor GYRO"):
        estimate_orientation([GpmdSample(payload, 0.0, 1.0)], np.arange(10) / FPS)


def test_rig_motion_from_dual_fisheye_frames_matches_the_truth() -> None:
    from orbit360.orient import measure_rig_motion
    from orbit360.synthetic import RigRenderer, misaligned_rig

    rig = misaligned_rig((768, 384), seed=2)  # back lens off axis, circles off centre
    renderer = RigRenderer(rig, make_scene(1024, seed=4))
    motion = shake_motion(2.0, 3.0, base=pan_motion(15.0, 4.0))
    times = np.arange(16) / FPS
    video = measure_rig_motion([renderer.render(motion(t)) for t in times], times, rig)
    assert video.valid.all()
    for v, a, b in zip(video.rotvecs, times[:-1], times[1:]):
        measured = Rotation.from_axis_angle(v, np.linalg.norm(v))
        assert _angle_deg(measured.inverse @ motion(a).inverse @ motion(b)) < 0.05


def test_end_to_end_synthetic_rig_file_with_telemetry_locks_within_0_2_deg(tmp_path: Path) -> None:
    """The issue's scenario up to the stitch: a synthetic dual-fisheye recording with a
    known trajectory and matching GPMF in the file (ACCL zero, weightless) whose clock
    runs 80 ms ahead of the video's; lock from the file alone."""
    from orbit360.orient import measure_rig_motion
    from orbit360.synthetic import misaligned_rig, write_rig_video
    from orbit360.telemetry import attach_gpmd, gpmd_track_from_samples
    from orbit360.video import open_reader

    rig = misaligned_rig((640, 320), seed=4)
    motion = shake_motion(1.5, 3.0, base=pan_motion(15.0, 3.0))
    lag = 0.08
    video = tmp_path / "rig.mp4"
    write_rig_video(video, rig, make_scene(1024, seed=9), frames=36, fps=FPS, motion=lambda t: motion(t + lag), crf=16)
    recording = tmp_path / "rig+gpmd.mp4"
    attach_gpmd(video, gpmd_track_from_samples(synthetic_gpmd(motion, 2.0)), recording)

    with open_reader(recording) as reader:
        frames = list(reader.frames())
    times = np.arange(len(frames)) / FPS
    plan = plan_orientation(recording, times, mode="lock", video_motion=measure_rig_motion(frames, times, rig))
    assert abs(plan.time_offset - lag) < 0.005
    residual = [_angle_deg(motion(lag).inverse @ motion(t + lag) @ m) for t, m in zip(times, plan.rotations)]
    assert _rms(residual) <= 0.2


def test_offset_found_on_cori_when_the_camera_writes_it() -> None:
    scene = make_scene(1024, seed=11)
    motion = shake_motion(2.0, 2.5, base=pan_motion(-18.0, 2.0))
    lag = -0.21
    times = np.arange(60) / FPS + 0.5
    video = measure_video_motion([_render_equirect(scene, motion(t + lag)) for t in times], times)
    plan = plan_orientation(synthetic_gpmd(motion, 3.0, cori_hz=FPS), times, video_motion=video)
    assert plan.source == "CORI" and abs(plan.time_offset - lag) < 0.005
    residual = [_angle_deg(motion(times[0] + lag).inverse @ motion(t + lag) @ m) for t, m in zip(times, plan.rotations)]
    assert _rms(residual) <= 0.2


@settings(max_examples=60, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8), n_frames=st.integers(0, 40))
def test_corrupted_telemetry_gives_rotations_or_one_telemetry_error(flips: list[tuple[int, int]], n_frames: int) -> None:
    samples = synthetic_gpmd(pan_motion(20.0), 2.0, cori_hz=10)
    data = bytearray(samples[0].data)
    for at, value in flips:
        data[at % len(data)] = value
    broken = [GpmdSample(bytes(data), 0.0, 1.0), samples[1]]
    try:
        rots = estimate_orientation(broken, np.arange(n_frames) / FPS, mode="smooth")
    except TelemetryError as exc:
        assert "\n" not in str(exc)
        return
    assert len(rots) == n_frames
    assert all(np.isfinite(r.matrix).all() for r in rots)


def test_user_horizon_is_the_reference_when_there_is_no_gravity() -> None:
    horizon = Rotation.from_ypr(0.0, -7.0, 4.0)  # rig at the first frame, seen from the level world
    times = np.arange(2 * FPS) / FPS
    plan = plan_orientation(synthetic_gpmd(_tumble, 2.0), times, mode="lock", horizon=horizon, time_offset=0.0)
    assert plan.levelled_by == "horizon"
    for t, m in zip(times, plan.rotations):
        # Output d shows rig M d, i.e. level-world direction horizon O(t) M d: must be d.
        assert _angle_deg(horizon @ _tumble(0).inverse @ _tumble(t) @ m) < 0.05


def test_sphere_rotator_maps_are_exact_and_strided_out_matches() -> None:
    """The strip-wise rotation maps agree with the float64 formula (within 0.1 px; OpenCV's
    atan2 is good to about 1.7e-4 rad), and writing into a strided view gives the same
    picture as a new array."""
    from orbit360.orient._apply import SphereRotator

    w, h = 1440, 720
    rot = SphereRotator((w, h))
    for ypr in ((10.0, 5.0, 2.0), (170.0, -30.0, 45.0), (0.0, 89.5, 0.0)):
        r = Rotation.from_ypr(*ypr)
        d = equirect_grid_dirs((w, h)) @ r.matrix.T
        ex = np.arctan2(d[..., 0], d[..., 2]) * w / (2 * np.pi) + w / 2 - 0.5
        ey = h / 2 - 0.5 - np.arcsin(np.clip(d[..., 1], -1, 1)) * h / np.pi
        mx, my = rot.maps(r)
        assert np.abs(np.mod(mx - ex + w / 2, w) - w / 2).max() < 0.1
        assert np.abs(my - ey).max() < 0.1
    frame = np.random.default_rng(3).integers(0, 256, (h, w), dtype=np.uint8)
    wide = np.zeros((h, w + 64), np.uint8)
    r = Rotation.from_ypr(30.0, 10.0, -5.0)
    got = rot.apply(frame, r, out=wide[:, :w])
    np.testing.assert_array_equal(wide[:, :w], rot.apply(frame, r))
    assert got.base is wide and not wide[:, w:].any()
    assert rot.apply(frame, Rotation.from_ypr(0.0, 0.0, 0.0)) is frame


# ---- GoPro's IMU axes, measured on the real samples ------------------------------------------
def _lowpass(x: np.ndarray, n: int) -> np.ndarray:
    return np.stack([np.convolve(x[:, j], np.ones(n) / n, mode="same") for j in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("name", ["gopro_hero7.mp4", "gopro_max-heromode.mp4"])
def test_gyro_and_accelerometer_agree_in_the_rig_frame(samples_dir: Path, name: str) -> None:
    # A fixed world vector (gravity's "up") seen from a turning body turns as -w x up,
    # whatever the axes, if rates and directions are mapped consistently (rates as axial
    # vectors): the sign of this relation is what a reflection gets wrong.
    tel = read_telemetry(samples_dir / name)
    ta, up = specific_force(tel)
    tg, w = imu_rates(tel, "GYRO")
    t = np.arange(max(ta[0], tg[0]) + 0.3, min(ta[-1], tg[-1]) - 0.3, 0.01)
    up = _lowpass(np.stack([np.interp(t, ta, up[:, k]) for k in range(3)], axis=1), 21)[21:-21]
    w = _lowpass(np.stack([np.interp(t, tg, w[:, k]) for k in range(3)], axis=1), 21)[21:-21]
    turn = np.gradient(up, 0.01, axis=0)
    predicted = -np.cross(w, up)
    corr = [np.corrcoef(turn[:, k], predicted[:, k])[0, 1] for k in range(3)]
    assert up.mean(axis=0)[1] > 9.0  # upright: "up" is +y
    assert min(corr) > 0.05 and max(corr) > 0.4, corr


def _flat_video_rates(path: Path, hfov_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rig-frame rotation rates (rad/s) of a flat camera between consecutive frames, from
    five-point essential matrices of tracked corners (translation does not pass for
    rotation), with an equidistant lens of ``hfov_deg`` (the signs do not hang on it)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.to_ndarray(format="gray"), float(f.pts * s.time_base)) for f in c.decode(s)]
    h, w = frames[0][0].shape
    f_px = (w / 2) / np.radians(hfov_deg / 2)

    def rays(p: np.ndarray) -> np.ndarray:  # rig frame: x right, y up, z along the lens
        x, y = p[:, 0] + 0.5 - w / 2, p[:, 1] + 0.5 - h / 2
        theta, phi = np.hypot(x, y) / f_px, np.arctan2(y, x)
        return np.stack([np.sin(theta) * np.cos(phi), -np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)

    times, rates = [], []
    for (a_img, ta), (b_img, tb) in zip(frames, frames[1:]):
        p0 = cv2.goodFeaturesToTrack(a_img, maxCorners=400, qualityLevel=0.01, minDistance=6)
        p1, ok, _ = cv2.calcOpticalFlowPyrLK(a_img, b_img, p0, None, winSize=(21, 21), maxLevel=3)
        ra, rb = rays(p0[ok[:, 0] == 1, 0]), rays(p1[ok[:, 0] == 1, 0])
        front = (ra[:, 2] > 0.2) & (rb[:, 2] > 0.2)
        na, nb = ra[front, :2] / ra[front, 2:], rb[front, :2] / rb[front, 2:]
        e, inliers = cv2.findEssentialMat(na, nb, focal=1.0, pp=(0.0, 0.0), method=cv2.RANSAC, prob=0.999, threshold=1.0 / f_px)
        if e is None or e.shape != (3, 3):
            continue
        _, r, _, _ = cv2.recoverPose(e, na, nb, focal=1.0, pp=(0.0, 0.0), mask=inliers)
        # points move by the body rotation's inverse: r maps frame a's rays to b's
        rates.append(to_rotvec(from_matrices(r.T[None]))[0] / (tb - ta))
        times.append(0.5 * (ta + tb))
    return np.array(times), np.array(rates)


def test_gyro_turns_the_way_the_hero7_picture_turns(samples_dir: Path) -> None:
    # The HERO7 sample is a walk with the camera in hand, stabilised in camera: its
    # picture keeps the slow turns, so rates low-passed over a second are compared, at
    # the lag that fits best. Each rig axis must follow the gyro's own axis with a
    # positive sign (a mirrored mapping turns two of them, a wrong axis all of them).
    path = samples_dir / "gopro_hero7.mp4"
    tv, video = _flat_video_rates(path, 122.0)
    tg, gyro = imu_rates(read_telemetry(path), "GYRO")
    video = _lowpass(video, 31)
    best = max(
        (np.array([np.corrcoef(video[:, k], g[:, k])[0, 1] for k in range(3)]) for lag in np.arange(-0.6, 0.61, 0.02)
         for g in [_lowpass(np.stack([np.interp(tv + lag, tg, gyro[:, k]) for k in range(3)], axis=1), 31)]),
        key=lambda c: c.sum(),
    )  # fmt: skip
    assert best.min() > 0.4, best
