"""Encoding camera-like MP4s: several video streams, AAC, a timecode track, maker tags.

A camera writes what ``video.VideoWriter`` (one stream, the stitcher's output) does not:
two tracks of one recording (the MAX's EAC halves, an Insta360 per-lens pair), a ``tmcd``
track, QuickTime or GoPro ``udta`` tags. These write that layout, nothing more.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..isobmff import BoxNode, parse_boxes, rewrite_moov
from ..video import AUDIO_LAYOUTS

__all__ = ["write_streams", "add_udta"]


def write_streams(
    path: StrPath,
    videos: Sequence[Sequence[NDArray[np.uint8]]],
    *,
    fps: Fraction | int = 30,
    codec: str = "h264",
    crf: int = 12,
    audio: NDArray[np.float32] | None = None,
    audio_rate: int = 48000,
    timecode: str | None = None,
    gop: int | None = None,
) -> Path:
    """Encode one or more video streams (lists of RGB frames) and optional audio
    (channels, n) float32 into an MP4 at ``path``. ``timecode`` ("HH:MM:SS:FF") adds a
    ``tmcd`` track; ``gop``: a key frame every ``gop`` frames (default: the encoder's)."""
    fps = Fraction(fps)
    encoder = {"h264": "libx264", "hevc": "libx265"}[codec]
    out = av.open(str(path), "w", format="mp4")
    try:
        streams = []
        for k, frames in enumerate(videos):
            h, w = frames[0].shape[:2]
            s = out.add_stream(encoder, rate=fps)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.time_base = Fraction(1) / fps
            opts = {"crf": str(crf), "preset": "veryfast"}
            s.codec_context.max_b_frames = 0  # tiny clips: no reordering, exact timestamps
            if gop:
                s.codec_context.gop_size = gop
                opts["x264-params" if codec == "h264" else "x265-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0" + (
                    ":log-level=error:bframes=0" if codec == "hevc" else "")
            if codec == "hevc":
                opts["x265-params"] = "log-level=error:bframes=0"
                s.codec_tag = "hvc1"
            s.options = opts
            if timecode and k == 0:
                s.metadata["timecode"] = timecode
            streams.append(s)
        a = None
        if audio is not None:
            layout = AUDIO_LAYOUTS[audio.shape[0]]
            a = out.add_stream("aac", rate=audio_rate, layout=layout)
        for i in range(max(len(v) for v in videos)):
            for s, frames in zip(streams, videos):
                if i < len(frames):
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
                    vf.pts = i
                    for p in s.encode(vf):
                        out.mux(p)
        if a is not None and audio is not None:
            for start in range(0, audio.shape[1], 1024):
                chunk = np.ascontiguousarray(audio[:, start : start + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=a.layout.name)
                af.sample_rate = audio_rate
                af.pts = start
                for p in a.encode(af):
                    out.mux(p)
        for s in streams + ([a] if a is not None else []):
            for p in s.encode(None):
                out.mux(p)
    finally:
        out.close()
    return Path(path)


def _text_box(kind: bytes, text: str) -> bytes:
    raw = text.encode("utf-8")
    if kind[:1] == b"\xa9":
        body = struct.pack(">HH", len(raw), 0x55C4) + raw
    else:
        body = raw + b"\0"
    return struct.pack(">I4s", 8 + len(body), kind) + body


def add_udta(path: StrPath, tags: dict[str, str]) -> None:
    """Add text tags to the movie ``udta`` of ``path`` in place: ``{"FIRM": "H19.03.02.00.00"}``,
    ``{"\\xa9mak": "RICOH", "\\xa9mod": "RICOH THETA V"}``."""
    raw = b"".join(_text_box(k.encode("latin-1"), v) for k, v in tags.items())

    def edit(moov: BoxNode) -> None:
        udta = moov.find(b"udta")
        if udta is None:
            udta = BoxNode(b"udta", b"", [])
            moov.children = (moov.children or []) + [udta]
        udta.children = (udta.children or []) + parse_boxes(raw)

    rewrite_moov(path, path, edit)
