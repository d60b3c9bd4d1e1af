"""Decoding video through PyAV (FFmpeg), frame-threaded, as RGB numpy frames, or as the
decoder's own yuv420p planes (no conversion) for the stitcher's YUV path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from numpy.typing import NDArray

from .._files import check_input_file
from .._types import StrPath
from ..errors import InputError
from ._convert import plane_views, yuv420p_to_rgb

__all__ = ["VideoReader", "YuvFormat", "open_reader", "probe_container", "key_frames_only"]

_KEY_FRAMES_ONLY: ContextVar[bool] = ContextVar("orbit360_key_frames_only", default=False)


@contextmanager
def key_frames_only() -> Iterator[None]:
    """Readers opened inside the block decode key frames only (FFmpeg's
    ``skip_frame=NONKEY``: the other frames are parsed, never reconstructed), so any
    camera source's ``frames(i, i + 1)`` at a key frame ``i`` costs one picture's decode.
    A frame that is not a key frame never comes out."""
    token = _KEY_FRAMES_ONLY.set(True)
    try:
        yield
    finally:
        _KEY_FRAMES_ONLY.reset(token)


def probe_container(path: StrPath) -> "av.container.InputContainer":
    """Open ``path`` with FFmpeg or raise InputError naming the file and the reason."""
    p = check_input_file(path)
    try:
        # metadata that is not UTF-8 (a compatible brand of 0xFF bytes) must not stop
        # the picture from being read: it is shown with replacement characters
        return av.open(str(p), "r", metadata_errors="replace")
    except av.error.InvalidDataError:
        raise InputError("not a video file FFmpeg can read (invalid data; is the moov box missing? try `orbit360 salvage`)", path=p) from None
    except av.error.FFmpegError as exc:
        raise InputError(f"FFmpeg cannot open it: {exc.strerror}", path=p) from None
    except (ValueError, OverflowError, MemoryError) as exc:  # PyAV's own checks of what FFmpeg found
        raise InputError(f"FFmpeg cannot open it: {type(exc).__name__}: {exc}", path=p) from None


@dataclass(frozen=True)
class YuvFormat:
    """How a stream's 8-bit 4:2:0 frames are coded: YCbCr matrix ("bt601" or "bt709") and
    range (full for yuvj420p, as GoPro records)."""

    matrix: str = "bt601"
    full_range: bool = False


_YUV420 = ("yuv420p", "yuvj420p")
# The frame rates a recording can have: time-lapse at one frame a minute up to the
# 1,000 fps of high-speed modes. Outside them the timing tables are damaged (an mdhd
# timescale of 0x7FFFFFFF gives 4 million fps) and every duration computed would be wrong.
MIN_FPS, MAX_FPS = Fraction(1, 60), Fraction(2000)
_BT709 = 1  # AVColorSpace


class VideoReader:
    """One video stream of a file, decoded frame by frame.

    ``frames()`` yields (height, width, 3) uint8 RGB arrays in presentation order, or with
    ``yuv420=True`` the decoded yuv420p planes (Y, U, V) as read-only views of the
    decoder's own buffers (no copy; only when ``yuv_format`` is not None);
    ``start``/``stop`` are frame indices (seeking to the key frame before ``start``).
    """

    def __init__(self, path: StrPath, *, stream_index: int = 0, threads: int = 0) -> None:
        self.path = Path(path)
        container = probe_container(path)
        if not container.streams.video or stream_index >= len(container.streams.video):
            container.close()
            raise InputError("no video track", path=self.path)
        self._container = container
        self.stream = container.streams.video[stream_index]
        if self.stream.codec_context is None:  # FFmpeg found the track but no decoder for it
            container.close()
            raise InputError("video track has no decoder (damaged sample description or unsupported codec)", path=self.path)
        self.stream.thread_type = "AUTO"
        if threads:
            self.stream.codec_context.thread_count = threads
        cc = self.stream.codec_context
        if _KEY_FRAMES_ONLY.get():
            cc.skip_frame = "NONKEY"
        if not cc.width or not cc.height:
            container.close()
            raise InputError("video track has no frame size (broken or unsupported codec)", path=self.path)
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps: Fraction = Fraction(rate) if rate else Fraction(30)
        if not MIN_FPS <= self.fps <= MAX_FPS:
            container.close()
            raise InputError(f"frame rate of {float(self.fps):.6g} fps is not a camera's "
                             "(damaged timescale or sample durations)", path=self.path)
        self.size: tuple[int, int] = (cc.width, cc.height)
        self.time_base: Fraction = Fraction(self.stream.time_base) if self.stream.time_base else Fraction(1, 90000)
        self.start_pts: int = self.stream.start_time or 0
        n = self.stream.frames
        if not n and self.stream.duration:
            n = int(round(float(self.stream.duration * self.time_base * self.fps)))
        self.frame_count: int = int(n or 0)
        self.codec_name: str = cc.name
        self.yuv_format: YuvFormat | None = _yuv_format(cc.pix_fmt, cc.colorspace, cc.color_range, self.size)
        """The stream's 4:2:0 coding when its frames can be given as yuv420p planes as
        decoded (8-bit 4:2:0, even size, BT.601 or BT.709), else None."""

    @property
    def duration(self) -> float:
        """Seconds, from the frame count and rate."""
        return self.frame_count / float(self.fps) if self.fps else 0.0

    def frame_index(self, pts: int | None) -> int:
        """Frame index of a presentation timestamp (in the stream's time base)."""
        if pts is None:
            return -1
        return int(round(float((pts - self.start_pts) * self.time_base * self.fps)))

    def frames(self, start: int = 0, stop: int | None = None, *, yuv420: bool = False) -> Iterator[NDArray[np.uint8]]:
        """Yield RGB frames (or yuv420p planes) with index in [start, stop)."""
        for _, frame in self.indexed_frames(start, stop, yuv420=yuv420):
            yield frame

    def indexed_frames(
        self, start: int = 0, stop: int | None = None, *, yuv420: bool = False
    ) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """Yield (index, RGB frame) for frames in [start, stop), by presentation time;
        with ``yuv420``, (index, yuv420p planes) as decoded."""
        if yuv420 and self.yuv_format is None:
            raise ValueError(f"{self.path}: frames are not 8-bit 4:2:0 BT.601/BT.709; decode them as RGB")
        convert = self._planes if yuv420 else _to_rgb
        if start > 0:
            target = self.start_pts + int(start / self.fps / self.time_base)
            self._container.seek(target, stream=self.stream, backward=True, any_frame=False)
        count = 0
        try:
            for frame in self._container.decode(self.stream):
                idx = self.frame_index(frame.pts) if frame.pts is not None else start + count
                count += 1
                if idx < start:
                    continue
                if stop is not None and idx >= stop:
                    break
                yield idx, convert(frame)
        except av.error.FFmpegError as exc:
            raise InputError(f"decoding failed: {exc.strerror}", path=self.path) from None

    def _planes(self, frame: "av.VideoFrame") -> tuple[NDArray[np.uint8], ...]:
        if frame.format.name not in _YUV420 or (frame.width, frame.height) != self.size:
            raise InputError(
                f"frame format changed mid-stream to {frame.format.name} {frame.width}x{frame.height}", path=self.path
            )
        return plane_views(frame)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


_BT601 = (2, 5, 6)  # AVColorSpace: unspecified (swscale's default, BT.601), BT470BG, SMPTE170M


def _to_rgb(frame: "av.VideoFrame") -> NDArray[np.uint8]:
    """RGB of a decoded frame: OpenCV for BT.601 limited-range yuv420p (2x faster than
    swscale, and it rounds where swscale's table path truncates: swscale's own
    RGB -> yuv420p -> RGB round trip comes back 1.1-1.4 code values darker, this one
    within 0.2), swscale for every other format, matrix or range."""
    even = frame.width % 2 == 0 and frame.height % 2 == 0
    if frame.format.name == "yuv420p" and even and frame.colorspace in _BT601 and frame.color_range != 2:
        return yuv420p_to_rgb(frame.to_ndarray())
    return frame.to_ndarray(format="rgb24")


def _yuv_format(pix_fmt: str | None, colorspace: int, color_range: int, size: tuple[int, int]) -> YuvFormat | None:
    if pix_fmt not in _YUV420 or size[0] % 2 or size[1] % 2:
        return None
    if colorspace not in _BT601 + (_BT709,):
        return None  # BT.2020 and others: through swscale to RGB
    return YuvFormat("bt709" if colorspace == _BT709 else "bt601", pix_fmt == "yuvj420p" or color_range == 2)


def open_reader(path: StrPath, *, stream_index: int = 0) -> VideoReader:
    """Open the ``stream_index``-th video stream of ``path`` for decoding."""
    return VideoReader(path, stream_index=stream_index)
