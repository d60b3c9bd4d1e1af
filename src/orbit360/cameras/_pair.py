"""One lens per video stream: GoPro Fusion front/back files, Insta360 ``_00_``/``_10_``
pairs and two-track ``.insv`` files.

The two streams are put side by side (front left, back right) into one recorded frame,
so the side-by-side ``StitchPlan`` stitches them unchanged. A pair whose files started
recording at different instants is synchronised: ``offset`` frames of one file are
skipped so that frame ``i`` of both shows the same instant.

Synchronisation (``sync_pair``) measures the offset three ways where it can and reports
each: the ``tmcd`` timecode of both files, the cross-correlation of their audio (both
cameras hear the same sounds), and of their gyro telemetry (one body, one motion).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..profile import RigProfile
from .kinds import Layout
from ._max import _zip_pairs

if TYPE_CHECKING:
    from ..isobmff import Movie
    from ..video import YuvFormat
    from ..stitch import StitchPlan

__all__ = ["PairSync", "PairSource", "PairStreams", "read_pair_streams", "sync_pair", "LAYOUT_PAIR"]

LAYOUT_PAIR = Layout.PAIR


@dataclass(frozen=True)
class PairSync:
    """How the back stream lines up with the front one.

    ``offset_frames`` = d means back frame k shows the instant of front frame k + d (the
    back camera started d frames later). ``estimates`` holds each method's finding
    (frames, possibly fractional); ``method`` the one used.
    """

    offset_frames: int
    method: str
    estimates: dict[str, float] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        found = ", ".join(f"{k} {v:+.2f}" for k, v in self.estimates.items()) or "no clue"
        return f"back is {self.offset_frames:+d} frames from front (by {self.method}; {found})"


@dataclass(frozen=True)
class PairStreams:
    """What the lens files of a pair hold, read once (``read_pair_streams``)."""

    front_chapters: tuple[Path, ...]
    back_chapters: tuple[Path, ...]
    front_stream: int
    back_stream: int
    fps: Fraction
    size: tuple[int, int]
    """One lens' frame size."""
    counts: dict[str, list[int]]
    """Frames per chapter file, by side ("front", "back")."""
    yuv_format: "YuvFormat | None"
    """The 4:2:0 coding when every file has the same one."""


def read_pair_streams(front_chapters: tuple[Path, ...], back_chapters: tuple[Path, ...], front_stream: int = 0, back_stream: int = 0) -> PairStreams:
    """Open each lens file once: frame rate, size and frame counts, checked to be one
    camera's pair (InputError naming the file that is not)."""
    from ..video import open_reader

    counts: dict[str, list[int]] = {"front": [], "back": []}
    size = fps = None
    formats = set()
    for side, files, stream in (("front", front_chapters, front_stream), ("back", back_chapters, back_stream)):
        for f in files:
            with open_reader(f, stream_index=stream) as r:
                formats.add(r.yuv_format)
                if size is None or fps is None:
                    size, fps = r.size, r.fps
                elif r.size != size:
                    raise InputError(f"{side} is {r.size[0]}x{r.size[1]}, front {size[0]}x{size[1]}: not one camera's lens pair", path=f)
                elif abs(r.fps - fps) > fps * Fraction(1, 1000):
                    # one body records both lenses at one rate: frames paired by index
                    # would drift apart (a 25 fps back under a 30 fps front)
                    raise InputError(f"{side} is {float(r.fps):.3f} fps, front {float(fps):.3f} fps: "
                                     "not one camera's lens pair", path=f)
                counts[side].append(r.frame_count)
    assert size is not None and fps is not None
    return PairStreams(front_chapters, back_chapters, front_stream, back_stream, fps, size, counts,
                       formats.pop() if len(formats) == 1 else None)


