"""The frame-plan protocol (``stitch.FramePlan`` / ``YuvPlan``): every plan the pipeline
stitches with implements it, on real instances, and the pipeline talks to plans only
through it (no ``Any``, ``hasattr``, ``getattr`` or ``inspect`` in pipeline/)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from orbit360.cameras import MaxLayout, RigSource
from orbit360.geometry import Rotation
from orbit360.pipeline._orient import OrientedPlan
from orbit360.profile import RigProfile
from orbit360.stitch import FramePlan, StitchPlan, YuvPlan

PIPELINE = Path(__file__).resolve().parents[1] / "src" / "orbit360" / "pipeline"


def _loose_typing(path: Path) -> list[str]:
    """What a pipeline module does to learn about an object at run time instead of by its type."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name) and node.id == "Any":
            found.append(f"{where}: Any")
        elif isinstance(node, ast.Attribute) and node.attr == "Any":
            found.append(f"{where}: typing.Any")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "Any" for a in node.names):
            found.append(f"{where}: imports Any")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr"):
            found.append(f"{where}: {node.func.id}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m == "inspect" or m.startswith("inspect.") for m in modules):
                found.append(f"{where}: imports inspect")
    return found


def test_pipeline_asks_plans_and_sources_by_their_types() -> None:
    files = sorted(PIPELINE.glob("*.py"))
    assert len(files) >= 10
    found = [x for f in files for x in _loose_typing(f)]
    assert found == []


def test_the_check_finds_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import inspect\nfrom typing import Any\n\ndef f(plan: Any) -> bool:\n"
        "    return hasattr(plan, 'yuv420') or getattr(plan, 'seam', None) == 'tracked'\n"
    )
    found = _loose_typing(bad)
    assert {x.split(": ", 1)[1] for x in found} == {"imports inspect", "imports Any", "Any", "hasattr()", "getattr()"}


def _rig() -> RigProfile:
    return RigProfile.nominal((512, 256), fov_deg=195.0)


