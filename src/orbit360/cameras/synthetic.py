"""Synthetic recordings in every camera layout, with known ground truth.

No real GoPro Fusion, MAX or Insta360 file ships with the project, so tests (and anyone
checking a change) render a known equirect scene into the layout each camera writes:

- ``write_max_recording``: a ``.360``-like MP4, two HEVC tracks of EAC tiles laid out
  as the MAX lays them out (overlap strips included), optional 4-channel ambisonic audio;
- ``write_fusion_pair``: ``GPFR``/``GPBK`` files, one lens each, the back starting a
  known number of frames later, with timecode and audio that both "hear" one sound;
- ``write_insv``: an ``.insv``-like file (side-by-side track, or one track per lens)
  with an Insta360 trailer (camera type, lens circles, gyro);
- ``add_udta``: maker/model tags (GoPro ``FIRM``, QuickTime ``©mak``/``©mod``).

Frames come from ``orbit360.synthetic`` (the scene, the rig renderer, camera motions);
``Truth.ground_truth(i, size)`` is the ideal equirect of output frame ``i``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..geometry import Rotation, dirs_to_equirect, equirect_grid_dirs
from ..profile import RigProfile
from ._insta360 import encode_insv_trailer
from ._max import MaxLayout

__all__ = [
    "Truth", "write_streams", "add_udta", "write_max_recording", "write_fusion_pair", "write_insv", "noise_audio",
    "write_camera_like_recording", "gopro_without_index",
]

Motion = Callable[[float], Rotation]


@dataclass
class Truth:
    """The scene and motion a synthetic recording was rendered from.

    Frame ``i`` of the recording (after any synchronisation) shows time
    ``(i + first_frame) / fps``.
    """

    scene: NDArray[np.uint8]
    fps: Fraction
    motion: Motion
    first_frame: int = 0

    def orientation(self, index: int) -> Rotation:
        return self.motion((index + self.first_frame) / float(self.fps))

    def ground_truth(self, index: int, size: tuple[int, int]) -> NDArray[np.uint8]:
        dirs = self.orientation(index)(equirect_grid_dirs(size))
        return _sample(self.scene, dirs)


def _sample(scene: NDArray[np.uint8], dirs: NDArray[np.float64]) -> NDArray[np.uint8]:
    sh, sw = scene.shape[:2]
    xy = dirs_to_equirect(dirs, (sw, sh)).astype(np.float32) - 0.5
    return cv2.remap(scene, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def noise_audio(seconds: float, *, rate: int = 48000, channels: int = 2, seed: int = 0) -> NDArray[np.float32]:
    """(channels, n) band-limited noise with loud bursts: a sound two microphones share."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    base = rng.standard_normal(n + 64)
    base = np.convolve(base, np.hanning(32) / 16.0, mode="same")[:n]
    env = 0.3 + (rng.random(max(1, n // 2400 + 1)) > 0.7).repeat(2400)[:n]
    mono = (0.25 * base * env).astype(np.float32)
    return np.stack([mono * (1.0 - 0.1 * c) for c in range(channels)])


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
    import av

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
            layout = {1: "mono", 2: "stereo", 4: "4.0"}[audio.shape[0]]
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
    from ..isobmff import BoxNode, parse_boxes, rewrite_moov

    raw = b"".join(_text_box(k.encode("latin-1"), v) for k, v in tags.items())

    def edit(moov: BoxNode) -> None:
        udta = moov.find(b"udta")
        if udta is None:
            udta = BoxNode(b"udta", b"", [])
            moov.children = (moov.children or []) + [udta]
        udta.children = (udta.children or []) + parse_boxes(raw)

    rewrite_moov(path, path, edit)


# ---- GoPro MAX ---------------------------------------------------------------------------
def write_max_recording(
    path: StrPath,
    scene: NDArray[np.uint8],
    *,
    track_size: tuple[int, int] = (1024, 336),
    frames: int = 12,
    fps: Fraction | int = 30,
    motion: Motion | None = None,
    first_frame: int = 0,
    crf: int = 14,
    ambisonic: bool = True,
    firmware: str | None = "H19.03.02.00.00",
) -> Truth:
    """A ``.360``-like file: two HEVC tracks of EAC tiles in the MAX layout."""
    from ..synthetic import static_motion

    layout = MaxLayout.for_track_size(*track_size)
    if layout is None:
        raise ValueError(f"no GoPro MAX layout for tracks of {track_size}")
    fps = Fraction(fps)
    truth = Truth(scene, fps, motion or static_motion, first_frame)
    dirs = layout.frame_dirs()
    h = track_size[1]
    top, bottom = [], []
    for i in range(frames):
        frame = _sample(scene, truth.orientation(i)(dirs))
        top.append(frame[:h])
        bottom.append(frame[h:])
    audio = noise_audio(frames / float(fps), channels=4) if ambisonic else None
    write_streams(path, [top, bottom], fps=fps, codec="hevc", crf=crf, audio=audio)
    if firmware:
        add_udta(path, {"FIRM": firmware})
    return truth


# ---- GoPro Fusion ------------------------------------------------------------------------
def write_fusion_pair(
    folder: StrPath,
    scene: NDArray[np.uint8],
    rig: RigProfile,
    *,
    number: str = "0042",
    frames: int = 16,
    offset: int = 3,
    fps: Fraction | int = 30,
    motion: Motion | None = None,
    timecode: bool = True,
    audio: bool = True,
    gyro: bool = False,
    chapters: int = 1,
    firmware: str | None = "FS1.04.01.80.00",
) -> tuple[Path, Path, Truth]:
    """``GPFR<number>.MP4`` and ``GPBK<number>.MP4``: one lens each, the back file
    starting ``offset`` frames after the front one (both ``frames`` long), split into
    ``chapters`` files per lens (``GF01<number>.MP4``, ... after the first).

    Returns (front, back, truth) where truth's frame i is the instant of front frame
    ``i + offset`` (output frame i of the synchronised pair when offset >= 0).
    """
    from ..synthetic import RigRenderer, static_motion

    folder = Path(folder)
    fps = Fraction(fps)
    motion = motion or static_motion
    renderer = RigRenderer(rig, scene)
    w = rig.frame_size[0] // 2
    total = frames + abs(offset)
    rendered = [renderer.render(motion(i / float(fps))) for i in range(total)]
    f0, b0 = max(-offset, 0), max(offset, 0)
    front_frames = [r[:, :w] for r in rendered[f0 : f0 + frames]]
    back_frames = [r[:, w:] for r in rendered[b0 : b0 + frames]]
    sound = noise_audio(total / float(fps) + 0.2, channels=2, seed=11)
    per_frame = 48000 / float(fps)
    noise = np.random.default_rng(5).standard_normal((2, sound.shape[1])).astype(np.float32) * 0.02
    fa = sound[:, int(round(f0 * per_frame)) : int(round((f0 + frames) * per_frame))]
    ba = (sound + noise)[:, int(round(b0 * per_frame)) : int(round((b0 + frames) * per_frame))]
    base = 10 * int(fps.__ceil__())  # timecode 00:00:10:00 on the front card

    def tc(frame: int) -> str:
        n = int(fps.__ceil__())
        s, ff = divmod(frame, n)
        return f"00:{s // 60:02d}:{s % 60:02d}:{ff:02d}"

    from ._naming import ChapterName

    cuts = [round(k * frames / chapters) for k in range(chapters + 1)]
    for k in range(chapters):
        lo, hi = cuts[k], cuts[k + 1]
        a0, a1 = int(round(lo * per_frame)), int(round(hi * per_frame))
        for series, seq, sound_k, first in (("GF", front_frames, fa, f0), ("GB", back_frames, ba, b0)):
            name = folder / ChapterName(series, k + 1, number).filename(".MP4")
            write_streams(name, [seq[lo:hi]], fps=fps, audio=sound_k[:, a0:a1] if audio else None,
                          timecode=tc(base + first + lo) if timecode else None)
    front = folder / f"GPFR{number}.MP4"
    back = folder / f"GPBK{number}.MP4"
    if gyro:
        # one shaky body: both cards' GYRO streams sample the same angular velocity
        rate = 200.0
        t = np.arange(0.0, total / float(fps) + 0.5, 1.0 / rate)
        rng = np.random.default_rng(17)
        w = np.stack([np.convolve(rng.standard_normal(t.size), np.hanning(9) / 4.5, mode="same") for _ in range(3)], -1)
        for p, first in ((front, f0), (back, b0)):
            _attach_gyro(p, t, w, first / float(fps), frames / float(fps))
    if firmware:
        add_udta(front, {"FIRM": firmware})
        add_udta(back, {"FIRM": firmware})
    return front, back, Truth(scene, fps, motion, first_frame=max(offset, 0) + f0)


def _attach_gyro(path: Path, t: NDArray[np.float64], w: NDArray[np.float64], start: float, seconds: float) -> None:
    """Add a gpmd track to ``path`` holding GYRO (rad/s) of ``w`` over [start, start + seconds)."""
    from ..telemetry import GpmdSample, attach_gpmd, encode_device, encode_stream, gpmd_track_from_samples

    keep = (t >= start) & (t < start + seconds)
    values = w[keep]
    payload = encode_device(1, "Fusion", [encode_stream("GYRO", values, type_char="s", scale=1000.0, units="rad/s")])
    tmp = path.with_name(path.stem + ".gyro" + path.suffix)
    attach_gpmd(path, gpmd_track_from_samples([GpmdSample(payload, 0.0, seconds, 0, int(round(seconds * 1000)))]), tmp)
    tmp.replace(path)


# ---- Insta360 ----------------------------------------------------------------------------
def write_insv(
    path: StrPath,
    scene: NDArray[np.uint8],
    rig: RigProfile,
    *,
    frames: int = 10,
    fps: Fraction | int = 30,
    motion: Motion | None = None,
    camera_type: str = "Insta360 ONE X2",
    two_tracks: bool = False,
    trailer: bool = True,
    gyro_rate: float = 200.0,
) -> Truth:
    """An ``.insv``-like file: the rig's side-by-side frames (or one track per lens) and a
    trailer with camera type, lens circles (from ``rig``) and gyro samples of ``motion``."""
    from ..synthetic import RigRenderer, static_motion

    fps = Fraction(fps)
    motion = motion or static_motion
    renderer = RigRenderer(rig, scene)
    rendered = [renderer.render(motion(i / float(fps))) for i in range(frames)]
    w = rig.frame_size[0] // 2
    videos = [[r[:, :w] for r in rendered], [r[:, w:] for r in rendered]] if two_tracks else [rendered]
    write_streams(path, videos, fps=fps, audio=noise_audio(frames / float(fps), channels=2))
    if trailer:
        t = np.arange(0.0, frames / float(fps), 1.0 / gyro_rate)
        gyro = np.zeros((t.size, 7))
        gyro[:, 0] = t
        gyro[:, 3] = 1.0  # 1 g along z at rest
        circles = [(l.center[0], l.center[1], l.radius) for l in rig.lenses]
        with open(path, "ab") as f:
            f.write(encode_insv_trailer(camera_type=camera_type, lenses=circles, frame_size=rig.frame_size, frame_rate=int(fps), gyro=gyro))
    return Truth(scene, fps, motion)


# ---- recordings for salvage: a camera-like stream pattern, and a GoPro file without its index
def write_camera_like_recording(
    path: StrPath, *, seed: int, codec: str = "libx264", video_tracks: int = 1, seconds: float = 2.0,
    size: tuple[int, int] = (160, 96), audio_layout: str = "stereo",
) -> Path:
    """A camera-like MP4 for salvage tests and benchmarks: fixed I/P/B pattern (GOP 12,
    2 B-frames), AAC 48 kHz (stereo, or "quad": 4 channels, as a 360 camera's spatial audio)."""
    import av

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


def gopro_without_index(src: StrPath, folder: StrPath, telemetry: bytes | None = None) -> Path:
    """The GoPro recording ``src`` rewritten into ``folder`` without its SOS records and fdsc
    track: a camera that interleaves video, AAC, a timecode sample and GPMF telemetry with
    no index of its own (on the HERO7 sample two telemetry samples sit back to back near
    the start). ``telemetry`` replaces every gpmd sample's payload (e.g. one with two devices)."""
    import dataclasses

    from ..isobmff import MdatSource, read_movie, write_movie

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
