"""Per-frame exposure following: the lenses' auto exposure, measured at the seam and
smoothed over time, on top of the plan's fixed (calibrated) photometry.

Each lens of a consumer 360 camera meters on its own, frame by frame, so the exposure
ratio the calibration fitted holds for the frames it saw, not for every frame. Per frame,
``SeamExposure`` measures the residual ratio front / back of linear light where both
lenses see the same thing: sample points on the overlap band around the geometric seam
(both lenses well inside their image circles), luma of the recorded frame under the rig's
response curve, times the plan's fixed gain there; the log ratio of every sample where
both are unclipped, then the median of those within ``PARALLAX_LOG`` of a first median
(near objects, motion and flare see different things in the two lenses: rejected).
Luma alone is measured, from RGB frames and from the Y plane alike, so the RGB and YUV
paths follow the same exposure; white balance is left to the calibration.

``ExposureFollower`` turns the measurements into per-frame factors with finite memory:
frame n's factors depend on the measurements of frames n - W + 1 .. n alone (W frames of
``WINDOW_S``), so a stitch that starts anywhere in a clip gives the same frames as one
from its start after a pre-roll of W - 1 frames (``StitchPlan.memory_frames``,
``observe``). The estimate is the mean of the window's measurements that agree with the
median of its last few (the current level): on a steady shot that is the whole window's
mean (noise averaged over W frames, and a sample entering or leaving moves it by a W-th
of the noise: no flicker); after a change of light the window's older level no longer
agrees, and the estimate moves to the new one within a few frames. Frames whose
measurement fails (too few usable samples) are skipped; a window with none leaves the
calibrated state. The estimate is split about the geometric mean, so the frame keeps the
footage's exposure: front times exp(-s/2), back times exp(+s/2), each at most
``MAX_STOPS`` stops (the compensation's headroom is sized for that: nothing unclipped is
pushed into clipping).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from ..profile import RigProfile
from ._ring import seam_samples
from .photometry import CODE_HI, CODE_LO

if TYPE_CHECKING:
    from .gains import GainSteps

__all__ = ["SeamExposure", "ExposureFollower", "MAX_STOPS", "WINDOW_S", "window_estimate"]

MAX_STOPS = 1.0
"""The most a lens' per-frame factor moves it from the calibrated state, in stops."""
WINDOW_S = 0.5
"""The span of frames the factors of a frame depend on, seconds (at least one frame)."""
RECENT_FRACTION = 1.0 / 3.0
"""The current level is the median of this last part of the window: a change of light is
taken once it holds the majority there (about a sixth of the window after it)."""
AGREE_LOG = 0.02
"""Measurements within this of the current level (log ratio, about 2% of linear light),
or within ``AGREE_SIGMAS`` times the window's noise if that is more, are averaged."""
AGREE_SIGMAS = 4.0
PARALLAX_LOG = 0.15
"""Half the width of the window of log ratios the first guess is the densest of (``_mode``)."""
_LUMA = np.array([0.299, 0.587, 0.114])
PARALLAX_CODES = 16.0
"""Compensated samples further apart than this (luma code values) see different things."""
_MIN_SAMPLES = 48
_SMOOTH = 8  # the frame is shrunk by this (area mean) before sampling


