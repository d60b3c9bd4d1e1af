"""The promises under hostile use (issue 19): an input is never overwritten, whatever the
spelling of the output; what is not a regular file is refused before it is read; odd and
damaged files, impossible sizes and a full disk end in one line; the viewer hands out
nothing but the video.

Commands run in-process through ``cli.main`` (one line on stderr, exit 2) except where a
hang is the failure looked for: those run in a subprocess with a time limit.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.errors import InputError, OutputError


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def one_line(rc: int, err: str, *expected: str) -> str:
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("orbit360: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def write_video(path: Path, width: int, height: int, frames: int, *, pix_fmt: str = "yuv420p") -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        s.options = {"preset": "ultrafast"}
        for i in range(frames):
            # two lit image circles on black, as a dual-fisheye camera records (a 2:1 frame
            # lit to its corners is an equirect and stitch refuses it): some picture, not flat
            img = np.zeros((height, width, 3), np.uint8)
            half = max(1, width // 2)
            yy, xx = np.ogrid[0:height, 0:width]
            disc = np.hypot((xx % half) + 0.5 - half / 2, yy + 0.5 - height / 2) < 0.48 * min(half, height)
            img[disc] = 60 + 50 * i
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture()
def equirect(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", 128, 64, 3)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


# ---- 1. outputs are never inputs ---------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["reframe", "{in}", "--size", "64x32", "--preset", "ultrafast", "-o", "{out}"],
    ["still", "{in}", "-o", "{out}"],
    ["publish", "{in}", "--max-width", "256", "-o", "{out}"],
    ["telemetry", "{in}", "-o", "{out}"],
    ["stitch", "{in}", "-o", "{out}"],
    ["calibrate", "{in}", "-o", "{out}"],
    ["calibrate", "{in}", "-o", "rig.json", "--pto", "{out}"],
    ["salvage", "{in}", "--report", "{out}"],
])
@pytest.mark.parametrize("spelling", ["same", "hard link", "symlink", "other spelling"])
def test_output_that_is_the_input_is_refused(capsys, tmp_path, equirect, monkeypatch, argv, spelling) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    out = {"same": "clip.mp4", "hard link": "hard.mp4", "symlink": "sym.mp4", "other spelling": "sub/../clip.mp4"}[spelling]
    if spelling == "hard link":
        os.link("clip.mp4", "hard.mp4")
    if spelling == "symlink":
        os.symlink("clip.mp4", "sym.mp4")
    before = snapshot(tmp_path)
    rc, err = run(capsys, *[a.replace("{in}", "clip.mp4").replace("{out}", out) for a in argv])
    one_line(rc, err, out, "refusing to overwrite it")
    assert snapshot(tmp_path) == before  # nothing changed, nothing written
    assert (tmp_path / "sym.mp4").is_symlink() or spelling != "symlink"


def test_derived_outputs_that_are_inputs_are_refused(capsys, tmp_path, equirect, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy("clip.mp4", "x.web.mp4")
    shutil.copy("clip.mp4", "clip.csv")
    before = snapshot(tmp_path)
    # the CSV written beside clip.json would be the input clip.csv
    one_line(*run(capsys, "telemetry", "clip.csv", "-o", "clip.json", "--csv"), "clip.csv", "refusing to overwrite")
    # the web rendition of x.mp4 is x.web.mp4, the input: refused before stitching
    one_line(*run(capsys, "stitch", "x.web.mp4", "-o", "x.mp4", "--web"), "x.web.mp4", "refusing to overwrite")
    # two outputs that are one file
    one_line(*run(capsys, "calibrate", "clip.mp4", "-o", "r.json", "--pto", "./r.json"), "another output")
    assert snapshot(tmp_path) == before


def test_job_registry_in_the_library(tmp_path, equirect) -> None:
    """atomic_output refuses an input read in the same job, lets a job rewrite its own
    output, and outside a job checks nothing (library callers are not forced into jobs)."""
    from orbit360._files import atomic_output, check_input_file, job_files

    with job_files():
        check_input_file(equirect)
        with pytest.raises(OutputError, match="refusing to overwrite"):
            with atomic_output(tmp_path / "." / equirect.name):
                pass
        own = tmp_path / "own.txt"
        with atomic_output(own) as tmp:
            tmp.write_text("first")
        check_input_file(own)  # a second pass over its own output ...
        with atomic_output(own) as tmp:  # ... may rewrite it
            tmp.write_text("second")
        assert own.read_text() == "second"
    with atomic_output(tmp_path / "free.txt") as tmp:
        tmp.write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "free.txt", "own.txt"]
    # a temporary input deleted during the job no longer counts, even when the filesystem
    # hands its inode to the next file (ext4 and tmpfs usually do: the max-file stitch
    # was refused because its output got the inode of a deleted .moov temporary)
    with job_files():
        gone = tmp_path / "gone.tmp"
        gone.write_text("temporary input")
        check_input_file(gone)
        gone.unlink()
        later = [tmp_path / f"later{i}.txt" for i in range(8)]
        for p in later:
            p.write_text("x")
        for p in later:
            with atomic_output(p) as tmp:
                tmp.write_text("y")
    assert all(p.read_text() == "y" for p in later)


def test_library_entry_points_refuse_to_overwrite_their_input(tmp_path, equirect) -> None:
    from orbit360.pipeline import stitch_video
    from orbit360.publish import publish_web

    before = equirect.read_bytes()
    for call in (lambda: stitch_video(equirect, tmp_path / "sub" / ".." / equirect.name),
                 lambda: publish_web(equirect, equirect)):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(Exception, match="overwrite") as err:
            call()
        assert isinstance(err.value, (OutputError, InputError))
    assert equirect.read_bytes() == before


def test_full_disk_is_one_line_naming_the_output_not_the_temporary(tmp_path) -> None:
    from orbit360._files import atomic_output

    target = tmp_path / "out.mp4"
    with pytest.raises(OutputError) as err:
        with atomic_output(target):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(err.value) == f"{target}: cannot write: No space left on device"
    assert list(tmp_path.iterdir()) == []


# ---- 2. not regular files, tiny files -------------------------------------------------------


def test_fifo_and_devices_are_refused_without_reading(tmp_path, equirect) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    cases = [["inspect", fifo], ["stitch", equirect, "-o", tmp_path / "o.mp4", "--lens", fifo],
             ["reframe", equirect, "-o", tmp_path / "o.mp4", "--path", fifo], ["still", fifo],
             ["inspect", "/dev/zero"]]
    for argv in cases:
        proc = subprocess.run([sys.executable, "-m", "orbit360", *map(str, argv)], capture_output=True, text=True, timeout=60)
        one_line(proc.returncode, proc.stderr, "expected a file")


@pytest.mark.parametrize("n", range(1, 8))
def test_tiny_files_are_errors_not_aborts(capsys, tmp_path, n) -> None:
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(bytes([0, 0, 0, 9, 0x66, 0x74, 0x79])[:n])
    not_mp4 = "not an MP4/MOV file (no ISO-BMFF box at the start)"  # under 8 bytes: no box header
    for argv, problem in ((["inspect", tiny], not_mp4), (["stitch", tiny, "-o", tmp_path / "o.mp4"], not_mp4),
                          (["telemetry", tiny, "-o", tmp_path / "t.json"], not_mp4),
                          (["salvage", tiny, "-o", tmp_path / "s.mp4"], f"no mdat payload: the file ends inside a box header ({n} bytes left")):
        one_line(*run(capsys, *argv), f"{tiny}: {problem}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mp4"]


# ---- 3. container opens -------------------------------------------------------------------


def test_brand_that_is_not_text_is_read_or_refused_in_one_line(capsys, tmp_path, equirect) -> None:
    data = bytearray(equirect.read_bytes())
    at = data.find(b"ftyp")
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"  # major brand
    data[at + 12 : at + 16] = b"\xff\xfe\xfd\xfc"  # first compatible brand
    bad = tmp_path / "brand.mp4"
    bad.write_bytes(bytes(data))
    for argv in (["inspect", bad], ["still", bad, "-o", tmp_path / "s.jpg"], ["publish", bad, "--max-width", "256", "-o", tmp_path / "p.mp4"],
                 ["reframe", bad, "--size", "64x32", "-o", tmp_path / "r.mp4"]):
        rc, err = run(capsys, *argv)
        assert rc == 0, err  # FFmpeg reads the picture; the brand is shown with replacement characters
    assert bad.read_bytes() == bytes(data)


def test_impossible_frame_rate_is_refused(capsys, tmp_path, equirect) -> None:
    data = bytearray(equirect.read_bytes())
    at = data.find(b"mdhd") + 4
    version = data[at]
    data[at + 4 + (16 if version == 1 else 8) : at + 8 + (16 if version == 1 else 8)] = struct.pack(">I", 0x7FFFFFFF)
    bad = tmp_path / "timescale.mp4"
    bad.write_bytes(bytes(data))
    one_line(*run(capsys, "still", bad, "-o", tmp_path / "s.jpg"), str(bad), "fps is not a camera's")


def test_nothing_decodable_is_an_error_not_an_empty_video(capsys, tmp_path, equirect) -> None:
    """An stsc with no entries: FFmpeg opens the file but decodes no frame. publish named its
    hidden temporary ("file is empty"), reframe wrote an empty video and exited 0."""
    data = bytearray(equirect.read_bytes())
    at = data.find(b"stsc") + 4
    data[at + 4 : at + 8] = b"\0\0\0\0"  # entry count
    bad = tmp_path / "stsc.mp4"
    bad.write_bytes(bytes(data))
    for argv in (["publish", bad, "--max-width", "256", "-o", tmp_path / "p.mp4"],
                 ["reframe", bad, "--size", "64x32", "-o", tmp_path / "r.mp4"]):
        one_line(*run(capsys, *argv), str(bad), "no video frame could be decoded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "stsc.mp4"]


# ---- 4. memory budget and impossible sizes ------------------------------------------------


def test_sizes_over_the_memory_budget_fail_before_allocating(capsys, tmp_path, equirect, monkeypatch) -> None:
    line = one_line(*run(capsys, "still", equirect, "--flat", "--size", "100000x100000", "-o", tmp_path / "s.jpg"), "100000x100000", "would need")
    assert "GiB of memory" in line and "--size" in line
    one_line(*run(capsys, "reframe", equirect, "--size", "100000x56250", "-o", tmp_path / "r.mp4"), "would need")
    monkeypatch.setenv("ORBIT360_MEMORY_LIMIT", "1G")
    line = one_line(*run(capsys, "stitch", equirect, "--width", "16384", "-o", tmp_path / "o.mp4"), "16384x8192 stitch would need")
    assert "1.0 GiB is available" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_two_by_one_video(capsys, tmp_path) -> None:
    tiny = write_video(tmp_path / "tiny.mp4", 2, 1, 3, pix_fmt="yuv444p")
    one_line(*run(capsys, "stitch", tiny, "-o", tmp_path / "o.mp4"), str(tiny), "0 pixels wide")
    one_line(*run(capsys, "publish", tiny, "-o", tmp_path / "p.mp4"), str(tiny), "too small")


def test_still_of_a_flat_video_and_preview_name_checked_first(capsys, tmp_path) -> None:
    flat = write_video(tmp_path / "flat.mp4", 160, 90, 2)
    one_line(*run(capsys, "still", flat, "-o", tmp_path / "s.jpg"), str(flat), "not a 2:1 equirect")
    one_line(*run(capsys, "calibrate", flat, "-o", tmp_path / "rig.json", "--preview", tmp_path / "p.mp4"), "p.mp4", ".png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.mp4"]  # no JSON written before the refusal


# ---- 5. usage errors ----------------------------------------------------------------------


def test_usage_errors_are_one_line(capsys, tmp_path, equirect) -> None:
    one_line(*run(capsys, "stitch", equirect, "-o", tmp_path / "o.mp4", "--width", "63"), "--width", "63")
    one_line(*run(capsys, "inspect", tmp_path / "nope.mp4"), "nope.mp4", "no such file")
    one_line(*run(capsys, "salvage", tmp_path / "nope.mp4"), "nope.mp4", "no such file")
    one_line(*run(capsys, "inspect", tmp_path), "is a directory")
    one_line(*run(capsys, "stitch", equirect, "-o", tmp_path), "is a directory")
    one_line(*run(capsys, "stitch", equirect), "Missing option")
    one_line(*run(capsys, "stitch", equirect, "-o", "x.mp4", "--bogus"), "--bogus")


def test_warnings_held_back_are_dropped_when_the_command_fails(capsys) -> None:
    from orbit360._console import deferred_warnings, warn

    with deferred_warnings() as held:
        warn("about to fail")
        held.drop()
    assert capsys.readouterr().err == ""
    with deferred_warnings():
        warn("kept")
    assert capsys.readouterr().err == "orbit360: warning: kept\n"


# ---- 7. pairs, telemetry, inspect ---------------------------------------------------------


def test_lens_pair_with_another_frame_rate_or_length_is_refused(tmp_path) -> None:
    from orbit360.cameras import open_rig
    from orbit360.synthetic import write_fusion_pair
    from orbit360.errors import InputError
    from orbit360.profile import RigProfile
    from orbit360.synthetic import make_scene

    scene, rig = make_scene(256, seed=5), RigProfile.nominal((256, 128))
    kw = dict(offset=0, audio=False, timecode=False)
    for sub in "abc":
        (tmp_path / sub).mkdir()
    front, back, _ = write_fusion_pair(tmp_path / "a", scene, rig, number="0201", frames=12, fps=30, **kw)
    _, back25, _ = write_fusion_pair(tmp_path / "b", scene, rig, number="0201", frames=10, fps=25, **kw)
    _, back_short, _ = write_fusion_pair(tmp_path / "c", scene, rig, number="0201", frames=4, fps=30, **kw)
    open_rig(front)  # the healthy pair opens
    shutil.copy(back25, back)
    with pytest.raises(InputError, match="25.000 fps, front 30.000 fps"):
        open_rig(front)
    shutil.copy(back_short, back)
    with pytest.raises(InputError, match="back lens has 4 frames, the front 12"):
        open_rig(front)


def test_telemetry_of_an_insv_and_inspect_of_a_one_frame_video(capsys, tmp_path) -> None:
    from orbit360.synthetic import write_insv
    from orbit360.profile import RigProfile
    from orbit360.synthetic import make_scene

    insv = tmp_path / "VID_20260101_101010_00_001.insv"
    write_insv(insv, make_scene(256, seed=2), RigProfile.nominal((256, 128)), frames=2)
    one_line(*run(capsys, "telemetry", insv, "-o", tmp_path / "t.json"), "no GPMF telemetry track")
    single = write_video(tmp_path / "one.mp4", 128, 64, 1)
    rc, _ = run(capsys, "inspect", single)
    out = capsys.readouterr().out if rc else ""
    assert rc == 0
    from orbit360.inspect import inspect_file

    info = inspect_file(single)
    assert not any("no video track" in p for p in info.problems), info.problems
    assert out == ""


def test_a_file_of_millions_of_empty_boxes_is_bounded(tmp_path) -> None:
    from orbit360.inspect import inspect_file

    boxes = tmp_path / "boxes.mp4"
    boxes.write_bytes(b"\0\0\0\x08free" * 1_000_000)
    info = inspect_file(boxes)
    assert any("more than 200000 boxes" in (p or "") for p in [info.salvage_table, *info.problems]), (info.problems, info.salvage_table)
