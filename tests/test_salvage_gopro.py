"""GoPro salvage without a reference, against the healthy files' own moov.

Each shared sample is cut at many offsets with its moov dropped (as a camera that dies
leaves it), salvaged, and every track of the result is compared with the healthy moov:
the samples that lie wholly inside the kept bytes, byte for byte, with the same
durations, key frames, sample entry (codec configuration) and timescale.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.errors import SalvageError
from orbit360.isobmff import Movie, read_movie
from orbit360.salvage import diagnose, salvage, scan



def _healthy(path: Path) -> tuple[Movie, bytes]:
    return read_movie(path), path.read_bytes()


def _expected_count(track, kept_end: int, shift: int = 0) -> int:
    inside = (track.offsets.astype(np.int64) + shift + track.sizes) <= kept_end
    n = int(inside.sum())
    # inside must be a prefix: samples are in file order within a track
    assert inside[:n].all()
    if track.codec == b"fdsc" and n >= 2:
        # The configuration record (fdsc sample 1) has no length field: it is known to end
        # only once the first frame's NAL length (4 bytes) after it is present.
        if int(track.offsets[1]) + shift + int(track.sizes[1]) + 4 > kept_end:
            n = 1
    return n


def assert_matches_healthy(healthy: Movie, data: bytes, out: Path, kept_end: int, shift: int = 0) -> int:
    """Compare every track of ``out`` with ``healthy`` cut at ``kept_end``; return samples checked."""
    got = read_movie(out)
    got_data = out.read_bytes()
    by_codec = {t.codec: t for t in got.tracks}
    assert len(by_codec) == len(got.tracks), "one track per codec in these files"
    checked = 0
    for want in healthy.tracks:
        n = _expected_count(want, kept_end, shift)
        t = by_codec.get(want.codec)
        if n == 0:
            assert t is None or t.sample_count == 0, f"{want.codec}: extra samples"
            continue
        assert t is not None, f"{want.codec}: track missing"
        assert t.sample_count == n, f"{want.codec}: {t.sample_count} samples, want {n}"
        assert (t.handler, t.stsd, t.timescale) == (want.handler, want.stsd, want.timescale)
        for i in range(n):
            o, s = int(want.offsets[i]) + shift, int(want.sizes[i])
            go, gs = t.sample_range(i)
            assert got_data[go : go + gs] == data[o : o + s], f"{want.codec} sample {i} differs"
        if want.codec != b"tmcd":  # one timecode sample spans the recording: see below
            np.testing.assert_array_equal(t.durations, want.durations[:n])
        np.testing.assert_array_equal(t.sync_samples, want.sync_samples[want.sync_samples < n])
        np.testing.assert_array_equal(t.composition_offsets, want.composition_offsets[:n])
        checked += n
    video = got.track("vide")
    tmcd = got.track("tmcd")
    if video is not None and tmcd is not None:
        assert tmcd.duration == video.duration  # as the camera writes it
    return checked


def _boundaries(healthy: Movie) -> list[int]:
    ends = []
    for t in healthy.tracks:
        ends += [int(o) for o in t.offsets[:3]] + [int(o + s) for o, s in zip(t.offsets[-2:], t.sizes[-2:])]
    return ends


def _cuts(healthy: Movie, data: bytes) -> list[int]:
    rng = np.random.default_rng(3)
    payload = healthy.mdat.payload_offset
    fd = healthy.track("meta") and [t for t in healthy.tracks if t.codec == b"fdsc"][0]
    cuts = set(int(x) for x in rng.integers(payload, len(data), 10))
    for b in _boundaries(healthy):
        cuts |= {b - 1, b, b + 1, b + 7, b + 16}  # around samples; b+7 lies inside an SOS record
    cuts |= {int(fd.offsets[1]) + int(fd.sizes[1]) + k for k in (4, 5, 9)}  # just into frame 1
    cuts |= {int(fd.offsets[0]) + 10, int(fd.offsets[1]) + 30}  # inside GPRO / config records
    cuts |= {healthy.mdat.end - 1, healthy.mdat.end}  # one byte before the end, and whole
    return sorted(c for c in cuts if payload < c <= healthy.mdat.end)


def test_every_cut_recovers_every_complete_sample(gopro_mp4: Path, tmp_path: Path) -> None:
    healthy, data = _healthy(gopro_mp4)
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    cuts = _cuts(healthy, data)
    assert len(cuts) > 40
    total = 0
    for cut in cuts:
        broken.write_bytes(data[:cut])  # mdat header says more than the file holds; no moov
        try:
            report = salvage(broken, out)
        except SalvageError:
            assert all(_expected_count(t, cut) == 0 for t in healthy.tracks), f"cut {cut}: nothing recovered"
            continue
        total += assert_matches_healthy(healthy, data, out, cut)
        assert report.recording_end <= cut
        assert report.unassigned_bytes == (cut - healthy.mdat.payload_offset) - sum(r["bytes"] for r in report.tracks)
    assert total > 1000


def test_salvaged_files_decode_every_recovered_frame(gopro_mp4: Path, tmp_path: Path) -> None:
    healthy, data = _healthy(gopro_mp4)
    for cut in (healthy.mdat.end, len(data) // 3):
        broken, out = tmp_path / f"b{cut}.mp4", tmp_path / f"f{cut}.mp4"
        broken.write_bytes(data[:cut])
        report = salvage(broken, out)
        video_rows = [r for r in report.tracks if r["handler"] == "vide"]
        with av.open(str(out)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        assert frames == video_rows[0]["samples"] > 0
        # the audio decodes too
        with av.open(str(out)) as c:
            audio = sum(f.samples for f in c.decode(audio=0))
        assert audio == 1024 * [r for r in report.tracks if r["handler"] == "soun"][0]["samples"]


def test_real_damage_of_the_mdat_header(gopro_mp4: Path, tmp_path: Path) -> None:
    healthy, data = _healthy(gopro_mp4)
    mdat = healthy.mdat
    cut = mdat.offset + mdat.size * 2 // 3
    payload = data[mdat.payload_offset : cut]
    ftyp = data[: mdat.offset]
    variants = {
        "size-zero": (ftyp + struct.pack(">I4s", 0, b"mdat") + payload, 0),
        "too-big": (ftyp + struct.pack(">I4s", 0xFFFFFF00, b"mdat") + payload, 0),
        "largesize": (ftyp + struct.pack(">I4sQ", 1, b"mdat", 6 << 30) + payload, 8),
        "size-short": (ftyp + struct.pack(">I4s", 8 + len(payload) // 3, b"mdat") + payload, 0),
        "zero-pages": (data[:cut] + bytes(3 * 4096), 0),
        "ff-pages": (data[:cut] + b"\xff" * 8192, 0),
    }
    for name, (blob, shift) in variants.items():
        broken, out = tmp_path / f"{name}.mp4", tmp_path / f"{name}.fixed.mp4"
        broken.write_bytes(blob)
        report = salvage(broken, out)
        assert assert_matches_healthy(healthy, blob, out, cut + shift, shift) > 100, name
        assert report.damage or name.endswith("pages"), name
        if name.endswith("pages"):
            assert report.unassigned_bytes >= len(blob) - cut


def test_cut_inside_the_mdat_header_is_a_clear_error(gopro_hero7: Path, tmp_path: Path) -> None:
    data = gopro_hero7.read_bytes()
    for cut in (20, 23, 27, 28):
        p = tmp_path / "h.mp4"
        p.write_bytes(data[:cut])
        with pytest.raises(SalvageError) as e:
            salvage(p, tmp_path / "o.mp4")
        assert str(p) in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "o.mp4").exists()


def test_healthy_file_is_not_salvaged_and_diagnose_says_so(gopro_hero7: Path, tmp_path: Path) -> None:
    with pytest.raises(SalvageError, match="nothing to salvage"):
        scan(gopro_hero7)
    assert diagnose(gopro_hero7).method == "healthy"
    cut = tmp_path / "head.mp4"
    cut.write_bytes(gopro_hero7.read_bytes()[:300])  # inside the GPRO record: nothing whole
    preview = diagnose(cut)
    assert preview.method == "unrecoverable" and "GPRO" in preview.stop_reason and not preview.tracks


def test_diagnose_previews_what_salvage_writes(gopro_hero7: Path, tmp_path: Path) -> None:
    data = gopro_hero7.read_bytes()
    broken = tmp_path / "GX010001.MP4"
    broken.write_bytes(data[: len(data) // 2])
    preview = diagnose(broken)
    assert preview.output is None and preview.method == "gopro-sos"
    report = salvage(broken)
    assert report.output == str(tmp_path / "GX010001.salvaged.mp4")
    assert report.tracks == preview.tracks
    assert json.loads(json.dumps(report.to_dict()))["tracks"][0]["codec"] == "avc1"
    assert broken.read_bytes() == data[: len(data) // 2]  # input untouched


# ---- GoPro-like recordings built from PyAV encodes: HEVC and H.264 through the SOS path ----

from orbit360.salvage._video_stream import _avcc_sets, _config_box, _hvcc_sets  # noqa: E402

_TYPES = {b"vide": 0, b"soun": 4}


def _gopro_like(healthy_path: Path, out: Path) -> tuple[Movie, list[tuple[bytes, int, int]]]:
    """Rewrite a healthy PyAV recording the way a GoPro lays out its mdat: GPRO record,
    configuration record (parameter sets in 4-aligned slots) before the first frame, and
    a 16-byte SOS record before every sample. Returns the healthy movie and, in file
    order, (handler, offset in ``out``, size) of every sample."""
    movie = read_movie(healthy_path)
    data = healthy_path.read_bytes()
    video, audio = movie.track("vide"), movie.track("soun")
    if video.codec in (b"hvc1", b"hev1"):
        _, sets = _hvcc_sets(_config_box(video.sample_entry, b"hvcC"))
        params = sets[32] + sets[33] + sets[34]
    else:
        _, sps, pps = _avcc_sets(_config_box(video.sample_entry, b"avcC"))
        params = sps + pps
    trailer = struct.pack("<13I", 1, video.timescale, video.width, video.height, 1, video.width, video.height, 1,
                          audio.timescale, 100, 16, 2, audio.timescale) + bytes(48)
    gpro = b"GPRO" + struct.pack("<I", 8 + 200 + len(trailer)) + b"TEST.FW" + bytes(193) + trailer
    samples = sorted(
        (int(o), int(s), t.handler, int(d), i in set(t.sync_samples.tolist()))
        for t in (video, audio)
        for i, (o, s, d) in enumerate(zip(t.offsets, t.sizes, t.durations))
    )
    body = bytearray(gpro)
    placed: list[tuple[bytes, int, int]] = []
    header = data[:32] if data[4:8] == b"ftyp" else b""
    ftyp = data[: int.from_bytes(data[:4], "big")]
    base = len(ftyp) + 8
    first_video = True
    for o, s, handler, d, key in samples:
        if handler == b"vide" and first_video:
            slots = b"".join((struct.pack(">I", len(p)) + p).ljust((len(p) + 4 + 3) // 4 * 4 + 8, b"\0") for p in params)
            body += b"GP\x03\x01" + struct.pack(">III", s, d, d) + slots
            first_video = False
        else:
            flags = (1 if key else 3) if handler == b"vide" else 0
            body += b"GP" + bytes([_TYPES[handler], flags]) + struct.pack(">III", s, d, d if handler == b"vide" else 0)
        placed.append((handler, base + len(body), s))
        body += data[o : o + s]
    del header
    out.write_bytes(ftyp + struct.pack(">I4s", 0, b"mdat") + bytes(body))
    return movie, placed


@pytest.mark.parametrize("codec", ["libx265", "libx264"])
def test_gopro_like_sos_recording_without_reference(codec: str, tmp_path: Path) -> None:
    from orbit360.synthetic import write_camera_like_recording as make_recording

    healthy = make_recording(tmp_path / "src.mp4", seed=11, codec=codec, seconds=1.0)
    broken = tmp_path / "GX019999.MP4"
    movie, placed = _gopro_like(healthy, broken)
    data = broken.read_bytes()
    cut = placed[-3][1] + placed[-3][2] // 2  # inside a late sample
    broken.write_bytes(data[:cut])
    report = salvage(broken, tmp_path / "fixed.mp4")
    got = read_movie(tmp_path / "fixed.mp4")
    out = (tmp_path / "fixed.mp4").read_bytes()
    for handler in (b"vide", b"soun"):
        want = [data[o : o + s] for h, o, s in placed if h == handler and o + s <= cut]
        t = got.track(handler)
        have = [out[int(o) : int(o + s)] for o, s in zip(t.offsets, t.sizes)]
        assert have == want and len(want) > 10
        healthy_track = movie.track(handler)
        np.testing.assert_array_equal(t.durations, healthy_track.durations[: len(want)])
        assert t.timescale == healthy_track.timescale
    video = got.track("vide")
    assert video.codec == (b"hvc1" if codec == "libx265" else b"avc1")
    assert (video.width, video.height) == (160, 96)
    np.testing.assert_array_equal(video.sync_samples, movie.track("vide").sync_samples[movie.track("vide").sync_samples < video.sample_count])
    # B-frames: composition offsets rebuilt from the slice headers' picture order counts
    want = movie.track("vide")
    assert video.composition_offsets.any()
    pts = video.decode_times + video.composition_offsets
    np.testing.assert_array_equal(np.argsort(pts), np.argsort((want.decode_times + want.composition_offsets)[: video.sample_count]))
    with av.open(str(tmp_path / "fixed.mp4")) as c:
        frames = [f.pts for f in c.decode(video=0)]
    assert len(frames) == video.sample_count and frames == sorted(frames)
    assert report.method == "gopro-sos"


def test_memory_stays_bounded_on_a_long_recording(gopro_hero7: Path, tmp_path: Path) -> None:
    """A 40 MB recording (the HERO7 SOS chain repeated) salvages with a few MB of Python
    memory: the payload is never read into memory, only the sample index grows."""
    import tracemalloc

    healthy, data = _healthy(gopro_hero7)
    fdsc = [t for t in healthy.tracks if t.codec == b"fdsc"][0]
    chain_at = int(fdsc.offsets[2])
    segment = data[chain_at : healthy.mdat.end]
    broken = tmp_path / "long.mp4"
    reps = 10
    with open(broken, "wb") as f:
        f.write(data[: healthy.mdat.offset] + struct.pack(">I4s", 0, b"mdat") + data[healthy.mdat.payload_offset : healthy.mdat.end])
        for _ in range(reps):
            f.write(segment)
    tracemalloc.start()
    try:
        report = salvage(broken, tmp_path / "long.fixed.mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    video = healthy.tracks[0]
    repeated = int((video.offsets >= chain_at).sum())
    assert report.tracks[0]["samples"] == video.sample_count + reps * repeated
    assert broken.stat().st_size > 40e6 and peak < 8e6, f"peak {peak / 1e6:.1f} MB"
    print(f"peak traced memory {peak / 1e6:.1f} MB for {broken.stat().st_size / 1e6:.0f} MB")


def test_reference_of_another_mode_is_ignored_and_same_mode_is_used(gopro_hero7: Path, tmp_path: Path) -> None:
    from orbit360.synthetic import write_camera_like_recording as make_recording

    hero7 = gopro_hero7
    data = hero7.read_bytes()
    healthy = read_movie(hero7)
    broken = tmp_path / "GX010002.MP4"
    broken.write_bytes(data[: len(data) // 2])
    # Another camera mode (another SPS, another audio entry): its entries must not be used.
    other = make_recording(tmp_path / "other.mp4", seed=1, seconds=0.5)
    assert read_movie(other).tracks[1].stsd != healthy.tracks[1].stsd
    salvage(broken, tmp_path / "a.mp4", reference=other)
    assert [t.stsd for t in read_movie(tmp_path / "a.mp4").tracks] == [t.stsd for t in healthy.tracks]
    # A same-mode reference is used (its entries are the camera's own bytes).
    report = salvage(broken, tmp_path / "b.mp4", reference=hero7)
    assert report.reference == str(hero7)
    assert [t.stsd for t in read_movie(tmp_path / "b.mp4").tracks] == [t.stsd for t in healthy.tracks]


def test_cli_salvage_folder(gopro_hero7: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orbit360.cli import main

    folder = tmp_path / "100GOPRO"
    folder.mkdir()
    data = gopro_hero7.read_bytes()
    (folder / "GX010007.MP4").write_bytes(data)  # healthy: left alone
    (folder / "GX020007.MP4").write_bytes(data[: len(data) * 2 // 3])
    report = tmp_path / "r.json"
    assert main(["salvage", str(folder), "--report", str(report), "-q"]) == 0
    rows = json.loads(report.read_text())
    assert [Path(r["input"]).name for r in rows] == ["GX020007.MP4"]
    assert rows[0]["output"] == str(folder / "GX020007.salvaged.mp4") and (folder / "GX020007.salvaged.mp4").exists()
    assert "GX020007.MP4 ->" in capsys.readouterr().out
    assert main(["salvage", str(folder / "GX010007.MP4"), "-q"]) == 2  # healthy: nothing to salvage
    assert "nothing to salvage" in capsys.readouterr().err


def test_report_summary_is_one_line(gopro_hero7: Path, tmp_path: Path) -> None:
    data = gopro_hero7.read_bytes()
    broken = tmp_path / "GX010009.MP4"
    broken.write_bytes(data[: len(data) // 4])
    line = diagnose(broken).summary()
    assert "\n" not in line and line.startswith("gopro-sos: avc1 ") and "fdsc" in line
    assert diagnose(gopro_hero7).summary() == "healthy: nothing to salvage: the file has a valid moov"
