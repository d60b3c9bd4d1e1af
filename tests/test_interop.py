"""Interop: Gyroflow lens profiles in, Hugin projects out and back in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orbit360.errors import InputError
from orbit360.geometry import fisheye_to_dirs
from orbit360.profile import RigProfile
from orbit360.stitch.calibrate import load_prior
from orbit360.stitch.interop import gyroflow_rig, read_gyroflow_lens, read_pto, write_pto
from orbit360.synthetic import misaligned_rig


def _assert_rigs_close(a: RigProfile, b: RigProfile) -> None:
    assert a.frame_size == b.frame_size
    for la, lb in zip(a.lenses, b.lenses):
        np.testing.assert_allclose(la.center, lb.center, atol=1e-5)
        assert la.radius == pytest.approx(lb.radius, abs=1e-5)
        assert la.fov_deg == pytest.approx(lb.fov_deg, abs=1e-5)
        np.testing.assert_allclose(la.distortion, lb.distortion, atol=1e-8)
        np.testing.assert_allclose(la.rotation().matrix, lb.rotation().matrix, atol=1e-7)
        np.testing.assert_allclose(la.exposure * np.asarray(la.color_gain), lb.exposure * np.asarray(lb.color_gain), rtol=1e-6)
        np.testing.assert_allclose(la.vignetting, lb.vignetting, atol=1e-6)


@pytest.mark.parametrize("seed", [8801, 8802])
def test_pto_round_trip(tmp_path: Path, seed: int) -> None:
    rig = misaligned_rig((1280, 640), seed=seed, misalign_deg=0.9, center_offset_px=4.0, fov_deg=197.0, exposure_stops=1.3)
    rig = rig.with_lens(1, rig.lenses[1].replace(distortion=(0.02, -0.004, 0.001, 0.0)))
    path = tmp_path / "rig.pto"
    write_pto(rig, path)
    text = path.read_text()
    assert text.startswith("# hugin project file") and text.count("\ni ") == 2
    assert 'n"rig_front.png"' in text and "f2" in text
    _assert_rigs_close(read_pto(path), rig)


def test_pto_edits_made_in_hugin_are_read(tmp_path: Path) -> None:
    rig = misaligned_rig((1280, 640), seed=8803)
    path = tmp_path / "rig.pto"
    write_pto(rig, path)
    lines = path.read_text().splitlines()
    # a user in Hugin turns the back lens by one degree of yaw and drops our comment lines
    edited = []
    for line in lines:
        if line.startswith("#orbit360"):
            continue
        if line.startswith("i ") and "back" in line:
            toks = [f"y{float(t[1:]) + 1.0}" if t.startswith("y") else t for t in line.split()]
            line = " ".join(toks)
        edited.append(line)
    path.write_text("\n".join(edited))
    back = read_pto(path)
    assert back.lenses[1].rotation_ypr[0] == pytest.approx(rig.lenses[1].rotation_ypr[0] + 1.0, abs=1e-6)
    # without the comment the radius comes from the crop: within a pixel
    assert back.lenses[0].radius == pytest.approx(rig.lenses[0].radius, abs=1.0)


def test_pto_rejects_other_projects(tmp_path: Path) -> None:
    p = tmp_path / "x.pto"
    p.write_text("# hugin project file\np f2 w100 h50 v360\ni w10 h10 f0 v50 n\"a.jpg\"\n")
    with pytest.raises(InputError, match="2 images"):
        read_pto(p)
    with pytest.raises(InputError, match="no such file"):
        read_pto(tmp_path / "missing.pto")


def _gyroflow(f: float, cx: float, cy: float, k: tuple[float, ...], calib: tuple[int, int]) -> dict:  # type: ignore[type-arg]
    return {
        "name": "test", "camera_brand": "Acme", "camera_model": "Dual", "lens_model": "195",
        "calib_dimension": {"w": calib[0], "h": calib[1]},
        "fisheye_params": {"RMS_error": 0.3, "camera_matrix": [[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]], "distortion_coeffs": list(k)},
        "distortion_model": "opencv_fisheye",
    }


def test_gyroflow_lens_maps_like_opencv_fisheye(tmp_path: Path) -> None:
    """A profile calibrated at 1920x1920 and used on a 640x640 half: same rays for the same relative pixel."""
    k = (0.04, -0.012, 0.003, -0.0005)
    d = _gyroflow(600.0, 955.0, 962.0, k, (1920, 1920))
    path = tmp_path / "lens.json"
    path.write_text(json.dumps(d))
    lens = read_gyroflow_lens(path, size=(640, 640), x_offset=640, fov_deg=194.0)
    assert lens.distortion == k and lens.focal == pytest.approx(200.0)
    assert lens.center == pytest.approx(((955.0 + 0.5) / 3 + 640, (962.0 + 0.5) / 3))
    # OpenCV's pixel (u, v) at calibration size is our ((u + 0.5) / 3 + 640, (v + 0.5) / 3)
    import cv2

    pts = np.array([[[1200.0, 700.0]], [[300.0, 1500.0]]])
    und = cv2.fisheye.undistortPoints(pts, np.array(d["fisheye_params"]["camera_matrix"]), np.array(k))[:, 0]
    want = np.concatenate([und, np.ones((2, 1))], 1)
    want[:, 1] *= -1  # OpenCV y points down, ours up
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    ours, _ = fisheye_to_dirs((pts[:, 0] + 0.5) / 3 + [640, 0], lens.model())
    np.testing.assert_allclose(ours, want, atol=1e-6)
    rig = gyroflow_rig(path, (1280, 640), fov_deg=194.0)
    assert rig.lenses[1].rotation_ypr == (180.0, 0.0, 0.0) and rig.camera == "Acme Dual 195"
    assert load_prior(path, (1280, 640)).lenses[0].distortion == k


def test_gyroflow_rejects_non_fisheye(tmp_path: Path) -> None:
    d = _gyroflow(600.0, 960.0, 960.0, (0, 0, 0, 0), (1920, 1920))
    d["distortion_model"] = "poly3"
    with pytest.raises(InputError, match="OpenCV fisheye"):
        read_gyroflow_lens(d, size=(640, 640))
    del d["fisheye_params"]
    with pytest.raises(InputError, match="fisheye_params"):
        read_gyroflow_lens(d, size=(640, 640))
    p = tmp_path / "bad.json"
    p.write_text("{nope")
    with pytest.raises(InputError, match="invalid JSON"):
        load_prior(p, (1280, 640))


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    yaw=st.floats(-179.0, 179.0), pitch=st.floats(-30.0, 30.0), roll=st.floats(-30.0, 30.0),
    fov=st.floats(185.0, 230.0), dx=st.floats(-20.0, 20.0), dy=st.floats(-20.0, 20.0),
    k1=st.floats(-0.05, 0.05), exposure=st.floats(0.1, 4.0), red=st.floats(0.7, 1.3), vig=st.floats(-0.5, 0.0),
)
def test_pto_round_trip_any_lens(tmp_path: Path, yaw, pitch, roll, fov, dx, dy, k1, exposure, red, vig) -> None:  # type: ignore[no-untyped-def]
    base = RigProfile.nominal((1920, 960), fill=0.97)
    back = base.lenses[1].replace(
        center=(base.lenses[1].center[0] + dx, base.lenses[1].center[1] + dy), fov_deg=fov, distortion=(k1, 0.0, 0.0, 0.0),
        rotation_ypr=(yaw, pitch, roll), exposure=exposure, color_gain=(red, 1.0, 1.0 / red), vignetting=(vig, vig / 3, 0.0),
    )
    rig = base.with_lens(1, back).with_lens(0, base.lenses[0].replace(fov_deg=fov, distortion=(k1, 0.0, 0.0, 0.0)))
    path = tmp_path / "h.pto"
    write_pto(rig, path)
    _assert_rigs_close(read_pto(path), rig)


def test_two_different_lenses_survive_gyroflow_and_pto(tmp_path: Path) -> None:
    """Per-lens values (focal, centre, k1..k4, FOV) go out and come back for each lens."""
    import cv2

    from orbit360.stitch.interop import write_gyroflow
    from orbit360.synthetic.optics import realistic_rig

    rig = realistic_rig(960, 4401).profile()
    assert rig.lenses[0].distortion != rig.lenses[1].distortion
    front, back = write_gyroflow(rig, tmp_path / "cam.json")
    assert (front.name, back.name) == ("cam_front.json", "cam_back.json")
    # one lens' profile maps a direction where OpenCV's fisheye model (its own code) does
    d = json.loads(back.read_text())
    k = np.asarray(d["fisheye_params"]["distortion_coeffs"], np.float64)
    cm = np.asarray(d["fisheye_params"]["camera_matrix"], np.float64)
    local = np.array([[[0.3, -0.2, 0.5]]], np.float64)
    pts, _ = cv2.fisheye.projectPoints(local, np.zeros(3), np.zeros(3), cm, k)
    lens = rig.lenses[1]
    dirs, _ = fisheye_to_dirs(np.array([pts[0, 0, 0] + 0.5 + 960, pts[0, 0, 1] + 0.5]), lens.model())
    # OpenCV's image y points down, its camera y too: flip y to our lens frame (y up)
    want = local[0, 0] * np.array([1.0, -1.0, 1.0])
    assert np.allclose(dirs, want / np.linalg.norm(want), atol=1e-6)
    # both files back (the _back sibling of a _front file is found) and the Hugin project
    _assert_rigs_close(load_prior(front, rig.frame_size), rig)
    write_pto(rig, tmp_path / "cam.pto")
    _assert_rigs_close(read_pto(tmp_path / "cam.pto"), rig)
