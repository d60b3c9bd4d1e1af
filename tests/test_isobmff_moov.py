"""build_moov / write_movie: what read_movie parses back is what went in."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.isobmff import (
    MdatSource,
    Track,
    box,
    build_moov,
    mdat_header,
    read_movie,
    write_movie,
)
from orbit360.isobmff._sample_table import read_movie_from

FIELDS = ("offsets", "sizes", "durations", "composition_offsets", "sync_samples")


def test_rewrite_real_recording_round_trips(gopro_mp4: Path, tmp_path: Path) -> None:
    movie = read_movie(gopro_mp4)
    out = tmp_path / "rewritten.mp4"
    ftyp = gopro_mp4.read_bytes()[:20]
    write_movie(
        out,
        ftyp=ftyp,
        source=MdatSource(gopro_mp4, movie.mdat.payload_offset, movie.mdat.end),
        tracks=movie.tracks,
        movie_timescale=movie.timescale,
        udta=movie.udta,
    )
    again = read_movie(out)
    assert len(again.tracks) == len(movie.tracks)
    for a, b in zip(movie.tracks, again.tracks):
        assert (a.track_id, a.handler, a.codec, a.stsd, a.timescale) == (b.track_id, b.handler, b.codec, b.stsd, b.timescale)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # ftyp and mdat are byte-identical, so the offsets are too
    assert out.read_bytes()[: movie.mdat.end] == gopro_mp4.read_bytes()[: movie.mdat.end]
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == movie.tracks[0].sample_count


def _track(n: int, first_offset: int, **kw) -> Track:
    sizes = np.full(n, 1000, np.uint32)
    sizes[-1:] = 500  # not all equal: a constant stsz is checked against the (tiny) test file
    fields = dict(
        track_id=1,
        handler=b"vide",
        codec=b"avc1",
        stsd=struct.pack(">II", 0, 1) + box(b"avc1", bytes(78)),
        timescale=90000,
        offsets=first_offset + np.arange(n, dtype=np.uint64) * 1016,
        sizes=sizes,
        durations=np.full(n, 3003, np.uint32),
        composition_offsets=np.zeros(n, np.int32),
        sync_samples=np.arange(0, n, 10),
        width=64,
        height=48,
        has_stss=True,
    )
    fields.update(kw)
    return Track(**fields)


def test_offsets_past_4gib_use_co64_and_survive() -> None:
    t = _track(50, 0xFFFF_F000)
    moov = build_moov([t], movie_timescale=90000)
    assert b"co64" in moov and b"stco" not in moov
    f = io.BytesIO(box(b"ftyp", b"isom\0\0\0\0") + moov)
    (back,) = read_movie_from(f, len(f.getvalue())).tracks
    np.testing.assert_array_equal(back.offsets, t.offsets)
    np.testing.assert_array_equal(back.sync_samples, t.sync_samples)


def test_negative_composition_offsets_and_chunks() -> None:
    comp = np.tile(np.array([0, 6006, -3003, 3003], np.int32), 5)
    offsets = np.arange(20, dtype=np.uint64) * 1000  # samples touch: one chunk per run of 5
    offsets[5:] += 7
    offsets[10:] += 7
    t = _track(20, 0, composition_offsets=comp, offsets=offsets)
    moov = build_moov([t], movie_timescale=90000)
    f = io.BytesIO(moov)
    (back,) = read_movie_from(f, len(moov)).tracks
    np.testing.assert_array_equal(back.composition_offsets, comp)
    np.testing.assert_array_equal(back.offsets, offsets)


def test_mdat_header_switches_to_largesize() -> None:
    assert mdat_header(100) == struct.pack(">I4s", 108, b"mdat")
    big = mdat_header(5 * 2**30)
    assert big[:8] == struct.pack(">I4s", 1, b"mdat") and struct.unpack(">Q", big[8:])[0] == 5 * 2**30 + 16


def test_copy_without_copy_file_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the kernel cannot copy between these files, blocks go through a buffer."""
    import orbit360.isobmff._moov as moov_module

    def refuse(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(moov_module.os, "copy_file_range", refuse, raising=False)
    monkeypatch.setattr(moov_module, "COPY_BLOCK", 1000)
    src = tmp_path / "src.bin"
    payload = np.random.default_rng(0).integers(0, 256, 5500, dtype=np.uint8).tobytes()
    src.write_bytes(b"x" * 17 + payload)
    out = tmp_path / "out.mp4"
    seen = []
    t = _track(3, 17)
    write_movie(out, ftyp=box(b"ftyp", b"isom\0\0\0\0"), source=MdatSource(src, 17, 17 + 5500), tracks=[t],
                movie_timescale=90000, progress=lambda done, total: seen.append((done, total)))
    data = out.read_bytes()
    assert data[16 + 8 : 16 + 8 + 5500] == payload
    assert seen[-1] == (5500, 5500) and len(seen) == 6
    (back,) = read_movie(out).tracks
    assert data[int(back.offsets[0]) : int(back.offsets[0]) + 1000] == payload[:1000]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
    constant_size=st.booleans(),
    far=st.booleans(),
    with_ctts=st.booleans(),
    stss=st.booleans(),
)
def test_moov_round_trip_property(n: int, seed: int, constant_size: bool, far: bool, with_ctts: bool, stss: bool) -> None:
    """read_movie(build_moov(tracks)) gives back every per-sample column, for random tables."""
    rng = np.random.default_rng(seed)
    sizes = np.full(n, 777, np.uint32) if constant_size else rng.integers(1, 5000, n).astype(np.uint32)
    gaps = rng.integers(0, 3, n) * rng.integers(1, 100, n)  # some samples touch: shared chunks
    offsets = (np.cumsum(np.concatenate(([0], sizes[:-1].astype(np.int64) + gaps[:-1]))) if n else np.zeros(0, np.int64))
    offsets = (offsets + (5 << 32 if far else 64)).astype(np.uint64)
    durations = rng.choice([0, 1, 1024, 3003], n).astype(np.uint32)
    comp = rng.integers(-5000, 5000, n).astype(np.int32) if with_ctts else np.zeros(n, np.int32)
    sync = np.flatnonzero(rng.random(n) < 0.3) if stss else np.arange(n)
    t = _track(n, 0, sizes=sizes, offsets=offsets, durations=durations, composition_offsets=comp,
               sync_samples=sync, has_stss=stss)
    moov = build_moov([t], movie_timescale=90000)
    # room after the moov, so that a constant-size stsz fits in the file it describes
    blob = moov + box(b"free", bytes(int(sizes.sum(dtype=np.int64))))
    (back,) = read_movie_from(io.BytesIO(blob), len(blob)).tracks
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(t, name), err_msg=name)
    assert back.has_stss == (stss or sync.size != n)


