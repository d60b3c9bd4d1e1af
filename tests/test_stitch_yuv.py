"""Stitching yuv420p planes as decoded (stitch._yuv, pipeline._frames) against the RGB path.

The RGB path is the reference: decode to RGB, ``StitchPlan.apply`` (exact sRGB
compensation), convert back to yuv420p. The YUV path skips both conversions; it must give
the same picture to within what 8-bit planes and the documented approximations allow, in
either matrix and range, and through the whole pipeline (tags included).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.metrics import psnr
from orbit360.pipeline import stitch_video
from orbit360.stitch import StitchPlan
from orbit360.stitch._yuv import YuvGain, yuv420p_planes
from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig
from orbit360.video._convert import rgb_to_yuv420p, yuv420p_to_rgb

FRAME = (1024, 512)
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_scene(1024, seed=11)


def _rig(seed: int):
    return misaligned_rig(FRAME, seed=seed)


def _recorded(rig, scene) -> np.ndarray:
    return RigRenderer(rig, scene).render()


def _rgb_to_yuv420(rgb: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    """Independent reference conversion (float maths, chroma = 2x2 mean)."""
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    x = rgb.astype(np.float64) / 255.0
    y = kr * x[..., 0] + kg * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    ys, cs = (255.0, 255.0) if full else (219.0, 224.0)
    y0 = 0.0 if full else 16.0
    h, w = y.shape

    def down(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y0 + ys * y, 128 + cs * down(cb), 128 + cs * down(cr)]
    out = np.concatenate([p.reshape(-1) for p in planes])
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


def _yuv420_to_rgb(buf: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    kr, kb = KR_KB[matrix]
    kg = 1 - kr - kb
    y, u, v = (p.astype(np.float64) for p in yuv420p_planes(buf))
    ys, cs = (255.0, 255.0) if full else (219.0, 224.0)
    y = (y - (0.0 if full else 16.0)) / ys
    cb = np.repeat(np.repeat((u - 128) / cs, 2, 0), 2, 1)
    cr = np.repeat(np.repeat((v - 128) / cs, 2, 0), 2, 1)
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.round(np.stack([r, g, b], -1) * 255), 0, 255).astype(np.uint8)


def _encode_x264(path: Path, frames: list[av.VideoFrame], pix_fmt: str, *, crf: int, bt709_full: bool = False) -> None:
    """``frames`` (FRAME-sized, in ``pix_fmt``) as an H.264 MP4 at 30 fps written directly
    through PyAV (formats and colour tags our VideoWriter does not write)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = FRAME[0], FRAME[1], pix_fmt
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        if bt709_full:
            cc = vs.codec_context
            cc.colorspace = cc.color_primaries = cc.color_trc = 1
            cc.color_range = 2
        for i, f in enumerate(frames):
            f.pts = i
            f.time_base = Fraction(1, 30)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)


@pytest.mark.parametrize("seed", [3, 8])
def test_yuv_stitch_matches_rgb_path(scene: np.ndarray, seed: int) -> None:
    rig = _rig(seed)
    plan = StitchPlan.build(rig, 1024)
    src = rgb_to_yuv420p(_recorded(rig, scene))
    ref = rgb_to_yuv420p(plan.apply(yuv420p_to_rgb(src)))
    got = plan.yuv420().apply(src)
    assert got.shape == ref.shape == (768, 1024)
    for name, a, b in zip("YUV", yuv420p_planes(ref), yuv420p_planes(got)):
        assert psnr(a, b) > 45.0, name
    # without compensation the result must differ (the gain does something measurable)
    plain = StitchPlan.build(rig, 1024, compensate=False).yuv420().apply(src)
    assert psnr(yuv420p_planes(ref)[0], yuv420p_planes(plain)[0]) < 35.0


def test_yuv_stitch_feather_and_out_buffer(scene: np.ndarray) -> None:
    rig = _rig(5)
    plan = StitchPlan.build(rig, 512, blend="feather")
    src = rgb_to_yuv420p(_recorded(rig, scene))
    ref = rgb_to_yuv420p(plan.apply(yuv420p_to_rgb(src)))
    out = np.zeros((384, 512), np.uint8)
    got = plan.yuv420().apply(src, out=out)
    assert got is out
    assert psnr(ref, got) > 45.0
    # an out of another size is refused (a remap into it would go to a new array, lost)
    for wrong in (np.zeros((384, 256), np.uint8), np.zeros((192, 256), np.uint8), tuple(np.zeros(s, np.uint8) for s in ((128, 256), (64, 128), (64, 128)))):
        with pytest.raises(ValueError, match="the plan stitches 512x256"):
            plan.yuv420().apply(src, out=wrong)


