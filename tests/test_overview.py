"""`orbit360 overview`: key frames only, each thumbnail the stitched view of the instant it
is labelled with (the camera pans, so a neighbouring key frame looks measurably different),
on chapters of a side-by-side recording, a salvaged file, a Fusion pair and a MAX .360."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.metrics import band_rows, psnr
from orbit360.overview import make_overview, sheet_grid, thumbnails_of
from orbit360.salvage import salvage
from orbit360.synthetic import (
    RigRenderer, make_scene, misaligned_rig, pan_motion, simulate_power_loss, write_fusion_pair, write_max_recording,
    write_rig_video,
)

FPS = 30
THUMB = (256, 128)


@pytest.fixture(scope="module")
def chapters(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("overview")
    rig = misaligned_rig((640, 320), seed=5, misalign_deg=0.3, vignetting=False, color=False)
    scene = make_scene(1024, seed=6)
    motion = pan_motion(40.0)
    write_rig_video(tmp / "GH010077.MP4", rig, scene, frames=30, motion=motion, gop=10, preset="ultrafast", crf=16)
    write_rig_video(tmp / "GH020077.MP4", rig, scene, frames=30, motion=lambda t: motion(t + 1.0), gop=10,
                    preset="ultrafast", crf=16)
    return tmp, rig, RigRenderer(rig, scene), motion


def _truth(renderer: RigRenderer, motion, frame: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    return renderer.ground_truth(THUMB, motion(frame / FPS))


def test_chapters_sheet_shows_each_key_frame_at_its_time(chapters, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, rig, renderer, motion = chapters
    sheet = tmp_path / "sheet.jpg"
    o = make_overview(folder / "GH010077.MP4", sheet, every_s=0.3, rig=rig, thumb_width=THUMB[0], columns=4)
    # targets 0, 0.3, ... 1.8 s -> the last key frame (every 10th) at or before each, across both chapters
    assert [t.frame for t in o.thumbnails] == [0, 10, 20, 30, 40, 50]
    assert [t.t for t in o.thumbnails] == pytest.approx([k / FPS for k in (0, 10, 20, 30, 40, 50)])
    rows = band_rows(THUMB[1])
    for thumb, view in zip(o.thumbnails, thumbnails_of(o.sheet, o.thumbnails)):
        own = psnr(view, _truth(renderer, motion, thumb.frame), rows=rows)
        others = [psnr(view, _truth(renderer, motion, thumb.frame + d), rows=rows) for d in (-5, 5)]
        assert own > 24.0 and own > max(others) + 3.0, (thumb.frame, own, others)
    data = json.loads(sheet.with_suffix(".json").read_text())
    assert [t["time"] for t in data["thumbnails"]] == ["0:00:00.000", "0:00:00.333", "0:00:00.667", "0:00:01.000",
                                                       "0:00:01.333", "0:00:01.667"]
    img = cv2.imread(str(sheet))
    assert img.shape == (2 * (THUMB[1] + 22), 4 * THUMB[0], 3)


def test_salvaged_file_via_cli(chapters, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, rig, _, _ = chapters
    broken = tmp_path / "broken.mp4"
    simulate_power_loss(folder / "GH010077.MP4", broken, keep_fraction=0.75)
    rig_json = tmp_path / "rig.json"
    rig.save(rig_json)
    # the broken file itself: salvaged on the way in (to a temporary file)
    out = tmp_path / "o.jpg"
    assert main(["overview", str(broken), "-o", str(out), "--every", "0.3s", "--lens", str(rig_json),
                 "--reference", str(folder / "GH010077.MP4"), "--quiet"]) == 0
    frames = [t["frame"] for t in json.loads(out.with_suffix(".json").read_text())["thumbnails"]]
    # and a salvaged file: the same thumbnails
    fixed = salvage(broken, tmp_path / "fixed.mp4", reference=folder / "GH010077.MP4").output
    assert fixed is not None
    assert [t.frame for t in make_overview(fixed, None, every_s=0.3, rig=rig).thumbnails] == frames
    assert frames[0] == 0 and frames == sorted(set(frames)) and all(f % 10 == 0 for f in frames) and len(frames) >= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "fixed.mp4", "o.jpg", "o.json", "rig.json"]


def test_fusion_pair_and_max(tmp_path: Path) -> None:
    scene = make_scene(512, seed=9)
    rig = misaligned_rig((512, 256), seed=2, misalign_deg=0.0, vignetting=False, color=False)
    front, _, truth = write_fusion_pair(tmp_path, scene, rig, frames=12, offset=2, motion=pan_motion(60.0), audio=False)
    o = make_overview(front, None, every_s=0.2, rig=rig, thumb_width=THUMB[0])
    assert [t.frame for t in o.thumbnails] == [0]  # one key frame per lens file; the lenses' differ by 2 frames
    assert o.thumbnails[0].exact
    view = thumbnails_of(o.sheet, o.thumbnails)[0]
    assert psnr(view, truth.ground_truth(0, THUMB), rows=band_rows(THUMB[1])) > 24.0
    max_truth = write_max_recording(tmp_path / "GS010001.360", scene, frames=6, ambisonic=False)
    o = make_overview(tmp_path / "GS010001.360", None, every_s=0.1, thumb_width=THUMB[0])
    assert [t.frame for t in o.thumbnails] == [0] and not o.thumbnails[0].exact
    view = thumbnails_of(o.sheet, o.thumbnails)[0]
    assert psnr(view, max_truth.ground_truth(0, THUMB), rows=band_rows(THUMB[1])) > 24.0


def test_sheet_grid_fits_a_jpeg() -> None:
    assert sheet_grid(120, 182) == (6, 20)  # an hour at 30 s
    cols, rows = sheet_grid(8 * 360, 182)  # eight hours at 10 s: more columns, under 65535 rows
    assert cols > 6 and rows * 182 <= 65535 and cols * rows >= 8 * 360