@dataclass
class PairSource:
    """Two single-lens streams stitched as one side-by-side frame."""

    front: Path
    back: Path
    front_stream: int = 0
    back_stream: int = 0
    camera: str = "unknown"
    layout: str = LAYOUT_PAIR
    sync: PairSync = field(default_factory=lambda: PairSync(0, "none"))
    fov_deg: float = 195.0
    rig_hint: RigProfile | None = None
    front_chapters: tuple[Path, ...] = ()
    """Every chapter of the front lens, ``front`` first (empty: ``front`` alone)."""
    back_chapters: tuple[Path, ...] = ()
    streams: PairStreams | None = field(default=None, repr=False, compare=False)
    """These files' ``read_pair_streams``, when the caller has read them already."""
    paths: tuple[Path, ...] = field(init=False)
    fps: Fraction = field(init=False)
    frame_count: int = field(init=False)
    frame_size: tuple[int, int] = field(init=False)
    telemetry_path: Path | None = field(init=False)
    yuv_format: "YuvFormat | None" = field(init=False)
    """The lenses' 4:2:0 coding when every file has the same one (``yuv420_frames``)."""

    def __post_init__(self) -> None:
        self.front_chapters = tuple(self.front_chapters) or (self.front,)
        self.back_chapters = tuple(self.back_chapters) or (self.back,)
        if self.front == self.back:
            self.paths = self.front_chapters
        else:
            self.paths = self.front_chapters + self.back_chapters
        key = (self.front_chapters, self.back_chapters, self.front_stream, self.back_stream)
        streams = self.streams
        if streams is None:
            streams = self.streams = read_pair_streams(*key)
        elif (streams.front_chapters, streams.back_chapters, streams.front_stream, streams.back_stream) != key:
            raise ValueError("streams were read from other files than this pair's")
        self._counts = streams.counts
        self.fps, size = streams.fps, streams.size
        nf, nb = sum(self._counts["front"]), sum(self._counts["back"])
        d = self.sync.offset_frames
        # Both lenses stop on one button: after the sync offset their lengths differ by a
        # few frames at most. A much shorter lens is another recording (or a cut file),
        # and stitching would silently drop the rest of the longer one.
        spare = abs((nf - max(d, 0)) - (nb - max(-d, 0)))
        if spare > max(3, max(nf, nb) // 100):
            short, long_ = ("back", "front") if nb < nf else ("front", "back")
            raise InputError(f"the {short} lens has {min(nf, nb)} frames, the {long_} {max(nf, nb)}"
                             f"{f' (sync offset {d:+d})' if d else ''}: not one recording's lens pair",
                             path=self.back if short == "back" else self.front)

        self.frame_count = max(0, min(nf - max(d, 0), nb - max(-d, 0)))
        self.frame_size = (2 * size[0], size[1])
        self.yuv_format = streams.yuv_format
        self.telemetry_path = self.front
        self._audio: Path | None = None
        self._audio_done = False
        self._tmp: Path | None = None

    @property
    def audio_path(self) -> Path | None:
        """The audio of the lens whose first frame is output frame 0 (it lines up with the
        output); chapters' audio joined into one file (built on first use)."""
        side = self.back_chapters if self.sync.offset_frames > 0 else self.front_chapters
        if len(side) == 1:
            return side[0]
        if not self._audio_done:
            import tempfile

            from ._chapters import join_audio

            self._audio_done = True
            counts = self._counts["back" if side is self.back_chapters else "front"]
            self._tmp = Path(tempfile.mkdtemp(prefix="orbit360-pair-"))
            self._audio = join_audio(side, [Fraction(n) / self.fps for n in counts], self._tmp / "audio.mp4")
        return self._audio

    @property
    def skips(self) -> tuple[int, int]:
        """Frames skipped at the start of (front, back)."""
        d = self.sync.offset_frames
        return max(d, 0), max(-d, 0)

    def _lens_frames(self, side: str, start: int, stop: int, yuv420: bool = False) -> Iterator[tuple[int, Any]]:
        """(index, frame) of one lens over its chapters, index counted across them (with
        ``yuv420``, the frame's (Y, U, V) planes)."""
        from ..video import open_reader

        files = self.front_chapters if side == "front" else self.back_chapters
        stream = self.front_stream if side == "front" else self.back_stream
        first = 0
        for f, n in zip(files, self._counts[side]):
            lo, hi = max(start, first), min(stop, first + n)
            if lo < hi:
                with open_reader(f, stream_index=stream) as r:
                    for i, frame in r.indexed_frames(lo - first, hi - first, yuv420=yuv420):
                        yield first + i, frame
            first += n

    def _lens_pairs(self, start: int, stop: int | None, yuv420: bool) -> Iterator[tuple[Any, Any]]:
        """(front, back) frames of output frames [start, stop), synchronised."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        sf, sb = self.skips
        a = ((i - sf, f) for i, f in self._lens_frames("front", start + sf, stop + sf, yuv420))
        b = ((i - sb, f) for i, f in self._lens_frames("back", start + sb, stop + sb, yuv420))
        return _zip_pairs(a, b)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        for fa, fb in self._lens_pairs(start, stop, False):
            yield np.concatenate([fa, fb], axis=1)

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[NDArray[np.uint8], ...]]:
        """The side-by-side frames as yuv420p planes (Y, U, V): each plane of the front lens
        beside the same plane of the back lens, no colour conversion."""
        for pa, pb in self._lens_pairs(start, stop, True):
            yield tuple(np.concatenate([x, y], axis=1) for x, y in zip(pa, pb))

    def nominal_rig(self) -> RigProfile:
        if self.rig_hint is not None:
            return self.rig_hint
        from ._optics import known_nominal_rig

        return known_nominal_rig(self.frame_size, self.camera, fov_deg=self.fov_deg)

    def plan(self, width: int, rig: RigProfile | None) -> "StitchPlan":
        from ..stitch import following_plan

        rig = rig or self.nominal_rig()
        rig = rig.scaled_to(self.frame_size, path=self.front)  # same camera at another resolution
        # each lens exposes on its own, frame by frame: followed (``stitch._follow``)
        return following_plan(rig, width, fps=float(self.fps))

    def close(self) -> None:
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


# ---- synchronisation ------------------------------------------------------------------
def _movie(path: Path) -> "Movie | None":
    """The movie of ``path`` for the sync clues (timecode, telemetry), read once; None when
    its moov cannot be read (a file without one offers neither clue)."""
    from ..isobmff import read_movie

    try:
        return read_movie(path)
    except Exception:
        return None


def _timecode(path: Path, movie: "Movie | None") -> tuple[int, int] | None:
    from ._camera_id import read_timecode

    if movie is None:
        return None
    try:
        with open(path, "rb") as f:
            return read_timecode(f, movie)
    except Exception:  # an unreadable timecode track offers no clue
        return None


def _audio_mono(path: Path, seconds: float, rate: int = 8000) -> NDArray[np.float32] | None:
    """The first ``seconds`` of the first audio stream, mixed to mono at ``rate`` Hz."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            if not c.streams.audio:
                return None
            stream = c.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[NDArray[np.float32]] = []
            n = 0
            for frame in c.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    n += arr.size
                if n >= seconds * rate:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except Exception:  # undecodable audio gives no clue
        return None
    if not chunks:
        return None
    return np.concatenate(chunks)[: int(seconds * rate)].astype(np.float32)


def _xcorr_lag(a: NDArray[np.floating], b: NDArray[np.floating], max_lag: int) -> tuple[float, float]:
    """Lag L (samples, sub-sample refined) maximising sum a[n + L] * b[n], and the peak's
    normalised height (0..1)."""
    from scipy.signal import correlate

    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    c = correlate(a, b, mode="full", method="fft")
    lags = np.arange(-(len(b) - 1), len(a))
    keep = np.abs(lags) <= max_lag
    c, lags = c[keep], lags[keep]
    if c.size == 0:
        return 0.0, 0.0
    k = int(np.argmax(c))
    peak = c[k]
    frac = 0.0
    if 0 < k < c.size - 1:
        den = c[k - 1] - 2 * peak + c[k + 1]
        frac = 0.5 * (c[k - 1] - c[k + 1]) / den if den != 0 else 0.0
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b))) or 1.0
    return float(lags[k] + frac), float(peak / norm)