class SeamExposure:
    """Measures the residual exposure ratio front / back of one frame at the seam."""

    def __init__(self, rig: RigProfile, steps: "GainSteps", *, width: int = 1024) -> None:
        """``steps``: the compensation's (``GainSteps``, built with the followed spread)."""
        # the geometric seam (both lenses equally far off axis, as the stitch's seam), a
        # row either side: where a step shows; the rest of the band sees each lens nearer
        # its rim, where the vignetting model is least sure
        xys, radii, valid = seam_samples(rig, width)
        u_factors = []
        for lens, r in zip(rig.lenses, radii):
            # the fixed compensation's u-factor there (as ``SourceGain``'s multiplier)
            lin = lens.exposure * lens.vignetting_gain(np.minimum(r[valid], 1.0))[..., None] * np.asarray(lens.color_gain)
            u_factors.append(np.clip(np.maximum(lin, 1e-3) ** (-1.0 / rig.response[0]), 2.0 ** (-4 / rig.response[0]), 2.0 ** (4 / rig.response[0])))
        self.response = rig.response
        self.steps = steps
        table = steps.to_u.astype(np.float64)  # code value -> a multiple of u, white stretch included
        self.log_lin = rig.response[0] * np.log(np.maximum(table, 1e-9 * float(table.max())))
        self.maps = [(xy[valid] / _SMOOTH - 0.5).astype(np.float32).reshape(1, -1, 2) for xy in xys]
        self.u_factors = u_factors  # (n, 3) per lens
        self.log_gain_ratio = rig.response[0] * (np.log(self.u_factors[0]) - np.log(self.u_factors[1])) @ _LUMA.astype(np.float64)

    @property
    def samples(self) -> int:
        return int(self.log_gain_ratio.size)

    def _sample(self, img: NDArray[np.uint8]) -> list[NDArray[np.float64]]:
        # averaged over a box of _SMOOTH pixels (the frame shrunk by area; about 0.4 degrees
        # at 3K): misregistration by a pixel or two, noise and compression blocks average out
        small = cv2.resize(img, (img.shape[1] // _SMOOTH, img.shape[0] // _SMOOTH), interpolation=cv2.INTER_AREA)
        out = []
        for m in self.maps:
            s = cv2.remap(small, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out.append(s.reshape(m.shape[1], -1).astype(np.float64))
        return out

    def measure_rgb(self, frame: NDArray[np.uint8]) -> float | None:
        """Log ratio front / back of linear light at the seam (after the fixed gains), or
        None when too few samples agree (mostly clipped, or parallax everywhere)."""
        if not self.samples:
            return None
        a, b = self._sample(frame)
        ok = (a.max(axis=1) < CODE_HI) & (b.max(axis=1) < CODE_HI) & (a.min(axis=1) > CODE_LO) & (b.min(axis=1) > CODE_LO)
        return self._ratio(a, b, ok)

    def measure_luma(
        self, y: NDArray[np.uint8], *, full_range: bool = False, luma: tuple[float, float, float] = (0.299, 0.587, 0.114)
    ) -> float | None:
        """As ``measure_rgb``, from a frame's Y plane (limited range unless ``full_range``)
        coded with the ``luma`` weights of R, G, B (the YCbCr matrix's: where the lenses'
        colour gains differ, the fixed compensation's effect on luma depends on them)."""
        if not self.samples:
            return None
        a, b = self._sample(y)
        if not full_range:
            a, b = (a - 16.0) * (255.0 / 219.0), (b - 16.0) * (255.0 / 219.0)
        return self._ratio(a, b, np.ones(a.shape[0], bool), np.asarray(luma, np.float64))

    def _ratio(
        self, a: NDArray[np.float64], b: NDArray[np.float64], ok: NDArray[np.bool_], luma: NDArray[np.float64] = _LUMA
    ) -> float | None:
        """``a``, ``b``: (n, channels) recorded code values of the samples in each lens;
        ``luma``: the weights a one-channel sample was coded with."""
        la, lb = a @ _LUMA if a.shape[1] == 3 else a[:, 0], b @ _LUMA if b.shape[1] == 3 else b[:, 0]
        # luma inside the unclipped range in both lenses; from a Y plane, 15 codes further
        # from white (the channels are not seen: a luma near white may hide a clipped one)
        hi = CODE_HI - (15.0 if a.shape[1] == 1 else 0.0)
        ok = ok & (la > 2 * CODE_LO) & (la < hi) & (lb > 2 * CODE_LO) & (lb < hi)
        if int(ok.sum()) < _MIN_SAMPLES:
            return None
        codes = np.arange(256, dtype=np.float64)
        d = np.interp(la[ok], codes, self.log_lin) - np.interp(lb[ok], codes, self.log_lin) + self.log_gain_ratio[ok]
        # a first guess: the densest cluster of log ratios, not their median: parallax,
        # flare and veiling glare put whole stretches of the seam to one side
        guess = _mode(d, PARALLAX_LOG)
        # then the ratio that leaves no step in the compensated code values (what shows:
        # the shared roll-off and a response that is not quite the camera's make a log
        # ratio depend on brightness), over the samples that agree within PARALLAX_CODES
        ua, ub = (u[ok] for u in self.u_factors)
        if a.shape[1] == 1:  # luma: the channels' factors as luma sees them
            ua, ub = np.exp(np.log(ua) @ luma)[:, None], np.exp(np.log(ub) @ luma)[:, None]
        va, vb = a[ok], b[ok]
        xa, xb = self.steps.multiplied(va, ua), self.steps.multiplied(vb, ub)
        w = _LUMA if a.shape[1] == 3 else np.ones(1)

        def step(r: float, keep: NDArray[np.bool_]) -> tuple[float, NDArray[np.bool_]]:
            fa, fb = factors(r, limit=False)
            dc = self.steps.codes_of(xa, fa) - self.steps.codes_of(xb, fb)
            d = dc @ w
            return float(d[keep].mean()) if keep.any() else 0.0, np.abs(dc).max(axis=1) <= PARALLAX_CODES

        _, keep = step(guess, np.ones(len(va), bool))
        for _ in range(2):
            if int(keep.sum()) < _MIN_SAMPLES:
                return None
            lo, hi_r = guess - 0.5, guess + 0.5
            for _ in range(12):  # bisection (to 2.5e-4): the step falls as r rises
                mid = (lo + hi_r) / 2.0
                if step(mid, keep)[0] > 0:
                    lo = mid
                else:
                    hi_r = mid
            guess = (lo + hi_r) / 2.0
            _, keep = step(guess, keep | True)
        return guess


def _mode(d: NDArray[np.float64], width: float) -> float:
    """The centre of the window of ``width`` either side holding the most of ``d``."""
    bins = np.arange(-4.0, 4.0 + 1e-9, width / 8.0)
    hist, _ = np.histogram(np.clip(d, -4.0, 4.0), bins)
    k = 8  # the window: +-width
    window = np.convolve(hist, np.ones(2 * k + 1), mode="same")
    i = int(np.argmax(window))
    return float((bins[i] + bins[i + 1]) / 2.0)


class ExposureFollower:
    """The per-frame exposure correction of a rig, from the last ``window`` frames'
    measurements (state: frames in order; finite memory, ``window - 1`` frames before).

    ``update(measured)`` takes ``SeamExposure``'s figure (None: failed) and returns the
    per-lens linear factors (front, back) to put on top of the fixed compensation.
    """

    def __init__(self, rig: RigProfile, steps: "GainSteps", *, fps: float = 30.0) -> None:
        self.measure = SeamExposure(rig, steps)
        self.window = max(1, int(round(WINDOW_S * float(fps))))
        self.history: deque[float | None] = deque(maxlen=self.window)

    @property
    def memory_frames(self) -> int:
        """Frames before a frame whose measurements its factors depend on."""
        return self.window - 1

    def reset(self) -> None:
        """Forget the history (a scene cut, or unrelated stills)."""
        self.history.clear()

    def update(self, measured: float | None) -> tuple[float, float]:
        self.history.append(measured)
        return factors(window_estimate(self.history))

    def update_rgb(self, frame: NDArray[np.uint8]) -> tuple[float, float]:
        return self.update(self.measure.measure_rgb(frame))

    def update_luma(
        self, y: NDArray[np.uint8], *, full_range: bool = False, luma: tuple[float, float, float] = (0.299, 0.587, 0.114)
    ) -> tuple[float, float]:
        return self.update(self.measure.measure_luma(y, full_range=full_range, luma=luma))


def window_estimate(measured: "Iterable[float | None]") -> float:
    """The log ratio a frame is corrected by, from its window's measurements (oldest
    first; None: failed, skipped): the mean of those that agree with the current level
    (the median of the last ``RECENT_FRACTION`` of them); 0 (the calibrated state) when
    none succeeded."""
    m = np.array([x for x in measured if x is not None], np.float64)
    if m.size == 0:
        return 0.0
    last = np.sort(m[-max(1, int(math.ceil(m.size * RECENT_FRACTION))) :])
    recent = float(last[(last.size - 1) // 2])  # (a measurement: one agrees at least)
    # the window's noise from second differences (|d2| has median 1.65 sigma for white
    # noise; a step or the ends of a ramp move few of them, a steady ramp none)
    noise = float(np.median(np.abs(np.diff(m, 2)))) / 1.652 if m.size > 3 else 0.0
    agree = np.abs(m - recent) <= max(AGREE_LOG, AGREE_SIGMAS * noise)
    return float(m[agree].mean())


def factors(log_ratio: float, *, limit: bool = True) -> tuple[float, float]:
    """Linear factors (front, back) removing the log ratio front / back about the
    geometric mean, each within ``MAX_STOPS`` (unless not ``limit``)."""
    limit = MAX_STOPS * math.log(2.0) if limit else 1e9
    half = float(np.clip(log_ratio / 2.0, -limit, limit))
    return math.exp(-half), math.exp(half)
