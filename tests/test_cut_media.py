"""A moov that points past the end of the file: the index was written first (faststart, a
camera that writes the moov first) and the media data was cut (a copy cut short).

Made from the real HERO7 sample: its moov moved in front of the mdat (chunk offsets shifted),
then the file cut in the middle of the mdat. Every command must say that the file is cut,
never read short samples silently, and salvage keeps every complete sample.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.errors import InputError
from orbit360.isobmff import iter_boxes, iter_sample_bytes, read_movie
from orbit360.isobmff._edit import BoxNode, _shift_chunk_offsets, parse_boxes


def _moov_first(src: Path, dst: Path, keep_fraction: float) -> None:
    """``src`` rewritten ftyp, moov, then the rest (chunk offsets shifted), the mdat cut
    after ``keep_fraction`` of its payload."""
    data = src.read_bytes()
    with open(src, "rb") as f:
        tops = list(iter_boxes(f, 0, len(data)))
    assert tops[0].type == b"ftyp"
    moov_hdr = next(b for b in tops if b.type == b"moov")
    mdat = next(b for b in tops if b.type == b"mdat")
    assert mdat.offset < moov_hdr.offset  # the camera wrote it last: moving it shifts the media
    moov = BoxNode(b"moov", b"", parse_boxes(data[moov_hdr.payload_offset : moov_hdr.end], moov_hdr.payload_offset))
    _shift_chunk_offsets(moov, moov_hdr.size)
    moved = moov.to_bytes()
    assert len(moved) == moov_hdr.size
    out = bytearray(data[: tops[0].end]) + moved
    for b in tops[1:]:
        if b is not moov_hdr:
            out += data[b.offset : b.end]
    cut = mdat.payload_offset + moov_hdr.size + int((mdat.end - mdat.payload_offset) * keep_fraction)
    dst.write_bytes(bytes(out[:cut]))


def _run(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orbit360", *map(str, argv)], capture_output=True, text=True, timeout=60)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cut_pair(gopro_hero7: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cut")
    whole, cut = folder / "whole.mp4", folder / "cut.mp4"
    _moov_first(gopro_hero7, whole, 1.0)
    _moov_first(gopro_hero7, cut, 0.5)
    return whole, cut


def test_complete_samples_counted(cut_pair: tuple[Path, Path]) -> None:
    whole, cut = cut_pair
    full = read_movie(whole)
    assert not full.is_cut
    assert all(t.samples_in_file == t.sample_count for t in full.tracks)
    movie = read_movie(cut)
    size = cut.stat().st_size
    assert movie.is_cut
    video = movie.track("vide")
    assert video is not None and 0 < video.samples_in_file < video.sample_count
    for t in movie.tracks:
        k = t.samples_in_file
        ends = t.offsets.astype(np.int64) + t.sizes
        assert (ends[:k] <= size).all()  # every counted sample is whole
        if k < t.sample_count:
            assert ends[k] > size  # the next one is not
    # same tables as the whole file: the count comes from the file size, not a reparse
    assert [t.sample_count for t in movie.tracks] == [t.sample_count for t in full.tracks]


def test_iter_sample_bytes_never_short(cut_pair: tuple[Path, Path]) -> None:
    whole, cut = cut_pair
    movie, full = read_movie(cut), read_movie(whole)
    video, full_video = movie.track("vide"), full.track("vide")
    assert video is not None and full_video is not None
    with open(cut, "rb") as f:
        with pytest.raises(InputError) as err:
            for _ in iter_sample_bytes(f, video):
                pass
        kept = list(iter_sample_bytes(f, video, complete_only=True))
    message = str(err.value)
    assert str(cut) in message and f"track {video.track_id} sample {video.samples_in_file} " in message
    assert "\n" not in message
    with open(whole, "rb") as f:
        expected = list(iter_sample_bytes(f, full_video, stop=video.samples_in_file))
    assert len(kept) == video.samples_in_file and kept == expected


def test_inspect_says_cut(cut_pair: tuple[Path, Path]) -> None:
    whole, cut = cut_pair
    movie = read_movie(cut)
    proc = _run("inspect", cut)
    assert proc.returncode == 0, proc.stderr
    for i, t in enumerate(movie.tracks):
        line = f"track {i} ({{}}): the file is cut: {t.samples_in_file} of {t.sample_count} samples are in it"
        found = [x for x in proc.stdout.splitlines() if "the file is cut" in x and f"track {i} (" in x]
        assert len(found) == (1 if t.samples_past_end else 0), proc.stdout
        if found:
            assert line.split("{}")[1] in found[0]
    assert "the file is cut" not in _run("inspect", whole).stdout


def test_telemetry_reads_complete_samples_and_warns(cut_pair: tuple[Path, Path], tmp_path: Path) -> None:
    from orbit360.telemetry import read_gpmd

    whole, cut = cut_pair
    gpmd_track = next(t for t in read_movie(cut).tracks if t.codec == b"gpmd")
    assert 0 < gpmd_track.samples_in_file < gpmd_track.sample_count
    gpmd = read_gpmd(cut)
    full = read_gpmd(whole)
    assert gpmd is not None and full is not None
    assert [s.data for s in gpmd.samples] == [s.data for s in full.samples[: gpmd_track.samples_in_file]]
    proc = _run("telemetry", cut, "-o", tmp_path / "t.json")
    assert proc.returncode == 0, proc.stderr
    assert f"{gpmd_track.samples_in_file} of {gpmd_track.sample_count} telemetry samples" in proc.stderr
    assert "Traceback" not in proc.stderr and (tmp_path / "t.json").stat().st_size > 0


def test_salvage_keeps_every_complete_sample(cut_pair: tuple[Path, Path], tmp_path: Path) -> None:
    whole, cut = cut_pair
    before = _sha(cut)
    movie = read_movie(cut)
    out = tmp_path / "salvaged.mp4"
    proc = _run("salvage", cut, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert _sha(cut) == before  # the input is never touched
    rebuilt = read_movie(out)
    assert not rebuilt.is_cut
    assert [t.sample_count for t in rebuilt.tracks] == [t.samples_in_file for t in movie.tracks]
    video = movie.track("vide")
    assert video is not None
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == video.samples_in_file
    # durations consistent: no track outlasts the longest cut one (the timecode sample did)
    longest_cut = max(t.duration_seconds for t in rebuilt.tracks if t.codec in (b"avc1", b"mp4a", b"gpmd"))
    assert max(t.duration_seconds for t in rebuilt.tracks) <= longest_cut + 1e-6
    # a whole file with its moov first is still healthy: nothing to salvage
    refused = _run("salvage", whole, "-o", tmp_path / "whole.salvaged.mp4")
    assert refused.returncode == 2 and "nothing to salvage" in refused.stderr


def test_stitch_of_a_cut_360_recording_salvages_it_first(tmp_path: Path) -> None:
    """A dual-fisheye recording written index first (faststart) and cut at 60%: ``stitch``
    salvages it on the way in, says so in one line, and stitches every complete frame."""
    from orbit360.synthetic import make_scene, misaligned_rig, pan_motion, write_rig_video

    write_rig_video(tmp_path / "rig.mp4", misaligned_rig((512, 256), seed=3), make_scene(512, seed=3), frames=30, fps=30, motion=pan_motion(10.0))
    with av.open(str(tmp_path / "rig.mp4")) as inp, av.open(str(tmp_path / "fast.mp4"), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = (tmp_path / "fast.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    complete = read_movie(cut).tracks[0].samples_in_file
    assert 5 < complete < 30
    before = _sha(cut)
    r = _run("stitch", cut, "-o", tmp_path / "out.mp4", "--width", "256", "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"the file is cut (its index points past its end): salvaged {complete} video frames" in r.stderr
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == complete
    assert _sha(cut) == before
