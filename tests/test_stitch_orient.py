"""`stitch --orient`: a synthetic rig turning and shaking, with matching GPMF telemetry in
the file (ACCL zero, weightless) whose clock is offset from the video's; lock brings every
frame back to the first frame's view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orbit360.errors import InputError
from orbit360.metrics import band_rows, psnr
from orbit360.pipeline import stitch_segmented, stitch_video
from orbit360.synthetic import (
    RigRenderer, make_scene, misaligned_rig, pan_motion, shake_motion, synthetic_gpmd, write_rig_video,
)
from orbit360.telemetry import attach_gpmd, gpmd_track_from_samples
from orbit360.video import EncodeOptions, open_reader

FPS = 30
LAG = 0.05
SIZE = (640, 320)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RigRenderer, object]:
    tmp = tmp_path_factory.mktemp("orient")
    rig = misaligned_rig(SIZE, seed=41, misalign_deg=0.4, exposure_stops=0.0, vignetting=False, color=False)
    motion = shake_motion(1.5, 4.0, base=pan_motion(25.0, 4.0))
    video = tmp / "rig.mp4"
    scene = make_scene(1024, seed=43)
    write_rig_video(video, rig, scene, frames=30, fps=FPS, motion=lambda t: motion(t + LAG), crf=14, preset="ultrafast")
    out = tmp / "rig+gpmd.mp4"
    attach_gpmd(video, gpmd_track_from_samples(synthetic_gpmd(motion, 1.5)), out)
    return out, RigRenderer(rig, scene), motion


def _frames(path: Path) -> list[np.ndarray]:
    with open_reader(path) as r:
        return list(r.frames())


@pytest.mark.parametrize("yuv", [True, False], ids=["planes", "rgb"])
def test_lock_holds_the_first_view(recording, tmp_path: Path, yuv: bool) -> None:  # type: ignore[no-untyped-def]
    path, renderer, motion = recording
    rig = renderer.rig
    opts = EncodeOptions(crf=14, preset="ultrafast")
    locked = tmp_path / "locked.mp4"
    free = tmp_path / "free.mp4"
    stitch_video(path, locked, rig=rig, options=opts, orient="lock", yuv=yuv)
    stitch_video(path, free, rig=rig, options=opts, orient="off")
    target = renderer.ground_truth(SIZE, motion(LAG))  # the first frame's view, held
    rows = band_rows(SIZE[1])
    locked_scores = [psnr(f, target, rows=rows) for f in _frames(locked)]
    free_scores = [psnr(f, target, rows=rows) for f in _frames(free)]
    assert len(locked_scores) == 30
    # the camera turns 25°/s: without orientation the late frames no longer match the first view
    assert max(free_scores[-10:]) < 20.0
    assert min(locked_scores) > 27.0, locked_scores


def test_segmented_lock_matches_the_single_run(recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, renderer, motion = recording
    opts = EncodeOptions(crf=14, preset="ultrafast")
    out = tmp_path / "seg.mp4"
    logs: list[str] = []
    stitch_segmented(path, out, rig=renderer.rig, options=opts, segment_frames=12, workers=1, orient="lock", log=logs.append)
    target = renderer.ground_truth(SIZE, motion(LAG))
    frames = _frames(out)
    assert len(frames) == 30
    assert min(psnr(f, target, rows=band_rows(SIZE[1])) for f in frames) > 27.0
    assert any(m.startswith("orientation: lock") for m in logs)


def test_orient_without_telemetry_is_a_clear_error(tmp_path: Path) -> None:
    rig = misaligned_rig((256, 128), seed=1)
    video = tmp_path / "no_gpmd.mp4"
    write_rig_video(video, rig, make_scene(512, seed=1), frames=3, crf=30, preset="ultrafast")
    with pytest.raises(InputError, match="needs the camera's motion telemetry"):
        stitch_video(video, tmp_path / "o.mp4", rig=rig, orient="lock")
    assert not (tmp_path / "o.mp4").exists()
