"""GoPro MAX .360 (two HEVC tracks of EAC tiles) and GoPro chapters joined as one recording."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.cameras import ChapterSource, MaxLayout, MaxSource, describe_recording, open_rig
from orbit360.errors import InputError
from orbit360.metrics import band_rows, psnr
from orbit360.profile import RigProfile
from orbit360.synthetic import Truth, make_scene, pan_motion, write_max_recording

MOTION = pan_motion(25.0)


@pytest.fixture(scope="module")
def scene():
    return make_scene(2048, seed=21)


@pytest.fixture(scope="module")
def max_file(tmp_path_factory, scene):
    d = tmp_path_factory.mktemp("max")
    path = d / "GS010077.360"
    truth = write_max_recording(path, scene, track_size=(1024, 336), frames=6, motion=MOTION)
    return path, truth


@pytest.fixture(scope="module")
def chapters(tmp_path_factory, scene):
    d = tmp_path_factory.mktemp("chapters")
    write_max_recording(d / "GS010042.360", scene, frames=5, motion=MOTION)
    write_max_recording(d / "GS020042.360", scene, frames=4, motion=MOTION, first_frame=5)
    write_max_recording(d / "GS040042.360", scene, frames=2, motion=MOTION)  # not part of the set: chapter 3 missing
    return d, Truth(scene, 30, MOTION)


def test_known_track_sizes():
    five = MaxLayout.for_track_size(4096, 1344)
    three = MaxLayout.for_track_size(2272, 736)
    assert (five.side, five.overlap, five.face_scale) == (1376, 64, 1312)
    assert (three.side, three.overlap, three.face_scale) == (768, 32, 736)
    quarter = MaxLayout.for_track_size(1024, 336)
    assert (quarter.side, quarter.overlap) == (344, 16)
    assert MaxLayout.for_track_size(848, 480) is None
    assert MaxLayout.for_track_size(2880, 2880) is None


def test_overlap_strip_is_blended_across_the_stitch_line():
    lay = MaxLayout.for_track_size(4096, 1344)
    # directions around the middle of the left tile (the stitch line between the lenses)
    ang = np.radians(np.linspace(-4, 4, 81))
    d = np.stack([-np.cos(ang), np.zeros_like(ang), np.sin(ang)], -1)
    xa, xb, w = lay.source_map(d)
    assert w.max() > 0.9 and w.min() == 0.0
    band = w > 0
    # the two copies of one direction lie `overlap` pixels apart, either side of x = 688
    assert np.all(xa[band, 0] <= 688) and np.all(xb[band, 0] >= 688)
    assert np.allclose((xb - xa)[band & (w > 0.05) & (w < 0.95), 0], 64, atol=1.0)


def test_max_stitches_to_ground_truth(max_file):
    path, truth = max_file
    src = open_rig(path)
    assert isinstance(src, MaxSource)
    assert (src.camera, src.frame_count, src.frame_size) == ("GoPro MAX", 6, (1024, 672))
    assert src.nominal_rig() is None
    plan = src.plan(1024, None)
    scores = [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(src.frames())]
    assert len(scores) == 6
    assert min(scores) >= 27.0, scores


def test_max_refuses_a_lens_profile(max_file):
    src = open_rig(max_file[0])
    with pytest.raises(InputError, match="does not apply"):
        src.plan(512, RigProfile.nominal((1024, 672)))


def test_max_described_by_maker_and_layout(max_file):
    rec = describe_recording(max_file[0])
    assert rec.kind == "gopro-max" and rec.camera == "GoPro MAX"
    assert "EAC" in rec.layout and rec.problem is None
    assert rec.camera_id.firmware.startswith("H19")


def test_chapters_join_seamlessly(chapters):
    d, truth = chapters
    rec = describe_recording(d / "GS020042.360")
    assert "2 chapters" in rec.layout
    src = open_rig(d / "GS020042.360")  # any chapter opens the whole recording
    try:
        assert isinstance(src, ChapterSource)
        assert src.paths == (d / "GS010042.360", d / "GS020042.360")
        assert src.frame_count == 9 and src.chapter_starts == [0, 5]
        plan = src.plan(768, None)
        frames = list(src.frames())
        assert len(frames) == 9
        scores = [psnr(plan.apply(f), truth.ground_truth(i, plan.size), rows=band_rows(plan.size[1])) for i, f in enumerate(frames)]
        assert min(scores) >= 27.0, scores
        # a range across the join gives the same frames
        part = list(src.frames(4, 7))
        assert len(part) == 3 and all(np.array_equal(a, b) for a, b in zip(part, frames[4:7]))
        # the joined audio lasts as long as both chapters' video (within an AAC frame or two)
        audio = src.audio_path
        assert audio is not None
        with av.open(str(audio)) as c:
            n = sum(f.samples for f in c.decode(c.streams.audio[0]))
            assert c.streams.audio[0].codec_context.channels == 4
        assert abs(n / 48000 - 9 / 30) < 0.05
    finally:
        src.close()
    assert not Path(audio).exists()


def test_stitch_cli_on_a_max_file(max_file, tmp_path):
    from orbit360.cli import main
    from orbit360.video import open_reader

    path, truth = max_file
    out = tmp_path / "max360.mp4"
    assert main(["stitch", str(path), "-o", str(out), "--width", "1024", "--crf", "12", "--preset", "ultrafast", "--quiet"]) == 0
    with open_reader(out) as r:
        frames = list(r.frames())
    assert len(frames) == 6
    assert psnr(frames[3], truth.ground_truth(3, (1024, 512)), rows=band_rows(512)) >= 27.0
    # the camera's 4-channel ambisonic sound is kept; SA3D marks it for players
    from orbit360.audio import audio_tracks, mark_spatial_audio

    (track,) = audio_tracks(out)
    assert track.channels == 4 and track.ambisonic
    mark_spatial_audio(out, out)
    assert audio_tracks(out)[0].sa3d is not None


def _max2sphere_position(d):
    """Where max2sphere (P. Bourke, trek-view) reads direction d in a 5.6K .360 frame pair,
    restated from its FindFaceUV/GetColour: its frame is x right, y forward, z up, images
    bottom-up; (track, x, y_from_top) continuous, or None inside a blend band."""
    x, y, z = d  # ours: +x right, +y up, +z forward
    a = lambda t: np.arctan(t) * 4 / np.pi  # noqa: E731
    ax, ay, az = abs(x), abs(y), abs(z)
    if ax >= ay and ax >= az:
        face = "left" if x < 0 else "right"
        if x < 0:
            u, v = (a(z / ax) + 1) / 2, (a(y / ax) + 1) / 2
        else:
            u, v = (1 - a(z / x)) / 2, (a(y / x) + 1) / 2
    elif az >= ay:
        face = "front" if z > 0 else "back"
        if z > 0:
            u, v = (a(x / z) + 1) / 2, (a(y / z) + 1) / 2
        else:
            u, v = (1 - a(x / az)) / 2, (a(y / az) + 1) / 2
    else:
        face = "top" if y > 0 else "down"
        if y > 0:
            u, v = (1 - a(x / y)) / 2, (a(z / y) + 1) / 2
        else:
            u, v = (1 - a(x / ay)) / 2, (1 - a(z / ay)) / 2
    if face in ("down", "back", "top"):
        u, v = v, 1 - u
    track = 0 if face in ("left", "front", "right") else 1
    if face in ("front", "back"):
        ix = 1376 + u * 1344
    else:
        w, duv = 1376, 32 / 1376
        left, right = 2 * (0.5 - duv) * u, 2 * (0.5 - duv) * (u - 0.5) + 0.5 + duv
        if left <= 0.5 - 2 * duv:
            ix = left * w
        elif right >= 0.5 + 2 * duv:
            ix = right * w
        else:
            return None
        ix += 0 if face in ("left", "down") else 1376 + 1344
    return track, ix, 1344 - v * 1344


def test_layout_agrees_with_max2sphere():
    lay = MaxLayout.for_track_size(4096, 1344)
    rng = np.random.default_rng(7)
    d = rng.standard_normal((3000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    xa, _, w = lay.source_map(d)
    checked = 0
    for k in range(len(d)):
        theirs = _max2sphere_position(d[k])
        if theirs is None or w[k] > 0:
            continue
        track, ix, iy = theirs
        assert xa[k, 0] == pytest.approx(ix, abs=0.51)
        assert xa[k, 1] == pytest.approx(track * 1344 + iy, abs=0.51)
        checked += 1
    assert checked > 2500


def _blend_mask(plan) -> np.ndarray:
    """Output pixels where a RemapPlan mixes the two stored copies of a direction."""
    mask = np.zeros(plan.size[::-1], bool)
    mask[plan.blend_rows, plan.blend_cols] = True
    return mask


def _assert_within_rounding(full: np.ndarray, limited: np.ndarray, blend: np.ndarray) -> None:
    """The stitch of the full-range planes against that of the limited ones, both rounded.

    What must hold on any machine, whatever the encoder and OpenCV build made of the test
    recording (x265's output, OpenCV's remap kernels and their rounding differ between
    builds and CPUs): the full-range path rounds more often. Its input is the limited
    planes requantised (0.5 full-range code = 0.43 limited), then each rounding to uint8
    after a linear step (remap, and in the overlap bands blendLinear) adds up to 0.5 full-
    range code (0.43 limited), and the range table 0.5; the limited path's remap (and
    blend) 0.5 each. Apart: at most 0.43 * 3 + 0.5 * 3 = 2.8 in the bands (a difference of
    2 happens: seen on a fresh machine), 0.43 * 2 + 0.5 * 2 = 1.9 elsewhere, so 2 and 1
    code values. Rounding errors have no sign: on average far under one code value.
    """
    d = np.abs(full.astype(np.int16) - limited.astype(np.int16))
    assert d[~blend].max() <= 1
    assert d[blend].max(initial=0) <= 2
    assert d.mean() < 0.3


def test_max_yuv_path_matches_rgb_path(max_file):
    """MAX frames are stitched as decoded planes (no colour conversion): the planes match
    the RGB path's picture converted to yuv420p, a full-range recording comes out in
    limited range, the plan travels by pickle, and the pipeline takes this path."""
    import pickle

    from orbit360.pipeline._frames import frame_work
    from orbit360.video._convert import rgb_to_yuv420p, yuv420p_planes

    path, truth = max_file
    src = open_rig(path)
    plan = src.plan(1024, None)
    fmt = src.yuv_format
    assert fmt is not None and frame_work(src, plan).yuv
    stitch = plan.yuv420(matrix=fmt.matrix, full_range=fmt.full_range)
    out = np.zeros((768, 1024), np.uint8)
    for i, (rgb, planes) in enumerate(zip(src.frames(), src.yuv420_frames())):
        got = yuv420p_planes(stitch.apply(planes, out=out))
        ref = yuv420p_planes(rgb_to_yuv420p(plan.apply(rgb)))
        assert psnr(got[0], ref[0]) > 50.0 and min(psnr(got[k], ref[k]) for k in (1, 2)) > 45.0
        gt = yuv420p_planes(rgb_to_yuv420p(truth.ground_truth(i, plan.size)))
        assert psnr(got[0], gt[0], rows=band_rows(512)) >= 30.0
    # the same planes recorded in full range: limited range out, within a code value
    y, u, v = planes
    full = (np.clip(np.round((y.astype(np.float64) - 16) * 255 / 219), 0, 255).astype(np.uint8),
            *(np.clip(np.round((c.astype(np.float64) - 128) * 255 / 224 + 128), 0, 255).astype(np.uint8) for c in (u, v)))
    limited = [p.copy() for p in yuv420p_planes(stitch.apply(planes))]
    again = pickle.loads(pickle.dumps(plan)).yuv420(matrix=fmt.matrix, full_range=True)
    blends = [_blend_mask(plan), _blend_mask(stitch.chroma), _blend_mask(stitch.chroma)]
    for a, b, mask in zip(yuv420p_planes(again.apply(full)), limited, blends):
        _assert_within_rounding(a, b, mask)
        # the check is not blind: a plane one pixel off fails it
        with pytest.raises(AssertionError):
            _assert_within_rounding(np.roll(a, 1, axis=1), b, mask)
    with pytest.raises(ValueError, match="the plan stitches 1024x512"):
        stitch.apply(planes, out=np.zeros((384, 512), np.uint8))
