"""FramePlan: what the pipeline asks of anything that turns recorded frames into equirect.

Three kinds implement it: ``StitchPlan`` (a dual-fisheye rig, lens model and blend),
``cameras.RemapPlan`` (a layout that is already a sphere, EAC tiles: one remap) and the
pipeline's rotating wrapper (``pipeline._orient.OrientedPlan``: any plan, then a rotation
per frame). Each has a form for decoded yuv420p planes (``yuv420``), a ``YuvPlan``.

- ``apply(frame, out=None, *, index=None)``: the equirect of one recorded frame, written
  into ``out`` when given (a buffer the encoder is done with: no allocation per frame).
  ``index`` is the frame's number in the recording; a plan that changes along the
  recording (a rotation per frame) needs it, the others ignore it.
- ``size`` (the output's width, height) and ``rig`` (the rig profile it stitches, None
  for a layout that needs none).
- ``stitches_yuv420``: whether ``yuv420(matrix=..., full_range=...)`` can give this
  plan's ``YuvPlan`` (a width that is a multiple of 4, a layout whose chroma halves).
- Temporal state (a followed exposure, a tracked seam): ``observe(frame)`` advances it on
  the frames in order (the decoding thread) and returns the frame with what its stitch
  takes from it (an ``Observed``; the frame itself for a stateless plan); ``apply`` of an
  observed frame touches no state, so observed frames may be stitched in any order, on
  several threads at once. ``memory_frames`` is how many frames before a frame its stitch
  depends on (0: stateless): a stitch that starts at frame k, after ``reset()`` and
  observing frames k - memory_frames .. k - 1, matches one that started at frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ..profile import RigProfile

__all__ = ["FramePlan", "YuvPlan", "YuvFrame", "RgbFrame", "Observed"]

RgbFrame = NDArray[np.uint8]
"""An (h, w, 3) uint8 RGB picture."""

YuvFrame = Union[NDArray[np.uint8], tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]]
"""A yuv420p picture: one (h * 3 // 2, w) uint8 array in FFmpeg's plane layout, or its
(Y, U, V) planes (views of a decoder's or an encoder's buffers)."""


@dataclass(frozen=True)
class Observed:
    """A recorded frame (RGB, or yuv420p as ``YuvStitch`` takes it) with what its stitch
    takes from the frames before it (``StitchPlan.observe``): the per-frame exposure
    factors (lens 0, lens 1) and the tracked seam, None where the plan has neither."""

    frame: RgbFrame | YuvFrame
    factors: tuple[float, float] | None = None
    seam: NDArray[np.float32] | None = None
    compensated: RgbFrame | YuvFrame | None = None
    """The frame compensated with ``factors`` (RGB, or the (Y, U, V) planes), when
    observing made it (a tracked seam is found on it); None: ``apply`` compensates."""


@runtime_checkable
class YuvPlan(Protocol):
    """A ``FramePlan`` for yuv420p frames (``FramePlan.yuv420``): planes in, planes out,
    no colour conversion; the output keeps the recorded frames' YCbCr matrix."""

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def memory_frames(self) -> int: ...

    def apply(self, frame: YuvFrame | Observed, out: YuvFrame | None = None, *, index: int | None = None) -> YuvFrame: ...

    def observe(self, frame: YuvFrame) -> YuvFrame | Observed: ...


@runtime_checkable
class FramePlan(Protocol):
    """Turns one recorded RGB frame into an equirect frame; see the module docstring."""

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def rig(self) -> RigProfile | None: ...

    @property
    def memory_frames(self) -> int: ...

    @property
    def stitches_yuv420(self) -> bool: ...

    def apply(self, frame: RgbFrame | Observed, out: RgbFrame | None = None, *, index: int | None = None) -> RgbFrame: ...

    def yuv420(self, *, matrix: str = "bt601", full_range: bool = False) -> YuvPlan: ...

    def observe(self, frame: RgbFrame) -> RgbFrame | Observed: ...

    def reset(self) -> None:
        """Forget the temporal state (a cut; the start of a stitch); the YUV plan shares it."""