def test_background_writer_cuts_at_the_end_and_aborts_cleanly(tmp_path: Path) -> None:
    from orbit360._files import atomic_output
    from orbit360.isobmff import BackgroundMovieWriter

    payload = np.random.default_rng(1).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    src = tmp_path / "src.bin"
    src.write_bytes(b"H" * 100 + payload)
    ftyp = box(b"ftyp", b"isom\0\0\0\0")
    t = _track(3, 100)
    out = tmp_path / "out.mp4"
    with atomic_output(out) as tmp, BackgroundMovieWriter(tmp, ftyp=ftyp, source_path=src, start=100, limit=100 + len(payload)) as w:
        size = w.finish(100 + 2532, [t], movie_timescale=90000)  # the recording ends early
    data = out.read_bytes()
    assert len(data) == size and data[: len(ftyp)] == ftyp
    assert data[len(ftyp) : len(ftyp) + 8] == struct.pack(">I4s", 2532 + 8, b"mdat")
    assert data[len(ftyp) + 8 : len(ftyp) + 8 + 2532] == payload[:2532]
    (back,) = read_movie(out).tracks
    assert data[int(back.offsets[1]) : int(back.offsets[1]) + 1000] == payload[1016:2016]

    aborted = tmp_path / "aborted.mp4"
    with pytest.raises(RuntimeError):
        with atomic_output(aborted) as tmp, BackgroundMovieWriter(tmp, ftyp=ftyp, source_path=src, start=100, limit=100 + len(payload)):
            raise RuntimeError("the scan failed")
    assert not aborted.exists() and not list(tmp_path.glob(".aborted*"))


def test_error_naming_a_corrupt_box_type_stays_on_one_line(tmp_path: Path) -> None:
    """A box type read from damaged bytes can hold a newline (found by the salvage fuzz
    test): the error still prints as one line, control characters escaped."""
    from orbit360.errors import Orbit360Error
    from orbit360.isobmff import read_movie

    child = struct.pack(">I4s", 2389, b"\x00\x00\nM") + b"\x00" * 8
    moov = struct.pack(">I4s", 8 + len(child), b"moov") + child
    path = tmp_path / "bad\tname.mp4"
    path.write_bytes(struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0) + moov)
    with pytest.raises(Orbit360Error) as info:
        read_movie(path)
    text = str(info.value)
    assert "\n" not in text and "\t" not in text
    assert "\\x0a" in text and "bad\\x09name.mp4" in text
