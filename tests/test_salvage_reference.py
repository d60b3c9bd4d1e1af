"""Salvage with a reference: camera-like pairs made by PyAV (real x264/x265/AAC encoders).

The broken file is a healthy recording (different content from the reference, same
mode) cut at many offsets with its moov dropped; its own moov is the ground truth.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.errors import SalvageError
from orbit360.isobmff import Movie, read_movie
from orbit360.salvage import diagnose, salvage, salvage_folder
from orbit360.synthetic import gopro_without_index, write_camera_like_recording
from orbit360.salvage._aac import audio_specific_config

make_recording = write_camera_like_recording  # the name test_salvage_fuzz imports (to move to the fixture)



@pytest.fixture(scope="module")
def h264_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("h264")
    return make_recording(d / "ref.mp4", seed=1), make_recording(d / "rec.mp4", seed=2)


@pytest.fixture(scope="module")
def hevc_dual_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("hevc")
    return (
        make_recording(d / "ref.mp4", seed=3, codec="libx265", video_tracks=2, seconds=1.2),
        make_recording(d / "rec.mp4", seed=4, codec="libx265", video_tracks=2, seconds=1.2),
    )


def codec_config(t) -> bytes:
    entry = t.sample_entry
    if t.codec == b"mp4a":
        return audio_specific_config(entry)
    for name in (b"avcC", b"hvcC"):
        at = entry.find(name)
        if at > 0:
            size = int.from_bytes(entry[at - 4 : at], "big")
            return entry[at - 4 : at - 4 + size]
    if t.handler in (b"vide", b"soun"):
        raise AssertionError(f"no codec configuration in {t.codec!r}")
    return t.stsd  # timecode, telemetry: the whole entry


def presentation(t) -> np.ndarray:
    media_time = t.edits[0].media_time if t.edits else 0
    return t.decode_times + t.composition_offsets - media_time


def compare(healthy: Movie, data: bytes, out: Path, cut: int) -> int:
    got = read_movie(out)
    got_data = out.read_bytes()
    assert [t.track_id for t in got.tracks] == [t.track_id for t in healthy.tracks if ((t.offsets + t.sizes) <= cut).any()]
    by_id = {t.track_id: t for t in got.tracks}
    checked = 0
    for want in healthy.tracks:
        n = int(((want.offsets + want.sizes) <= cut).sum())
        if n == 0:
            continue
        t = by_id[want.track_id]
        assert t.sample_count == n, f"track {want.track_id} ({want.codec!r}): {t.sample_count} samples, want {n}"
        # same entry type and codec configuration; per-file fields (btrt, esds bitrates) differ
        assert (t.codec, t.timescale) == (want.codec, want.timescale)
        assert codec_config(t) == codec_config(want)
        for i in range(n):
            o, s = int(want.offsets[i]), int(want.sizes[i])
            go, gs = t.sample_range(i)
            assert got_data[go : go + gs] == data[o : o + s], f"track {want.track_id} sample {i}"
        last = want.sample_count - 1  # the encoder's flush may shorten the very last audio frame
        m = min(n, last)
        if want.codec != b"tmcd":  # one timecode sample spans the recovered recording
            np.testing.assert_array_equal(t.durations[:m], want.durations[:m])
        np.testing.assert_array_equal(t.sync_samples, want.sync_samples[want.sync_samples < n])
        if want.handler == b"vide":
            pts = presentation(t)
            # strictly increasing presentation times at the recorded rate, as in the original
            assert np.all(np.diff(np.sort(pts)) == want.durations[0])
            # in the original's presentation order (a cut may drop B-frames shown between
            # the last recovered ones; those then follow each other at the frame rate)
            np.testing.assert_array_equal(np.argsort(pts), np.argsort(presentation(want)[:n]))
            if n == want.sample_count:
                np.testing.assert_array_equal(pts - pts.min(), presentation(want) - presentation(want).min())
        checked += n
    return checked


def _cuts(healthy: Movie, size: int, count: int) -> list[int]:
    rng = np.random.default_rng(5)
    cuts = set(int(c) for c in rng.integers(healthy.mdat.payload_offset + 1, healthy.mdat.end, count))
    for t in healthy.tracks:
        for o, s in list(zip(t.offsets, t.sizes))[:4] + list(zip(t.offsets, t.sizes))[-2:]:
            cuts |= {int(o + s), int(o + s) - 1, int(o) + 3}
    cuts.add(healthy.mdat.end)
    return sorted(c for c in cuts if healthy.mdat.payload_offset < c <= min(size, healthy.mdat.end))


def _salvage_every_cut(healthy, data: bytes, reference: Path, broken: Path, out: Path, per_track: int) -> int:  # type: ignore[no-untyped-def]
    """Cut the recording at every offset ``_cuts`` picks, salvage each cut with the
    reference and compare it with the healthy file (``compare``); a cut that is refused
    must hold no complete sample of any track. Returns the samples compared in all."""
    total = 0
    for cut in _cuts(healthy, len(data), per_track):
        broken.write_bytes(data[:cut])
        try:
            report = salvage(broken, out, reference=reference)
        except SalvageError:
            assert all(((t.offsets + t.sizes) <= cut).sum() == 0 for t in healthy.tracks), cut
            continue
        assert report.method == "reference"
        total += compare(healthy, data, out, cut)
    return total


def test_h264_bframes_aac_every_cut(h264_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, rec = h264_pair
    healthy, data = read_movie(rec), rec.read_bytes()
    assert healthy.tracks[0].composition_offsets.any(), "the test input must have B-frames"
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    assert _salvage_every_cut(healthy, data, ref, broken, out, 25) > 500


@pytest.mark.parametrize("fill", [b"\0", b"\xff"], ids=["zero-pages", "ff-pages"])
def test_cut_followed_by_fill_pages(h264_pair: tuple[Path, Path], tmp_path: Path, fill: bytes) -> None:
    """A camera that dies pads to a page: the torn last sample must not pass for whole."""
    ref, rec = h264_pair
    healthy, data = read_movie(rec), rec.read_bytes()
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    video = healthy.tracks[0]
    checked = 0
    for k in (10, 20, 30):  # cut inside video samples
        cut = int(video.offsets[k]) + int(video.sizes[k]) // 2
        broken.write_bytes(data[:cut] + fill * (4096 - cut % 4096 + 4096))
        salvage(broken, out, reference=ref)
        checked += compare(healthy, data, out, cut)
    assert checked > 50


def test_h264_salvaged_file_decodes_every_frame(h264_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, rec = h264_pair
    data = rec.read_bytes()
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    broken.write_bytes(data[: len(data) * 2 // 3])
    report = salvage(broken, out, reference=ref)
    with av.open(str(out)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    assert len(pts) == report.tracks[0]["samples"] > 10
    assert pts == sorted(pts) and len(set(pts)) == len(pts)


def test_dual_hevc_tracks_stay_two_tracks_in_order(hevc_dual_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, rec = hevc_dual_pair
    healthy, data = read_movie(rec), rec.read_bytes()
    codecs = [t.codec for t in healthy.tracks]
    assert codecs[2] == b"mp4a" and codecs[0] == codecs[1] and codecs[0] in (b"hev1", b"hvc1")
    assert healthy.tracks[0].composition_offsets.any(), "the test input must have B-frames"
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    assert _salvage_every_cut(healthy, data, ref, broken, out, 6) > 300
    broken.write_bytes(data[: healthy.mdat.end])
    salvage(broken, out, reference=ref)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "video", "audio"]
        assert sum(1 for _ in c.decode(video=1)) == healthy.tracks[1].sample_count


def test_not_gopro_without_reference_is_a_clear_error(h264_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, rec = h264_pair
    broken = tmp_path / "b.mp4"
    broken.write_bytes(rec.read_bytes()[: rec.stat().st_size // 2])
    with pytest.raises(SalvageError, match="--reference"):
        salvage(broken, tmp_path / "o.mp4")
    assert diagnose(broken).method == "needs-reference"
    assert diagnose(broken, reference=ref).method == "reference"


def test_folder_of_chapters_uses_a_healthy_sibling(optional_samples_dir: Path | None, h264_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, rec = h264_pair
    folder = tmp_path / "DCIM" / "100GOPRO"
    folder.mkdir(parents=True)
    shutil.copy(ref, folder / "GH010042.MP4")
    (folder / "GH020042.MP4").write_bytes(rec.read_bytes()[: rec.stat().st_size * 3 // 4])
    if optional_samples_dir is not None:
        gopro = (optional_samples_dir / "gopro_hero7.mp4").read_bytes()
        (folder / "GX010043.MP4").write_bytes(gopro[: len(gopro) // 2])
    reports = {Path(r.input).name: r for r in salvage_folder(folder)}
    assert reports["GH020042.MP4"].reference == str(folder / "GH010042.MP4")
    assert reports["GH020042.MP4"].method == "reference"
    assert Path(reports["GH020042.MP4"].output).exists()
    if optional_samples_dir is not None:
        assert reports["GX010043.MP4"].method == "gopro-sos"
    assert "GH010042.MP4" not in reports  # healthy files are left alone


def test_cli_salvage_report_and_errors(h264_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, rec = h264_pair
    broken = tmp_path / "clip.mp4"
    broken.write_bytes(rec.read_bytes()[: rec.stat().st_size // 2])
    report = tmp_path / "r.json"
    assert main(["salvage", str(broken), "--reference", str(ref), "--report", str(report), "-q"]) == 0
    out = capsys.readouterr().out
    assert "avc1" in out and "recording ends at byte" in out
    doc = json.loads(report.read_text())
    assert doc["output"] == str(tmp_path / "clip.salvaged.mp4") and doc["tracks"][0]["samples"] > 0
    assert read_movie(doc["output"]).tracks[0].sample_count == doc["tracks"][0]["samples"]
    assert main(["salvage", str(broken), "-q", "-o", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("orbit360: error: ") and "--reference" in err[0]


@pytest.fixture(scope="module")
def gopro_without_sos(tmp_path_factory: pytest.TempPathFactory, gopro_hero7: Path) -> Path:
    return gopro_without_index(gopro_hero7, tmp_path_factory.mktemp("nosos"))


@pytest.fixture(scope="module")
def two_devices_without_sos(tmp_path_factory: pytest.TempPathFactory, gopro_hero7: Path, samples_dir: Path) -> Path:
    two = samples_dir / "gpmf" / "hero6+ble.raw"  # HERO6 plus a Bluetooth sensor: two DEVCs
    if not two.is_file():
        pytest.skip(f"{two} not found")
    return gopro_without_index(gopro_hero7, tmp_path_factory.mktemp("nosos2"), two.read_bytes())


@pytest.mark.parametrize("layout", ["gopro_without_sos", "two_devices_without_sos"])
def test_camera_layout_with_telemetry_and_timecode(layout: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    gopro_without_sos = request.getfixturevalue(layout)
    healthy, data = read_movie(gopro_without_sos), gopro_without_sos.read_bytes()
    assert [t.codec for t in healthy.tracks] == [b"avc1", b"mp4a", b"tmcd", b"gpmd"]
    gpmd = healthy.tracks[3]
    assert gpmd.offsets[1] == gpmd.offsets[0] + gpmd.sizes[0], "back-to-back telemetry samples"
    broken, out = tmp_path / "GH020001.MP4", tmp_path / "fixed.mp4"
    assert _salvage_every_cut(healthy, data, gopro_without_sos, broken, out, 8) > 1500


def test_four_channel_aac(tmp_path: Path) -> None:
    ref = make_recording(tmp_path / "ref.mp4", seed=5, seconds=1.0, audio_layout="quad")
    rec = make_recording(tmp_path / "rec.mp4", seed=6, seconds=1.5, audio_layout="quad")
    healthy, data = read_movie(rec), rec.read_bytes()
    with av.open(str(rec)) as c:
        assert c.streams.audio[0].channels == 4
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    assert _salvage_every_cut(healthy, data, ref, broken, out, 6) > 300


def test_mono_aac_over_thousands_of_frames(tmp_path: Path) -> None:
    """Mono AAC frames start with small bytes that read as plausible NAL lengths: over
    thousands of them, none may pass for a video sample (or swallow the ones after it)."""
    ref = make_recording(tmp_path / "ref.mp4", seed=8, seconds=1.0, audio_layout="mono")
    rec = make_recording(tmp_path / "rec.mp4", seed=9, seconds=3.0, audio_layout="mono")
    healthy, data = read_movie(rec), rec.read_bytes()
    segment = data[healthy.mdat.payload_offset : healthy.mdat.end]  # opens with an IDR frame
    reps = 25
    broken = tmp_path / "long.mp4"
    broken.write_bytes(data[: healthy.mdat.offset] + b"\0\0\0\0mdat" + segment * reps)
    report = salvage(broken, tmp_path / "fixed.mp4", reference=ref)
    got = read_movie(tmp_path / "fixed.mp4")
    out = (tmp_path / "fixed.mp4").read_bytes()
    for want, t in zip(healthy.tracks, got.tracks):
        assert t.sample_count == reps * want.sample_count
        rebased = [data[int(o) : int(o + s)] for o, s in zip(want.offsets, want.sizes)] * reps
        assert [out[int(o) : int(o + s)] for o, s in zip(t.offsets, t.sizes)] == rebased
    assert report.tracks[1]["samples"] > 3000


def test_tiny_video_frames_between_aac_frames(tmp_path: Path) -> None:
    """A nearly static scene: P/B frames of 20-40 bytes, each next to an AAC frame. Fed
    an AAC frame plus the start of such a sample, FFmpeg decodes the frame, then the
    sample's bytes as one more AAC frame, which fails with an error other than "invalid
    data": a length past the frame's end must still count as long enough."""
    from orbit360.profile import RigProfile
    from orbit360.salvage._aac import AacFramer
    from orbit360.synthetic import make_scene, write_rig_video

    rig = RigProfile.nominal((256, 128))
    camera = dict(fps=30, crf=24, preset="ultrafast", gop=10, bframes=2, audio=True)
    ref, rec = tmp_path / "ref.mp4", tmp_path / "rec.mp4"
    write_rig_video(ref, rig, make_scene(512, seed=6), frames=10, **camera)
    write_rig_video(rec, rig, make_scene(512, seed=5), frames=40, **camera)
    healthy, data = read_movie(rec), rec.read_bytes()
    video, audio = healthy.tracks
    tiny = video.sizes < 40
    assert tiny.sum() > 25, "the test input must have tiny video frames"
    ends = audio.offsets + audio.sizes
    assert np.isin(ends, video.offsets[tiny]).sum() > 10, "AAC frames followed by tiny video frames"

    framer = AacFramer(audio)  # every frame measured on its own, from the file's bytes
    with rec.open("rb") as f:
        measured = [framer.frame_size(f.fileno(), int(o), healthy.mdat.end) for o in audio.offsets]
    assert measured == audio.sizes.tolist()

    cuts = set(_cuts(healthy, len(data), 40))
    for o, s in zip(video.offsets[tiny].tolist(), video.sizes[tiny].tolist()):
        cuts |= {o, o + 3, o + s - 1, o + s}  # around each tiny sample and the AAC frame before it
    broken, out = tmp_path / "broken.mp4", tmp_path / "fixed.mp4"
    total = 0
    for cut in sorted(c for c in cuts if healthy.mdat.payload_offset < c <= healthy.mdat.end):
        broken.write_bytes(data[:cut])
        try:
            salvage(broken, out, reference=ref)
        except SalvageError:
            assert all(((t.offsets + t.sizes) <= cut).sum() == 0 for t in healthy.tracks), cut
            continue
        total += compare(healthy, data, out, cut)
    assert total > 5000
