"""The rig a job stitches with when none is given: self-calibrated once from the footage.

Never a mostly empty picture: a calibrated rig is checked for how much of the sphere its
lenses see inside the recorded frame; when calibration fails, or its rig leaves too much
unseen, the camera's nominal rig is used (and the reason printed); when even that leaves
more than ``MAX_UNSEEN`` of the sphere unseen, the job stops with an error naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import numpy as np
from numpy.typing import NDArray

from ..geometry import fibonacci_dirs
from ..errors import CalibrationError, InputError
from ..cameras import RigSource
from ..profile import RigProfile

__all__ = ["calibrate_source", "checked_nominal", "unseen_fraction", "CALIBRATION_FRAMES", "MAX_UNSEEN"]

CALIBRATION_FRAMES = 12
"""Frames, spread evenly over the recording, that self-calibration looks at."""

MAX_UNSEEN = 0.05
"""The largest fraction of the sphere a rig may leave unseen (black in the output)."""


def _spread_frames(source: RigSource, count: int) -> Iterator[NDArray[np.uint8]]:
    n = int(source.frame_count)
    for i in sorted({int(round(x)) for x in np.linspace(0, max(n - 1, 0), min(count, max(n, 1)))}):
        it = source.frames(i, i + 1)
        try:
            frame = next(iter(it), None)
        finally:
            if isinstance(it, Generator):
                it.close()
        if frame is not None:
            yield frame


def unseen_fraction(rig: RigProfile, samples: int = 20000) -> float:
    """The fraction of the sphere that no lens of ``rig`` sees inside the recorded frame
    (inside its image circle, inside the frame, and on its own half of a side-by-side
    frame: a position in the other lens's half reads the other lens's picture)."""
    from ..stitch import lens_project

    dirs = fibonacci_dirs(samples)
    w, h = rig.frame_size
    seen = np.zeros(samples, bool)
    for lens in rig.lenses:
        xy, valid, _ = lens_project(lens, dirs)
        x0, x1 = (0.0, w / 2.0) if lens.center[0] < w / 2.0 else (w / 2.0, float(w))
        seen |= valid & (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h)
    return float(1.0 - seen.mean())


def checked_nominal(source: RigSource, nominal: RigProfile) -> RigProfile:
    """``nominal``, or InputError naming the file when it leaves too much of the sphere unseen."""
    unseen = unseen_fraction(nominal)
    if unseen > MAX_UNSEEN:
        w, h = nominal.frame_size
        raise InputError(
            f"cannot stitch: calibration failed and the nominal {source.layout} rig for {w}x{h} frames leaves "
            f"{unseen:.0%} of the sphere unseen (give a rig with --lens)",
            path=source.paths[0],
        )
    return nominal


def calibrate_source(source: RigSource, *, warn: Callable[[str], None] | None = None) -> tuple[RigProfile | None, str]:
    """(rig, how) for ``source``: self-calibrated ("calibrated"), or the nominal rig
    ("nominal") when calibration cannot reach an estimate or its rig would leave more than
    ``MAX_UNSEEN`` of the sphere black (``warn`` is told why). Raises InputError when even
    the nominal rig would."""
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
        return checked_nominal(source, nominal), "nominal"
    unseen = unseen_fraction(result.rig)
    if unseen > MAX_UNSEEN:
        if warn is not None:
            warn(f"self-calibration gave a rig that leaves {unseen:.0%} of the sphere unseen; stitching with the nominal rig")
        return checked_nominal(source, nominal), "nominal"
    if warn is not None:  # where an image circle came from when it was not seen
        for line in result.warnings:
            if "image circle not seen" in line:
                warn(f"calibration: {line}")
    return result.rig, "calibrated"
