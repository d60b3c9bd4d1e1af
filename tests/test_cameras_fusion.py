"""GoPro Fusion front/back pairs: paired by name, synchronised to the frame, stitched."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from orbit360.cameras import PairSource, describe_recording, open_rig, sync_pair
from orbit360.cameras._pair import _xcorr_lag
from orbit360.errors import InputError
from orbit360.metrics import band_rows, psnr
from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, write_fusion_pair

FRAME = (960, 480)
MOTION = pan_motion(40.0)  # 1.3° per frame: a one-frame error costs several dB


@pytest.fixture(scope="module")
def scene():
    return make_scene(2048, seed=31)


@pytest.fixture(scope="module")
def rig():
    return misaligned_rig(FRAME, seed=3, exposure_stops=0.5)


@pytest.fixture(scope="module")
def late_back(tmp_path_factory, scene, rig):
    """The back card started 3 frames after the front: timecode and audio both say so."""
    d = tmp_path_factory.mktemp("fusion_late")
    return write_fusion_pair(d, scene, rig, number="0101", frames=10, offset=3, motion=MOTION)


@pytest.fixture(scope="module")
def early_back(tmp_path_factory, scene, rig):
    """The back card started 2 frames before the front; no timecode track (audio decides)."""
    d = tmp_path_factory.mktemp("fusion_early")
    return write_fusion_pair(d, scene, rig, number="0102", frames=10, offset=-2, motion=MOTION, timecode=False)


def test_xcorr_sign():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    lag, peak = _xcorr_lag(x[:3000], x[37:3037], 100)  # b[n] = a[n + 37]
    assert lag == pytest.approx(37, abs=0.05) and peak > 0.9


@pytest.mark.parametrize("which, offset", [("late_back", 3), ("early_back", -2)])
def test_pair_synchronised_to_the_frame_and_stitched(request, rig, which, offset):
    front, back, truth = request.getfixturevalue(which)
    src = open_rig(back)  # either file of the pair opens both
    assert isinstance(src, PairSource)
    assert (src.front, src.back) == (front, back)
    assert src.sync.offset_frames == offset
    assert src.sync.method == "audio"
    assert src.sync.estimates["audio"] == pytest.approx(offset, abs=0.1)
    if which == "late_back":
        assert src.sync.estimates["timecode"] == pytest.approx(offset)
    assert src.frame_count == 10 - abs(offset)
    assert src.frame_size == FRAME
    plan = src.plan(FRAME[0], rig)
    scores = [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(src.frames())]
    assert len(scores) == src.frame_count
    assert min(scores) >= 27.0, scores
    # off by one frame is visibly worse: the figure above is really the synchronisation's
    one_off = psnr(plan.apply(next(src.frames(2, 3))), truth.ground_truth(3, plan.size), rows=band_rows(plan.size[1]))
    assert one_off < min(scores) - 3.0


def test_timecode_alone(tmp_path, scene, rig):
    front, back, _ = write_fusion_pair(tmp_path, scene, rig, number="0103", frames=4, offset=1, motion=MOTION, audio=False)
    s = sync_pair(front, back, PairSource(front, back).fps)
    assert (s.offset_frames, s.method) == (1, "timecode")
    assert "timecode +1.00" in s.describe()


def test_described_as_fusion_pair(late_back):
    front, back, _ = late_back
    for p in (front, back):
        rec = describe_recording(p)
        assert rec.kind == "pair" and rec.camera == "GoPro Fusion"
        assert rec.paths == (front, back)
        assert "front/back pair" in rec.layout and front.name in rec.layout


def test_missing_partner_is_refused_naming_it(tmp_path, late_back):
    front = tmp_path / late_back[0].name
    shutil.copy(late_back[0], front)
    rec = describe_recording(front)
    assert rec.problem is not None and "GPBK0101.MP4" in rec.problem
    with pytest.raises(InputError) as err:
        open_rig(front)
    assert str(front) in str(err.value) and "GPBK0101.MP4" in str(err.value)


def test_telemetry_alone(tmp_path, scene, rig):
    """No timecode, no sound: the gyro streams of both cards line the files up."""
    front, back, _ = write_fusion_pair(tmp_path, scene, rig, number="0104", frames=10, offset=4, motion=MOTION,
                                       audio=False, timecode=False, gyro=True)
    s = sync_pair(front, back, PairSource(front, back).fps)
    assert (s.offset_frames, s.method) == (4, "telemetry")
    assert s.estimates["telemetry"] == pytest.approx(4, abs=0.25)


def test_fusion_chapters_join_without_losing_sync(tmp_path, scene, rig):
    front, back, truth = write_fusion_pair(tmp_path, scene, rig, number="0105", frames=12, offset=2, motion=MOTION, chapters=2)
    rec = describe_recording(tmp_path / "GB010105.MP4")  # a later chapter of the back card
    assert rec.kind == "pair" and rec.paths == (front, back) and "2 chapters" in rec.layout
    src = open_rig(tmp_path / "GB010105.MP4")
    try:
        assert src.front_chapters == (front, tmp_path / "GF010105.MP4")
        assert src.back_chapters == (back, tmp_path / "GB010105.MP4")
        assert src.sync.offset_frames == 2 and src.frame_count == 10
        plan = src.plan(FRAME[0], rig)
        scores = [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(src.frames())]
        assert len(scores) == 10 and min(scores) >= 27.0, scores
        audio = src.audio_path  # the back's chapters (its frame 0 is output frame 0), joined
        assert audio is not None and audio.suffix == ".mp4" and audio.parent.name.startswith("orbit360-pair-")
    finally:
        src.close()
    assert not audio.exists()


def test_pair_planes_match_rgb_frames_and_stitch_synchronised(tmp_path, scene, rig):
    """The YUV path of a pair: each plane of the front lens beside the back's, synchronised
    and across chapters exactly as the RGB frames, and stitched to the same picture."""
    from orbit360.video._convert import yuv420p_to_rgb

    front, back, truth = write_fusion_pair(tmp_path, scene, rig, number="0106", frames=8, offset=2, motion=MOTION, chapters=2)
    src = open_rig(back)
    try:
        assert src.yuv_format is not None
        rgb = list(src.frames(1, 5))
        planes = list(src.yuv420_frames(1, 5))
        assert len(planes) == len(rgb) == 4
        for p, f in zip(planes, rgb):
            flat = np.concatenate([x.reshape(-1) for x in p]).reshape(-1, FRAME[0])
            assert np.array_equal(yuv420p_to_rgb(flat), f)
        plan = src.plan(FRAME[0], rig)
        ys = plan.yuv420(matrix=src.yuv_format.matrix, full_range=src.yuv_format.full_range)
        for i, p in enumerate(planes, start=1):
            got = yuv420p_to_rgb(ys.apply(p))
            assert psnr(got, truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) >= 27.0
    finally:
        src.close()
