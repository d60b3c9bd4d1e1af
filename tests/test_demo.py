"""`orbit360 demo`: the built-in example end to end, checked like a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg

from orbit360.video import open_reader

V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")


def test_demo_end_to_end(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "orbit360", "demo", "-o", str(out_dir)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"PSNR vs ground truth: ([0-9.]+) dB", proc.stdout)
    assert m and float(m.group(1)) >= 30.0, proc.stdout
    video = out_dir / "stitched_360.mp4"
    assert str(video) in proc.stdout and (out_dir / "preview.png").stat().st_size > 10_000
    # the story: the broken recording has no moov, the salvaged one plays, the web rendition exists
    assert b"moov" not in (out_dir / "dual_fisheye_broken.mp4").read_bytes()
    salvaged = out_dir / "dual_fisheye_broken.salvaged.mp4"
    recovered = re.search(r"vide avc1: (\d+) samples", proc.stdout)
    assert recovered is not None
    with open_reader(salvaged) as r:
        assert sum(1 for _ in r.frames()) == int(recovered.group(1))
    assert "self-calibrated" in proc.stdout
    with open_reader(out_dir / "stitched_360.web.mp4") as r:
        assert r.size == (1280, 640)
    with open_reader(video) as r:
        assert r.size == (1280, 640)
        assert sum(1 for _ in r.frames()) >= 150
    data = video.read_bytes()
    # independent byte scan: V1 uuid box with its XML, V2 st3d and sv3d/proj/equi boxes
    assert V1_UUID in data and b"<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>" in data
    for fourcc in (b"st3d", b"sv3d", b"svhd", b"proj", b"prhd", b"equi"):
        assert fourcc in data, fourcc
    ff = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(video)], capture_output=True, text=True)
    assert "Spherical Mapping: equirectangular" in ff.stderr
