"""`--orient earth`: a tumbling dual-lens camera in a 400 km orbit (Earth 70.2° in angular
radius, stars, the sun, part of the station fixed to the camera), GPMF gyro with zero
ACCL, orbital night over a few frames. The Earth's centre is found within 0.5° in every
frame where it is lit; the output puts it straight down, with the gyro and without; a
recording where the Earth never shows is one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orbit360.cameras import open_rig
from orbit360.cli import main
from orbit360.geometry import Rotation
from orbit360.orient._earth import find_earth
from orbit360.synthetic.orbit import earth_angular_radius_deg, write_orbital_recording
from orbit360.pipeline import stitch_segmented, stitch_video
from orbit360.pipeline._orient import earth_sightings
from orbit360.synthetic import misaligned_rig
from orbit360.video import EncodeOptions, open_reader

FPS = 12
FRAMES = 24
NIGHT = {11, 12, 13}  # frame 12 is a key frame: a look with the gyro falls in the night
OPTS = EncodeOptions(crf=16, preset="ultrafast")
AXIS = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])


def tumble(t: float) -> Rotation:
    return Rotation.from_axis_angle(AXIS, np.radians(25.0 * t)) @ Rotation.from_ypr(30.0, 50.0, 10.0)


@pytest.fixture(scope="module")
def orbit(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("orbit")
    rig = misaligned_rig((1280, 640), seed=3, misalign_deg=0.3, vignetting=False, color=False, exposure_stops=0.0)
    return write_orbital_recording(tmp / "orbit.mp4", rig, tumble, frames=FRAMES, fps=FPS, night=NIGHT, keep_without_gyro=True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _output_nadir_errors(path: Path) -> dict[int, float | None]:
    """Per output frame: the Earth's centre's angle from straight down (None: not found)."""
    down = np.array([0.0, -1.0, 0.0])
    with open_reader(path) as r:
        return {i: (None if (fix := find_earth(f)) is None else _angle_deg(fix.nadir, down)) for i, f in enumerate(r.frames())}


def test_nadir_found_within_half_a_degree(orbit) -> None:  # type: ignore[no-untyped-def]
    assert earth_angular_radius_deg(400.0) == pytest.approx(70.2, abs=0.05)
    source = open_rig(orbit.path)
    try:
        looked, nadirs = earth_sightings(source, orbit.rig)
    finally:
        source.close()
    assert looked == list(range(FRAMES))
    errors = {i: _angle_deg(n, orbit.nadir(i)) for i, n in zip(looked, nadirs) if n is not None}
    assert sorted(set(looked) - set(errors)) == sorted(NIGHT)  # night: not found, nothing else missed
    assert max(errors.values()) < 0.5, errors


def test_stitch_puts_the_earth_down_with_the_gyro(orbit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "down.mp4"
    logs: list[str] = []
    stitch_video(orbit.path, out, rig=orbit.rig, width=1024, options=OPTS, orient="earth", log=logs.append)
    line = next(m for m in logs if m.startswith("orientation: earth"))
    assert "heading from the gyro" in line and "kept the last rotation" in line, line
    errors = _output_nadir_errors(out)
    assert {i for i, e in errors.items() if e is None} == NIGHT
    assert max(e for e in errors.values() if e is not None) < 0.5, errors
    # the heading follows the gyro: with the Earth down, the output holds still between frames, so the
    # sun (fixed in the world) stays where it was: compare two frames a second apart, away from the night
    with open_reader(out) as r:
        frames = list(r.frames())
    sun = [np.unravel_index(np.argmax(f[:256].sum(axis=2)), f[:256].shape[:2]) for f in (frames[0], frames[FPS])]
    assert abs(int(sun[0][1]) - int(sun[1][1])) <= 2 and abs(int(sun[0][0]) - int(sun[1][0])) <= 2, sun


def test_without_gyro_and_in_segments(orbit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "nogyro.mp4"
    logs: list[str] = []
    stitch_video(orbit.without_telemetry, out, rig=orbit.rig, width=1024, options=OPTS, orient="earth", log=logs.append)
    assert any("heading from the previous frame" in m and "kept the last rotation" in m for m in logs), logs
    errors = _output_nadir_errors(out)
    assert max(e for e in errors.values() if e is not None) < 0.5, errors
    # a cut looks at its own frames only (with the gyro: key frames 12, in the night, and 22; and
    # the last frame), and puts the Earth down there too
    for source, looked in ((orbit.without_telemetry, "8/8"), (orbit.path, "1/2 frames looked at, heading from the gyro; not found at frame 12")):
        cut = tmp_path / "cut.mp4"
        logs.clear()
        stitch_video(source, cut, rig=orbit.rig, width=1024, options=OPTS, orient="earth", start_s=15 / FPS, stop_s=23 / FPS,
                     log=logs.append)
        assert any(f"found in {looked}" in m for m in logs), logs
        errors = _output_nadir_errors(cut)
        assert len(errors) == 8 and max(e for e in errors.values() if e is not None) < 0.5, errors
    seg = tmp_path / "seg.mp4"
    stitch_segmented(orbit.path, seg, rig=orbit.rig, width=1024, options=OPTS, orient="earth", segment_frames=12, workers=1)
    errors = _output_nadir_errors(seg)
    assert max(e for e in errors.values() if e is not None) < 0.5, errors


def test_no_earth_is_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rig = misaligned_rig((640, 320), seed=4, misalign_deg=0.0, vignetting=False, color=False, exposure_stops=0.0)
    rec = write_orbital_recording(tmp_path / "night.mp4", rig, tumble, frames=4, fps=FPS, night=range(4), scene_width=1024)
    rig.save(tmp_path / "rig.json")
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    code = main(["stitch", str(rec.path), "-o", str(out), "--lens", str(tmp_path / "rig.json"), "--orient", "earth", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"orbit360: error: {rec.path}: --orient earth: the Earth") and "not in any of the" in err[0]
    assert list(out.parent.iterdir()) == []
    code = main(["stitch", str(rec.path), "-o", str(out), "--lens", str(tmp_path / "rig.json"), "--orient", "earth", "--quiet",
                 "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--orient earth: the Earth" in err[0], err
    assert list(out.parent.iterdir()) == []  # no work folder either
