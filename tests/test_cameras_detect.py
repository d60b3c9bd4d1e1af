"""Detection: file names (chapters, pairs), maker/model tags, what is refused and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orbit360.cameras import SideBySideSource, describe_recording, open_rig
from orbit360.cameras._camera_id import gopro_model, gpmf_device_name, udta_tags
from orbit360.cameras._naming import chapter_set, fusion_partner_name, insta360_partner, parse_chapter
from orbit360.cli import main
from orbit360.errors import InputError
from orbit360.synthetic import add_udta, make_scene, misaligned_rig, write_rig_video, write_streams


@pytest.fixture(scope="module")
def sbs_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("sbs")
    p = d / "R0010042.MP4"
    write_rig_video(p, misaligned_rig((640, 320), seed=1), make_scene(1024, seed=1), frames=3, crf=20)
    return p


@pytest.mark.parametrize(
    "name, series, chapter, number",
    [
        ("GH010042.MP4", "GH", 1, "0042"),
        ("GX030042.MP4", "GX", 3, "0042"),
        ("GS020042.360", "GS", 2, "0042"),
        ("GOPR0042.MP4", "GP", 1, "0042"),
        ("GP010042.MP4", "GP", 2, "0042"),
        ("GPFR0042.MP4", "GF", 1, "0042"),
        ("GF020042.MP4", "GF", 3, "0042"),
        ("gpbk0042.mp4", "GB", 1, "0042"),
    ],
)
def test_chapter_names(name, series, chapter, number):
    c = parse_chapter(Path(name))
    assert (c.series, c.chapter, c.number) == (series, chapter, number)
    assert c.filename(Path(name).suffix).upper() == name.upper()


def test_not_chapter_names():
    for name in ("VID_20260101_00_001.insv", "R0010042.MP4", "GH000042.MP4", "video.mp4"):
        assert parse_chapter(Path(name)) is None


def test_chapter_set_and_partners(tmp_path):
    for n in ("GOPR0007.MP4", "GP010007.MP4", "GP020007.MP4", "GP040007.MP4", "GPFR0009.MP4", "VID_1_2_00_003.insv", "VID_1_2_10_003.insv"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in chapter_set(tmp_path / "GP020007.MP4")] == ["GOPR0007.MP4", "GP010007.MP4", "GP020007.MP4"]
    assert chapter_set(tmp_path / "GP040007.MP4") == [tmp_path / "GP040007.MP4"]  # chapter 3 missing: on its own
    assert fusion_partner_name(tmp_path / "GPFR0009.MP4") == "GPBK0009.MP4"
    assert fusion_partner_name(tmp_path / "GF020009.MP4") == "GB020009.MP4"
    a, b = insta360_partner(tmp_path / "VID_1_2_10_003.insv")
    assert (a.name, b.name) == ("VID_1_2_00_003.insv", "VID_1_2_10_003.insv")


def test_gopro_tags_of_the_real_samples(samples_dir):
    from orbit360.isobmff import read_movie
    from orbit360.telemetry import read_gpmd

    for name, firm, model, dvnm in (
        ("gopro_hero7.mp4", "HD7.01.01.70.00", "HERO7", "Hero7 Black"),
        ("gopro_max-heromode.mp4", "H19.03.01.30.00", "MAX", "GoPro Max"),
    ):
        p = samples_dir / name
        tags = udta_tags(read_movie(p).udta)
        assert tags["FIRM"] == firm and gopro_model(firm) == model
        assert gpmf_device_name(bytes(read_gpmd(p).samples[0].data)) == dvnm
    assert gpmf_device_name((samples_dir / "gpmf" / "Fusion.raw").read_bytes()) == "Fusion"
    assert gopro_model("FS1.04.01.80.00") == "Fusion"


def test_single_lens_recordings_are_refused_naming_the_file(samples_dir):
    for name, camera in (("gopro_hero7.mp4", "GoPro HERO7"), ("gopro_max-heromode.mp4", "GoPro MAX")):
        p = samples_dir / name
        rec = describe_recording(p)
        assert rec.kind == "single-lens" and rec.camera == camera
        with pytest.raises(InputError) as err:
            open_rig(p)
        assert str(p) in str(err.value) and camera in str(err.value)


def test_stitch_cli_refuses_hero7_with_one_line(samples_dir, tmp_path, capsys):
    p = samples_dir / "gopro_hero7.mp4"
    assert main(["stitch", str(p), "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"orbit360: error: {p}: ") and "single-lens" in err and "not 360" in err
    assert not (tmp_path / "o.mp4").exists()


def test_already_stitched_equirect_is_refused(tmp_path, sbs_file):
    from orbit360.isobmff.spherical import inject_spherical

    out = tmp_path / "equi.mp4"
    inject_spherical(sbs_file, out)
    rec = describe_recording(out)
    assert rec.kind == "equirect" and "already" in rec.problem


@pytest.mark.parametrize(
    "tags, camera",
    [
        ({"\xa9mak": "RICOH", "\xa9mod": "RICOH THETA V"}, "RICOH THETA V"),
        ({"\xa9mak": "SAMSUNG", "\xa9mod": "SM-R210"}, "Samsung SM-R210"),
        ({"manu": "Insta360", "modl": "ONE X"}, "Insta360 ONE X"),
    ],
)
def test_side_by_side_makers(tmp_path, sbs_file, tags, camera):
    p = tmp_path / "export.mp4"
    shutil.copy(sbs_file, p)
    add_udta(p, tags)
    rec = describe_recording(p)
    assert (rec.kind, rec.camera, rec.layout) == ("side-by-side", camera, "dual fisheye, side by side")
    src = open_rig(p)
    assert isinstance(src, SideBySideSource) and src.camera == camera


def test_folder_with_one_recording(tmp_path, sbs_file):
    shutil.copy(sbs_file, tmp_path / "R0010042.MP4")
    (tmp_path / "notes.txt").write_text("x")
    assert describe_recording(tmp_path).paths == (tmp_path / "R0010042.MP4",)
    shutil.copy(sbs_file, tmp_path / "R0010043.MP4")
    with pytest.raises(InputError, match="2 recordings"):
        describe_recording(tmp_path)


def test_two_unequal_video_tracks_are_not_a_rig(tmp_path):
    import numpy as np

    p = tmp_path / "odd.mp4"
    write_streams(p, [[np.zeros((64, 128, 3), np.uint8)] * 2, [np.zeros((32, 64, 3), np.uint8)] * 2])
    rec = describe_recording(p)
    assert rec.problem is not None
    with pytest.raises(InputError, match=str(p)):
        open_rig(p)


def test_side_by_side_chapters_join(tmp_path):
    """GH01/GH02 chapters of a side-by-side recording: one source, continuous frames, one audio."""
    from orbit360.cameras import ChapterSource
    from orbit360.synthetic import Truth
    from orbit360.metrics import band_rows, psnr
    from orbit360.synthetic import pan_motion

    scene = make_scene(1024, seed=2)
    rig = misaligned_rig((640, 320), seed=2)
    motion = pan_motion(30.0)
    write_rig_video(tmp_path / "GH010099.MP4", rig, scene, frames=4, crf=14, motion=motion, audio=True)
    write_rig_video(tmp_path / "GH020099.MP4", rig, scene, frames=3, crf=14, motion=lambda t: motion(t + 4 / 30), audio=True)
    rec = describe_recording(tmp_path / "GH010099.MP4")
    assert rec.paths == (tmp_path / "GH010099.MP4", tmp_path / "GH020099.MP4") and "2 chapters" in rec.layout
    src = open_rig(tmp_path / "GH010099.MP4")
    try:
        assert isinstance(src, ChapterSource) and src.frame_count == 7
        plan = src.plan(640, rig)
        truth = Truth(scene, 30, motion)
        scores = [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(src.frames())]
        assert len(scores) == 7 and min(scores) >= 27.0, scores
        assert src.audio_path is not None
    finally:
        src.close()
