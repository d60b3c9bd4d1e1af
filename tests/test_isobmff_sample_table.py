"""read_tracks / read_movie against FFmpeg's own demuxer (PyAV) on real and made files."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.errors import CorruptBoxError, InputError
from orbit360.isobmff import box, container, full_box, read_movie, read_tracks



def _packets(path: Path) -> dict[int, list[av.Packet]]:
    out: dict[int, list] = {}
    with av.open(str(path)) as c:
        for pkt in c.demux():
            if pkt.size:
                out.setdefault(pkt.stream.id, []).append(
                    (pkt.pos, pkt.size, pkt.dts, pkt.pts, pkt.is_keyframe, bytes(pkt))
                )
    return out


def test_gopro_tracks_match_ffmpeg_demuxer(gopro_mp4: Path) -> None:
    tracks = read_tracks(gopro_mp4)
    assert [t.handler for t in tracks] == [b"vide", b"soun", b"tmcd", b"meta", b"meta"]
    assert [t.codec for t in tracks] == [b"avc1", b"mp4a", b"tmcd", b"gpmd", b"fdsc"]
    video = tracks[0]
    assert (video.width, video.height) == (848, 480)
    assert video.sample_entry.startswith(struct.pack(">I", len(video.sample_entry)) + b"avc1")
    assert b"avcC" in video.sample_entry
    packets = _packets(gopro_mp4)
    data = gopro_mp4.read_bytes()
    checked = 0
    for t in tracks:
        pk = packets.get(t.track_id)
        if pk is None:  # FFmpeg exposes no packets for the zero-duration fdsc track
            continue
        assert len(pk) == t.sample_count
        pos, size, dts, pts, key, payload = zip(*pk)
        np.testing.assert_array_equal(t.offsets, pos)
        np.testing.assert_array_equal(t.sizes, size)
        np.testing.assert_array_equal(t.decode_times, np.array(dts) - dts[0])
        if t.handler == b"vide":
            np.testing.assert_array_equal(np.flatnonzero(key), t.sync_samples)
        # the bytes at offsets/sizes are the bytes FFmpeg hands out
        for i in (0, t.sample_count // 2, t.sample_count - 1):
            o, s = t.sample_range(i)
            assert data[o : o + s] == payload[i]
        checked += 1
    assert checked == 4


def test_bframes_composition_offsets(tmp_path: Path) -> None:
    path = tmp_path / "b.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"bframes": "2", "g": "12", "keyint_min": "12", "sc_threshold": "0"}
        rng = np.random.default_rng(1)
        for i in range(30):
            img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    (t,) = read_tracks(path)
    assert t.sample_count == 30 and t.composition_offsets.any()
    pk = _packets(path)[t.track_id]
    pts = np.array([p[3] for p in pk])
    dts = np.array([p[2] for p in pk])
    np.testing.assert_array_equal(t.decode_times + t.composition_offsets, pts - dts[0])
    np.testing.assert_array_equal(t.sync_samples, np.flatnonzero([p[4] for p in pk]))
    assert t.has_stss


def test_no_moov_is_a_clear_input_error(tmp_path: Path) -> None:
    p = tmp_path / "cut.mp4"
    p.write_bytes(box(b"ftyp", b"isom\0\0\0\0") + box(b"mdat", b"\0" * 100))
    with pytest.raises(InputError, match="no moov") as e:
        read_movie(p)
    assert e.value.path == str(p)


def _movie_with_stbl(stbl_children: list[bytes]) -> bytes:
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, 0) + bytes(60))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 1000, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0vide" + bytes(12) + b"\0")
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1) + box(b"avc1", bytes(78)))
    stbl = container(b"stbl", [stsd, *stbl_children])
    trak = container(b"trak", [tkhd, container(b"mdia", [mdhd, hdlr, container(b"minf", [stbl])])])
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, 0) + bytes(80))
    return box(b"ftyp", b"isom\0\0\0\0") + box(b"mdat", bytes(64)) + container(b"moov", [mvhd, trak])


def test_hostile_run_counts_cost_nothing(tmp_path: Path) -> None:
    stsz = full_box(b"stsz", 0, 0, struct.pack(">II", 0, 2) + struct.pack(">II", 10, 20))
    stco = full_box(b"stco", 0, 0, struct.pack(">II", 1, 16))
    stsc = full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 2, 1))
    stts = full_box(b"stts", 0, 0, struct.pack(">III", 1, 0xFFFFFFFF, 512))  # 4 G samples claimed
    p = tmp_path / "x.mp4"
    p.write_bytes(_movie_with_stbl([stsz, stco, stsc, stts]))
    (t,) = read_tracks(p)
    np.testing.assert_array_equal(t.offsets, [16, 26])
    np.testing.assert_array_equal(t.durations, [512, 512])


@pytest.mark.parametrize(
    "bad",
    [
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 1_000_000)),  # count beyond the box
        full_box(b"stsz", 0, 0, struct.pack(">II", 7, 0xFFFFFFFF)),  # constant size beyond the file
    ],
)
def test_impossible_tables_raise_corrupt_box(tmp_path: Path, bad: bytes) -> None:
    stco = full_box(b"stco", 0, 0, struct.pack(">II", 1, 16))
    stsc = full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 2, 1))
    stts = full_box(b"stts", 0, 0, struct.pack(">III", 1, 2, 512))
    p = tmp_path / "x.mp4"
    p.write_bytes(_movie_with_stbl([bad, stco, stsc, stts]))
    with pytest.raises(CorruptBoxError):
        read_tracks(p)


def test_time_to_sample_table_covering_too_few_samples_repeats_its_last_value() -> None:
    """A run table shorter than the sample count (a damaged or truncated stts) repeats its
    last value, as FFmpeg does, instead of indexing past the table."""
    from orbit360.isobmff._reader import BoxHeader
    from orbit360.isobmff._sample_table import _expand_runs

    h = BoxHeader(b"stts", 0, 24, 8, 24)
    out = _expand_runs(np.array([0]), np.array([512]), 20, np.uint32, "stts", h)
    assert out.tolist() == [512] * 20
    out = _expand_runs(np.array([3, 2]), np.array([10, 20]), 8, np.uint32, "stts", h)
    assert out.tolist() == [10, 10, 10, 20, 20, 20, 20, 20]
    out = _expand_runs(np.array([2**32 - 1, 5]), np.array([7, 9]), 4, np.uint32, "stts", h)
    assert out.tolist() == [7, 7, 7, 7]
