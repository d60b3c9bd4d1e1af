"""Fuzzing salvage and the box reader: damaged inputs give a result or one Orbit360Error.

Never a traceback of another kind, never a hang (every example has a time limit), and a
result is a sound one: whatever salvage writes is a well-formed MP4 whose samples lie
inside its mdat without overlapping and match its report; a moov that reads has tables
that agree and samples inside the file; a command that succeeds wrote its output.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orbit360.errors import Orbit360Error
from orbit360.isobmff import Movie, read_movie
from orbit360.salvage import salvage

# 40 examples per test keeps the suite quick; ORBIT360_FUZZ_EXAMPLES=600 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("ORBIT360_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TIME_LIMIT_S = 30.0
"""A hang guard, not a speed target (bench/hostile measures speed): a command that still
runs after this on damaged input is stuck; 10 s failed on a loaded 2-core machine."""


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int, mdat_size: int | None, mdat_at: int) -> bytes:
    b = bytearray(data[: max(0, min(cut, len(data)))])
    for pos, value in flips:
        if pos < len(b):
            b[pos] = value
    if mdat_size is not None and mdat_at + 4 <= len(b):
        b[mdat_at : mdat_at + 4] = struct.pack(">I", mdat_size)
    return bytes(b)


def _salvage_or_clear_error(data: bytes, tmp: Path, **kw) -> None:
    broken, out = tmp / "fuzz.mp4", tmp / "fuzz.out.mp4"
    out.unlink(missing_ok=True)
    broken.write_bytes(data)
    start = time.monotonic()
    try:
        report = salvage(broken, out, **kw)
    except Orbit360Error as exc:
        assert "\n" not in str(exc) and str(exc)
        assert not out.exists()
    else:
        assert report.output == str(out) and report.method in ("gopro-sos", "reference", "healthy", "cut-moov")
        assert report.output_bytes in (None, out.stat().st_size)
        assert 0 <= report.recording_end <= len(data) and 0 <= report.unassigned_bytes <= report.payload_bytes
        movie = read_movie(out)
        _assert_samples_sound(movie, within=(movie.mdat.payload_offset, movie.mdat.end))
        # the report describes the file written: per track, its samples, key frames and bytes
        written = {t.track_id: t for t in movie.tracks}
        assert {r["track_id"] for r in report.tracks} <= set(written)
        for row in report.tracks:
            t = written[row["track_id"]]
            assert (row["samples"], row["key_frames"], row["bytes"]) == (t.sample_count, len(t.sync_samples), int(t.sizes.sum()))
        assert report.samples > 0  # a salvage that recovers nothing says so with an error
    assert time.monotonic() - start < TIME_LIMIT_S
    assert broken.read_bytes() == data  # input never modified


def _assert_samples_sound(movie: Movie, *, within: tuple[int, int]) -> None:
    """Each track's tables agree in length, its samples are non-empty, have durations and
    key frames that exist, and every sample of every track lies in ``within`` = [start, end)
    of the file without overlapping another."""
    spans = []
    for t in movie.tracks:
        n = t.sample_count
        assert t.offsets.shape == t.sizes.shape == t.durations.shape == t.composition_offsets.shape == (n,)
        if n == 0:
            continue
        assert int(t.sizes.min()) > 0 and int(t.durations.min()) >= 0
        assert t.sync_samples.size == 0 or (0 <= int(t.sync_samples.min()) and int(t.sync_samples.max()) < n)
        spans.append(np.stack([t.offsets.astype(np.int64), t.offsets.astype(np.int64) + t.sizes.astype(np.int64)], axis=1))
    if spans:
        ordered = np.concatenate(spans)
        ordered = ordered[np.argsort(ordered[:, 0], kind="stable")]
        assert int(ordered[0, 0]) >= within[0] and int(ordered[:, 1].max()) <= within[1]
        assert bool(np.all(ordered[1:, 0] >= ordered[:-1, 1])), "two samples share bytes"


@pytest.fixture(scope="module")
def gopro_head(gopro_hero7: Path) -> bytes:
    return gopro_hero7.read_bytes()[:200_000]


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 199_999), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 200_000),
    mdat_size=st.none() | st.sampled_from([0, 1, 7, 8, 9, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1),
)
def test_gopro_salvage_fuzz(gopro_head: bytes, tmp_path: Path, flips, cut, mdat_size) -> None:
    _salvage_or_clear_error(_mutate(gopro_head, flips, cut, mdat_size, 20), tmp_path)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8),
)
@example(flips=[(629, 0)])  # the SPS's cropping window then exceeds the picture: no size to write
def test_gopro_header_records_fuzz(gopro_head: bytes, tmp_path: Path, flips) -> None:
    """Flips concentrated in the GPRO and configuration records and the first SOS records."""
    _salvage_or_clear_error(_mutate(gopro_head, flips, 120_000, None, 20), tmp_path)


@pytest.fixture(scope="module")
def healthy_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from orbit360.synthetic import write_camera_like_recording as make_recording

    return make_recording(tmp_path_factory.mktemp("fz") / "ref.mp4", seed=7, seconds=0.8)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 60_000), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 60_000),
)
def test_reference_salvage_fuzz(healthy_small: Path, tmp_path: Path, flips, cut) -> None:
    data = healthy_small.read_bytes()
    mdat_at = data.find(b"mdat") - 4
    _salvage_or_clear_error(_mutate(data, flips, cut, None, mdat_at), tmp_path, reference=healthy_small)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=10),
    box_size=st.none() | st.tuples(st.integers(0, 4000), st.integers(0, 2**32 - 1)),
)
@example(flips=[(602, 0)], box_size=None)  # an stts run count of 0: the table covers too few samples
@example(flips=[(634, 196)], box_size=None)  # a box type read as b"\0\0\nM": its error printed on two lines
def test_box_reader_fuzz_on_moov(healthy_small: Path, tmp_path: Path, flips, box_size) -> None:
    """Damaged moov tables: read_movie returns tracks or raises an Orbit360Error."""
    data = healthy_small.read_bytes()
    moov_at = data.rfind(b"moov") - 4
    b = bytearray(data)
    for pos, value in flips:
        b[min(moov_at + pos, len(b) - 1)] = value
    if box_size is not None:
        at = min(moov_at + box_size[0], len(b) - 4)
        b[at : at + 4] = struct.pack(">I", box_size[1])
    p = tmp_path / "moov.mp4"
    p.write_bytes(bytes(b))
    start = time.monotonic()
    try:
        movie = read_movie(p)
    except Orbit360Error as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        # what the tables promise: one entry per sample in each, key frames that exist, a
        # 4-character codec and a clock; no track made up (read_movie does not check that
        # sample offsets lie inside the file: the readers of sample bytes must)
        assert len(movie.tracks) <= len(read_movie(healthy_small).tracks)
        for t in movie.tracks:
            n = t.sample_count
            assert t.offsets.shape == t.sizes.shape == t.durations.shape == t.composition_offsets.shape == (n,)
            assert t.sync_samples.size == 0 or (0 <= int(t.sync_samples.min()) and int(t.sync_samples.max()) < n)
            assert n == 0 or (int(t.offsets.min()) >= 0 and int(t.sizes.min()) >= 0)
            assert len(t.codec) == 4 and t.timescale > 0 and math.isfinite(t.duration_seconds)
    assert time.monotonic() - start < TIME_LIMIT_S


# ---- every command's input path (issue 19) ------------------------------------------------

# Each example runs nine commands in-process: fewer examples than above keep it quick;
# ORBIT360_FUZZ_EXAMPLES raises them all (bench/hostile/run.py is the long campaign).
FUZZ_COMMANDS = settings(
    max_examples=max(1, int(os.environ.get("ORBIT360_FUZZ_EXAMPLES", "40")) // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def small_equirect(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("eq") / "eq.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt, s.options = 128, 64, "yuv420p", {"preset": "ultrafast"}
        for i in range(3):
            # two lit image circles (dual fisheye: stitch works on it; the others take any 2:1 video)
            img = np.zeros((64, 128, 3), np.uint8)
            yy, xx = np.ogrid[0:64, 0:128]
            img[np.hypot((xx % 64) + 0.5 - 32, yy + 0.5 - 32) < 28 + 2 * i] = 200
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path.read_bytes()


def _every_command(video: Path) -> list[list[str]]:
    d = video.parent
    return [
        ["inspect", str(video)],
        ["inspect", "--json", str(video)],
        ["telemetry", str(video), "-o", str(d / "t.json"), "--csv"],
        ["still", str(video), "-o", str(d / "s.jpg")],
        ["still", str(video), "--flat", "--size", "64x32", "-o", str(d / "f.jpg")],
        ["reframe", str(video), "--size", "64x32", "--preset", "ultrafast", "--quiet", "-o", str(d / "r.mp4")],
        ["publish", str(video), "--max-width", "256", "--preset", "ultrafast", "--quiet", "-o", str(d / "p.mp4")],
        ["stitch", str(video), "--width", "64", "--preset", "ultrafast", "--quiet", "-o", str(d / "st.mp4")],
        ["salvage", str(video), "-o", str(d / "sv.mp4"), "-q"],
    ]


def _assert_command_output(argv: list[str], stdout: str) -> None:
    """What a command that exits 0 must have made: its output, complete and readable."""
    if argv[0] == "inspect":
        video = Path(argv[-1])
        if "--json" in argv:
            doc = json.loads(stdout)
            assert doc["path"] == str(video) and doc["size_bytes"] == video.stat().st_size, argv
            # a moov's tracks, or (no moov) what salvage would recover
            assert (doc["has_moov"] and doc["salvage"] is None) or (not doc["has_moov"] and doc["salvage"] is not None), argv
            assert all(t["kind"] and t["codec"] and (t["frames"] or 0) >= 0 for t in doc["tracks"]), argv
        else:
            assert video.name in stdout, argv
        return
    out = Path(argv[argv.index("-o") + 1])
    assert out.is_file() and out.stat().st_size > 0, argv
    if out.suffix == ".mp4":
        video = [t for t in read_movie(out).tracks if t.handler == b"vide"]
        assert video and video[0].sample_count >= 1, argv
    elif out.suffix == ".jpg":
        import cv2

        img = cv2.imread(str(out))
        assert img is not None, argv
        if "--size" in argv:
            w, h = (int(v) for v in argv[argv.index("--size") + 1].split("x"))
            assert img.shape[:2] == (h, w), argv
    elif out.suffix == ".json":
        assert isinstance(json.loads(out.read_text()), dict), argv


@FUZZ_COMMANDS
@given(
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 1 << 20),
    in_moov=st.booleans(),
)
@example(flips=[], cut=None, in_moov=False)  # the healthy file: every command but salvage and telemetry works
def test_every_command_on_damaged_video(small_equirect: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], flips, cut, in_moov) -> None:
    """publish, still, reframe, view, stitch, inspect, telemetry, salvage on a damaged video:
    a result or one line ``orbit360: error: ...`` with exit 2, the input unchanged."""
    from orbit360.cli import main

    data = bytearray(small_equirect)
    base = data.rfind(b"moov") - 4 if in_moov else 0
    for pos, value in flips:
        data[min(base + pos % max(1, len(data) - base), len(data) - 1)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    folder = tmp_path / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    video = folder / "x.mp4"
    video.write_bytes(bytes(data))
    for argv in _every_command(video):
        start = time.monotonic()
        rc = main(argv)
        out, err = capsys.readouterr()
        assert rc in (0, 2), (argv, err)
        if not flips and cut is None:
            assert (rc == 0) == (argv[0] not in ("salvage", "telemetry")), (argv, err)
        if rc == 0:
            _assert_command_output(argv, out)
        if rc == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("orbit360: error: "), (argv, err)
        assert time.monotonic() - start < TIME_LIMIT_S
        assert video.read_bytes() == bytes(data), argv  # input never modified
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporaries left
    # view: the file it would serve, and the server bound to it (not left serving)
    from orbit360.errors import Orbit360Error
    from orbit360.publish import pick_viewable
    from orbit360.viewer import ViewerServer

    try:
        source, _ = pick_viewable(video)
        ViewerServer(source).stop()
    except Orbit360Error as exc:
        assert str(exc) and "\n" not in str(exc)
