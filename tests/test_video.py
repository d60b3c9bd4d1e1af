"""Video in/out through PyAV: frame counts, HEVC, audio copied through byte for byte."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from orbit360.pipeline import stitch_video
from orbit360.profile import RigProfile
from orbit360.synthetic import make_scene, noise_audio, write_rig_video
from orbit360.video import EncodeOptions, VideoWriter, open_reader


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_encode_decode_frame_count_and_fidelity(tmp_path: Path, codec: str) -> None:
    path = tmp_path / f"clip_{codec}.mp4"
    frames = [np.full((64, 128, 3), v, np.uint8) for v in range(0, 250, 25)]
    with VideoWriter(path, size=(128, 64), fps=30, options=EncodeOptions(codec=codec, crf=10, preset="ultrafast")) as w:
        for f in frames:
            w.write(f)
    with open_reader(path) as r:
        assert r.codec_name == codec
        got = list(r.frames())
    assert len(got) == len(frames)
    for a, b in zip(got, frames):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


def test_seek_by_frame_index(tmp_path: Path) -> None:
    path = tmp_path / "ramp.mp4"
    with VideoWriter(path, size=(64, 32), fps=25, options=EncodeOptions(crf=0, preset="ultrafast", gop=10)) as w:
        for v in range(40):
            w.write(np.full((32, 64, 3), v * 6, np.uint8))
    with open_reader(path) as r:
        idx = [i for i, _ in r.indexed_frames(23, 31)]
        assert idx == list(range(23, 31))
    with open_reader(path) as r:
        f = next(iter(r.frames(23, 24)))
        assert abs(int(f.mean()) - 23 * 6) <= 2


def test_stitch_copies_audio_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "dual.mp4"
    write_rig_video(src, RigProfile.nominal((256, 128)), make_scene(512, seed=2), frames=20, audio=True, crf=30, preset="ultrafast")
    out = tmp_path / "out.mp4"
    stitch_video(src, out, options=EncodeOptions(crf=30, preset="ultrafast"))
    a, b = audio_packets(src), audio_packets(out)
    assert len(a) > 10 and a == b


def test_writer_encodes_pcm_audio_beside_the_video(tmp_path: Path) -> None:
    """``audio=`` PCM becomes one AAC stream of its channels and length, interleaved with the
    video, and decodes back to the same sound (the encoder's priming removed by the edit list)."""
    pcm = noise_audio(0.5, channels=4, seed=3)  # 24000 samples: not a whole number of AAC frames
    path = tmp_path / "with_sound.mp4"
    with VideoWriter(path, size=(64, 32), fps=20, options=EncodeOptions(preset="ultrafast"), audio=pcm) as w:
        for v in range(10):
            w.write(np.full((32, 64, 3), v * 20, np.uint8))
    with av.open(str(path)) as c:
        assert c.streams.audio[0].codec_context.channels == 4 and c.streams.audio[0].rate == 48000
        order = [p.stream.type for p in c.demux() if p.size]
    with av.open(str(path)) as c:
        decoded = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    # interleaved: the first video packet comes before the last audio one and vice versa
    assert order.index("video") < len(order) - 1 - order[::-1].index("audio")
    assert order.index("audio") < len(order) - 1 - order[::-1].index("video")
    assert decoded.shape[0] == 4 and abs(decoded.shape[1] - pcm.shape[1]) <= 1024
    n = min(decoded.shape[1], pcm.shape[1])
    for ch in range(4):
        corr = np.corrcoef(decoded[ch, :n], pcm[ch, :n])[0, 1]
        assert corr > 0.95, (ch, corr)
    with pytest.raises(ValueError, match="channels"):
        VideoWriter(tmp_path / "bad.mp4", size=(64, 32), fps=20, audio=np.zeros((3, 100), np.float32))
    with pytest.raises(ValueError, match="not both"):
        VideoWriter(tmp_path / "bad.mp4", size=(64, 32), fps=20, audio=pcm, audio_from=path)
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("size", [(644, 322), (252, 126), (640, 320)])
def test_yuv420p_conversion_any_even_height(tmp_path: Path, size: tuple[int, int]) -> None:
    """Heights of 2 mod 4 (e.g. 5228x2614) leave chroma planes that do not fill whole rows
    of the packed array: the conversion must still match swscale and encode."""
    import cv2

    from orbit360.video._convert import rgb_to_yuv420p

    w, h = size
    img = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    ours = rgb_to_yuv420p(img)
    ref = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == ref.shape and np.abs(ours.astype(int) - ref.astype(int)).max() <= 1
    path = tmp_path / "odd_chroma_rows.mp4"
    with VideoWriter(path, size=size, fps=25, options=EncodeOptions(crf=10, preset="ultrafast")) as writer:
        writer.write(img)
        writer.write(img)
    with open_reader(path) as r:
        frames = list(r.frames())
    assert len(frames) == 2 and np.abs(frames[0].astype(int) - img.astype(int)).mean() < 3


def test_encoder_frames_reused_in_place_keep_every_picture(tmp_path: Path) -> None:
    """Pictures written into a pool of two ``EncoderFrame``s (the encoder reads their
    buffers, no copy) come back exactly, in order, each once: refilling a frame never
    changes a picture already handed to the encoder. 1000 wide: the chroma planes' rows
    are padded (500 pixels in 512-byte rows)."""
    path = tmp_path / "pool.mp4"
    rng = np.random.default_rng(3)
    size = (1000, 64)
    pictures = [tuple(rng.integers(16, 236, s, np.uint8) for s in ((64, 1000), (32, 500), (32, 500))) for _ in range(12)]
    with VideoWriter(path, size=size, fps=25, options=EncodeOptions(crf=0, preset="ultrafast")) as w:
        pool = [w.new_frame(), w.new_frame()]
        assert pool[0].planes[1].strides[0] > 500
        for i, planes in enumerate(pictures):
            frame = pool[i % 2]
            for dst, src in zip(frame.writable(), planes):
                dst[:] = src
            w.write(frame)
        with pytest.raises(ValueError, match="writer expects"):
            from orbit360.video._writer import EncoderFrame

            w.write(EncoderFrame((64, 32)))
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    assert len(decoded) == len(pictures)
    for got, planes in zip(decoded, pictures):
        want = np.concatenate([p.reshape(-1) for p in planes]).reshape(96, 1000)
        np.testing.assert_array_equal(got, want)  # x264 at CRF 0: lossless


def test_hevc_two_frame_clips_get_sane_timestamps(tmp_path: Path) -> None:
    """libx265 through FFmpeg leaves a very short clip's DTS uninitialised (values like
    -9e15 on most 2-frame clips; the MP4 muxer refused about one file in five): every clip
    must still be written, decode to its frames, and hold increasing DTS never after PTS."""
    for i in range(16):
        path = tmp_path / f"short_{i}.mp4"
        with VideoWriter(path, size=(256, 128), fps=30, options=EncodeOptions(codec="hevc", crf=20, preset="ultrafast")) as w:
            for k in range(2):
                w.write(np.full((128, 256, 3), 40 * k + 3 * i, np.uint8))
        with av.open(str(path)) as c:
            packets = [(p.pts, p.dts) for p in c.demux(video=0) if p.size]
        with av.open(str(path)) as c:
            assert len(list(c.decode(video=0))) == 2, i
        assert len(packets) == 2
        dts = [d for _, d in packets]
        assert all(d is not None and p is not None and d <= p for p, d in packets), (i, packets)
        assert dts[0] < dts[1] and abs(dts[0]) < 10 * 512, (i, packets)  # within ten frames of zero


def test_x264_runs_frame_threads_as_the_ffmpeg_command_line(tmp_path: Path) -> None:
    # PyAV asks encoders for slice threads; x264 in frame threads (the ffmpeg command
    # line's choice) encodes 7-20% faster on 2 cores. x264 records its settings in the stream.
    path = tmp_path / "clip.mp4"
    # (x264 threads a frame of at least a few macroblock rows: 128x64 runs on one thread)
    with VideoWriter(path, size=(640, 320), fps=30, options=EncodeOptions(codec="h264", crf=20, preset="ultrafast", encoder="libx264")) as w:
        for v in range(0, 250, 50):
            w.write(np.full((320, 640, 3), v, np.uint8))
    data = path.read_bytes()
    start = data.index(b"x264 - core")
    settings = data[start : data.index(b"\x00", start)].decode("ascii", "replace")
    assert "sliced_threads=0" in settings, settings


def test_encode_options_refuse_negative_threads() -> None:
    with pytest.raises(ValueError, match="threads"):
        EncodeOptions(threads=-1)