@pytest.mark.parametrize("matrix,full", [("bt601", False), ("bt709", False), ("bt709", True), ("bt601", True)])
def test_yuv_gain_matches_rgb_compensation(scene: np.ndarray, matrix: str, full: bool) -> None:
    """The per-plane gain equals the RGB compensation (exact sRGB tables) seen through the
    same matrix, including a full-range input brought to limited range."""
    rig = _rig(4)
    rgb = _recorded(rig, scene)
    plan = StitchPlan.build(rig, 256)
    want = _rgb_to_yuv420(plan.compensated(rgb), matrix, False)
    got_planes = YuvGain.build(rig, matrix, full_range=full).apply(yuv420p_planes(_rgb_to_yuv420(rgb, matrix, full)))
    for name, a, b in zip("YUV", yuv420p_planes(want), got_planes):
        inside = a > 0  # everything: the frame corners are black in both
        assert psnr(a[inside], b[inside]) > 42.0, (name, matrix, full)


def test_pipeline_yuv_equals_rgb_path(tmp_path: Path, scene: np.ndarray) -> None:
    from orbit360.synthetic import write_rig_video

    rig = _rig(6)
    inp = tmp_path / "in.mp4"
    write_rig_video(inp, rig, scene, frames=6, crf=12)
    a = stitch_video(inp, tmp_path / "yuv.mp4", rig=rig, width=1024)
    b = stitch_video(inp, tmp_path / "rgb.mp4", rig=rig, width=1024, yuv=False)
    assert a.frames == b.frames == 6
    with av.open(str(a.output)) as ca, av.open(str(b.output)) as cb:
        fa = [f.to_ndarray() for f in ca.decode(video=0)]
        fb = [f.to_ndarray() for f in cb.decode(video=0)]
    assert len(fa) == len(fb) == 6
    assert min(psnr(x, y) for x, y in zip(fa, fb)) > 40.0


def test_pipeline_full_range_bt709_source(tmp_path: Path, scene: np.ndarray) -> None:
    """A GoPro-like recording (yuvj420p, BT.709 tags): the output is limited-range yuv420p
    tagged BT.709, and decoded with that matrix it shows the stitched picture."""
    rig = _rig(7)
    rgb = _recorded(rig, scene)
    inp = tmp_path / "gopro_like.mp4"
    planes = _rgb_to_yuv420(rgb, "bt709", True)
    _encode_x264(inp, [av.VideoFrame.from_ndarray(planes, format="yuvj420p") for _ in range(3)], "yuvj420p", crf=8, bt709_full=True)
    res = stitch_video(inp, tmp_path / "out.mp4", rig=rig, width=1024)
    assert res.frames == 3
    with av.open(str(res.output)) as c:
        s = c.streams.video[0]
        assert s.codec_context.pix_fmt == "yuv420p"
        assert s.codec_context.colorspace == 1 and s.codec_context.color_range == 1
        frame = next(c.decode(s)).to_ndarray()
    want = StitchPlan.build(rig, 1024).apply(rgb)
    got = _yuv420_to_rgb(frame, "bt709", False)
    assert psnr(want, got, rows=slice(64, 448)) > 36.0
    # read with the wrong matrix or range, the colours are measurably off
    assert psnr(want, _yuv420_to_rgb(frame, "bt709", True), rows=slice(64, 448)) < psnr(want, got, rows=slice(64, 448)) - 3


def test_band_rectangles_are_disjoint_and_few() -> None:
    rig = _rig(2)
    plan = StitchPlan.build(rig, 2048)
    h, w = plan.size[1], plan.size[0]
    count = np.zeros((h, w), np.int32)
    for b in plan.seam_bands:
        count[b.y0 : b.y1, b.x0 : b.x1] += 1
    assert count.max() == 1
    assert len(plan.seam_bands) <= 16  # merged from 4 * 2**levels-row blocks (about 32 of them)


