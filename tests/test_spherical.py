"""Spherical Video V1 + V2 metadata: our reader, an independent byte parse, and FFmpeg."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbit360.isobmff.spherical import Equi, Prhd, St3d, StereoMode, Svhd, inject_spherical, read_spherical
from orbit360.synthetic import tone_audio
from orbit360.video import EncodeOptions, VideoWriter

V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")


def make_clip(path: Path, *, faststart: bool, frames: int = 12) -> None:
    rng = np.random.default_rng(0)
    opts = EncodeOptions(crf=30, preset="ultrafast")
    with VideoWriter(path, size=(256, 128), fps=25, options=opts, audio=tone_audio(frames / 25), faststart=faststart) as w:
        for i in range(frames):
            img = np.full((128, 256, 3), (i * 20) % 255, np.uint8)
            img[:, :64] = rng.integers(0, 255, (128, 64, 3))
            w.write(img)


def walk(data: bytes, start: int, end: int, path: str, out: dict[str, list[bytes]]) -> None:
    """Independent ISO-BMFF walk: record every box payload by its path of FourCCs."""
    sample_entry_skip = {b"avc1": 78, b"hvc1": 78, b"mp4a": 28}
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - pos
        name = f"{path}/{kind.decode('latin-1')}"
        payload = data[pos + hdr : pos + size]
        out.setdefault(name, []).append(payload)
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"sv3d", b"proj"):
            walk(data, pos + hdr, pos + size, name, out)
        elif kind == b"stsd":
            walk(data, pos + hdr + 8, pos + size, name, out)
        elif kind in sample_entry_skip:
            walk(data, pos + hdr + sample_entry_skip[kind], pos + size, name, out)
        pos += size


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.parametrize("faststart", [False, True])
def test_inject_and_read_back(tmp_path: Path, faststart: bool) -> None:
    src, dst = tmp_path / "flat.mp4", tmp_path / "360.mp4"
    make_clip(src, faststart=faststart)
    before = src.read_bytes()
    assert read_spherical(src) is None
    inject_spherical(src, dst)
    assert src.read_bytes() == before  # the input is never modified

    meta = read_spherical(dst)
    assert meta is not None and meta.has_v1 and meta.has_v2
    assert meta.projection == "equirectangular" and meta.stereo == StereoMode.MONO
    assert meta.v1 is not None and meta.v1["ProjectionType"] == "equirectangular" and meta.v1["Spherical"] == "true"

    # independent parse of the bytes
    boxes: dict[str, list[bytes]] = {}
    data = dst.read_bytes()
    walk(data, 0, len(data), "", boxes)
    uuids = boxes["/moov/trak/uuid"]
    assert any(p[:16] == V1_UUID and b"<GSpherical:ProjectionType>equirectangular<" in p for p in uuids)
    entry = "/moov/trak/mdia/minf/stbl/stsd/avc1"
    assert boxes[f"{entry}/st3d"] == [b"\0\0\0\0\0"]
    equi = boxes[f"{entry}/sv3d/proj/equi"][0]
    assert equi == b"\0" * 20
    # exactly one video track carries it; audio entry has none
    assert len(boxes[f"{entry}/sv3d"]) == 1 and not any("mp4a/sv3d" in k for k in boxes)

    # FFmpeg sees the spherical side data
    ff = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(dst)], capture_output=True, text=True)
    assert "Spherical Mapping: equirectangular" in ff.stderr
    assert "Stereo 3D" in ff.stderr

    # media untouched: every frame decodes identically (chunk offsets shifted correctly)
    a, b = decoded_frames(src), decoded_frames(dst)
    assert len(a) == len(b) == 12
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_inject_twice_is_idempotent(tmp_path: Path) -> None:
    src, once, twice = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    make_clip(src, faststart=True)
    inject_spherical(src, once)
    inject_spherical(once, twice)
    assert once.read_bytes() == twice.read_bytes()


def test_v1_alone_is_seen_by_ffmpeg(tmp_path: Path) -> None:
    """Strip the V2 boxes from our output: FFmpeg must still find the V1 XML."""
    from orbit360.isobmff._edit import rewrite_moov

    src, full, v1only = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    make_clip(src, faststart=False)
    inject_spherical(src, full)

    def strip_v2(moov) -> None:  # type: ignore[no-untyped-def]
        for node in moov.walk():
            if node.children is not None:
                node.children = [c for c in node.children if c.type not in (b"st3d", b"sv3d")]

    rewrite_moov(full, v1only, strip_v2)
    meta = read_spherical(v1only)
    assert meta is not None and meta.has_v1 and not meta.has_v2
    ff = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(v1only)], capture_output=True, text=True)
    assert "Spherical Mapping: equirectangular" in ff.stderr


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.tuples(*[st.integers(0, 2**32 - 1)] * 4),
    st.sampled_from(list(StereoMode)),
    st.text(max_size=20).filter(lambda s: "\0" not in s),
)
def test_box_round_trips(yaw: float, pitch: float, roll: float, bounds: tuple[int, int, int, int], stereo: StereoMode, source: str) -> None:
    p = Prhd(yaw, pitch, roll)
    back = Prhd.parse(p.to_bytes()[8:])
    assert abs(back.yaw - yaw) <= 1 / 65536 and abs(back.pitch - pitch) <= 1 / 65536 and abs(back.roll - roll) <= 1 / 65536
    assert Equi.parse(Equi(*bounds).to_bytes()[8:]) == Equi(*bounds)
    assert St3d.parse(St3d(stereo).to_bytes()[8:]) == St3d(stereo)
    assert Svhd.parse(Svhd(source).to_bytes()[8:]) == Svhd(source)
    # negative poses stay negative (signed 16.16)
    if yaw < -1:
        assert struct.unpack(">i", p.to_bytes()[12:16])[0] < 0