def _frame(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth content with some texture (a seam tracker has something to follow)
    base = rng.integers(0, 256, (32, 64, 3), np.uint8)
    import cv2

    return np.ascontiguousarray(cv2.resize(base, (512, 256), interpolation=cv2.INTER_CUBIC))


def _remap_plan():  # type: ignore[no-untyped-def]
    layout = MaxLayout.for_track_size(1024, 336)
    assert layout is not None
    return layout.plan(256)


def _plans() -> dict[str, FramePlan]:
    stitch = StitchPlan.build(_rig(), 256)
    rotations = np.stack([Rotation.from_ypr(10.0 * i, 0.0, 0.0).matrix for i in range(4)])
    return {"stitch": stitch, "remap": _remap_plan(), "oriented": OrientedPlan(stitch, rotations)}


def _signature_takes(method: object, *names: str) -> bool:
    params = inspect.signature(method).parameters  # type: ignore[arg-type]
    return all(n in params for n in names)


@pytest.mark.parametrize("kind", ["stitch", "remap", "oriented"])
def test_every_plan_implements_the_protocol(kind: str) -> None:
    plan = _plans()[kind]
    assert isinstance(plan, FramePlan)
    assert _signature_takes(plan.apply, "frame", "out", "index")
    assert plan.memory_frames == 0 and plan.stitches_yuv420
    w, h = plan.size
    fw, fh = (512, 256) if kind != "remap" else _remap_plan().frame_size
    frame = _frame()[:fh, :fw] if kind != "remap" else np.random.default_rng(2).integers(0, 256, (fh, fw, 3), np.uint8)
    frame = np.ascontiguousarray(frame)
    plan.observe(frame)  # stateless: nothing changes
    fresh = plan.apply(frame, index=2)
    buf = np.zeros((h, w, 3), np.uint8)
    into = plan.apply(frame, buf, index=2)
    assert into is buf and fresh.shape == (h, w, 3) and np.array_equal(fresh, buf)
    yuv = plan.yuv420(matrix="bt709", full_range=False)
    assert isinstance(yuv, YuvPlan)
    assert _signature_takes(yuv.apply, "frame", "out", "index") and yuv.size == plan.size and yuv.memory_frames == 0
    planes = np.random.default_rng(3).integers(16, 235, (fh * 3 // 2, fw), np.uint8)
    ybuf = np.zeros((h * 3 // 2, w), np.uint8)
    assert yuv.apply(planes, ybuf, index=1) is ybuf
    assert np.array_equal(ybuf, yuv.apply(planes, index=1))


def test_rig_is_the_plans_own() -> None:
    plans = _plans()
    assert plans["stitch"].rig is not None and plans["stitch"].rig.frame_size == (512, 256)
    assert plans["oriented"].rig is plans["stitch"].rig
    assert plans["remap"].rig is None  # EAC is already a sphere: no lens model


def test_rotating_plan_turns_each_frame_by_its_index() -> None:
    plans = _plans()
    stitch, oriented = plans["stitch"], plans["oriented"]
    frame = _frame()
    assert np.array_equal(oriented.apply(frame, index=0), stitch.apply(frame))  # rotation 0: identity
    turned = oriented.apply(frame, index=1)
    # 10 degrees of yaw: the picture moves sideways by 10/360 of the width
    shift = round(256 * 10 / 360)
    straight = stitch.apply(frame)
    best = min(range(-12, 13), key=lambda s: float(np.abs(np.roll(straight, s, axis=1).astype(int) - turned).mean()))
    assert abs(abs(best) - shift) <= 1
    assert np.array_equal(oriented.apply(frame, index=99), oriented.apply(frame, index=3))  # past the end: the last
    with pytest.raises(ValueError, match="index"):
        oriented.apply(frame)


@pytest.fixture
def one_opencv_thread():  # type: ignore[no-untyped-def]
    """A tracked seam's blend on several OpenCV threads is not bit-reproducible (up to 24
    code values between two runs of the same frames, before this protocol too): compared
    on one thread."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


def _exposed(frame: np.ndarray, back: float) -> np.ndarray:
    """``frame`` with the back lens (right half) exposed ``back`` times the front."""
    out = frame.copy()
    half = out.shape[1] // 2
    out[:, half:] = np.clip(out[:, half:] * back, 0, 255).astype(np.uint8)
    return out


def test_stateful_plans_say_so_and_observe_advances_their_state(one_opencv_thread: None) -> None:
    # the back lens a stop darker, then level: a followed exposure is still catching up
    frames = [_exposed(_frame(1), 0.5), _exposed(_frame(2), 0.5), _frame(3)]
    for options in ({"seam": "tracked"}, {"follow": True}):
        plan = StitchPlan.build(_rig(), 256, **options)  # type: ignore[arg-type]
        assert plan.memory_frames > 0, options
        assert plan.stitches_yuv420  # (the planes take the tracked seam too)
        # stitching frames 0, 1, 2 in order ends in the same state as observing 0 and 1
        # and stitching 2: what a segment's pre-roll relies on
        stitched = [plan.apply(f) for f in frames][-1]
        other = StitchPlan.build(_rig(), 256, **options)  # type: ignore[arg-type]
        for f in frames[:2]:
            other.observe(f)
        assert np.array_equal(other.apply(frames[2]), stitched), options
        cold = StitchPlan.build(_rig(), 256, **options)  # type: ignore[arg-type]
        assert not np.array_equal(cold.apply(frames[2]), stitched), options  # the state matters


def test_sources_give_what_the_pipeline_asks(tmp_path: Path) -> None:
    from orbit360.cameras import open_rig
    from orbit360.pipeline._frames import frame_work
    from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, write_rig_video

    rig = misaligned_rig((512, 256), seed=5)
    path = tmp_path / "rig.mp4"
    write_rig_video(path, rig, make_scene(512, seed=5), frames=3, fps=30, motion=pan_motion(10.0))
    source = open_rig(path)
    try:
        assert isinstance(source, RigSource) and source.yuv_format is not None
        plan = source.plan(256, rig)
        assert isinstance(plan, FramePlan) and plan.rig is not None
        work = frame_work(source, plan)  # 8-bit 4:2:0 (tracked seam, followed exposure): stitched as planes
        assert work.yuv and isinstance(work.plan, YuvPlan)
        stitched = [work.stitch(item) for item in work.frames]
        assert len(stitched) == 3 and all(f.shape == (128 * 3 // 2, 256) for f in stitched)
        rgb = frame_work(source, plan, yuv=False)
        assert not rgb.yuv and [i for i, _ in rgb.frames] == [0, 1, 2]
    finally:
        source.close()
