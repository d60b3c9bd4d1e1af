"""RGB <-> yuv420p with OpenCV against swscale (PyAV's own conversion); the writer and
the reader use it for (BT.601, limited-range) yuv420p."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from orbit360.video import VideoWriter, open_reader
from orbit360.video._convert import rgb_to_yuv420p, yuv420p_to_rgb


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 7.0 + c) * np.cos(y / 5.0 - c) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def _swscale(rgb: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


@pytest.mark.parametrize("seed", [1, 2])
def test_rgb_to_yuv420p_matches_swscale(seed: int) -> None:
    rgb = _textured(120, 200, seed)
    want, got = _swscale(rgb), rgb_to_yuv420p(rgb)
    assert got.shape == want.shape == (180, 200)
    assert np.abs(got.astype(int) - want).max() <= 1
    assert _psnr(got[120:], want[120:]) >= 45.0  # chroma
    noise = np.random.default_rng(seed).integers(0, 256, (64, 96, 3)).astype(np.uint8)
    assert _psnr(rgb_to_yuv420p(noise), _swscale(noise)) >= 45.0


def test_chroma_is_sited_like_swscale() -> None:
    """A one-column (one-row) blue line moves the chroma by the same amount in both."""
    for col in range(8, 12):
        rgb = np.zeros((16, 32, 3), np.uint8)
        rgb[:, col, 2] = 255
        np.testing.assert_allclose(rgb_to_yuv420p(rgb)[16:].astype(int), _swscale(rgb)[16:].astype(int), atol=1)
    for row in range(6, 10):
        rgb = np.zeros((16, 32, 3), np.uint8)
        rgb[row, :, 2] = 255
        np.testing.assert_allclose(rgb_to_yuv420p(rgb)[16:].astype(int), _swscale(rgb)[16:].astype(int), atol=1)


def test_yuv420p_to_rgb_matches_swscale() -> None:
    yuv = rgb_to_yuv420p(_textured(120, 200, 3))
    want = av.VideoFrame.from_ndarray(yuv.copy(), format="yuv420p").to_ndarray(format="rgb24")
    got = yuv420p_to_rgb(yuv)
    d = got.astype(int) - want
    # OpenCV rounds where swscale's table path truncates: up to ~1 code value brighter
    assert got.shape == (120, 200, 3) and np.abs(d).max() <= 3 and abs(d.mean()) <= 1.5
    assert _psnr(got, want) >= 45.0
    with pytest.raises(ValueError, match="even"):
        rgb_to_yuv420p(np.zeros((15, 32, 3), np.uint8))


def test_writer_and_reader_round_trip_colour(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames = [cv2.GaussianBlur(_textured(96, 160, s), (0, 0), 2.0) for s in range(3)]
    path = tmp_path / "c.mp4"
    with VideoWriter(path, size=(160, 96), fps=30) as w:
        for f in frames:
            w.write(f)
    with open_reader(path) as r:
        back = list(r.frames())
    assert len(back) == 3
    for f, b in zip(frames, back):
        # (swscale both ways comes back 1.1-1.4 code values darker)
        assert np.abs(f.astype(float).mean((0, 1)) - b.astype(float).mean((0, 1))).max() < 1.0
        assert _psnr(b, f) >= 28.0  # 4:2:0 and CRF 20 on a colourful texture
