"""`orbit360 inspect` names the camera maker and the layout of every input format."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
import shutil

import pytest

from orbit360.cli import main
from orbit360.inspect import inspect_file
from orbit360.synthetic import (
    add_udta, make_scene, misaligned_rig, write_fusion_pair, write_insv, write_max_recording, write_rig_video,
)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("inspect")
    scene = make_scene(1024, seed=5)
    rig = misaligned_rig((640, 320), seed=5)
    write_max_recording(d / "GS010011.360", scene, track_size=(512, 168), frames=2)
    write_max_recording(d / "GS020011.360", scene, track_size=(512, 168), frames=2)
    write_fusion_pair(d, scene, rig, number="0011", frames=3, offset=1)
    write_insv(d / "VID_20260101_000000_00_011.insv", scene, rig, frames=2, camera_type="Insta360 ONE X2")
    theta = d / "R0010011.MP4"
    write_rig_video(theta, rig, scene, frames=2, crf=24)
    add_udta(theta, {"\xa9mak": "RICOH", "\xa9mod": "RICOH THETA Z1"})
    gear = d / "360_0011.MP4"
    shutil.copy(theta.with_name("R0010011.MP4"), gear)
    write_rig_video(gear, rig, scene, frames=2, crf=24)
    add_udta(gear, {"\xa9mak": "SAMSUNG", "\xa9mod": "Gear 360 (SM-C200)"})
    return d


@pytest.mark.parametrize(
    "name, camera, layout",
    [
        ("GS020011.360", "GoPro MAX", "EAC cube in two HEVC tracks (GoPro .360), 2 chapters"),
        ("GPFR0011.MP4", "GoPro Fusion", "dual fisheye, front/back pair (GPFR0011.MP4 + GPBK0011.MP4)"),
        ("GPBK0011.MP4", "GoPro Fusion", "dual fisheye, front/back pair"),
        ("VID_20260101_000000_00_011.insv", "Insta360 ONE X2", "dual fisheye, side by side"),
        ("R0010011.MP4", "RICOH THETA Z1", "dual fisheye, side by side"),
        ("360_0011.MP4", "Samsung Gear 360 (SM-C200)", "dual fisheye, side by side"),
    ],
)
def test_inspect_names_maker_and_layout(recordings, capsys, name, camera, layout):
    p = recordings / name
    info = inspect_file(p)
    assert info.camera == camera and info.layout.startswith(layout)
    assert info.stitchable and not info.problems
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert f"camera: {camera}; layout: {layout}" in out


def test_inspect_lists_the_files_and_audio(recordings, capsys):
    assert main(["inspect", str(recordings / "GS010011.360")]) == 0
    out = capsys.readouterr().out
    assert "files: GS010011.360, GS020011.360" in out
    assert "4 ch (ambisonic (order 1, 4 ch))" in out
    assert main(["inspect", "--json", str(recordings / "GPBK0011.MP4")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["camera"] == "GoPro Fusion" and [p.rsplit("/", 1)[-1] for p in d["files"]] == ["GPFR0011.MP4", "GPBK0011.MP4"]
    assert d["sync"]["offset_frames"] == 1 and d["sync"]["estimates"]["timecode"] == 1.0
    assert main(["inspect", str(recordings / "GPFR0011.MP4")]) == 0
    assert "note: sync: back is +1 frames from front (by timecode; timecode +1.00)" in capsys.readouterr().out  # 0.1 s: too short to hear


def test_inspect_insv_reads_past_the_trailer(recordings):
    info = inspect_file(recordings / "VID_20260101_000000_00_011.insv")
    assert info.container == "mp4/mov + Insta360 trailer"
    assert [t.kind for t in info.tracks] == ["video", "audio"]
    assert any("gyro samples" in n for n in info.notes)


def test_inspect_single_lens_sample(samples_dir, capsys):
    p = samples_dir / "gopro_hero7.mp4"
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "camera: GoPro HERO7; layout: single lens (not 360)" in out
    assert "problem: GoPro HERO7 single-lens recording (848x480, 1 video track): not 360 footage" in out
    assert not inspect_file(p).stitchable


@pytest.fixture
def reads(monkeypatch):
    """Counts, per file name, the moov parses, Insta360 trailer reads and PyAV opens."""
    import orbit360.cameras as cameras
    import orbit360.cameras._insta360 as insta360
    import orbit360.isobmff._sample_table as sample_table
    import orbit360.video as video

    counts: dict[str, Counter[str]] = {"moov": Counter(), "trailer": Counter(), "opened": Counter()}

    def counting(what, fn, name_of):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            counts[what][name_of(*args, **kwargs)] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(sample_table, "_read_movie_from", counting("moov", sample_table._read_movie_from, lambda f, size: Path(f.name).name))
    trailer = counting("trailer", insta360.read_insv_trailer, lambda p: Path(p).name)
    monkeypatch.setattr(insta360, "read_insv_trailer", trailer)
    monkeypatch.setattr(cameras, "read_insv_trailer", trailer)  # the name callers import
    monkeypatch.setattr(video, "open_reader", counting("opened", video.open_reader, lambda p, **kw: Path(p).name))
    return counts


def test_each_command_reads_a_file_once(recordings, reads):
    from orbit360.cameras import open_rig

    insv = "VID_20260101_000000_00_011.insv"
    info = inspect_file(recordings / insv)
    assert info.container == "mp4/mov + Insta360 trailer" and [t.kind for t in info.tracks] == ["video", "audio"]
    assert info.tracks[0].frames == 2 and info.tracks[1].channels == 2 and info.camera == "Insta360 ONE X2"
    assert reads["moov"] == {insv: 1} and reads["trailer"] == {insv: 1}  # tracks, audio and description share the parse

    for counter in reads.values():
        counter.clear()
    src = open_rig(recordings / insv)
    src.close()
    assert src.frame_count == 2 and src.rig_hint is not None  # the trailer's lens circles
    assert reads["moov"] == {insv: 1} and reads["trailer"] == {insv: 1}

    for counter in reads.values():
        counter.clear()
    pair = open_rig(recordings / "GPFR0011.MP4")
    pair.close()
    assert pair.sync.offset_frames == 1 and pair.frame_count == 2
    assert reads["opened"] == {"GPFR0011.MP4": 1, "GPBK0011.MP4": 1}  # not once to probe and again to open
    # the front's moov read to describe it serves the sync clues (timecode, telemetry) too
    assert reads["moov"] == {"GPFR0011.MP4": 1, "GPBK0011.MP4": 1}
