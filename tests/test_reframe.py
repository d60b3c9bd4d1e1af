"""Reframing: markers land where the projection maths says, paths are smooth, video end to end.

Expected pixel positions are computed here from first principles (explicit rotation
matrices and the pinhole / stereographic formulas), not with orbit360's geometry code.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.errors import InputError
from orbit360.geometry.rotation import Rotation
from orbit360.reframe import Keyframe, Projection, ViewPath, ViewRenderer, load_view_path, render_view

MARKER = (255, 0, 255)


def ypr_matrix(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """R = Ry(yaw) Rx(-pitch) Rz(-roll), written out again for the test."""
    y, p, r = np.radians([yaw, -pitch, -roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def direction(yaw: float, pitch: float) -> np.ndarray:
    lon, lat = np.radians(yaw), np.radians(pitch)
    return np.array([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)])


def marker_scene(width: int, markers: list[tuple[float, float]], radius_deg: float = 1.5) -> np.ndarray:
    """Dark grey equirect with magenta discs at (yaw, pitch) degrees."""
    height = width // 2
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    lat = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    dirs = np.stack([np.cos(lat_grid) * np.sin(lon_grid), np.sin(lat_grid), np.cos(lat_grid) * np.cos(lon_grid)], -1)
    image = np.full((height, width, 3), 60, np.uint8)
    for yaw, pitch in markers:
        image[dirs @ direction(yaw, pitch) > np.cos(np.radians(radius_deg))] = MARKER
    return image


def marker_centroid(image: np.ndarray) -> tuple[float, float] | None:
    mask = (image[..., 0] > 150) & (image[..., 2] > 150) & (image[..., 1] < 100)
    if mask.sum() < 4:
        return None
    ys, xs = np.nonzero(mask)
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5)  # pixel centres at +0.5


def expected_flat(marker: np.ndarray, view: np.ndarray, size: tuple[int, int], fov: float) -> tuple[float, float]:
    cam = view.T @ marker
    f = size[0] / 2 / np.tan(np.radians(fov) / 2)
    return size[0] / 2 + f * cam[0] / cam[2], size[1] / 2 - f * cam[1] / cam[2]


def expected_planet(marker: np.ndarray, view: np.ndarray, size: tuple[int, int], fov: float) -> tuple[float, float]:
    cam = view.T @ marker
    f = size[0] / 2 / (2 * np.tan(np.radians(fov) / 4))
    return size[0] / 2 + f * 2 * cam[0] / (1 + cam[2]), size[1] / 2 - f * 2 * cam[1] / (1 + cam[2])


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return marker_scene(2048, [(40.0, 15.0)])


@pytest.mark.parametrize(("yaw", "pitch", "roll", "fov"), [(25, 5, 0, 90), (40, 15, 0, 60), (70, -10, 20, 110), (10, 30, -15, 100)])
def test_marker_lands_at_the_expected_pixel_in_a_flat_view(scene, yaw, pitch, roll, fov) -> None:
    size = (640, 360)
    view = render_view(scene, size=size, rotation=Rotation.from_ypr(yaw, pitch, roll), fov_deg=fov)
    assert view.shape == (360, 640, 3)
    found = marker_centroid(view)
    expected = expected_flat(direction(40, 15), ypr_matrix(yaw, pitch, roll), size, fov)
    assert found is not None
    assert np.hypot(found[0] - expected[0], found[1] - expected[1]) < 1.0, (found, expected)


def test_marker_lands_at_the_expected_pixel_in_a_little_planet() -> None:
    scene = marker_scene(2048, [(30.0, -50.0)], radius_deg=2.0)
    size = (400, 400)
    for yaw in (0.0, 45.0):
        view = render_view(scene, size=size, rotation=Rotation.from_ypr(yaw, -90, 0), fov_deg=280, projection="planet")
        found = marker_centroid(view)
        expected = expected_planet(direction(30, -50), ypr_matrix(yaw, -90), size, 280)
        assert found is not None
        assert np.hypot(found[0] - expected[0], found[1] - expected[1]) < 1.0, (yaw, found, expected)


def test_planet_puts_the_ground_in_the_middle_and_the_sky_outside() -> None:
    scene = np.zeros((256, 512, 3), np.uint8)
    scene[:128] = (40, 90, 250)  # sky
    scene[128:] = (60, 160, 40)  # ground
    view = render_view(scene, size=(300, 300), projection=Projection.PLANET, rotation=Rotation.from_ypr(0, -90, 0))
    assert tuple(view[150, 150]) == (60, 160, 40)
    assert tuple(view[2, 2]) == (40, 90, 250)


def test_no_seam_at_longitude_180() -> None:
    # A picture that is smooth across the wrap: brightness follows cos(lon).
    width = 512
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    row = (128 + 100 * np.cos(lon)).astype(np.uint8)
    scene = np.repeat(np.repeat(row[None, :, None], 256, axis=0), 3, axis=2)
    view = render_view(scene, size=(400, 200), rotation=Rotation.from_ypr(180, 0, 0), fov_deg=60)
    steps = np.abs(np.diff(view[100, :, 0].astype(int)))
    assert steps.max() <= 2  # the wrap column is no brighter step than its neighbours


def test_renderer_reuses_maps_for_a_fixed_view(scene) -> None:
    renderer = ViewRenderer((320, 180))
    rotation = Rotation.from_ypr(10, 0, 0)
    first = renderer.maps(rotation, 90.0, (2048, 1024))
    assert renderer.maps(Rotation.from_ypr(10, 0, 0), 90.0, (2048, 1024))[0] is first[0]
    assert renderer.maps(Rotation.from_ypr(11, 0, 0), 90.0, (2048, 1024))[0] is not first[0]


# ---- keyframe paths ------------------------------------------------------------------
def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between rotations given as quaternion rows (sign-insensitive)."""
    dots = np.abs(np.sum(a * b, axis=-1))
    return np.degrees(2 * np.arccos(np.clip(dots, -1, 1)))


