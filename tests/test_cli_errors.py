"""Bad input: one line on stderr naming the file and the problem, exit 2, no traceback,
nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.cli import cli


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orbit360", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], must_name: str, problem: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("orbit360: error: ")
    assert must_name in lines[0]
    assert problem in lines[0], lines[0]


@pytest.fixture()
def audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "audio_only.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000, layout="stereo")
        for i in range(20):
            f = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            f.sample_rate, f.pts = 48000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture()
def flat_video(tmp_path: Path) -> Path:
    path = tmp_path / "flat_16x9.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.full((180, 320, 3), i * 40, np.uint8), format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture()
def sbs_video(tmp_path: Path) -> Path:
    from orbit360.profile import RigProfile
    from orbit360.synthetic import make_scene, write_rig_video

    path = tmp_path / "sbs.mp4"
    write_rig_video(path, RigProfile.nominal((256, 128)), make_scene(512, seed=1), frames=3, crf=30, preset="ultrafast")
    return path


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    for cmd in (["stitch", str(missing), "-o", str(tmp_path / "o.mp4")], ["inspect", str(missing)]):
        assert_one_line_error(run_cli(*cmd), str(missing), "no such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_one_line_error(run_cli("stitch", str(empty), "-o", str(tmp_path / "o.mp4")), str(empty), "empty")
    assert_one_line_error(run_cli("inspect", str(empty)), str(empty), "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4"]


def test_jpeg_renamed_mp4(tmp_path: Path) -> None:
    import cv2

    fake = tmp_path / "photo.mp4"
    ok, buf = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))
    fake.write_bytes(buf.tobytes())
    before = fake.read_bytes()
    assert_one_line_error(run_cli("stitch", str(fake), "-o", str(tmp_path / "o.mp4")), str(fake), "not an MP4")
    assert_one_line_error(run_cli("inspect", str(fake)), str(fake), "not an MP4")
    assert fake.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.mp4"]


def test_no_video_track(tmp_path: Path, audio_only: Path) -> None:
    assert_one_line_error(run_cli("stitch", str(audio_only), "-o", str(tmp_path / "o.mp4")), str(audio_only), "no video track")
    assert not (tmp_path / "o.mp4").exists()


def test_not_side_by_side(tmp_path: Path, flat_video: Path) -> None:
    assert_one_line_error(run_cli("stitch", str(flat_video), "-o", str(tmp_path / "o.mp4")), str(flat_video), "not 360")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat_16x9.mp4"]


def test_unwritable_output_folder(tmp_path: Path, sbs_video: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir"
    assert_one_line_error(run_cli("stitch", str(sbs_video), "-o", str(missing_dir / "o.mp4")), str(tmp_path / "no"), "output folder")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert_one_line_error(run_cli("stitch", str(sbs_video), "-o", str(blocker / "o.mp4")), str(blocker), "output folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "sbs.mp4"]


def test_lens_json_not_a_rig_profile(tmp_path: Path, sbs_video: Path) -> None:
    bad = tmp_path / "lens.json"
    bad.write_text('{"hello": "world"}')
    assert_one_line_error(run_cli("stitch", str(sbs_video), "-o", str(tmp_path / "o.mp4"), "--lens", str(bad)), str(bad), "not a rig profile")
    assert not (tmp_path / "o.mp4").exists()


def test_stitch_writes_spherical_output(tmp_path: Path, sbs_video: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = run_cli("stitch", str(sbs_video), "-o", str(out), "--preset", "ultrafast", "--quiet")
    assert proc.returncode == 0, proc.stderr
    from orbit360.isobmff.spherical import read_spherical
    from orbit360.video import open_reader

    meta = read_spherical(out)
    assert meta is not None and meta.has_v1 and meta.has_v2
    with open_reader(out) as r:
        assert r.size == (256, 128) and sum(1 for _ in r.frames()) == 3
    # only the output remains: no temporary files left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "sbs.mp4"]


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage:" in result.output
