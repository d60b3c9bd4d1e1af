"""`orbit360 stitch` composes salvage (broken input), the stitch and publishing (--web)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orbit360.isobmff import iter_boxes
from orbit360.isobmff.spherical import read_spherical
from orbit360.profile import RigProfile
from orbit360.synthetic import make_scene, pan_motion, simulate_power_loss, write_rig_video
from orbit360.video import open_reader


def test_broken_input_is_salvaged_first_and_web_rendition_written(tmp_path: Path) -> None:
    rig = RigProfile.nominal((256, 128))
    scene = make_scene(512, seed=5)
    camera = dict(fps=30, crf=18, preset="ultrafast", gop=10, bframes=2, audio=True, motion=pan_motion(20.0))
    full = tmp_path / "full.mp4"
    write_rig_video(full, rig, scene, frames=40, **camera)  # type: ignore[arg-type]
    reference = tmp_path / "healthy.mp4"
    write_rig_video(reference, rig, scene, frames=10, **camera)  # type: ignore[arg-type]
    broken = tmp_path / "broken.mp4"
    simulate_power_loss(full, broken, keep_fraction=0.7)
    before = broken.read_bytes()
    lens = tmp_path / "rig.json"
    rig.save(lens)

    out = tmp_path / "out" / "pano.mp4"
    out.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "orbit360", "stitch", str(broken), "-o", str(out), "--lens", str(lens),
         "--reference", str(reference), "--web", "--preset", "ultrafast", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no moov" in proc.stderr and "salvaged" in proc.stderr
    assert broken.read_bytes() == before
    with open_reader(out) as r:
        frames = sum(1 for _ in r.frames())
    assert 20 <= frames < 40  # the frames wholly written before the power loss
    web = out.parent / "pano.web.mp4"
    assert sorted(p.name for p in out.parent.iterdir()) == ["pano.mp4", "pano.web.mp4"]
    meta = read_spherical(web)
    assert meta is not None and meta.has_v1 and meta.has_v2
    with open(web, "rb") as f:
        order = [b.type for b in iter_boxes(f, 0, web.stat().st_size)]
    assert order.index(b"moov") < order.index(b"mdat")  # faststart
    # nothing left behind next to the input either (the salvaged copy was temporary)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "full.mp4", "healthy.mp4", "out", "rig.json"]


def test_inspect_on_a_broken_recording_shows_what_salvage_would_recover(tmp_path: Path, samples_dir: Path) -> None:
    from orbit360.isobmff import read_movie

    healthy = samples_dir / "gopro_hero7.mp4"
    data = healthy.read_bytes()
    movie = read_movie(healthy)
    cut = movie.mdat.offset + movie.mdat.size // 2  # type: ignore[union-attr]
    broken = tmp_path / "GH010001.MP4"
    broken.write_bytes(data[:cut])  # moov (at the end) gone, payload cut mid-way
    video = movie.track("vide")
    assert video is not None
    complete = int(((video.offsets + video.sizes) <= cut).sum())
    proc = subprocess.run([sys.executable, "-m", "orbit360", "inspect", str(broken)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no moov" in proc.stdout and "orbit360 salvage" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if " avc1 " in line)
    assert int(row.split()[3]) == complete


def test_width_is_rounded_to_a_multiple_of_four(tmp_path: Path) -> None:
    """--width 258 would give a 129-row frame, which yuv420p cannot hold: 256x128 instead,
    no traceback."""
    rig = RigProfile.nominal((256, 128))
    inp = tmp_path / "in.mp4"
    write_rig_video(inp, rig, make_scene(256, seed=2), frames=3, crf=18, preset="ultrafast")
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "orbit360", "stitch", str(inp), "-o", str(out), "--width", "258", "--preset", "ultrafast", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    with open_reader(out) as r:
        assert r.size == (256, 128) and len(list(r.frames())) == 3