KEYS = [
    Keyframe(0.0, yaw=0, pitch=0, fov=90),
    Keyframe(1.0, yaw=80, pitch=20, roll=10, fov=60),
    Keyframe(2.0, yaw=170, pitch=-10, fov=100),
    Keyframe(3.0, yaw=-100, pitch=5, fov=70),
]


def test_path_passes_through_every_keyframe() -> None:
    path = ViewPath(KEYS)
    for key in KEYS:
        rotation, fov = path.at(key.t)
        assert np.allclose(rotation.matrix, ypr_matrix(key.yaw, key.pitch, key.roll), atol=1e-9)
        assert fov == pytest.approx(key.fov)


def test_path_is_continuous_and_smooth() -> None:
    path = ViewPath(KEYS)
    dt = 1e-3
    times = np.arange(-0.5, 3.5 + dt / 2, dt)
    quats, fovs = path.sample(times)
    steps = rotation_angle_deg(quats[1:], quats[:-1])
    # No jumps: the fastest segment turns ~100 deg/s, so 1 ms steps stay well under 0.3 deg.
    assert steps.max() < 0.3
    # Smooth through the keyframes (squad is C1 for evenly spaced keys): angular speed on
    # either side of an inner key agrees.
    for t_key in (1.0, 2.0):
        i = int(round((t_key - times[0]) / dt))
        before, after = steps[i - 2] / dt, steps[i + 1] / dt
        assert after == pytest.approx(before, rel=0.03)
    # FOV: PCHIP stays within the keyed values (no overshoot) and is continuous.
    assert fovs.min() >= 60 - 1e-9 and fovs.max() <= 100 + 1e-9
    assert np.abs(np.diff(fovs)).max() < 0.1
    # Holds before the first and after the last key.
    assert np.allclose(quats[times < 0], quats[np.argmin(np.abs(times))])
    assert np.allclose(fovs[times > 3], 70)


def test_path_takes_the_short_way_round() -> None:
    path = ViewPath([Keyframe(0, yaw=170), Keyframe(1, yaw=-170)])
    rotation, _ = path.at(0.5)
    yaw, pitch, _ = rotation.as_ypr()
    assert abs(abs(yaw) - 180) < 1e-6 and abs(pitch) < 1e-6


def test_load_view_path_reads_json_and_rejects_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "keys.json"
    good.write_text(json.dumps({"keyframes": [{"t": 0, "yaw": 10}, {"t": 2, "yaw": 30, "fov": 50}]}))
    path = load_view_path(good, default_fov=75)
    assert [k.fov for k in path.keyframes] == [75, 50]
    assert path.at(1.0)[0].as_ypr()[0] == pytest.approx(20)
    cases = {
        "not json {": "not valid JSON",
        json.dumps({"keyframes": []}): "at least one keyframe",
        json.dumps([{"yaw": 3}]): "missing 't'",
        json.dumps([{"t": 0}, {"t": 0}]): "strictly increase",
        json.dumps([{"t": 0, "yaw": "left"}]): "'yaw' must be a finite number",
        json.dumps([{"t": 0, "zoom": 2}]): "unknown field",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InputError, match=message) as info:
            load_view_path(bad)
        assert str(bad) in str(info.value)


# ---- end to end through the CLI -------------------------------------------------------
def write_equirect_video(path: Path, frame: np.ndarray, *, frames: int, fps: int = 10, audio: bool = True) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frame.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        sound = container.add_stream("aac", rate=48000, layout="stereo") if audio else None
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = int(48000 * frames / fps)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
                audio_frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                audio_frame.sample_rate = 48000
                audio_frame.pts = start
                container.mux(sound.encode(audio_frame))
            container.mux(sound.encode(None))


