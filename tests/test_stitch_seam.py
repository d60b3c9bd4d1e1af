"""The tracked seam on video: a near object crossing the seam, through the yuv420p path
(issue 15, point 3): the seam goes around it, holds still where nothing moves, moves a
bounded step per frame, depends on a fixed number of past frames, and the planes path
gives the RGB path's picture."""

from __future__ import annotations

import numpy as np
import pytest

from orbit360.metrics import psnr
from orbit360.stitch import StitchPlan
from orbit360.stitch._yuv import yuv420p_planes
from orbit360.synthetic import RigRenderer, make_scene, misaligned_rig
from orbit360.synthetic import ParallaxScene
from orbit360.video._convert import rgb_to_yuv420p, yuv420p_to_rgb

FRAME = (1024, 512)
W = 1024
LON = 91.2  # the object's centre: just off the seam (longitude 90), straddling it


def _lat(t: int) -> float | None:
    """Object latitude at frame t: none for 8 frames, then sliding down the seam at
    0.6 degrees a frame for 24 frames, then still."""
    if t < 8:
        return None
    return -12.0 + 0.6 * min(t - 8, 24)


@pytest.fixture(scope="module")
def parallax() -> ParallaxScene:
    rig = misaligned_rig(FRAME, seed=21, misalign_deg=0.3, center_offset_px=1.0, fov_deg=200.0, exposure_stops=0.7)
    return ParallaxScene(RigRenderer(rig, make_scene(1024, seed=5)), radius_deg=2.0, parallax_deg=1.6)


def _frame(parallax: ParallaxScene, t: int) -> np.ndarray:
    lat = _lat(t)
    return parallax.render(None if lat is None else LON, lat or 0.0)


