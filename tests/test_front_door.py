"""The package's front door: ``import orbit360`` is cheap, its example runs, and its
``stitch`` chooses the single or the segmented job as the ``stitch`` command does."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import av

import orbit360
from orbit360.pipeline import JobResult, StitchResult
from orbit360.synthetic import make_scene, write_rig_video


def test_docstring_example_runs() -> None:
    result = doctest.testmod(orbit360, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


def test_import_is_cheap_and_everything_exported_resolves() -> None:
    code = (
        "import sys, orbit360\n"
        "heavy = [m for m in ('numpy', 'cv2', 'av', 'scipy', 'click') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
        "for name in orbit360.__all__: getattr(orbit360, name)\n"
        "print(orbit360.__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "none"
    from importlib.metadata import version

    assert out[1] == version("orbit360")


def test_stitch_chooses_single_or_segmented(tmp_path: Path) -> None:
    rig = orbit360.RigProfile.nominal((512, 256))
    src = tmp_path / "rig.mp4"
    write_rig_video(src, rig, make_scene(512, seed=3), frames=6)

    single = orbit360.stitch(src, tmp_path / "single.mp4", rig=rig, width=256)
    assert isinstance(single, StitchResult)
    segmented = orbit360.stitch(src, tmp_path / "segmented.mp4", rig=rig, width=256, segment_frames=3, workers=1)
    assert isinstance(segmented, JobResult)
    assert segmented.segments == 2
    for r in (single, segmented):
        with av.open(str(r.output)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        assert (frames, r.size) == (6, (256, 128))
        assert orbit360.inspect_file(r.output).layout == "equirectangular 360 (already stitched)"


def test_salvage_package_is_callable_as_its_function(tmp_path: Path) -> None:
    from orbit360.synthetic import write_camera_like_recording
    from orbit360.salvage import salvage as salvage_function

    healthy = write_camera_like_recording(tmp_path / "ref.mp4", seed=1, seconds=1.0)
    data = write_camera_like_recording(tmp_path / "rec.mp4", seed=2, seconds=1.0).read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) * 2 // 3])  # the moov (at the end) is lost
    out = tmp_path / "fixed.mp4"
    report = orbit360.salvage(broken, out, reference=healthy)
    assert isinstance(report, orbit360.SalvageReport) and orbit360.salvage.salvage is salvage_function
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert 10 < frames < 25  # two thirds of 25 frames survive the cut
    assert report.method == "reference"
