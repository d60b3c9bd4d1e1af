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
- Temporal state: ``memory_frames`` is 0 for a stateless plan (frames in any order, on
  several threads at once) and otherwise about how many frames back ``apply`` remembers
  (a tracked seam, a followed exposure: frames in order, one thread); ``observe(frame)``
  advances that state on a frame without stitching it (a pre-roll before a segment's
  first frame; a no-op for a stateless plan).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ..profile import RigProfile

__all__ = ["FramePlan", "YuvPlan", "YuvFrame", "RgbFrame"]

RgbFrame = NDArray[np.uint8]
"""An (h, w, 3) uint8 RGB picture."""

YuvFrame = Union[NDArray[np.uint8], tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]]
"""A yuv420p picture: one (h * 3 // 2, w) uint8 array in FFmpeg's plane layout, or its
(Y, U, V) planes (views of a decoder's or an encoder's buffers)."""


@runtime_checkable
class YuvPlan(Protocol):
    """A ``FramePlan`` for yuv420p frames (``FramePlan.yuv420``): planes in, planes out,
    no colour conversion; the output keeps the recorded frames' YCbCr matrix."""

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def memory_frames(self) -> int: ...

    def apply(self, frame: YuvFrame, out: YuvFrame | None = None, *, index: int | None = None) -> YuvFrame: ...

    def observe(self, frame: YuvFrame) -> None: ...


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

    def apply(self, frame: RgbFrame, out: RgbFrame | None = None, *, index: int | None = None) -> RgbFrame: ...

    def yuv420(self, *, matrix: str = "bt601", full_range: bool = False) -> YuvPlan: ...

    def observe(self, frame: RgbFrame) -> None: ...