def test_tracked_seam_goes_around_a_near_object_in_yuv_video(parallax: ParallaxScene) -> None:
    plans = {s: StitchPlan.build(parallax.renderer.rig, W, seam=s, fps=30.0) for s in ("geometric", "tracked")}
    stitches = {s: p.yuv420() for s, p in plans.items()}
    tracker = plans["tracked"]._tracker
    assert tracker is not None and tracker.memory_frames == 13  # 0.3 s of difference, 0.2 s of paths at 30 fps: 9 + 6 - 2
    band = (plans["geometric"].weight > 0) & (plans["geometric"].weight < 1)
    scores: dict[str, list[float]] = {s: [] for s in plans}
    moves, offsets = [], []
    prev = tracker.seam_rows.copy()
    for t in range(52):
        src = rgb_to_yuv420p(_frame(parallax, t))
        lat = _lat(t)
        truths = parallax.truths((W, W // 2), None if lat is None else LON, lat or 0.0)
        # the band's rows within 5 degrees of the object (all of it before it comes)
        rows = slice(None) if lat is None else slice(int((90 - lat - 5) / 180 * W / 2), int((90 - lat + 5) / 180 * W / 2))
        region = np.zeros_like(band)
        region[rows] = band[rows]
        for s, st in stitches.items():
            out = yuv420p_to_rgb(st.apply(src))
            # whole, from either lens: the better of the two consistent truths
            scores[s].append(max(psnr(out[region], g[region]) for g in truths))
        moves.append(float(np.abs(tracker.seam_rows - prev).max()))
        offsets.append(float(np.abs(tracker.offsets).max()))
        prev = tracker.seam_rows.copy()
    # nothing near: the first frame's path taken (it leaves the geometric seam only where
    # the lenses disagree there: the synthetic scene's poles), then no movement at all
    assert max(moves[1:8]) == 0.0
    assert min(np.array(scores["tracked"][:8]) - np.array(scores["geometric"][:8])) > -0.1
    # the object in the band: once the tracker has seen it (its memory), the picture
    # around it matches a consistent view clearly better than the geometric seam's cut
    on = slice(8 + tracker.memory_frames, None)
    gain = np.array(scores["tracked"][on]) - np.array(scores["geometric"][on])
    assert gain.mean() > 1.0 and gain.min() > 0.0, gain
    # a path change glides: per frame at most (rows - 1) / settle rows anywhere
    assert max(moves[1:]) <= (tracker.rows - 1) / tracker.settle + 1e-9
    # still again (from frame 32): settled within its memory, then not moving at all
    assert max(moves[32 + tracker.memory_frames :]) == 0.0


def test_tracked_seam_memory_is_finite(parallax: ParallaxScene) -> None:
    """The seam of frame n is a function of frames n - memory .. n alone: a tracker
    that starts there gets the seam of one that saw everything (a segment's pre-roll)."""
    plan = StitchPlan.build(parallax.renderer.rig, W, seam="tracked", fps=15.0)
    tracker = plan._tracker
    assert tracker is not None and tracker.memory_frames == 5  # 0.3 s and 0.2 s at 15 fps: 5 + 2 - 2
    planes = [yuv420p_planes(rgb_to_yuv420p(_frame(parallax, t))) for t in range(4, 20)]
    comp = plan.yuv420().gain
    assert comp is not None
    diffs = []
    for p in planes:
        diffs.append(tracker.difference_planes(*(c.copy() for c in comp.apply(p))))
    full = []
    for d in diffs:
        full.append(tracker.push(d).copy())
    m = tracker.memory_frames
    for n in (m + 2, len(diffs) - 1):
        tracker.reset()
        for d in diffs[n - m : n + 1]:
            seam = tracker.push(d)
        np.testing.assert_array_equal(seam, full[n])
    assert any(np.abs(s).max() > 0 for s in full[m:])  # (the object moved the seam)


@pytest.mark.parametrize("seed", [3, 8])
def test_tracked_yuv_stitch_matches_tracked_rgb(parallax: ParallaxScene, seed: int) -> None:
    """A compensating rig (exposure, colour, vignetting apart) with the near object: the
    planes path with its tracked seam gives the RGB path's picture within the bounds of
    the geometric seam's test (tests/test_stitch_yuv.py), frame after frame."""
    rig = misaligned_rig(FRAME, seed=seed)
    scene = ParallaxScene(RigRenderer(rig, make_scene(1024, seed=11)))
    rgb_plan = StitchPlan.build(rig, W, seam="tracked")
    yuv = StitchPlan.build(rig, W, seam="tracked").yuv420()
    moved = 0.0
    for t in range(6):
        src = rgb_to_yuv420p(scene.render(LON, -3.0 + 0.5 * t))
        ref = rgb_to_yuv420p(rgb_plan.apply(yuv420p_to_rgb(src)))
        got = yuv.apply(src)
        for name, a, b in zip("YUV", yuv420p_planes(ref), yuv420p_planes(got)):
            assert psnr(a, b) > 45.0, (name, t, psnr(a, b))
        moved = max(moved, float(np.abs(rgb_plan._tracker.offsets).max()))  # type: ignore[union-attr]
    assert moved > 0.0  # the seam did leave the geometric one


def test_stitch_from_inside_a_clip_matches_one_from_its_start(parallax: ParallaxScene, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A recording with the near object sliding along the seam, stitched as a video job
    does (``pipeline._frames.frame_work``: the source's plan, followed exposure and the
    tracked seam, planes as decoded): starting at frame k, after the plan's pre-roll,
    gives frames byte-identical to a run from frame 0, while the seam is off the
    geometric one."""
    from orbit360.cameras import open_rig
    from orbit360.pipeline._frames import frame_work
    from orbit360.video import EncodeOptions, VideoWriter

    rig = parallax.renderer.rig
    path = tmp_path / "near.mp4"
    count = 36
    w = rig.frame_size[0]
    with VideoWriter(path, size=rig.frame_size, fps=30, options=EncodeOptions(crf=14, preset="veryfast")) as writer:
        for t in range(count):
            frame = _frame(parallax, t)
            # the back lens' auto exposure drifting (up to 0.2 stops): followed per frame
            back = frame[:, w // 2 :].astype(np.float32) * np.float32(2.0 ** (0.2 * np.sin(t / 3.0)))
            frame[:, w // 2 :] = np.clip(np.round(back), 0, 255).astype(np.uint8)
            writer.write(frame)
    source = open_rig(path)
    try:
        plan = source.plan(512, rig)
        assert plan.seam == "tracked" and plan.follow and plan.memory_frames == 13 + 14

        def run(start: int) -> list[np.ndarray]:
            job = frame_work(source, plan, start=start, stop=count)
            assert job.yuv
            return [np.array(job.stitch(f), copy=True) for f in job.frames]

        whole = run(0)
        offsets = np.abs(plan._tracker.offsets).max()  # (after the last frame)
        assert len(whole) == count and offsets > 0
        for start in (5, 30):
            part = run(start)
            assert len(part) == count - start
            for i, (a, b) in enumerate(zip(part, whole[start:])):
                assert np.array_equal(a, b), f"frame {start + i}"
    finally:
        source.close()
