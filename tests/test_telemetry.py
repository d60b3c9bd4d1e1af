"""GPMF telemetry: the real GoPro samples against an independent reading of their bytes,
the synthetic writer round trip, malformed payloads, and the JSON/CSV/GPX export."""

from __future__ import annotations

import csv
import json
import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbit360.cli import main
from orbit360.errors import Orbit360Error, TelemetryError
from orbit360.telemetry import (
    GpmdSample,
    encode_device,
    encode_stream,
    parse_payload,
    parse_samples,
    read_gpmd,
    read_telemetry,
)

MP4_NAMES = ("gopro_hero7.mp4", "gopro_max-heromode.mp4")  # in the shared samples (the samples_dir fixture)


# ---- an independent reading: FFmpeg's demuxer for the packets, a regex for the KLVs ----
def _demux_gpmd(path: Path) -> list[tuple[bytes, float, float]]:
    """(payload, start s, duration s) of every gpmd packet, through PyAV, not our moov reader."""
    out = []
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.type == "data" and s.codec_context is None and _is_gpmd(c, s))
        for p in c.demux(stream):
            if p.size:
                out.append((bytes(p), float(p.pts * p.time_base), float(p.duration * p.time_base)))
    return out


def _is_gpmd(container, stream) -> bool:
    tag = stream.codec_tag if hasattr(stream, "codec_tag") else ""
    return tag == "gpmd" or stream.metadata.get("handler_name", "").strip() == "GoPro MET"


def _regex_stream(payload: bytes, key: bytes) -> list[tuple[np.ndarray, float]]:
    """Every ``key`` KLV of type 's' (3 shorts) with the SCAL last seen before it in the payload."""
    found = []
    for m in re.finditer(re.escape(key) + rb"s\x06(..)", payload, re.S):
        repeat = int.from_bytes(m.group(1), "big")
        start = m.end()
        raw = struct.unpack(f">{3 * repeat}h", payload[start : start + 6 * repeat])
        scal_at = payload.rfind(b"SCALs\x02\x00\x01", 0, m.start())
        (scal,) = struct.unpack(">h", payload[scal_at + 8 : scal_at + 10])
        found.append((np.array(raw, dtype=float).reshape(repeat, 3) / scal, scal))
    return found


@pytest.mark.parametrize("name", MP4_NAMES, ids=lambda n: n.removesuffix(".mp4"))
@pytest.mark.parametrize("key", ["GYRO", "ACCL"])
def test_real_imu_counts_values_and_times_match_independent_parse(samples_dir: Path, name: str, key: str) -> None:
    path = samples_dir / name
    packets = _demux_gpmd(path)
    tel = read_telemetry(path)
    series = tel.series(key)

    expect_v, expect_t = [], []
    for payload, start, duration in packets:
        blocks = _regex_stream(payload, key.encode())
        assert len(blocks) == 1
        values, _ = blocks[0]
        n = values.shape[0]
        expect_v.append(values)
        expect_t.append(start + np.arange(n) * duration / n)
    expect_v = np.concatenate(expect_v)
    assert len(series) == expect_v.shape[0] > 1000
    np.testing.assert_array_equal(series.values, expect_v)
    np.testing.assert_allclose(series.t, np.concatenate(expect_t), atol=1e-9)
    # TSMP counts every sample since the recording started: the last payload's equals the total.
    last_tsmp = [ts.stream.total_samples for ts in tel.of(key)][-1]
    assert last_tsmp == len(series)


def test_gpmd_samples_match_ffmpeg_packets(samples_dir: Path) -> None:
    for path in (samples_dir / n for n in MP4_NAMES):
        packets = _demux_gpmd(path)
        track = read_gpmd(path)
        assert track is not None and track.timescale > 0
        assert [s.data for s in track.samples] == [p for p, _, _ in packets]
        np.testing.assert_allclose([s.start for s in track.samples], [s for _, s, _ in packets])
        np.testing.assert_allclose([s.duration for s in track.samples], [d for _, _, d in packets])
        assert track.sample_entry[4:8] == b"gpmd"


