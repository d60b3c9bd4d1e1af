"""What a salvage job gets: camera-like recordings, and recordings as a failure leaves them.

- ``write_camera_like_recording``: an MP4 with a camera's stream pattern (fixed I/P/B GOP,
  AAC 48 kHz, one or two video tracks), the salvage tests' and benchmarks' healthy input;
- ``simulate_power_loss``: a copy cut as a camera that lost power leaves it (no ``moov``,
  the media data cut mid-sample);
- ``gopro_without_index``: a GoPro recording rewritten without its SOS records and
  ``fdsc`` track (a camera with no index of its own).
"""

from __future__ import annotations

import dataclasses
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .._types import StrPath
from ..isobmff import MdatSource, iter_boxes, read_movie, write_movie

__all__ = ["write_camera_like_recording", "simulate_power_loss", "gopro_without_index"]


def write_camera_like_recording(
    path: StrPath, *, seed: int, codec: str = "libx264", video_tracks: int = 1, seconds: float = 2.0,
    size: tuple[int, int] = (160, 96), audio_layout: str = "stereo",
) -> Path:
    """A camera-like MP4 for salvage tests and benchmarks: fixed I/P/B pattern (GOP 12,
    2 B-frames), AAC 48 kHz (stereo, or "quad": 4 channels, as a 360 camera's spatial audio)."""
    fps = 25
    width, height = size
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        streams = []
        for _ in range(video_tracks):
            s = c.add_stream(codec, rate=fps)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            if codec == "libx264":
                s.options = {"bframes": "2", "b-pyramid": "none", "g": "12", "keyint_min": "12", "sc_threshold": "0", "b-adapt": "0"}
            else:
                s.options = {"x265-params": "bframes=2:keyint=12:min-keyint=12:scenecut=0:b-adapt=0:log-level=none"}
            streams.append(s)
        audio = c.add_stream("aac", rate=48000)
        audio.layout = audio_layout
        channels = audio.layout.nb_channels
        x = np.linspace(0, 1, width)
        for i in range(int(seconds * fps)):
            noise = rng.normal(0, 20, (height, width))
            base = (np.sin(x[None, :] * 10 + i * 0.3 + seed) * 100 + 120 + noise).clip(0, 255)
            img = np.stack([base, base[::-1], np.roll(base, i, 1)], -1).astype(np.uint8)
            for k, s in enumerate(streams):
                frame = av.VideoFrame.from_ndarray(np.roll(img, height // 2 * k, 0), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for p in s.encode(frame):
                    c.mux(p)
        for s in streams:
            for p in s.encode():
                c.mux(p)
        n = int(seconds * 48000)
        wave = (np.sin(np.arange(n) / 48000 * 2 * np.pi * (440 + 50 * seed)) * 0.3 + rng.normal(0, 0.05, n)).astype(np.float32)
        for k in range(0, n - 1023, 1024):
            tracks = [np.roll(wave, 100 * c)[k : k + 1024] for c in range(channels)]
            frame = av.AudioFrame.from_ndarray(np.stack(tracks), format="fltp", layout=audio_layout)
            frame.sample_rate, frame.pts = 48000, k
            for p in audio.encode(frame):
                c.mux(p)
        for p in audio.encode():
            c.mux(p)
    return Path(path)


def simulate_power_loss(src: StrPath, dst: StrPath, *, keep_fraction: float = 0.8, mdat_size: str = "as-written") -> int:
    """Copy ``src`` as a camera that lost power would have left it; return the bytes kept.

    The ``moov`` is dropped and the media data cut after ``keep_fraction`` of its
    payload (mid-sample, as a flash page boundary falls). ``mdat_size`` is "as-written"
    (the header claims more than the file holds) or "zero" (never updated). Streams in
    blocks; the source is only read.
    """
    size = Path(src).stat().st_size
    with open(src, "rb") as f, open(dst, "wb") as out:
        boxes = [b for b in iter_boxes(f, 0, size) if b.type != b"moov"]
        mdat = next(b for b in boxes if b.type == b"mdat")
        for b in boxes:
            if b.offset > mdat.offset:
                break
            f.seek(b.offset)
            if b is mdat:
                header = bytearray(f.read(b.header_size))
                if mdat_size == "zero":
                    header[0:4] = struct.pack(">I", 0) if b.header_size == 8 else struct.pack(">I", 1)
                    if b.header_size == 16:
                        header[8:16] = struct.pack(">Q", 0)
                out.write(header)
                remaining = int(b.payload_size * keep_fraction)
            else:
                remaining = b.size
            while remaining > 0:
                chunk = f.read(min(remaining, 16 << 20))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
        return out.tell()


def gopro_without_index(src: StrPath, folder: StrPath, telemetry: bytes | None = None) -> Path:
    """The GoPro recording ``src`` rewritten into ``folder`` without its SOS records and fdsc
    track: a camera that interleaves video, AAC, a timecode sample and GPMF telemetry with
    no index of its own (on the HERO7 sample two telemetry samples sit back to back near
    the start). ``telemetry`` replaces every gpmd sample's payload (e.g. one with two devices)."""
    src, folder = Path(src), Path(folder)
    movie, data = read_movie(src), src.read_bytes()
    tracks = [t for t in movie.tracks if t.codec != b"fdsc"]
    spans = sorted((int(o), int(s), k, i) for k, t in enumerate(tracks) for i, (o, s) in enumerate(zip(t.offsets, t.sizes)))
    payload, moved, sizes = bytearray(), {}, {}
    for o, s, k, i in spans:
        sample = telemetry if telemetry is not None and tracks[k].codec == b"gpmd" else data[o : o + s]
        moved[(k, i)], sizes[(k, i)] = len(payload), len(sample)
        payload += sample
    raw = folder / "payload.bin"
    raw.write_bytes(bytes(payload))
    rebuilt = [
        dataclasses.replace(
            t,
            offsets=np.array([moved[(k, i)] for i in range(t.sample_count)], np.uint64),
            sizes=np.array([sizes[(k, i)] for i in range(t.sample_count)], np.uint32),
        )
        for k, t in enumerate(tracks)
    ]
    out = folder / "GH010001.MP4"
    write_movie(out, ftyp=data[:20], source=MdatSource(raw, 0, len(payload)), tracks=rebuilt, movie_timescale=movie.timescale)
    return out
