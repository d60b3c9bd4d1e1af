"""Fuzzing salvage and the box reader: damaged inputs give a result or one Orbit360Error.

Never a traceback of another kind, never a hang (every example has a time limit), and
whatever salvage writes is a well-formed MP4 whose samples lie inside its mdat.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orbit360.errors import Orbit360Error
from orbit360.isobmff import read_movie
from orbit360.salvage import salvage

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
HERO7 = SAMPLES / "gopro_hero7.mp4"
# 40 examples per test keeps the suite quick; ORBIT360_FUZZ_EXAMPLES=600 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("ORBIT360_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TIME_LIMIT_S = 10.0


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
        movie = read_movie(out)
        mdat_end = movie.mdat.end
        for t in movie.tracks:
            assert t.sample_count == 0 or int((t.offsets + t.sizes).max()) <= mdat_end
        assert report.output == str(out)
    assert time.monotonic() - start < TIME_LIMIT_S
    assert broken.read_bytes() == data  # input never modified


@pytest.fixture(scope="module")
def gopro_head() -> bytes:
    if not HERO7.is_file():
        pytest.skip("shared/samples not present")
    return HERO7.read_bytes()[:200_000]


@pytest.mark.skipif(not HERO7.is_file(), reason="shared/samples not present")
@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 199_999), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 200_000),
    mdat_size=st.none() | st.sampled_from([0, 1, 7, 8, 9, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1),
)
def test_gopro_salvage_fuzz(gopro_head: bytes, tmp_path: Path, flips, cut, mdat_size) -> None:
    _salvage_or_clear_error(_mutate(gopro_head, flips, cut, mdat_size, 20), tmp_path)


@pytest.mark.skipif(not HERO7.is_file(), reason="shared/samples not present")
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
    from test_salvage_reference import make_recording

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
        for t in movie.tracks:
            assert t.offsets.shape == t.sizes.shape == t.durations.shape == t.composition_offsets.shape
    assert time.monotonic() - start < TIME_LIMIT_S
