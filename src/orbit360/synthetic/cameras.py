"""Synthetic recordings in every camera layout, with known ground truth.

No real GoPro Fusion, MAX or Insta360 file ships with the project, so tests (and anyone
checking a change) render a known equirect scene into the layout each camera writes:

- ``write_rig_video``: side-by-side dual fisheye in one track (Insta360 / THETA / Gear 360
  exports), through ``video.VideoWriter``, optionally with a stereo test tone;
- ``write_max_recording``: a ``.360``-like MP4, two HEVC tracks of EAC tiles laid out
  as the MAX lays them out (overlap strips included), optional 4-channel ambisonic audio;
- ``write_fusion_pair``: ``GPFR``/``GPBK`` files, one lens each, the back starting a
  known number of frames later, with timecode and audio that both "hear" one sound;
- ``write_insv``: an ``.insv``-like file (side-by-side track, or one track per lens)
  with an Insta360 trailer (camera type, lens circles, gyro).

Each returns the recording's ``Truth``: ``truth.ground_truth(i, size)`` is the ideal
equirect of output frame ``i``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .._types import StrPath
from ..cameras import ChapterName, MaxLayout, encode_insv_trailer
from ..profile import RigProfile
from ..video import EncodeOptions, VideoWriter
from .audio import noise_audio, tone_audio
from .encode import add_udta, write_streams
from .motion import CameraMotion, static_motion
from .rig import RigRenderer
from .telemetry import attach_gyro
from .truth import Truth, scene_in_directions

__all__ = ["write_rig_video", "write_max_recording", "write_fusion_pair", "write_insv"]


# ---- side by side in one track -----------------------------------------------------------
def write_rig_video(
    path: StrPath,
    rig: RigProfile,
    scene: NDArray[np.uint8],
    *,
    frames: int = 30,
    fps: Fraction | int = 30,
    motion: CameraMotion = static_motion,
    crf: int = 12,
    preset: str = "veryfast",
    codec: str = "h264",
    audio: bool = False,
    gop: int | None = None,
    bframes: int | None = None,
) -> Truth:
    """Render and encode a synthetic dual-fisheye recording (``audio``: with a stereo
    test tone as long as the video); return its ground truth."""
    fps = Fraction(fps)
    renderer = RigRenderer(rig, scene)
    truth = Truth(scene, fps, motion, path=Path(path), rig=rig, frames=frames)
    opts = EncodeOptions(codec=codec, crf=crf, preset=preset, gop=gop, bframes=bframes)
    sound = tone_audio(frames / float(fps)) if audio else None
    with VideoWriter(path, size=rig.frame_size, fps=fps, options=opts, audio=sound) as writer:
        for i in range(frames):
            writer.write(renderer.render(truth.orientation(i)))
    return truth


# ---- GoPro MAX ---------------------------------------------------------------------------
def write_max_recording(
    path: StrPath,
    scene: NDArray[np.uint8],
    *,
    track_size: tuple[int, int] = (1024, 336),
    frames: int = 12,
    fps: Fraction | int = 30,
    motion: CameraMotion | None = None,
    first_frame: int = 0,
    crf: int = 14,
    ambisonic: bool = True,
    firmware: str | None = "H19.03.02.00.00",
) -> Truth:
    """A ``.360``-like file: two HEVC tracks of EAC tiles in the MAX layout."""
    layout = MaxLayout.for_track_size(*track_size)
    if layout is None:
        raise ValueError(f"no GoPro MAX layout for tracks of {track_size}")
    fps = Fraction(fps)
    truth = Truth(scene, fps, motion or static_motion, first_frame, path=Path(path), frames=frames)
    dirs = layout.frame_dirs()
    h = track_size[1]
    top, bottom = [], []
    for i in range(frames):
        frame = scene_in_directions(scene, truth.orientation(i)(dirs))
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
    motion: CameraMotion | None = None,
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
            attach_gyro(p, t, w, first / float(fps), frames / float(fps))
    if firmware:
        add_udta(front, {"FIRM": firmware})
        add_udta(back, {"FIRM": firmware})
    return front, back, Truth(scene, fps, motion, first_frame=max(offset, 0) + f0, rig=rig, frames=frames)


# ---- Insta360 ----------------------------------------------------------------------------
def write_insv(
    path: StrPath,
    scene: NDArray[np.uint8],
    rig: RigProfile,
    *,
    frames: int = 10,
    fps: Fraction | int = 30,
    motion: CameraMotion | None = None,
    camera_type: str = "Insta360 ONE X2",
    two_tracks: bool = False,
    trailer: bool = True,
    gyro_rate: float = 200.0,
) -> Truth:
    """An ``.insv``-like file: the rig's side-by-side frames (or one track per lens) and a
    trailer with camera type, lens circles (from ``rig``) and gyro samples of ``motion``."""
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
    return Truth(scene, fps, motion, path=Path(path), rig=rig, frames=frames)