def test_black_stays_black_under_gain() -> None:
    """Space: a black sky in the darker lens must stay black after a 1-stop (and more)
    gain, and the toe (code values under 10) must follow the sRGB maths."""
    rig = misaligned_rig(FRAME, seed=1, exposure_stops=2.0)
    rgb = np.zeros((FRAME[1], FRAME[0], 3), np.uint8)
    rgb[:, :, :] = np.linspace(0, 24, FRAME[0], dtype=np.float64).astype(np.uint8)[None, :, None]
    rgb[: FRAME[1] // 2] = 0
    plan = StitchPlan.build(rig, 256)
    want = yuv420p_planes(_rgb_to_yuv420(plan.compensated(rgb), "bt601", False))[0]
    got = YuvGain.build(rig, "bt601").apply(yuv420p_planes(_rgb_to_yuv420(rgb, "bt601", False)))[0]
    assert (got[: FRAME[1] // 2] == 16).all()
    err = np.abs(got.astype(int) - want.astype(int))
    assert err.max() <= 2 and err.mean() < 0.3  # a 4x gain spreads input steps over ~2 codes


def test_strided_plane_views_equal_one_array(scene: np.ndarray) -> None:
    """The reader hands over views of the decoder's buffers (rows padded to line_size):
    the stitch must read them as it reads one contiguous array."""
    rig = _rig(9)
    stitch = StitchPlan.build(rig, 512).yuv420()
    buf = rgb_to_yuv420p(_recorded(rig, scene))
    pad = [np.zeros((p.shape[0], p.shape[1] + 48), np.uint8) for p in yuv420p_planes(buf)]
    for a, p in zip(pad, yuv420p_planes(buf)):
        a[:, : p.shape[1]] = p
    views = tuple(a[:, : p.shape[1]] for a, p in zip(pad, yuv420p_planes(buf)))
    assert not views[0].flags.c_contiguous
    assert np.array_equal(stitch.apply(views), stitch.apply(buf))


def test_reader_plane_views_match_decoded_frame(tmp_path: Path, scene: np.ndarray) -> None:
    from orbit360.synthetic import write_rig_video
    from orbit360.video import open_reader

    rig = _rig(10)
    inp = tmp_path / "in.mp4"
    write_rig_video(inp, rig, scene, frames=3, crf=12)
    with open_reader(inp) as r:
        assert r.yuv_format is not None and r.yuv_format.matrix == "bt601" and not r.yuv_format.full_range
        views = [tuple(p.copy() for p in f) for f in r.frames(yuv420=True)]
    with av.open(str(inp)) as c:
        arrays = [f.to_ndarray() for f in c.decode(video=0)]
    assert len(views) == len(arrays) == 3
    for v, a in zip(views, arrays):
        for p, q in zip(v, yuv420p_planes(a)):
            assert np.array_equal(p, q)


def test_pipeline_odd_half_height(tmp_path: Path, scene: np.ndarray) -> None:
    """1036x518: the chroma planes are 518x259 (odd rows), as at 5228x2614."""
    from orbit360.synthetic import write_rig_video

    rig = misaligned_rig((1036, 518), seed=13)
    inp = tmp_path / "odd.mp4"
    write_rig_video(inp, rig, scene, frames=3, crf=12)
    res = stitch_video(inp, tmp_path / "out.mp4", rig=rig)
    assert res.frames == 3 and res.size == (1036, 518)
    with av.open(str(res.output)) as c:
        frames = [f.to_ndarray() for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (777, 1036)
    ref = rgb_to_yuv420p(StitchPlan.build(rig, 1036).apply(RigRenderer(rig, scene).render()))
    assert psnr(ref, frames[0]) > 35.0


def test_ten_bit_source_goes_through_rgb(tmp_path: Path, scene: np.ndarray) -> None:
    """10-bit video (yuv420p10le, as 10-bit HEVC or High 10 H.264) cannot pass as 8-bit
    planes: the job stitches RGB (swscale's conversion) and the picture is still the
    stitched one. (Encoded with x264: x265 through PyAV gives a two-frame clip garbage
    DTS now and then, and the muxer refuses it.)"""
    from orbit360.pipeline._frames import frame_work
    from orbit360.cameras import open_rig

    rig = _rig(14)
    rgb = _recorded(rig, scene)
    inp = tmp_path / "ten_bit.mp4"
    ten_bit = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p10le")
    _encode_x264(inp, [ten_bit, ten_bit], "yuv420p10le", crf=10)
    source = open_rig(inp)
    assert source.yuv_format is None
    assert not frame_work(source, StitchPlan.build(rig, 512)).yuv
    res = stitch_video(inp, tmp_path / "out.mp4", rig=rig, width=1024)
    assert res.frames == 2
    with av.open(str(res.output)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert psnr(StitchPlan.build(rig, 1024).apply(rgb), frame, rows=slice(64, 448)) > 30.0


def test_plane_maps_and_signed_band_difference_match_the_rgb_machinery(scene: np.ndarray) -> None:
    """A plane stitched with the plan's float maps (``PlaneMaps``, what the YUV path uses)
    equals the one stitched with its fixed-point maps (what RGB uses) to within the 1/32
    pixel those round to; the band difference taken by a sign multiply equals the two
    masked subtractions, exactly."""
    from dataclasses import replace

    from orbit360.stitch.plan import PlaneMaps

    rig = _rig(8)
    plan = StitchPlan.build(rig, 1024)
    luma = _rgb_to_yuv420(_recorded(rig, scene), "bt601", False)[: FRAME[1]]
    fast = plan._stitch(luma, None, None, border=16.0, maps=PlaneMaps.of(plan))
    fixed = plan._stitch(luma, None, None, border=16.0)
    assert plan.seam_bands and fast.shape == fixed.shape == (512, 1024)
    assert psnr(fixed, fast) > 55.0  # measured 64 dB
    assert np.abs(fast.astype(int) - fixed).max() <= 3  # sharp edges move by < 1/32 px
    for band in plan.seam_bands:
        dominant = fixed[band.py0 : band.py1, band.px0 : band.px1]
        signed = plan._blend(luma, band, None, dominant=dominant, border=16.0)
        masked = plan._blend(luma, replace(band, front_sign=None), None, dominant=dominant, border=16.0)
        np.testing.assert_array_equal(signed, masked)
    # a per-frame seam (here off the geometric one by a ring row everywhere) through the
    # float maps too: the whole band's other-lens maps follow ``bands``
    seam = np.full(plan.seam_width, 2.0 * np.pi / plan.seam_width, np.float32)
    fast = plan._stitch(luma, None, seam, border=16.0, maps=PlaneMaps.of(plan))
    fixed = plan._stitch(luma, None, seam, border=16.0)
    assert psnr(fixed, fast) > 55.0 and np.abs(fast.astype(int) - fixed).max() <= 6  # measured 64 dB, at most 5


@pytest.mark.parametrize("response,keep_white", [((2.4, 0.3), False), ((2.4, 1.2), True), ((2.4, -0.08), True), ((2.4, 0.055), True)])
def test_yuv_matches_rgb_under_other_responses(scene: np.ndarray, response: tuple[float, float], keep_white: bool) -> None:
    """A camera that is not sRGB (flat, log-like, raised black), lenses a stop apart about
    the geometric mean (one brought up: roll-off; one down: recorded white kept white when
    asked): the planes path gives the RGB path's picture, within what its approximations
    allow (the roll-off on luma with chroma scaled by its slope instead of per channel, the
    dropped chroma -> luma terms): 41 dB, 38 dB for a log-like curve whose roll-off is
    deep (about 1.5 code values apart on average there)."""
    base = _rig(4)
    lenses = (base.lenses[0].replace(exposure=0.7, color_gain=(1.03, 1.0, 0.96)), base.lenses[1].replace(exposure=1.4, color_gain=(0.97, 1.0, 1.04)))
    rig = base.replace(lenses=lenses, response=response, keep_white=keep_white)
    plan = StitchPlan.build(rig, 1024)
    src = rgb_to_yuv420p(_recorded(base, scene))
    ref = rgb_to_yuv420p(plan.apply(yuv420p_to_rgb(src)))
    got = plan.yuv420().apply(src)
    floor = 38.0 if response[1] > 1.0 else 41.0
    for name, a, b in zip("YUV", yuv420p_planes(ref), yuv420p_planes(got)):
        assert psnr(a, b) > floor, (name, psnr(a, b))
    plain = StitchPlan.build(rig, 1024, compensate=False).yuv420().apply(src)
    assert psnr(yuv420p_planes(ref)[0], yuv420p_planes(plain)[0]) < floor - 3.0


@pytest.mark.parametrize("matrix,factors,response", [("bt601", (1.4, 1 / 1.4), None), ("bt709", (0.6, 1.25), None), ("bt601", (1.3, 0.8), (2.4, 0.3))])
def test_yuv_gain_per_frame_factors_match_rgb(scene: np.ndarray, matrix: str, factors: tuple[float, float], response: tuple[float, float] | None) -> None:
    """Exposure following's per-frame factors on top of the fixed gains (per-lens tables
    over the frame's two halves): the planes equal the RGB compensation with the same
    factors, and the factors act (the result differs from the one without them); the
    following plans of both paths measure the same exposure on one frame. Also under a
    flat response curve (the compensation then works on offset code values)."""
    rig = _rig(4) if response is None else _rig(4).replace(response=response)
    rgb = _recorded(rig, scene)
    plan = StitchPlan.build(rig, 256, follow=True)
    gain = YuvGain.build(rig, matrix, spread=plan.follow_spread)
    src = yuv420p_planes(_rgb_to_yuv420(rgb, matrix, False))
    want = _rgb_to_yuv420(plan.compensated(rgb, factors), matrix, False)
    got = [p.copy() for p in gain.apply(src, factors)]
    for name, a, b in zip("YUV", yuv420p_planes(want), got):
        inside = a > 0
        assert psnr(a[inside], b[inside]) > 42.0, (name, matrix)
    plain = gain.apply(src)[0]
    assert psnr(plain, got[0]) < 30.0
    # both paths' measurements of the same frame agree (RGB channels vs the Y plane)
    m = plan._follower.measure  # type: ignore[attr-defined]
    r, y = m.measure_rgb(rgb), m.measure_luma(src[0])
    assert r is not None and y is not None and abs(r - y) < 0.03, (r, y)
