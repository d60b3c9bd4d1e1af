"""Photometric compensation as tables: linear-light gains applied to code values under the
rig's response curve (``_response``), and the per-pixel compensation of recorded frames.

``apply_gain`` / ``gain_index``: exact tables of 4096 log-spaced gains from 1/16 to 16 (the
blend band's colour step, previews). ``SourceGain`` (with ``GainSteps``): a frame's
per-pixel exposure, colour and vignetting gain as u = lin ** (1/gamma) times g ** (1/gamma)
in fixed point, with the shared highlight roll-off and ``white_stretch``; ``LensSplit``
says which columns belong to which lens (per-frame factors). What ``StitchPlan`` applies
before any remap: see ``stitch.plan``'s docstring.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from ..colour import SRGB_DECODE_LUT, linear_to_srgb
from ..geometry import dirs_to_fisheye
from ..profile import LensProfile, RigProfile
from ._response import SRGB_RESPONSE, code_to_u, is_srgb, rolloff, u_to_code

__all__ = [
    "DECODE_LUT", "gain_index", "apply_gain", "GainSteps", "SourceGain", "LensSplit", "lens_gain_index",
    "circle_radii", "headroom", "max_u_gain", "min_u_gain", "white_stretch", "white_top", "WHITE_KNEE", "WHITE_SLOPE",
]

_TABLE_LOCK = threading.Lock()  # guards the response tables built on first use (_gain_tables)
_ROW_CHUNK = 256  # rows of output computed at once while planning (bounds planner memory)

DECODE_LUT = SRGB_DECODE_LUT
"""``DECODE_LUT[v]``: linear light of sRGB code value v (0..255) (``colour.SRGB_DECODE_LUT``)."""

_GAIN_K = 4096
_GAIN_LOG2 = 4.0  # gains from 2**-4 to 2**4


def _make_gain_tables(response: tuple[float, float] = SRGB_RESPONSE) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    gains = np.exp2(np.linspace(-_GAIN_LOG2, _GAIN_LOG2, _GAIN_K)).astype(np.float32)
    if is_srgb(response):
        lin = np.clip(DECODE_LUT[None, :] * gains[:, None], 0.0, 1.0)
        enc = linear_to_srgb(lin) * 255.0
    else:
        u = code_to_u(np.arange(256) / 255.0, response)[None, :] * np.power(gains.astype(np.float64), 1.0 / response[0])[:, None]
        enc = u_to_code(np.minimum(u, 1.0), response) * 255.0
    return np.clip(np.round(enc), 0, 255).astype(np.uint8).ravel(), enc.astype(np.float32).ravel()


_TABLE_U8, _TABLE_F32 = _make_gain_tables()
_RESPONSE_TABLES: dict[tuple[float, float], tuple[NDArray[np.uint8], NDArray[np.float32]]] = {}


def _gain_tables(response: tuple[float, float]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    if is_srgb(response):
        return _TABLE_U8, _TABLE_F32
    key = (float(response[0]), float(response[1]))
    if key not in _RESPONSE_TABLES:
        with _TABLE_LOCK:
            _RESPONSE_TABLES.setdefault(key, _make_gain_tables(key))
    return _RESPONSE_TABLES[key]


def gain_index(gain: NDArray[np.floating]) -> NDArray[np.int32]:
    """Offsets into the gain tables of linear-light gains (any shape), for ``apply_gain``."""
    lg = np.log2(np.clip(np.asarray(gain, np.float64), 2.0**-_GAIN_LOG2, 2.0**_GAIN_LOG2))
    return (np.round((lg + _GAIN_LOG2) / (2 * _GAIN_LOG2) * (_GAIN_K - 1)).astype(np.int32) * 256)


def apply_gain(
    values: NDArray[np.uint8],
    index: NDArray[np.int32],
    *,
    as_float: bool = False,
    out: NDArray[np.uint8] | None = None,
    response: tuple[float, float] = SRGB_RESPONSE,
) -> NDArray[np.uint8] | NDArray[np.float32]:
    """Code values with linear-light gains applied under the camera ``response`` (default
    sRGB), clipped at white (``index`` from ``gain_index``)."""
    table_u8, table_f32 = _gain_tables(response)
    idx = np.add(index, values, dtype=np.int32)
    if as_float:
        return np.take(table_f32, idx)
    return np.take(table_u8, idx, out=out, mode="clip") if out is not None else np.take(table_u8, idx)


# ---- compensation of the recorded frame -------------------------------------------------
# u = lin ** (1/2.4) in [0, 1]; a linear gain g multiplies u by g ** (1/2.4).
_U_MAX = 65373.0  # u as uint16: u * _U_MAX (243 * 255 * 1.055)
_A_BITS = 12  # per-pixel multiplier g ** (1/2.4) in uint16 with 12 fractional bits
_W_SCALE = 256.0  # the product holds u * 255 with 8 fractional bits (saturating at u = 1)
_MAX_ROOM = 1.5  # the most headroom the roll-off keeps (u = 1.5: 1.4 stops of linear gain under sRGB)
_STRIP = 256  # rows per compensation strip (measured best of 32..1024 at 2880 and 5760)


def _make_source_luts() -> tuple[NDArray[np.uint16], NDArray[np.uint8]]:
    to_u = np.round(_U_MAX * np.power(DECODE_LUT.astype(np.float64), 1 / 2.4)).astype(np.uint16)
    lin = np.power(np.arange(256, dtype=np.float64) / 255.0, 2.4)
    enc = linear_to_srgb(lin) * 255.0
    return to_u, np.clip(np.round(enc), 0, 255).astype(np.uint8)


_TO_U16, _U8_TO_SRGB = _make_source_luts()


def _u_gains(rig: RigProfile) -> NDArray[np.float64]:
    """Every factor ``g ** (1 / gamma)`` the rig's compensation puts on a pixel inside an
    image circle (g the linear gain), sampled over the radius, per lens and channel."""
    gamma = rig.response[0]
    r2 = np.linspace(0.0, 1.0, 257, dtype=np.float32)
    out = []
    for lens in rig.lenses:
        for c in range(3):
            lin = np.maximum(np.float32(lens.exposure * lens.color_gain[c]) * _vignetting_f32(lens, r2), np.float32(1e-3))
            out.append(np.power(lin.astype(np.float64), -1.0 / gamma))
    return np.clip(np.concatenate(out), 2.0 ** (-_GAIN_LOG2 / gamma), 2.0 ** (_GAIN_LOG2 / gamma))


def max_u_gain(rig: RigProfile) -> float:
    """The largest factor ``g ** (1 / gamma)`` the rig's compensation puts on any pixel
    inside an image circle (g the linear gain), at least 1."""
    return float(max(1.0, float(np.max(_u_gains(rig)))))


def min_u_gain(rig: RigProfile) -> float:
    """The smallest such factor, at most 1."""
    return float(min(1.0, float(np.min(_u_gains(rig)))))


WHITE_KNEE = 200.0
"""Recorded code values from here to 255 are stretched (``white_stretch``) so that a clipped
pixel stays white under any gain below 1."""
WHITE_SLOPE = 5.0
"""The stretch's steepest slope (code values per recorded code value): steeper bends
near-white texture into contours and, channel by channel, tints it; where a gain is so
low that white would need more, a clipped pixel ends a little under white."""


def white_stretch(v: NDArray[np.float64], top: float) -> NDArray[np.float64]:
    """Code values (0..255) with the range [``WHITE_KNEE``, 255] bent smoothly up so that 255
    becomes ``top`` (smoothstep: same value and slope at the knee). A clipped sky in a lens
    the compensation darkens then still reaches white, instead of turning grey, and the
    near-white values before it rise smoothly to it."""
    t = np.clip((np.asarray(v, np.float64) - WHITE_KNEE) / (255.0 - WHITE_KNEE), 0.0, 1.0)
    return np.asarray(v, np.float64) + t * t * (3.0 - 2.0 * t) * (top - 255.0)


def headroom(rig: RigProfile, spread: float = 1.0) -> float:
    """How far past white the rig's compensation can push a pixel, which the roll-off
    folds back under it: in u for sRGB (the largest ``max_u_gain``), in code values
    (white's code value after the largest gain, over 255) for other responses, whose
    compensation works in code values (``SourceGain``); 1 when no gain exceeds 1, at most
    ``_MAX_ROOM``. ``spread``: a further linear gain any pixel may get per frame
    (exposure following, ``_follow``)."""
    return frame_headroom(max_u_gain(rig), rig.response, spread)


def frame_headroom(peak: float, response: tuple[float, float], factor: float = 1.0) -> float:
    """``headroom`` from the rig's largest u-factor ``peak`` (``max_u_gain``) and a linear
    ``factor`` on top."""
    a = peak * max(factor, 1.0) ** (1.0 / response[0])
    o = response[1]
    worst = a if is_srgb(response) else (1.0 + o) * a - o
    # capped: the compensated value passes through 8 bits scaled by 1 / room, so each unit
    # of headroom costs precision everywhere; past the cap a pixel may still clip
    return float(min(max(worst, 1.0), _MAX_ROOM))


_ROOM_STEP = 1.0 / 1024.0  # a frame's headroom, rounded up to this (its tables are kept per value)


def frame_room(peak: float, response: tuple[float, float], room: float, factors: tuple[float, float]) -> float:
    """The headroom a frame with per-frame ``factors`` needs (at most the plan's ``room``),
    rounded up to ``_ROOM_STEP``: the roll-off is then as the fixed compensation's when the
    factors are 1 (recorded white stays where it was; ``GainSteps.at_room``)."""
    need = frame_headroom(peak, response, max(float(f) for f in factors))
    return float(min(room, math.ceil(need / _ROOM_STEP - 1e-6) * _ROOM_STEP))


@functools.lru_cache(maxsize=256)
def rolled_codes(response: tuple[float, float], room: float, frame: float) -> NDArray[np.uint8]:
    """``GainSteps.to_code`` for values held over ``room`` rolled off at a frame's own
    headroom ``frame`` (<= room; 1 beyond it)."""
    x = np.arange(256, dtype=np.float64) / 255.0 * room
    rolled = rolloff(x, frame)
    if is_srgb(response):
        rolled = u_to_code(rolled, response)
    return np.clip(np.round(rolled * 255.0), 0, 255).astype(np.uint8)


def white_top(rig: RigProfile, room: float, low: float) -> float:
    """The code value recorded white (255) must stand for so that the lowest gain ``low``
    (u-factor) still brings it to white after the roll-off (``room``): 255 when no gain
    is below 1."""
    if low >= 1.0 or not rig.keep_white:
        return 255.0
    if is_srgb(rig.response):
        # u(top) * low = room, u(top) continued past white as sRGB's power law
        u_top = room / low
        top = 255.0 * ((1.055 * u_top) - 0.055)
    else:
        o = float(rig.response[1])
        top = 255.0 * ((room + o) / low - o)
    # smoothstep's steepest slope is 1.5 (top - 255) / (255 - knee), plus the identity's 1
    return float(min(top, 255.0 + (WHITE_SLOPE - 1.0) / 1.5 * (255.0 - WHITE_KNEE)))


@dataclass(frozen=True)
class GainSteps:
    """The per-frame steps of ``SourceGain`` besides the per-pixel multiply: ``to_u`` (code
    value -> uint16), the multiply's ``scale``, a constant ``sub`` taken off after it
    (saturating at 0), ``alpha`` down to 8 bits and ``to_code`` (8 bits -> code value,
    through the roll-off).

    sRGB: u = lin ** (1/2.4) times the gain, over ``room`` (u-space: exact through sRGB's
    toe). Other responses, where u is affine in the code value v (``_response``): the
    compensated code value g'(v + o) - o, over ``room``: the subtraction keeps the full
    8-bit precision even for a log-like curve (large o), whose u spans a narrow range.
    """

    to_u: NDArray[np.uint16] = field(repr=False)
    scale: float
    sub: float
    alpha: float
    to_code: NDArray[np.uint8] = field(repr=False)
    room: float
    inv_gamma: float = 1.0 / 2.4
    peak: float = 1.0
    """The rig's largest u-factor (``max_u_gain``): a frame's own headroom (``at_room``)."""
    response: tuple[float, float] = SRGB_RESPONSE

    @classmethod
    def of(cls, rig: RigProfile, spread: float = 1.0) -> "GainSteps":
        """The steps for ``rig``; ``spread`` (>= 1): per-frame linear factors in [1 /
        spread, spread] (``lens_table``) must fit under the headroom too."""
        su = spread ** (1.0 / rig.response[0])
        room = headroom(rig, spread)
        low = min_u_gain(rig) / su
        top = white_top(rig, room, low)
        codes = np.arange(256, dtype=np.float64)
        if is_srgb(rig.response):
            if room <= 1.0 and top <= 255.0:
                return cls(_TO_U16, 255.0 * _W_SCALE / (_U_MAX * (1 << _A_BITS)), 0.0, 1.0 / _W_SCALE, _U8_TO_SRGB, 1.0)
            u = code_to_u(white_stretch(codes, top) / 255.0, rig.response)
            amp = min(_U_MAX, 65535.0 / float(u[-1])) / su
            to_u = np.clip(np.round(amp * u), 0, 65535).astype(np.uint16)
            back = np.clip(np.round(u_to_code(rolloff(codes / 255.0 * room, room), rig.response) * 255.0), 0, 255).astype(np.uint8)
            scale = 255.0 * _W_SCALE / (amp * (1 << _A_BITS) * room)
            return cls(to_u, scale, 0.0, 1.0 / _W_SCALE, back, room, 1.0 / rig.response[0], max_u_gain(rig), tuple(rig.response))
        o = float(rig.response[1])
        v = white_stretch(codes, top) / 255.0
        amp = math.floor(65535.0 / ((float(v[-1]) + max(o, 0.0)) * max_u_gain(rig) * su * 1.001))
        to_u = np.clip(np.round(amp * (v + o)), 0, 65535).astype(np.uint16)
        back = np.clip(np.round(rolloff(codes / 255.0 * room, room) * 255.0), 0, 255).astype(np.uint8)
        return cls(to_u, 1.0 / (1 << _A_BITS), amp * o, 255.0 / (amp * room), back, room, 1.0 / rig.response[0], max_u_gain(rig), tuple(rig.response))

    def at_room(self, factors: tuple[float, float]) -> "GainSteps":
        """These steps for a frame with per-frame ``factors``: the roll-off at the headroom
        the frame needs (``frame_room``), not the most any frame may (``room``): with
        factors of 1 the frame's tones are the fixed compensation's, white included."""
        frame = frame_room(self.peak, self.response, self.room, factors)
        if self.room <= 1.0 or frame >= self.room:
            return self
        return replace(self, to_code=rolled_codes(self.response, self.room, frame))

    def lens_table(self, factor: float) -> NDArray[np.uint16]:
        """``to_u`` with a per-frame linear factor on top (u times factor ** (1/gamma)):
        one table per lens and frame (exposure following)."""
        if factor == 1.0:
            return self.to_u
        return np.clip(np.round(self.to_u * factor**self.inv_gamma), 0, 65535).astype(np.uint16)

    def codes(self, v: NDArray[np.float64], a: NDArray[np.float64], factor: float = 1.0) -> NDArray[np.float64]:
        """The compensated code values of recorded code values ``v`` (float, any shape)
        under per-pixel u-factors ``a`` (g ** (1/gamma)) and a per-frame linear ``factor``:
        these steps in floating point (for measuring a few samples, not for frames)."""
        return self.codes_of(self.multiplied(v, a), factor)

    def multiplied(self, v: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
        """``codes``' first part, which no per-frame factor changes."""
        return np.interp(v, np.arange(256.0), self.to_u.astype(np.float64)) * a * ((1 << _A_BITS) * self.scale)

    def codes_of(self, x: NDArray[np.float64], factor: float = 1.0) -> NDArray[np.float64]:
        """``codes``' second part, from ``multiplied``."""
        y = np.clip((x * factor**self.inv_gamma - self.sub) * self.alpha, 0.0, 255.0)
        return np.interp(y, np.arange(256.0), self.to_code.astype(np.float64))

    def finish(self, x: NDArray[np.uint16], out: NDArray[np.uint8]) -> None:
        """From the multiplied values ``x`` (overwritten) to code values in ``out``."""
        if self.sub > 0:
            cv2.subtract(x, self.sub, dst=x)
        elif self.sub < 0:
            cv2.add(x, -self.sub, dst=x)
        cv2.convertScaleAbs(x, dst=out, alpha=self.alpha)
        cv2.LUT(out, self.to_code, dst=out)


@dataclass(frozen=True)
class SourceGain:
    """Per-pixel photometric compensation of recorded frames (exposure, colour, vignetting).

    ``multiplier`` (fh, fw, 3) uint16 holds, per frame pixel and channel, g ** (1/gamma)
    with ``_A_BITS`` fractional bits, g the linear-light gain of the lens whose image
    circle the pixel belongs to (the nearer centre, in radii), clipped to [1/16, 16];
    ``steps`` the rest (``GainSteps``: the response curve and the roll-off).
    """

    multiplier: NDArray[np.uint16] = field(repr=False)
    steps: GainSteps | None = field(default=None, repr=False)
    split: "LensSplit | None" = None
    """Where the frame's columns change lens (per-frame factors, ``apply(factors=...)``)."""

    @classmethod
    def build(cls, rig: RigProfile, spread: float = 1.0) -> "SourceGain":
        """``spread`` > 1: room for per-frame factors in [1 / spread, spread] on top."""
        fw, fh = rig.frame_size
        gamma = rig.response[0]
        mult = np.empty((fh, fw, 3), np.uint16)
        xs = np.arange(fw, dtype=np.float32) + 0.5
        lo, hi = 2.0 ** (-_GAIN_LOG2 / gamma), 2.0 ** (_GAIN_LOG2 / gamma)
        one = float(1 << _A_BITS)
        for y0 in range(0, fh, _ROW_CHUNK):
            ys = np.arange(y0, min(fh, y0 + _ROW_CHUNK), dtype=np.float32) + 0.5
            r2, owner0 = circle_radii(rig, xs, ys)
            for c in range(3):
                # g ** (1/gamma) with g = 1 / (exposure * vignetting(r) * colour gain), as _lens_linear_gain
                a = [
                    np.power(np.maximum(np.float32(l.exposure * l.color_gain[c]) * _vignetting_f32(l, np.minimum(q, 1.0)), np.float32(1e-3)), np.float32(-1 / gamma))
                    for l, q in zip(rig.lenses, r2)
                ]
                sel = np.clip(np.where(owner0, a[0], a[1]), lo, hi)
                mult[y0 : y0 + ys.size, :, c] = np.round(sel * one).astype(np.uint16)
        return cls(mult, GainSteps.of(rig, spread), LensSplit.of(rig) if spread > 1.0 else None)

    def apply(
        self,
        frame: NDArray[np.uint8],
        out: NDArray[np.uint8],
        scratch: NDArray[np.uint16] | None = None,
        factors: tuple[float, float] | None = None,
    ) -> NDArray[np.uint8]:
        """Compensated copy of ``frame`` written to ``out`` (same shape); ``scratch`` is an
        optional (``_STRIP``, fw, 3) uint16 buffer; ``factors``: per-frame linear gains of
        lens 0 and 1 on top of the fixed ones (built with ``spread``: within it)."""
        h, w = frame.shape[:2]
        if scratch is None:
            scratch = np.empty((min(h, _STRIP), w, 3), np.uint16)
        steps = self.steps
        if steps is None:
            steps = GainSteps(_TO_U16, 255.0 * _W_SCALE / (_U_MAX * (1 << _A_BITS)), 0.0, 1.0 / _W_SCALE, _U8_TO_SRGB, 1.0)
        # whole rows: OpenCV handles continuous memory fastest (skipping the pixels no map
        # reads, column ranges of each strip, measured slower)
        parts = [(slice(None), steps.to_u)]
        if self.split is not None:  # (built with a spread: the roll-off at the frame's own headroom)
            steps = steps.at_room((1.0, 1.0) if factors is None else factors)
        if factors is not None and tuple(factors) != (1.0, 1.0):
            if self.split is None:
                raise ValueError("per-frame factors need a SourceGain built with a spread")
            parts = [(cols, steps.lens_table(float(factors[i]))) for i, cols in self.split.columns()]
        for y0 in range(0, h, _STRIP):
            y1 = min(h, y0 + _STRIP)
            u = scratch[: y1 - y0]
            for cols, table in parts:  # (column views: OpenCV writes through the row stride)
                cv2.LUT(frame[y0:y1, cols], table, dst=u[:, cols])
            cv2.multiply(u, self.multiplier[y0:y1], dst=u, scale=steps.scale)
            steps.finish(u, out[y0:y1])
        return out


@dataclass(frozen=True)
class LensSplit:
    """The column where a side-by-side frame changes lens (the nearer circle centre, in
    radii, as the compensation assigns pixels), and which lens lies left of it."""

    column: int
    left: int

    @classmethod
    def of(cls, rig: RigProfile) -> "LensSplit":
        fw, fh = rig.frame_size
        xs = np.arange(fw, dtype=np.float32) + 0.5
        ys = np.arange(0, fh, max(1, fh // 64), dtype=np.float32) + 0.5
        _, owner0 = circle_radii(rig, xs, ys)
        inside = np.zeros_like(owner0)
        for lens in rig.lenses:
            inside |= np.hypot(xs[None, :] - lens.center[0], ys[:, None] - lens.center[1]) < lens.radius
        left = 0 if owner0[:, 0].mean() >= 0.5 else 1
        # the column on the centres' midline; every pixel inside a circle must agree with it
        column = int(round((rig.lenses[0].center[0] + rig.lenses[1].center[0]) / 2.0))
        expect = (xs[None, :] < column) == (left == 0)
        if not np.array_equal(owner0[inside], np.broadcast_to(expect, owner0.shape)[inside]):
            raise ValueError("per-frame exposure following needs the lenses side by side (one column splits them)")
        return cls(column, left)

    def columns(self) -> list[tuple[int, slice]]:
        """(lens, column range) of both lenses."""
        return [(self.left, slice(0, self.column)), (1 - self.left, slice(self.column, None))]


def circle_radii(
    rig: RigProfile, xs: NDArray[np.float32], ys: NDArray[np.float32]
) -> tuple[list[NDArray[np.float32]], NDArray[np.bool_]]:
    """At frame positions ``xs`` × ``ys`` (pixel edges at integers): each lens' squared
    radius over its circle's squared radius, and where lens 0's centre is the nearer one
    (in radii): the lens whose image circle a pixel belongs to."""
    r2 = [
        ((xs[None, :] - np.float32(l.center[0])) ** 2 + (ys[:, None] - np.float32(l.center[1])) ** 2) / np.float32(l.radius**2)
        for l in rig.lenses
    ]
    return r2, r2[0] <= r2[1]


def _vignetting_f32(lens: LensProfile, r2: NDArray[np.float32]) -> NDArray[np.float32]:
    """``lens.vignetting_gain`` of squared normalised radii, float32."""
    v1, v2, v3 = (np.float32(v) for v in lens.vignetting)
    return np.float32(1.0) + r2 * (v1 + r2 * (v2 + r2 * v3))


def _lens_linear_gain(lens: LensProfile, xy: NDArray[np.float64]) -> NDArray[np.float32]:
    """Linear-light gain (..., 3) undoing ``lens``' exposure, colour and vignetting at frame positions."""
    r_norm = np.hypot(xy[..., 0] - lens.center[0], xy[..., 1] - lens.center[1]) / lens.radius
    lin = lens.exposure * lens.vignetting_gain(np.minimum(r_norm, 1.0))[..., None] * np.asarray(lens.color_gain)
    return (1.0 / np.maximum(lin, 1e-3)).astype(np.float32)


def lens_gain_index(rig: RigProfile, dirs: NDArray[np.float64]) -> list[NDArray[np.int32]]:
    """Per lens, the compensation gain (..., 3) at rig directions, as ``gain_index`` offsets."""
    out = []
    for lens in rig.lenses:
        local = lens.rotation().inverse(dirs)
        xy, _ = dirs_to_fisheye(local, lens.model(), lens.max_theta)
        out.append(gain_index(_lens_linear_gain(lens, xy)))
    return out
