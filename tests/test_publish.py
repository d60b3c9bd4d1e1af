"""The web rendition: H.264, capped width, audio, moov first, spherical metadata; view's pick."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.errors import InputError
from orbit360.isobmff.spherical import SPHERICAL_V1_UUID, read_spherical
from orbit360.publish import pick_viewable, publish_web, web_rendition_path, web_size


def top_level_boxes(path: Path) -> list[str]:
    """Top-level box types, read straight from the size/type headers."""
    names, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:
            size = len(data) - pos
        names.append(kind.decode("latin-1"))
        pos += size
    return names


def gradient_frames(width: int, count: int) -> list[np.ndarray]:
    height = width // 2
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    base = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 90.0)], axis=2)
    return [np.clip(base + 8 * i, 0, 255).astype(np.uint8) for i in range(count)]


def write_video(path: Path, frames: list[np.ndarray], codec: str, *, audio: bool = True) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        if codec == "libx265":
            stream.options |= {"x265-params": "log-level=error"}
        sound = container.add_stream("aac", rate=48000, layout="mono") if audio else None
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
        if sound is not None:
            for start in range(0, 48000 * len(frames) // 10, 1024):
                chunk = np.full((1, 1024), 0.1, np.float32)
                audio_frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                audio_frame.sample_rate, audio_frame.pts = 48000, start
                container.mux(sound.encode(audio_frame))
            container.mux(sound.encode(None))


def test_web_size_caps_width_and_keeps_two_to_one() -> None:
    assert web_size((5760, 2880)) == (4096, 2048)
    assert web_size((7680, 3840)) == (4096, 2048)
    assert web_size((3840, 1920)) == (3840, 1920)
    assert web_size((1000, 500), 2048) == (1000, 500)
    assert web_size((1002, 501)) == (1000, 500)  # height must stay even for yuv420p


def test_publish_writes_a_capped_h264_faststart_spherical_rendition(tmp_path: Path) -> None:
    src = tmp_path / "master.mp4"
    frames = gradient_frames(640, 6)
    write_video(src, frames, "libx265")
    assert main(["publish", str(src), "--max-width", "256", "--preset", "ultrafast", "--quiet"]) == 0

    out = tmp_path / "master.web.mp4"
    assert out.is_file() and web_rendition_path(src) == out
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 256, 128)
        assert len(container.streams.audio) == 1
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(frames)
    # The picture is the source shrunk (area average), not cropped or shifted.
    reference = cv2.resize(frames[3], (256, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.mean(np.abs(decoded[3].astype(np.float32) - reference)) < 4.0
    meta = read_spherical(out)
    assert meta is not None and meta.projection == "equirectangular" and meta.has_v1
    assert SPHERICAL_V1_UUID in out.read_bytes()  # V1 box present in the bytes, not only parsed
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_view_prefers_the_web_rendition_and_warns_about_hevc(tmp_path: Path) -> None:
    master = tmp_path / "trip.mp4"
    write_video(master, gradient_frames(128, 2), "libx265", audio=False)
    chosen, note = pick_viewable(master)
    assert chosen == master and note is not None and "HEVC" in note and "orbit360 publish" in note
    publish_web(master, max_width=128, preset="ultrafast")
    chosen, note = pick_viewable(master)
    assert (chosen, note) == (tmp_path / "trip.web.mp4", None)
    h264 = tmp_path / "plain.mp4"
    write_video(h264, gradient_frames(128, 2), "libx264", audio=False)
    assert pick_viewable(h264) == (h264, None)


def test_publish_refuses_non_equirect_and_overwriting_its_source(tmp_path: Path) -> None:
    square = tmp_path / "square.mp4"
    frame = np.zeros((128, 128, 3), np.uint8)
    write_video(square, [frame, frame], "libx264", audio=False)
    with pytest.raises(InputError, match="not a 2:1 equirect"):
        publish_web(square)
    assert not (tmp_path / "square.web.mp4").exists()
    web = tmp_path / "x.web.mp4"
    write_video(web, gradient_frames(128, 2), "libx264", audio=False)
    with pytest.raises(InputError, match="overwrite its source"):
        publish_web(web)