def _gyro(path: Path, movie: "Movie | None") -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    if movie is None:
        return None  # no moov: no telemetry track either
    try:
        from ..telemetry import read_telemetry

        s = read_telemetry(path, movie.tracks).series("GYRO")
        if s is None or len(s.t) < 16:
            return None
        return np.asarray(s.t, np.float64), np.asarray(s.values, np.float64)
    except Exception:  # no or unreadable telemetry gives no clue
        return None


def sync_pair(
    front: Path, back: Path, fps: Fraction, *, max_offset_s: float = 2.0, audio_seconds: float = 20.0,
    movies: Mapping[Path, "Movie"] | None = None,
) -> PairSync:
    """Measure how many frames later the back file started than the front one.

    Audio cross-correlation decides when its peak is clear; then telemetry; then the
    timecode; with none of them the offset is 0. ``movies``: the files' movies the caller
    has read already (by path), so they are not parsed again.
    """
    fps_f = float(fps)
    estimates: dict[str, float] = {}
    confidence: dict[str, float] = {}
    known = movies or {}
    movie_f, movie_b = (known[p] if p in known else _movie(p) for p in (front, back))
    tf, tb = _timecode(front, movie_f), _timecode(back, movie_b)
    if tf is not None and tb is not None and tf[1] and tf[1] == tb[1]:
        # timecode counts frames at the nominal rate (30 for 29.97)
        estimates["timecode"] = (tb[0] - tf[0]) * fps_f / tf[1]
        confidence["timecode"] = 1.0
    rate = 8000
    af, ab = _audio_mono(front, audio_seconds, rate), _audio_mono(back, audio_seconds, rate)
    if af is not None and ab is not None and af.size > rate // 4 and ab.size > rate // 4:
        lag, peak = _xcorr_lag(af, ab, int(max_offset_s * rate))
        # af[n + lag] matches ab[n]: back sample n is front sample n + lag
        estimates["audio"] = lag / rate * fps_f
        confidence["audio"] = peak
    gf, gb = _gyro(front, movie_f), _gyro(back, movie_b)
    if gf is not None and gb is not None:
        step = 1.0 / 200.0
        t_end = min(gf[0][-1], gb[0][-1])
        grid = np.arange(0.0, t_end, step)
        if grid.size > 32:
            mf = np.interp(grid, gf[0], np.linalg.norm(gf[1], axis=1))
            mb = np.interp(grid, gb[0], np.linalg.norm(gb[1], axis=1))
            lag, peak = _xcorr_lag(mf, mb, int(max_offset_s / step))
            estimates["telemetry"] = lag * step * fps_f
            confidence["telemetry"] = peak
    method = "none"
    if confidence.get("audio", 0.0) >= 0.3:
        method = "audio"
    elif confidence.get("telemetry", 0.0) >= 0.5:
        method = "telemetry"
    elif "timecode" in estimates:
        method = "timecode"
    offset = int(round(estimates[method])) if method != "none" else 0
    return PairSync(offset, method, estimates, confidence)
