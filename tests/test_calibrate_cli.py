"""`orbit360 calibrate`: from an encoded recording to a rig JSON, a Hugin project and a preview."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.geometry import Rotation
from orbit360.profile import RigProfile
from orbit360.stitch.interop import read_pto
from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, write_rig_video


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RigProfile]:
    path = tmp_path_factory.mktemp("cal") / "rig.mp4"
    rig = misaligned_rig((1280, 640), seed=5151, misalign_deg=0.6, center_offset_px=3.0, fov_deg=196.0, exposure_stops=1.5)
    write_rig_video(path, rig, make_scene(1024, seed=5152), frames=12, fps=12, motion=pan_motion(40.0, 6.0), crf=14)
    return path, rig


def test_calibrate_writes_profile_project_and_preview(tmp_path: Path, recording, capsys) -> None:  # type: ignore[no-untyped-def]
    video, truth = recording
    out, pto, png, rep = tmp_path / "rig.json", tmp_path / "rig.pto", tmp_path / "preview.png", tmp_path / "report.json"
    rc = main(["calibrate", str(video), "-o", str(out), "--pto", str(pto), "--preview", str(png), "--frames", "6", "--report", str(rep)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "ray residual" in text and "lens 1:" in text and f"wrote {out}" in text
    rig = RigProfile.load(out)
    # through H.264 the estimates stay within the targets
    err = np.degrees(Rotation(rig.lenses[1].rotation().matrix.T @ truth.lenses[1].rotation().matrix).angle)
    # 0.05° before each lens had its own focal, k1..k4 and centre (issue 14): with them, the
    # motion tracks through H.264 leave 0.06-0.09° here (0.2-0.3 px at 3.2 px/deg), with
    # the centres within 0.1 px and the FOV within 0.2°
    assert err < 0.1
    assert max(float(np.hypot(*np.subtract(a.center, b.center))) for a, b in zip(rig.lenses, truth.lenses)) < 0.5
    assert abs(rig.lenses[0].fov_deg - truth.lenses[0].fov_deg) < 0.2
    assert rig.notes["calibration"]["matches"] > 100
    back = read_pto(pto)
    np.testing.assert_allclose(back.lenses[1].rotation().matrix, rig.lenses[1].rotation().matrix, atol=1e-6)
    img = cv2.imread(str(png))
    # the overview, then two rows of 256-pixel seam crops at full size
    assert img is not None and img.shape == (640 + 2 * 256 + 4, 1280, 3)
    # the seam is drawn in red (BGR 0, 0, 255) somewhere near longitude +-90 degrees
    red = (img[..., 2] > 200) & (img[..., 1] < 40) & (img[..., 0] < 40)
    assert red[:640, 300:340].any() and red[:640, 940:980].any()
    # the no-reference report: the lenses 1.5 stops apart meet at the geometric mean
    # (the darker one brought up, the brighter one down, neither alone), the frame keeps
    # the footage's brightness and no colour step is left at the seam
    import json

    report = json.loads(rep.read_text())
    kept = [lens["exposure_kept"] for lens in report["lenses"]]
    assert kept[0] < 0.95 and kept[1] > 1.05, kept
    assert abs(report["brightness_vs_footage"] - 1.0) < 0.05, report["brightness_vs_footage"]
    assert report["seam_step_max_codes"] < 1.5, report["seam_step_codes"]
    assert report["rejected_clipped_fraction"] < 0.2 and report["rejected_parallax_fraction"] < 0.1
    assert "photometry: exposure kept" in text


def test_calibrate_errors_are_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["calibrate", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert main(["calibrate", str(junk), "-o", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.startswith("orbit360: error:")
    assert not (tmp_path / "r.json").exists()


def test_calibrate_scales_a_prior_of_another_size_not_another_aspect(tmp_path: Path, recording, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _ = recording
    prior = tmp_path / "prior.json"
    # the same camera at 1920x960: scaled to the video's 1280x640
    RigProfile.nominal((1920, 960), fov_deg=196.0).save(prior)
    assert main(["calibrate", str(video), "-o", str(tmp_path / "r.json"), "--prior", str(prior), "--frames", "2"]) == 0
    assert RigProfile.load(tmp_path / "r.json").frame_size == (1280, 640)
    capsys.readouterr()
    # another aspect is another crop of the sensor: one line naming the prior
    RigProfile.nominal((1920, 1080)).save(prior)
    assert main(["calibrate", str(video), "-o", str(tmp_path / "r.json"), "--prior", str(prior), "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert "1920x1080" in err and "aspect" in err and "prior.json" in err and err.count("\n") == 1
