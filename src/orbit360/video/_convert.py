"""RGB <-> YUV 4:2:0 (yuv420p) conversion with OpenCV, matching FFmpeg's swscale.

PyAV converts through swscale inside ``VideoFrame.from_ndarray(rgb24)`` + ``encode()``
and ``to_ndarray(format="rgb24")``; at 5760x2880 that costs 150-300 ms per frame on the
way in to the encoder. OpenCV's ``COLOR_RGB2YUV_I420`` is 20-50x faster and its luma
matches swscale's (BT.601, limited range) within one code value, but it takes chroma from
one pixel of each 2x2 block (a half-pixel shift, and aliasing). ``rgb_to_yuv420p`` keeps
OpenCV's luma and computes chroma the way swscale does by default: the average of each
pair of columns, then a [1 3 3 1] / 8 filter down the rows (centred between the two rows
of a block), with edges replicated, in BT.601 limited range. Planes come back as one
(h * 3 // 2, w) uint8 array in FFmpeg's yuv420p layout, the form
``av.VideoFrame.from_ndarray(..., format="yuv420p")`` takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import av

__all__ = ["rgb_to_yuv420p", "yuv420p_to_rgb", "yuv420p_planes", "stitch_planes", "plane_views", "Planes"]

# BT.601 limited range, chroma rows of the RGB -> YUV matrix (swscale's default), and the
# offset 128 in the fourth column
_CHROMA = np.array(
    [[-0.148223, -0.290993, 0.439216, 128.0], [0.439216, -0.367788, -0.071427, 128.0]], np.float64
)


def rgb_to_yuv420p(rgb: NDArray[np.uint8], out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """yuv420p planes (h * 3 // 2, w) uint8 of an RGB frame (h, w, 3) uint8, h and w even.

    Within one code value of swscale's conversion (PSNR above 55 dB on noise).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"frame size must be even for yuv420p, got {w}x{h}")
    rgb = np.ascontiguousarray(rgb)
    if out is None:
        out = np.empty((h * 3 // 2, w), np.uint8)
    cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420, dst=out)  # luma; its chroma is replaced below
    # horizontal: average of each pair of columns (a 2:1 linear resize samples at 2j + 0.5)
    half = cv2.resize(rgb, (w // 2, h), interpolation=cv2.INTER_LINEAR)
    top, bottom = half[0::2], half[1::2]  # rows 2i and 2i + 1
    # vertical: r(2i-1) + 3 r(2i) + 3 r(2i+1) + r(2i+2), rows past the edges replicated
    pair = cv2.add(top, bottom, dtype=cv2.CV_16S)
    acc = cv2.add(pair, pair)
    cv2.add(acc, pair, dst=acc)
    cv2.add(acc[1:], bottom[:-1], dst=acc[1:], dtype=cv2.CV_16S)
    cv2.add(acc[:1], top[:1], dst=acc[:1], dtype=cv2.CV_16S)
    cv2.add(acc[:-1], top[1:], dst=acc[:-1], dtype=cv2.CV_16S)
    cv2.add(acc[-1:], bottom[-1:], dst=acc[-1:], dtype=cv2.CV_16S)
    m = _CHROMA.copy()
    m[:, :3] /= 8.0
    uv = cv2.convertScaleAbs(cv2.transform(acc, m))
    _, u, v = yuv420p_planes(out)
    cv2.extractChannel(uv, 0, dst=u)
    cv2.extractChannel(uv, 1, dst=v)
    return out


def yuv420p_to_rgb(planes: NDArray[np.uint8], out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """RGB (h, w, 3) uint8 of yuv420p planes (h * 3 // 2, w) uint8 (BT.601, limited range)."""
    if planes.ndim != 2 or planes.dtype != np.uint8 or planes.shape[0] % 3:
        raise ValueError(f"expected (h * 3 // 2, w) uint8 yuv420p planes, got {planes.shape} {planes.dtype}")
    return cv2.cvtColor(np.ascontiguousarray(planes), cv2.COLOR_YUV2RGB_I420, dst=out)


Planes = tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]


def yuv420p_planes(buf: "NDArray[np.uint8] | Planes") -> Planes:
    """Views (Y, U, V) of a yuv420p frame held as one (h * 3 // 2, w) uint8 array (FFmpeg's
    layout: the planes back to back, addressed in the flat buffer since with h / 2 odd a
    chroma plane does not fill whole rows of width w); a (Y, U, V) tuple is checked and
    returned as is."""
    if isinstance(buf, tuple):
        y, u, v = buf
        if y.ndim != 2 or u.shape != v.shape or u.shape != (y.shape[0] // 2, y.shape[1] // 2) or y.shape[0] % 2 or y.shape[1] % 2:
            raise ValueError(f"expected yuv420p planes (h, w), (h/2, w/2) x 2, got {y.shape}, {u.shape}, {v.shape}")
        return y, u, v
    if buf.ndim != 2 or buf.dtype != np.uint8 or buf.shape[0] % 3 or buf.shape[1] % 2 or not buf.flags.c_contiguous:
        raise ValueError(f"expected a contiguous (h * 3 // 2, w) uint8 yuv420p frame, got {buf.shape} {buf.dtype}")
    h, w = buf.shape[0] * 2 // 3, buf.shape[1]
    if h % 2:
        raise ValueError(f"yuv420p needs an even height, got {h}")
    flat = buf.reshape(-1)
    luma, plane = h * w, (h // 2) * (w // 2)
    u = flat[luma : luma + plane].reshape(h // 2, w // 2)
    v = flat[luma + plane : luma + 2 * plane].reshape(h // 2, w // 2)
    return buf[:h], u, v


def stitch_planes(
    frame: "NDArray[np.uint8] | Planes", frame_size: tuple[int, int], out: "NDArray[np.uint8] | Planes | None", size: tuple[int, int]
) -> tuple[Planes, "NDArray[np.uint8] | Planes", Planes]:
    """For a stitch of yuv420p frames of ``frame_size`` to ``size``: the recorded frame's
    planes, ``out`` (a new (h * 3 // 2, w) array when None) and its planes, each checked
    against its size (a wrong-sized ``out`` would make cv2.remap write into a new array of
    its own: the picture lost)."""
    fw, fh = frame_size
    planes = yuv420p_planes(frame)
    if planes[0].shape != (fh, fw):
        raise ValueError(f"yuv420p frame is {planes[0].shape[1]}x{planes[0].shape[0]}, the plan expects {fw}x{fh}")
    w, h = size
    if out is None:
        out = np.empty((h * 3 // 2, w), np.uint8)
    dst = yuv420p_planes(out)
    if dst[0].shape != (h, w) or any(p.dtype != np.uint8 for p in dst):
        raise ValueError(f"out is {dst[0].shape[1]}x{dst[0].shape[0]} {dst[0].dtype}, the plan stitches {w}x{h} uint8")
    return planes, out, dst


def plane_views(frame: "av.VideoFrame") -> tuple[NDArray[np.uint8], ...]:
    """(Y, U, V) of an 8-bit 4:2:0 ``av.VideoFrame`` as views of its buffers: (h, w) and twice
    (h // 2, w // 2), rows ``line_size`` apart. A view keeps the frame's buffers alive."""
    w, h = frame.width, frame.height
    views = []
    for i, plane in enumerate(frame.planes):
        pw, ph = (w, h) if i == 0 else (w // 2, h // 2)
        views.append(np.frombuffer(plane, np.uint8, count=plane.line_size * ph).reshape(ph, plane.line_size)[:, :pw])
    return tuple(views)
