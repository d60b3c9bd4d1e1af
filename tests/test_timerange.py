"""`stitch --from --to`: the output holds exactly the frames of the range (decoded frame k
equals frame start + k of a full stitch, both lossless), cut mid-GOP, single run and
segments (with resume); audio and telemetry cut at the same instants; bad ranges are one
line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.isobmff import read_movie
from orbit360.pipeline import stitch_segmented, stitch_video
from orbit360.synthetic import (
    RigRenderer, make_scene, misaligned_rig, noise_audio, pan_motion, synthetic_gpmd, write_streams,
)
from orbit360.telemetry import attach_gpmd, gpmd_track_from_samples
from orbit360.timerange import format_time, parse_time
from orbit360.video import EncodeOptions, open_reader

FPS = 30
FRAMES = 45
GOP = 10
RATE = 48000
LOSSLESS = EncodeOptions(crf=0, preset="ultrafast", encoder="libx264")
FROM, TO = 0.4, 1.1  # frames 12..32: starts two frames after a key frame
START, STOP = 12, 33


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("range")
    rig = misaligned_rig((320, 160), seed=7, misalign_deg=0.3, vignetting=False, color=False)
    renderer = RigRenderer(rig, make_scene(512, seed=8))
    motion = pan_motion(40.0)
    frames = [renderer.render(motion(i / FPS)) for i in range(FRAMES)]
    audio = noise_audio(FRAMES / FPS, rate=RATE, seed=3)
    plain = write_streams(tmp / "plain.mp4", [frames], fps=FPS, crf=10, audio=audio, audio_rate=RATE, gop=GOP)
    rec = tmp / "rec.mp4"
    attach_gpmd(plain, gpmd_track_from_samples(synthetic_gpmd(motion, FRAMES / FPS, payload_s=0.5)), rec)
    full = tmp / "full.mp4"
    stitch_video(rec, full, rig=rig, width=320, options=LOSSLESS)
    return rec, rig, full, audio


def _frames(path: Path) -> list[np.ndarray]:
    with open_reader(path) as r:
        return list(r.frames())


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray() for f in c.decode(c.streams.audio[0])], axis=1)


def _lag(source: np.ndarray, cut: np.ndarray) -> int:
    """Where in ``source`` the cut's audio begins (samples), by cross-correlation."""
    probe = cut[0, 2048:2048 + 8192]
    corr = np.correlate(source[0], probe, mode="valid")
    return int(np.argmax(corr)) - 2048


