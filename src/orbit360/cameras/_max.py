"""GoPro MAX ``.360``: two HEVC video tracks that together hold an equi-angular cubemap.

What the tracks hold (facts taken from the open-source converters max2sphere by Paul
Bourke / trek-view, and the ``gopromax_opencl`` FFmpeg filter; no published spec):

- Track 0 (the first video track) holds the top row of the EAC 3x2 layout (left, front,
  right tiles, upright); track 1 (the second video track) the bottom row (down, back, up;
  down and up turned 270°, back 90°). These are exactly the tiles and rotations of
  ``orbit360.geometry.eac`` (checked there against FFmpeg's v360 ``eac``).
- Each track is ``W x H`` with ``W = 2 S + H``: a centre tile ``H`` wide and two side
  tiles ``S`` wide. A side tile is where the two lenses meet (its middle is the stitch
  line), so it stores the strip around its middle twice: the tile's left part is drawn at
  ``x = u * (S - o)`` for ``x < S / 2`` and its right part at ``x = u * (S - o) + o`` for
  ``x >= S / 2``, ``u`` in [0, 1] being the EAC tile coordinate and ``o`` the overlap.
  Directions seen in both copies are blended linearly across the band (as max2sphere).
- Known sizes: 5.6K tracks 4096x1344 (S = 1376, o = 64); 3K tracks 2272x736 (S = 768,
  o = 32). Other sizes of the same shape are treated as those layouts scaled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..geometry.eac import dirs_to_eac_tiles, eac_tiles_to_dirs
from ..profile import RigProfile
from .kinds import Layout
from ._plan import RemapPlan

if TYPE_CHECKING:
    from ..video import YuvFormat

__all__ = ["MaxLayout", "MaxSource", "LAYOUT_MAX_EAC"]

LAYOUT_MAX_EAC = Layout.MAX_EAC

# (track width, height, side tile width, overlap) as recorded by the camera
_TEMPLATES = ((4096, 1344, 1376, 64), (2272, 736, 768, 32))


@dataclass(frozen=True)
class MaxLayout:
    """Where the EAC tiles lie in the two tracks of a GoPro MAX ``.360``.

    :param track_size: (W, H) of each track.
    :param side: width of a side tile in pixels, overlap strip included.
    :param overlap: width of the strip stored twice in each side tile.
    """

    track_size: tuple[int, int]
    side: int
    overlap: int

    @classmethod
    def for_track_size(cls, width: int, height: int) -> "MaxLayout | None":
        """The layout of tracks of this size, or None when no known layout fits."""
        w, h = int(width), int(height)
        if h <= 0 or (w - h) % 2 or w <= 3 * h:
            return None
        for tw, th, ts, to in _TEMPLATES:
            if (w, h) == (tw, th):
                return cls((w, h), ts, to)
        for tw, th, ts, to in _TEMPLATES:
            scale = h / th
            if abs(w - tw * scale) <= 1.0 and abs((w - h) / 2 - ts * scale) <= 1.0:
                return cls((w, h), (w - h) // 2, max(2, int(round(to * scale))))
        return None

    @property
    def frame_size(self) -> tuple[int, int]:
        """The recorded frame RigSource yields: track 0 above track 1."""
        return (self.track_size[0], 2 * self.track_size[1])

    @property
    def face_scale(self) -> int:
        """Pixels per tile width in a side tile (S - o)."""
        return self.side - self.overlap

    # ---- directions -> recorded frame ---------------------------------------------------
    def source_map(self, dirs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Positions (x, y) in the stacked frame of directions (N, 3), plus the second
        copy's positions and its blend weight (0 outside the overlap bands)."""
        w, h = self.track_size
        tile, u, v = dirs_to_eac_tiles(dirs)
        tile = tile.astype(np.int64)
        col, row = tile % 3, tile // 3
        y = row * h + v * h
        fs, o, s = float(self.face_scale), float(self.overlap), float(self.side)
        x_left = u * fs
        x_right = u * fs + o
        x0 = np.where(col == 2, s + h, 0.0)
        side = col != 1
        # first copy: the left part where it exists, else the right part
        use_left = x_left < s / 2.0
        xa = np.where(side, x0 + np.where(use_left, x_left, x_right), s + u * h)
        # second copy and its weight inside the band where both parts hold the direction
        alpha = np.clip((x_left - (s / 2.0 - o)) / o, 0.0, 1.0)
        in_band = side & use_left & (x_left > s / 2.0 - o)
        weight = np.where(in_band, alpha, 0.0)
        xb = np.where(in_band, x0 + x_right, xa)
        # keep samples inside their own copy (bilinear taps must not cross the boundary)
        half = s / 2.0
        xa = np.where(side & use_left, x0 + np.minimum(x_left, half - 0.5), xa)
        xb = np.where(in_band, x0 + np.maximum(x_right, half + 0.5), xb)
        ya = np.clip(y, row * h + 0.5, row * h + h - 0.5)
        return np.stack([xa, ya], -1), np.stack([xb, ya], -1), weight

    # ---- recorded frame -> directions (for synthetic recordings) -----------------------
    def frame_dirs(self) -> NDArray[np.float64]:
        """Directions (2H, W, 3) of every pixel centre of the stacked frame."""
        w, h = self.track_size
        xs = np.arange(w) + 0.5
        ys = np.arange(2 * h) + 0.5
        gx, gy = np.meshgrid(xs, ys)
        row = (gy >= h).astype(np.int64)
        s, fs, o = float(self.side), float(self.face_scale), float(self.overlap)
        col = np.where(gx < s, 0, np.where(gx < s + h, 1, 2))
        local = np.where(col == 2, gx - s - h, gx)
        u_side = np.where(local < s / 2.0, local / fs, (local - o) / fs)
        u = np.where(col == 1, (gx - s) / h, u_side)
        v = (gy - row * h) / h
        return eac_tiles_to_dirs(row * 3 + col, u, v)

    def half(self) -> "MaxLayout | None":
        """The layout of a frame of half the size (where 4:2:0 chroma lies), when every
        length halves exactly (the known layouts do), else None."""
        w, h = self.track_size
        if any(v % 2 for v in (w, h, self.side, self.overlap)):
            return None
        return MaxLayout((w // 2, h // 2), self.side // 2, self.overlap // 2)

    def plan(self, width: int) -> RemapPlan:
        half = self.half()
        return RemapPlan.build(self.source_map, self.frame_size, width, chroma_map=None if half is None else half.source_map)


@dataclass
class MaxSource:
    """A GoPro MAX ``.360`` (or any file with two video tracks in that layout)."""

    path: Path
    camera: str = "GoPro MAX"
    layout: str = LAYOUT_MAX_EAC
    paths: tuple[Path, ...] = field(init=False)
    fps: Fraction = field(init=False)
    frame_count: int = field(init=False)
    frame_size: tuple[int, int] = field(init=False)
    audio_path: Path | None = field(init=False)
    telemetry_path: Path | None = field(init=False)
    max_layout: MaxLayout = field(init=False)
    yuv_format: "YuvFormat | None" = field(init=False)
    """Both tracks' 4:2:0 coding when they share one (``yuv420_frames``)."""

    def __post_init__(self) -> None:
        from ..video import open_reader

        self.paths = (self.path,)
        with open_reader(self.path, stream_index=0) as r0, open_reader(self.path, stream_index=1) as r1:
            if r0.size != r1.size:
                raise InputError(f"the two video tracks differ in size ({r0.size} vs {r1.size}): not a GoPro .360", path=self.path)
            layout = MaxLayout.for_track_size(*r0.size)
            if layout is None:
                raise InputError(f"video tracks of {r0.size[0]}x{r0.size[1]} do not match a GoPro MAX EAC layout", path=self.path)
            self.max_layout = layout
            self.yuv_format = r0.yuv_format if r0.yuv_format == r1.yuv_format and layout.half() is not None else None
            self.fps = r0.fps
            self.frame_count = min(r0.frame_count, r1.frame_count)
        self.frame_size = layout.frame_size
        self.audio_path = self.path
        self.telemetry_path = self.path

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[NDArray[np.uint8]]:
        for a, b in self._track_pairs(start, stop, yuv420=False):
            yield np.concatenate([a, b], axis=0)

    def yuv420_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[NDArray[np.uint8], ...]]:
        """The stacked frames as yuv420p planes (Y, U, V): each plane of track 0 above
        the same plane of track 1, no colour conversion."""
        for a, b in self._track_pairs(start, stop, yuv420=True):
            yield tuple(np.concatenate([x, y], axis=0) for x, y in zip(a, b))

    def _track_pairs(self, start: int, stop: int | None, *, yuv420: bool) -> Iterator[tuple[Any, Any]]:
        """(track 0, track 1) frames [start, stop), RGB or (with ``yuv420``) planes."""
        from ..video import open_reader

        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        with open_reader(self.path, stream_index=0) as r0, open_reader(self.path, stream_index=1) as r1:
            yield from _zip_pairs(r0.indexed_frames(start, stop, yuv420=yuv420), r1.indexed_frames(start, stop, yuv420=yuv420))

    def nominal_rig(self) -> RigProfile | None:
        return None

    def plan(self, width: int, rig: RigProfile | None) -> RemapPlan:
        if rig is not None:
            raise InputError("a lens profile does not apply to GoPro MAX .360 footage (already a cube map)", path=self.path)
        return self.max_layout.plan(width)

    def close(self) -> None:
        pass


def _zip_pairs(a: Iterator[tuple[int, Any]], b: Iterator[tuple[int, Any]]) -> Iterator[tuple[Any, Any]]:
    """Pair frames of two indexed streams by index (a frame missing from either is skipped)."""
    ib = iter(b)
    pending: tuple[int, Any] | None = None
    for ia, fa in a:
        while pending is None or pending[0] < ia:
            nxt = next(ib, None)
            if nxt is None:
                return
            pending = nxt
        if pending[0] == ia:
            yield fa, pending[1]