def test_reframe_command_follows_the_keyframes_and_keeps_audio(tmp_path: Path) -> None:
    src = tmp_path / "in360.mp4"
    write_equirect_video(src, marker_scene(1024, [(60.0, 0.0)], radius_deg=2.0), frames=10)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keyframes": [{"t": 0, "yaw": 20, "fov": 100}, {"t": 0.9, "yaw": 60, "pitch": 0, "fov": 60}]}))
    out = tmp_path / "flat.mp4"
    assert main(["reframe", str(src), "-o", str(out), "--size", "320x180", "--path", str(keys), "--quiet", "--preset", "ultrafast"]) == 0

    path = load_view_path(keys)
    with av.open(str(out)) as container:
        assert container.streams.audio, "audio track dropped"
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 320, 180)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 10
    cv2.imwrite(str(tmp_path / "reframed_last.png"), cv2.cvtColor(frames[-1], cv2.COLOR_RGB2BGR))
    checked = 0
    for index, image in enumerate(frames):
        rotation, fov = path.at(index / 10)
        expected = expected_flat(direction(60, 0), rotation.matrix, (320, 180), fov)
        found = marker_centroid(image)
        assert found is not None, index
        assert np.hypot(found[0] - expected[0], found[1] - expected[1]) < 1.5, (index, found, expected)
        checked += 1
    assert checked == 10
    assert abs(marker_centroid(frames[-1])[0] - 160) < 1.5  # ends looking straight at it


def test_reframe_command_rejects_bad_options_in_one_line(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in360.mp4"
    write_equirect_video(src, marker_scene(256, []), frames=2, audio=False)
    assert main(["reframe", str(src), "-o", str(tmp_path / "o.mp4"), "--size", "321x180"]) == 2
    assert "even" in capsys.readouterr().err
    assert main(["reframe", str(src), "-o", str(tmp_path / "o.mp4"), "--fov", "200"]) == 2
    assert "FOV" in capsys.readouterr().err
    keys = tmp_path / "keys.json"
    keys.write_text('[{"t": 0}]')
    assert main(["reframe", str(src), "-o", str(tmp_path / "o.mp4"), "--look", "1,2", "--path", str(keys)]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
    assert main(["reframe", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orbit360: error: ") and "missing.mp4" in err and "Traceback" not in err


def test_views_of_the_synthetic_scene_sample_the_right_places(tmp_path: Path) -> None:
    """Every output pixel's colour is the equirect colour in its ray's direction (checked at
    sampled pixels with an independent lookup); the views are saved to look at."""
    from orbit360.synthetic import make_scene

    scene = make_scene(1024, seed=1)
    h, w = scene.shape[:2]
    rng = np.random.default_rng(5)
    for name, projection, (yaw, pitch, fov), size in [
        ("flat", Projection.FLAT, (30, 10, 90), (480, 270)),
        ("planet", Projection.PLANET, (0, -90, 280), (360, 360)),
    ]:
        view = render_view(scene, size=size, rotation=Rotation.from_ypr(yaw, pitch, 0), fov_deg=fov, projection=projection)
        cv2.imwrite(str(tmp_path / f"synthetic_{name}.png"), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        xs, ys = rng.integers(0, size[0], 300), rng.integers(0, size[1], 300)
        px, py = (xs + 0.5 - size[0] / 2), (size[1] / 2 - ys - 0.5)
        if projection is Projection.FLAT:
            f = size[0] / 2 / np.tan(np.radians(fov) / 2)
            cam = np.stack([px / f, py / f, np.ones_like(px)], -1)
        else:
            f = size[0] / 2 / (2 * np.tan(np.radians(fov) / 4))
            r2 = (px / f) ** 2 + (py / f) ** 2
            cam = np.stack([4 * px / f, 4 * py / f, 4 - r2], -1)
        world = cam @ ypr_matrix(yaw, pitch).T
        world /= np.linalg.norm(world, axis=1, keepdims=True)
        lon, lat = np.arctan2(world[:, 0], world[:, 2]), np.arcsin(world[:, 1])
        ex, ey = (lon / (2 * np.pi) + 0.5) * w, (0.5 - lat / np.pi) * h
        # Nearest equirect pixel; skip samples where the scene is busy (an edge inside the
        # bilinear window makes a nearest-pixel comparison meaningless).
        sx, sy = np.floor(ex).astype(int) % w, np.clip(np.floor(ey).astype(int), 0, h - 1)
        window = np.stack([scene[np.clip(sy + dy, 0, h - 1), (sx + dx) % w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        calm = (window.max(axis=0) - window.min(axis=0)).max(axis=1) < 12
        assert calm.sum() > 100
        diff = np.abs(view[ys, xs].astype(int) - scene[sy, sx].astype(int)).max(axis=1)
        assert np.percentile(diff[calm], 95) <= 6, name