# ---- raw payloads -------------------------------------------------------------------------
def test_fusion_payload_float_accl_and_scaled_gyro(samples_dir: Path) -> None:
    data = (samples_dir / "gpmf" / "Fusion.raw").read_bytes()
    streams = {s.key: s for s in parse_payload(data)}
    assert {"ACCL", "GYRO", "MAGN", "GPS5", "ISOG", "SHUT"} <= set(streams)
    # ACCL is stored as floats (struct 12 = 3 x f); read them here with struct, not numpy.
    at = data.index(b"ACCLf\x0c")
    repeat = int.from_bytes(data[at + 6 : at + 8], "big")
    accl = np.array(struct.unpack(f">{3 * repeat}f", data[at + 8 : at + 8 + 12 * repeat])).reshape(-1, 3)
    np.testing.assert_array_equal(streams["ACCL"].values, accl)
    (gyro, scal), = _regex_stream(data, b"GYRO")
    assert scal == 939 and streams["GYRO"].values.shape == (3300, 3)
    np.testing.assert_array_equal(streams["GYRO"].values, gyro)
    assert streams["GYRO"].timestamp_us is not None and streams["GYRO"].units == ("rad/s",)


def test_two_devices_in_one_payload(samples_dir: Path) -> None:
    data = (samples_dir / "gpmf" / "hero6+ble.raw").read_bytes()
    streams = parse_payload(data)
    devices = list(dict.fromkeys((s.device_id, s.device_name) for s in streams))
    assert len(devices) == 2 and devices[1][1] == "SENSORB6"
    acc1 = next(s for s in streams if s.key == "acc1")
    at = data.index(b"acc1b\x10")
    repeat = int.from_bytes(data[at + 6 : at + 8], "big")
    expect = np.frombuffer(data[at + 8 : at + 8 + 16 * repeat], dtype=np.int8).reshape(repeat, 16)
    np.testing.assert_array_equal(acc1.values, expect)
    assert acc1.device_name == "SENSORB6"


def test_per_component_scal_gps5(samples_dir: Path) -> None:
    data = (samples_dir / "gpmf" / "hero5.raw").read_bytes()
    gps = next(s for s in parse_payload(data) if s.key == "GPS5")
    at = data.index(b"SCALl\x04\x00\x05")
    scal = np.array(struct.unpack(">5l", data[at + 8 : at + 28]), dtype=float)
    at = data.index(b"GPS5l\x14")
    repeat = int.from_bytes(data[at + 6 : at + 8], "big")
    raw = np.array(struct.unpack(f">{5 * repeat}l", data[at + 8 : at + 8 + 20 * repeat]), dtype=float).reshape(-1, 5)
    np.testing.assert_allclose(gps.values, raw / scal)
    assert 30 < gps.values[0, 0] < 40 and -120 < gps.values[0, 1] < -110  # San Diego, as GPSU says
    assert gps.units == ("deg", "deg", "m", "m/s", "m/s")


def test_face_records_take_the_time_of_their_klv(samples_dir: Path) -> None:
    data = (samples_dir / "gpmf" / "hero6.raw").read_bytes()
    face = next(s for s in parse_payload(data) if s.key == "FACE")
    # One FACE KLV per instant; repeat = faces seen then (an independent count of headers).
    repeats = [int.from_bytes(m.group(1), "big") for m in re.finditer(rb"FACE\?\x14(..)", data, re.S)]
    assert face.n_times == len(repeats) and face.values.shape == (sum(repeats), 5)
    np.testing.assert_array_equal(face.time_index, np.repeat(np.arange(len(repeats)), repeats))
    assert face.fields == "Lffff"


# ---- writer round trip and malformed input ------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 300),
    comps=st.integers(1, 4),
    type_char=st.sampled_from(list("bBsSlLjJfd")),
    per_component=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_writer_round_trip(n: int, comps: int, type_char: str, per_component: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    low = 0 if type_char in "BSLJ" else -100  # values every type can hold
    raw = rng.integers(low, 100, size=(n, comps)).astype(float)
    scale = rng.integers(1, 500, size=comps).astype(float) if per_component else float(rng.integers(1, 500))
    values = raw / np.atleast_1d(scale)
    payload = encode_device(7, "cam", [encode_stream("TEST", values, type_char=type_char, scale=scale, units="u")])
    (s,) = parse_payload(payload)
    assert s.key == "TEST" and s.device_id == "7" and s.values.shape == (n, comps)
    np.testing.assert_allclose(s.values, values, rtol=1e-6, atol=1e-9)


def test_writer_round_trip_type_records_and_two_devices() -> None:
    table = np.array([[1, 2.5, -3.25, 400], [5, 6.0, 7.5, 65000]])
    dev1 = encode_device(1, "a", [encode_stream("RECS", table, type_char="?", fields="Bf[2]S", scale=[1, 2, 4, 1])])
    dev2 = encode_device(2, "b", [encode_stream("RECS", table[:1], type_char="?", fields="Bf[2]S")])
    tel = parse_samples([GpmdSample(dev1 + dev2, 10.0, 1.0)])
    recs = tel.series("RECS")
    np.testing.assert_allclose(recs.values, np.vstack([table, table[:1]]))
    np.testing.assert_allclose(recs.t, [10.0, 10.5, 10.0])


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"DEVC\0\x01\xff\xff", "runs past"),
        (b"DEVC\0\x01\x00\x0c" + b"ACCLs\x06\x00\x05" + b"\0" * 4, "runs past"),
        (b"\x01\x02\x03\x04" + b"\0" * 12, "invalid GPMF key"),
        (encode_device(1, "x", [b"STRM\0\x01\x00\x0c" + b"FACE?\x04\x00\x01" + b"\0" * 4]), "no TYPE"),
    ],
)
def test_malformed_payloads_raise_one_line(payload: bytes, message: str) -> None:
    with pytest.raises(TelemetryError, match=message) as info:
        parse_payload(payload)
    assert "\n" not in str(info.value) and info.value.offset is not None


