"""The rig a job stitches with when none is given: self-calibrated once from the footage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import CalibrationError
from ..profile import RigProfile

__all__ = ["calibrate_source", "CALIBRATION_FRAMES"]

CALIBRATION_FRAMES = 12
"""Frames, spread evenly over the recording, that self-calibration looks at."""


def _spread_frames(source: Any, count: int) -> Iterator[NDArray[np.uint8]]:
    n = int(source.frame_count)
    for i in sorted({int(round(x)) for x in np.linspace(0, max(n - 1, 0), min(count, max(n, 1)))}):
        it = source.frames(i, i + 1)
        try:
            frame = next(iter(it), None)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        if frame is not None:
            yield frame


def calibrate_source(source: Any, *, warn: Callable[[str], None] | None = None) -> tuple[RigProfile | None, str]:
    """(rig, how) for ``source``: self-calibrated ("calibrated"), or the nominal rig
    ("nominal") when calibration cannot reach an estimate (``warn`` is told why)."""
    from ..stitch import calibrate_rig

    nominal = source.nominal_rig()
    if nominal is None:  # e.g. EAC: already a sphere, nothing to calibrate
        return None, "none"
    try:
        result = calibrate_rig(
            _spread_frames(source, CALIBRATION_FRAMES), source.frame_size, nominal=nominal, max_frames=CALIBRATION_FRAMES
        )
    except CalibrationError as exc:
        if warn is not None:
            warn(f"self-calibration failed ({exc.message}); stitching with the nominal rig")
        return nominal, "nominal"
    return result.rig, "calibrated"
