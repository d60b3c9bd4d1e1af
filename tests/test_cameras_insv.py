"""Insta360 .insv: the trailer (records, INFO, gyro, lens circles) and the three layouts:
one side-by-side track, one track per lens, and an _00_/_10_ file pair."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orbit360.cameras import PairSource, SideBySideSource, describe_recording, open_rig, read_insv_trailer
from orbit360.cameras._insta360 import INSV_MAGIC, encode_insv_trailer, parse_lens_offset
from orbit360.metrics import band_rows, psnr
from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, write_insv

FRAME = (960, 480)
MOTION = pan_motion(20.0)


@pytest.fixture(scope="module")
def scene():
    return make_scene(2048, seed=41)


@pytest.fixture(scope="module")
def rig():
    # circles off-centre and a little smaller than the half frame: only the trailer knows where
    r = misaligned_rig(FRAME, seed=4, misalign_deg=0.0, center_offset_px=6.0, exposure_stops=0.0, vignetting=False, color=False, fill=0.96)
    return r


@pytest.fixture(scope="module")
def sbs(tmp_path_factory, scene, rig):
    p = tmp_path_factory.mktemp("insv") / "VID_20260101_101010_00_007.insv"
    return p, write_insv(p, scene, rig, frames=5, motion=MOTION)


def _scores(src, truth, rig=None):
    plan = src.plan(FRAME[0], rig)
    return [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(src.frames())]


def test_trailer_round_trip(tmp_path):
    gyro = np.column_stack([np.arange(5) / 100.0, np.ones((5, 3)) * (0, 0, 1), np.linspace(0, 1, 15).reshape(5, 3)])
    trailer = encode_insv_trailer(camera_type="Insta360 ONE RS", serial="IXE123", lenses=[(10.5, 20.25, 30.0), (40.0, 20.0, 30.0)], frame_size=(80, 40), gyro=gyro)
    assert trailer.endswith(INSV_MAGIC)
    p = tmp_path / "t.insv"
    p.write_bytes(b"\0" * 100 + trailer)
    t = read_insv_trailer(p)
    assert t.start == 100
    assert (t.info["camera_type"], t.info["serial"], t.info["dimension"]) == ("Insta360 ONE RS", "IXE123", (80, 40))
    assert t.lens_circles() == [(10.5, 20.25, 30.0), (40.0, 20.0, 30.0)]
    assert np.allclose(t.gyro, gyro)


def test_trailer_read(sbs, rig):
    path, _ = sbs
    t = read_insv_trailer(path)
    assert t is not None and t.version == 3
    assert t.info["camera_type"] == "Insta360 ONE X2" and t.info["dimension"] == FRAME and t.info["frame_rate"] == 30
    assert {r.kind for r in t.records} == {1, 3}
    assert t.gyro.shape == (34, 7)  # 200 Hz over 5 frames at 30 fps
    assert np.allclose(t.gyro[:, 3], 1.0) and np.allclose(np.diff(t.gyro[:, 0]), 0.005)
    circles = t.lens_circles()
    for (cx, cy, r), lens in zip(circles, rig.lenses):
        assert (cx, cy, r) == pytest.approx((*lens.center, lens.radius), abs=1e-3)
    # the MP4 part ends where the trailer starts
    from orbit360.isobmff._sample_table import read_movie_from

    with open(path, "rb") as f:
        assert len(read_movie_from(f, t.start).tracks) == 2


def test_plain_mp4_has_no_trailer(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"\0\0\0\x08free" * 20)
    assert read_insv_trailer(p) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.integers(0, 400))
@example(b"\x07" * 56 + bytes([1, 3]) + (56).to_bytes(4, "little"), 62 + 72)  # one gyro record read
def test_damaged_trailer_never_raises_past_the_file(tmp_path, junk, claimed):
    import struct

    p = tmp_path / "junk.insv"
    p.write_bytes(junk + bytes(32) + struct.pack("<II", claimed, 3) + INSV_MAGIC)
    t = read_insv_trailer(p)
    size = p.stat().st_size
    if t is None:
        return
    # a trailer read is where the tail says it starts, and every record lies inside it,
    # before the 72-byte tail, each after the one it precedes (read backwards)
    assert t.start == size - claimed and 0 <= t.start
    assert all(t.start <= r.offset and r.offset + r.size <= size - 72 for r in t.records)
    assert all(a.offset >= b.offset + b.size for a, b in zip(t.records, t.records[1:]))
    assert t.gyro is None or (t.gyro.ndim == 2 and t.gyro.shape[0] >= 1)


def test_lens_offset_string():
    assert parse_lens_offset("2_1.5_2_3_0_0_90_4_5_6_0_0_90_6080_3040_11") == [(1.5, 2, 3, 0, 0, 90), (4, 5, 6, 0, 0, 90)]
    assert parse_lens_offset("") is None and parse_lens_offset("2_1_2") is None


def test_side_by_side_insv_stitches_with_the_trailers_lens_data(sbs, rig):
    path, truth = sbs
    src = open_rig(path)
    assert isinstance(src, SideBySideSource) and src.camera == "Insta360 ONE X2"
    nominal = src.nominal_rig()
    assert nominal.notes.get("source") == "Insta360 trailer lens offset"
    scores = _scores(src, truth)  # no --lens: the trailer's circles are the rig
    assert min(scores) >= 27.0, scores
    # the generic nominal rig (circles centred) is measurably worse: the trailer matters
    from orbit360.profile import RigProfile

    generic = _scores(src, truth, RigProfile.nominal(FRAME))
    assert np.mean(scores) > np.mean(generic) + 1.0


def test_two_track_insv(tmp_path, scene, rig):
    p = tmp_path / "VID_20260101_101010_00_008.insv"
    truth = write_insv(p, scene, rig, frames=4, motion=MOTION, two_tracks=True, camera_type="Insta360 ONE RS 1-Inch 360")
    rec = describe_recording(p)
    assert rec.kind == "two-tracks" and rec.camera == "Insta360 ONE RS 1-Inch 360"
    src = open_rig(p)
    assert isinstance(src, PairSource) and src.paths == (p,) and src.frame_size == FRAME
    assert min(_scores(src, truth)) >= 27.0


def test_00_10_file_pair(tmp_path, scene, rig):
    both = tmp_path / "both.insv"
    truth = write_insv(both, scene, rig, frames=4, motion=MOTION, two_tracks=True)
    # split the two tracks into the _00_ (front) and _10_ (back) files the ONE X writes
    import av

    names = [tmp_path / "VID_20260101_101010_00_009.insv", tmp_path / "VID_20260101_101010_10_009.insv"]
    for k, name in enumerate(names):
        with av.open(str(both)) as src_c, av.open(str(name), "w", format="mp4") as out:
            s_in = src_c.streams.video[k]
            s_out = out.add_stream_from_template(s_in)
            for pkt in src_c.demux(s_in):
                if pkt.dts is None:
                    continue
                pkt.stream = s_out
                out.mux(pkt)
        with open(name, "ab") as f:
            f.write(read_insv_trailer_bytes(both))
    rec = describe_recording(names[1])
    assert rec.kind == "pair" and rec.paths == tuple(names) and rec.camera == "Insta360 ONE X2"
    src = open_rig(names[1])
    assert isinstance(src, PairSource) and src.sync.offset_frames == 0
    assert min(_scores(src, truth)) >= 27.0
    # alone, one lens is refused
    lone = tmp_path / "lone" / names[0].name
    lone.parent.mkdir()
    shutil.copy(names[0], lone)
    assert describe_recording(lone).problem is not None


def read_insv_trailer_bytes(path):
    t = read_insv_trailer(path)
    data = path.read_bytes()
    return data[t.start :]