@settings(max_examples=150, deadline=None)
# half the examples keep the whole payload: a truncated one nearly always fails, a whole one
# with flipped bytes mostly parses, and then the streams must be sound
@given(cut=st.integers(0, 5016) | st.just(5016), flips=st.lists(st.tuples(st.integers(0, 5015), st.integers(0, 255)), max_size=6))
def test_fuzzed_payloads_parse_or_raise_telemetry_error(samples_dir: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    healthy = (samples_dir / "gpmf" / "hero6.raw").read_bytes()
    data = bytearray(healthy)
    for at, value in flips:
        data[at] = value
    try:
        streams = parse_payload(bytes(data[:cut]))
    except TelemetryError as exc:
        assert str(exc) and "\n" not in str(exc) and exc.offset is not None
        return
    for s in streams:
        assert len(s.key) == 4 and s.n_times >= 0
        assert s.time_index.size == 0 or (0 <= int(s.time_index.min()) and int(s.time_index.max()) < s.n_times)
        if s.values is not None:
            assert s.values.dtype == np.float64 and s.values.ndim == 2 and s.values.shape[0] == s.time_index.size
    if bytes(data[:cut]) == healthy:  # nothing changed: exactly the healthy streams
        want = parse_payload(healthy)
        assert [s.key for s in streams] == [s.key for s in want]
        assert all(a.values is None and b.values is None or np.array_equal(a.values, b.values, equal_nan=True) for a, b in zip(streams, want))


# ---- export and CLI -------------------------------------------------------------------------
def test_cli_json_csv_gpx(samples_dir: Path, tmp_path: Path) -> None:
    path = samples_dir / MP4_NAMES[1]
    out = tmp_path / "max.json"
    assert main(["telemetry", str(path), "-o", str(out), "--csv", "--gpx"]) == 0
    doc = json.loads(out.read_text())
    packets = _demux_gpmd(path)
    # Members: every numeric data FourCC (independent scan: last KLV key of each STRM that
    # is of a numeric type or a '?' made of numeric fields).
    assert set(doc) >= {"ACCL", "GYRO", "CORI", "IORI", "GRAV", "GPS5", "SHUT", "ISOE", "HUES"}
    assert "SCEN" not in doc  # '?' of FourCC + float is not numeric
    for key in ("GYRO", "CORI"):
        member = doc[key]
        assert len(member["t"]) == len(member["values"]) == len(read_telemetry(path).series(key))
    gyro = np.concatenate([_regex_stream(p, b"GYRO")[0][0] for p, _, _ in packets])
    np.testing.assert_allclose(np.array(doc["GYRO"]["values"]), gyro, rtol=0, atol=1e-12)
    rows = list(csv.reader(out.with_suffix(".csv").open()))
    assert rows[0][:2] == ["stream", "t"]
    assert sum(r[0] == "GYRO" for r in rows[1:]) == gyro.shape[0]
    gpx = out.with_suffix(".gpx").read_text()
    assert gpx.count("<trkpt") == len(doc["GPS5"]["t"]) > 0


def test_cli_rejects_file_without_moov(samples_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "GX010001.MP4"
    broken.write_bytes((samples_dir / MP4_NAMES[0]).read_bytes()[:200_000])
    assert main(["telemetry", str(broken), "-o", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orbit360: error:") and "GX010001.MP4" in err and "\n" not in err
    assert not (tmp_path / "o.json").exists()


# ---- after salvage ---------------------------------------------------------------------------
@pytest.mark.parametrize("keep_fraction", [0.35, 0.75])
def test_salvaged_recording_keeps_exactly_the_wholly_written_payloads(samples_dir: Path, tmp_path: Path, keep_fraction: float) -> None:
    from orbit360.salvage import salvage

    healthy = samples_dir / MP4_NAMES[0]
    data = healthy.read_bytes()
    moov_at = data.rindex(b"moov") - 4  # the camera writes moov last; a dead camera never does
    cut = int(moov_at * keep_fraction)
    broken = tmp_path / "GX010001.MP4"
    broken.write_bytes(data[:cut])
    salvage(broken, tmp_path / "rebuilt.mp4")

    # Independent: FFmpeg's packets of the healthy file that lie wholly inside the kept bytes.
    with av.open(str(healthy)) as c:
        stream = next(s for s in c.streams if s.type == "data" and _is_gpmd(c, s))
        whole = [bytes(p) for p in c.demux(stream) if p.size and p.pos + p.size <= cut]
    expect = np.concatenate([_regex_stream(p, b"GYRO")[0][0] for p in whole])
    got = read_telemetry(tmp_path / "rebuilt.mp4").series("GYRO")
    assert 0 < len(whole) < 11
    np.testing.assert_array_equal(got.values, expect)


def test_gps9_records_give_gpx_times_and_skip_fixes_without_lock(tmp_path: Path) -> None:
    from datetime import date, datetime, timezone

    from orbit360.telemetry import gps_fixes, write_gpx

    # GPS9 (HERO11+): lat, lon, alt, 2D speed, 3D speed, days since 2000, s of day, DOP, fix.
    rows = np.array(
        [
            [33.1267, -117.3274, -20.5, 1.2, 1.3, 9000, 3600.5, 1.5, 3],
            [33.1268, -117.3275, -20.4, 1.1, 1.2, 9000, 3600.6, 1.5, 0],  # no lock: left out
            [33.1269, -117.3276, -20.3, 1.0, 1.1, 9000, 3600.7, 1.4, 2],
        ]
    )
    scale = [1e7, 1e7, 1e3, 1e3, 1e2, 1, 1e3, 1e2, 1]
    payload = encode_device(1, "cam", [encode_stream("GPS9", rows, type_char="?", fields="lllllllSS", scale=scale)])
    tel = parse_samples([GpmdSample(payload, 5.0, 1.0)])
    np.testing.assert_allclose(tel.series("GPS9").values, rows, rtol=1e-9, atol=1e-6)
    fixes = gps_fixes(tel)
    assert len(fixes) == 2
    day = date.fromordinal(date(2000, 1, 1).toordinal() + 9000)  # counted by ordinals, not timedelta
    assert fixes.time[0] == datetime(day.year, day.month, day.day, 1, 0, 0, 500000, tzinfo=timezone.utc)
    assert write_gpx(tel, tmp_path / "t.gpx") == 2
    assert 'lat="33.1269000"' in (tmp_path / "t.gpx").read_text()


# ---- keeping the track -------------------------------------------------------------------------
def test_attach_gpmd_keeps_every_track_and_adds_the_telemetry(samples_dir: Path, tmp_path: Path) -> None:
    from orbit360.telemetry import attach_gpmd

    source = samples_dir / MP4_NAMES[0]
    track = read_gpmd(source)
    # A file without telemetry: the healthy sample's video and audio only (FFmpeg remux).
    plain = tmp_path / "plain.mp4"
    with av.open(str(source)) as src, av.open(str(plain), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        for packet in src.demux(list(src.streams.video[:1]) + list(src.streams.audio[:1])):
            if packet.size and packet.stream.index in streams:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    assert read_gpmd(plain) is None
    out = tmp_path / "with.mp4"
    attach_gpmd(plain, track, out)

    def packets(path: Path, kind: str) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(getattr(c.streams, kind)[0]) if p.size]

    assert packets(out, "video") == packets(plain, "video") and packets(out, "audio") == packets(plain, "audio")
    back = read_gpmd(out)
    assert [s.data for s in back.samples] == [p for p, _, _ in _demux_gpmd(source)]
    assert [s.duration_ticks for s in back.samples] == [s.duration_ticks for s in track.samples]
    np.testing.assert_array_equal(read_telemetry(out).series("GYRO").values, read_telemetry(source).series("GYRO").values)
    with pytest.raises(Orbit360Error, match="already has a gpmd"):
        attach_gpmd(out, track, tmp_path / "twice.mp4")