def test_parse_time() -> None:
    assert parse_time("75.5") == 75.5
    assert parse_time("1:15.5") == 75.5
    assert parse_time("1:01:15.250") == 3675.25
    assert format_time(3675.25) == "1:01:15.250"
    for bad in ("-1", "1:75", "a", "1:2:3:4", ""):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_range_is_exact_in_frames_audio_and_telemetry(recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec, rig, full, source_audio = recording
    out = tmp_path / "cut.mp4"
    r = stitch_video(rec, out, rig=rig, width=320, options=LOSSLESS, start_s=FROM, stop_s=TO)
    assert r.frames == STOP - START
    reference = _frames(full)
    cut = _frames(out)
    assert len(cut) == STOP - START
    for k, frame in enumerate(cut):
        assert np.array_equal(frame, reference[START + k]), f"frame {k} of the cut is not frame {START + k}"
    # audio: starts where the range starts (within one AAC frame), lasts as long as the video
    audio = _audio(out)
    assert abs(_lag(_audio(rec), audio) - round(FROM * RATE)) < 1024
    assert abs(audio.shape[1] - (TO - FROM) * RATE) < 2 * 1024
    # telemetry: the 0.5 s payloads that overlap [0.4, 1.1): three of them, the first starting 0.4 s early
    movie = read_movie(out)
    gpmd = next(t for t in movie.tracks if t.codec == b"gpmd")
    assert gpmd.sample_count == 3
    assert gpmd.edits[0].media_time == round(0.4 * gpmd.timescale)
    with av.open(str(out)) as c:  # spherical metadata as usual
        assert c.streams.video[0].frames == STOP - START
    assert b"sv3d" in out.read_bytes()[-200_000:]


def test_segmented_range_matches_and_resumes(recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec, rig, full, _ = recording
    out = tmp_path / "seg.mp4"
    j = stitch_segmented(rec, out, rig=rig, width=320, options=LOSSLESS, segment_frames=8, workers=1,
                         start_s=FROM, stop_s=TO, keep_work=True)
    assert (j.frames, j.segments) == (STOP - START, 3)
    assert [(x["start"], x["stop"]) for x in j.records] == [(12, 20), (20, 28), (28, 33)]
    reference = _frames(full)
    cut = _frames(out)
    assert len(cut) == STOP - START
    assert all(np.array_equal(f, reference[START + k]) for k, f in enumerate(cut))
    again = stitch_segmented(rec, out, rig=rig, width=320, options=LOSSLESS, segment_frames=8, workers=1,
                             start_s=FROM, stop_s=TO, keep_work=True)
    assert again.reused == 3
    other = stitch_segmented(rec, out, rig=rig, width=320, options=LOSSLESS, segment_frames=8, workers=1,
                             start_s=FROM, stop_s=1.0)  # another range: another job, nothing reused
    assert (other.reused, other.frames) == (0, 30 - START)


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--from", "0:00:05"], "--from 0:00:05.000 is outside the recording (0:00:00.000 to 0:00:01.500)"),
        (["--from", "1", "--to", "0.5"], "--to 0:00:00.500 is not after --from 0:00:01.000"),
        (["--to", "2.0"], "--to 0:00:02.000 is outside the recording"),
    ],
)
def test_bad_range_is_one_line_and_writes_nothing(recording, tmp_path: Path, capsys, args, problem) -> None:  # type: ignore[no-untyped-def]
    rec, _, _, _ = recording
    out = tmp_path / "o.mp4"
    code = main(["stitch", str(rec), "-o", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"orbit360: error: {rec}: ") and problem in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_reframe_and_telemetry_take_the_range(recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from orbit360.reframe import ViewPath, reframe_video

    rec, _, full, _ = recording
    out = tmp_path / "flat.mp4"
    reframe_video(full, out, path=ViewPath.fixed(0, 0, 0, fov=90), size=(160, 90), options=LOSSLESS, start_s=FROM, stop_s=TO)
    whole = tmp_path / "flat_all.mp4"
    reframe_video(full, whole, path=ViewPath.fixed(0, 0, 0, fov=90), size=(160, 90), options=LOSSLESS)
    cut, ref = _frames(out), _frames(whole)
    assert len(cut) == STOP - START and all(np.array_equal(f, ref[START + k]) for k, f in enumerate(cut))
    assert abs(_lag(_audio(full), _audio(out)) - round(FROM * RATE)) < 1024
    js = tmp_path / "t.json"
    assert main(["telemetry", str(rec), "-o", str(js), "--from", "0.4", "--to", "0:00:01.1"]) == 0
    gyro = np.asarray(json.loads(js.read_text())["GYRO"]["t"])
    assert gyro.size and gyro.min() >= FROM and gyro.max() < TO and gyro.min() < FROM + 0.01 and gyro.max() > TO - 0.01


def test_range_on_a_dask_cluster(recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    import logging

    rec, rig, full, _ = recording
    out = tmp_path / "dask.mp4"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        j = stitch_segmented(rec, out, rig=rig, width=320, options=LOSSLESS, segment_frames=10,
                             scheduler=cluster.scheduler_address, start_s=FROM, stop_s=TO)
    assert [(x["start"], x["stop"]) for x in j.records] == [(12, 22), (22, 33)]
    reference = _frames(full)
    cut = _frames(out)
    assert len(cut) == STOP - START and all(np.array_equal(f, reference[START + k]) for k, f in enumerate(cut))
