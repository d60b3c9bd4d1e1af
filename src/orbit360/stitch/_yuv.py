"""Stitching in YUV 4:2:0, the form video is decoded from and encoded to.

A decoded frame is three planes: luma at full resolution, two chroma planes at half
resolution in both directions. Stitching them as they are skips both colour conversions
(YUV → RGB after decoding, RGB → YUV before encoding: at 5.7K about 10 and 60 ms a frame
here) and moves half the bytes of RGB. FFmpeg's v360 works the same way.

``YuvStitch`` (from ``StitchPlan.yuv420()``) takes one recorded yuv420p frame and returns
the equirect yuv420p frame, in limited range with the recorded frame's matrix (BT.601 or
BT.709; a full-range recording, as GoPro's, is brought to limited range on the way, in
the same tables as the compensation).

- **Geometry.** The luma plane is stitched by the plan itself. With chroma sited at the
  centre of each 2x2 block (as ``video._convert`` converts), the chroma planes are an
  equirect of half the size, sampled from a recorded frame of half the size: the plan
  of the same rig scaled by 1/2 (``half_rig``) at half the width. Each plane is one
  uint8 channel, remapped with float maps (``PlaneMaps``: the faster kind for one
  channel in OpenCV 5), U and V one after the other (two one-channel remaps cost half of
  one two-channel remap); the stitched planes can go straight into the encoder's frame
  (``VideoWriter.new_frame``).
- **Photometry** (``YuvGain``). The plan's compensation is a linear-light gain per lens
  and channel under the sRGB transfer, applied in u = lin^(1/2.4). Above the sRGB toe,
  u = (v + 0.055) / 1.055 for a code value v in [0, 1], so a gain is an affine map of
  code values: v' + o = a (v + o) with o = 0.055 and a = g^(1/2.4). YCbCr is linear in
  R'G'B' and the offset o is the same in every channel (it only enters luma), so per
  lens (Y' + o, Cb, Cr) is multiplied by A = M diag(a_r, a_g, a_b) M^-1 (M the
  R'G'B' → Y'CbCr matrix, BT.601 or BT.709), and by the vignetting factor s(r) per
  pixel, which all channels share. ``YuvGain`` keeps the terms that matter: luma
  scaled by s·A00, each chroma plane by s·A11 or s·A22, and the luma → chroma terms
  s·A10 and s·A20 (a white-balance difference tints grey). It drops the chroma → luma
  and Cb ↔ Cr terms, which are products of a gain difference and a chroma value: at
  colour gains within 5% of each other, under one code value. Below the sRGB toe (code
  values under 10 of 255) a gain is linear, not affine: luma enters through the exact
  u (a table), and a last table on the result maps the toe back, so black stays black
  whatever the gain (a black sky must not turn grey in one lens); luma enters the tint
  terms through u too. Another response curve (``_response``: u affine in the code
  value everywhere, offset o) takes the same steps with its o, luma entering as v + o and
  leaving as the compensated code value over the headroom; the highlight roll-off is a
  last table on luma, and chroma is scaled by the roll-off's slope at each chroma site's
  compensated luma (``_Tables``); recorded white kept white (``keep_white``) is a stretch
  of the top of the luma table. tests/test_stitch_yuv.py measures the whole path against
  the RGB one.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from ..profile import RigProfile
from ..video import Planes, stitch_planes, yuv420p_planes
from ._parallel import run_chunks, run_parallel
from ._response import code_to_u, is_srgb, rolloff, u_to_code
from .frameplan import Observed
from .gains import (
    _GAIN_LOG2, _ROW_CHUNK, LensSplit, _vignetting_f32, circle_radii, frame_room, headroom, max_u_gain, min_u_gain, white_stretch, white_top,
)
from .plan import PlaneMaps, StitchPlan

__all__ = ["YuvStitch", "YuvGain", "half_rig", "yuv420p_planes", "LUMA_COEFFICIENTS"]

LUMA_COEFFICIENTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
"""(Kr, Kb) of each matrix; Kg = 1 - Kr - Kb."""

_O = 0.055  # the sRGB offset: u is proportional to v + _O above the toe
_Y_OFF = 16.0 - 219.0 * _O  # limited-range luma code value where v + o = 0 (3.955)
_GAIN_BITS = 12  # per-pixel multipliers in fixed point
_Y_BITS = 8  # fractional bits of luma + offset in uint16
_C_BITS = 6  # fractional bits of centred chroma (and of luma in chroma units) in int16


def half_rig(rig: RigProfile) -> RigProfile:
    """``rig`` as seen by the chroma planes: the frame, the circles and their centres
    halved (pixel edges at integers, so a centre at x is at x / 2)."""
    fw, fh = rig.frame_size
    if fw % 2 or fh % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {fw}x{fh}")
    lenses = tuple(replace(l, center=(l.center[0] / 2.0, l.center[1] / 2.0), radius=l.radius / 2.0) for l in rig.lenses)
    return replace(rig, frame_size=(fw // 2, fh // 2), lenses=lenses)


def _ycbcr_matrix(matrix: str) -> NDArray[np.float64]:
    kr, kb = LUMA_COEFFICIENTS[matrix]
    kg = 1.0 - kr - kb
    return np.array(
        [[kr, kg, kb], [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5], [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]]
    )


@dataclass(frozen=True)
class _Scratch:
    y: NDArray[np.uint8]
    u: NDArray[np.uint8]
    v: NDArray[np.uint8]
    y16: NDArray[np.uint16]
    c16: NDArray[np.int16]
    p16: NDArray[np.int16]
    yd: NDArray[np.uint8]
    yd16: NDArray[np.int16]
    half: NDArray[np.int16]  # 128 with _C_BITS fractional bits


@dataclass(frozen=True)
class YuvGain:
    """Per-pixel photometric compensation of yuv420p frames (see the module docstring).

    ``luma`` (fh, fw) uint16: s·A00 with ``_GAIN_BITS`` fractional bits; ``chroma`` the
    (fh/2, fw/2) int16 multipliers s·A11 of U and s·A22 of V (times 224/255 for a
    full-range recording); ``tint`` the luma → chroma maps s·A10 and s·A20 likewise, or
    None when no lens has a colour gain. With no photometry to undo (``RigProfile``
    lenses at exposure 1, no colour gain, no vignetting), it only converts a full-range
    frame to limited range.
    """

    luma: NDArray[np.uint16] = field(repr=False)
    chroma: tuple[NDArray[np.int16], NDArray[np.int16]] = field(repr=False)
    tint: tuple[NDArray[np.int16], NDArray[np.int16]] | None = field(repr=False)
    full_range: bool = False
    """Whether recorded frames are full range (the output is limited range either way)."""
    tables: "_Tables | None" = field(default=None, repr=False)
    """The response curve's tables (``_tables``); None: sRGB without headroom."""
    split: "LensSplit | None" = None
    """Where the frame changes lens, for per-frame factors (built with a spread)."""
    inv_gamma: float = 1.0 / 2.4
    peak: float = 1.0
    """The rig's largest u-factor (``max_u_gain``): a frame's own headroom (``gains.frame_room``)."""
    room: float = 1.0
    response: tuple[float, float] = (2.4, 0.055)
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def build(cls, rig: RigProfile, matrix: str = "bt601", *, full_range: bool = False, spread: float = 1.0) -> "YuvGain":
        """``spread`` > 1: room for per-frame linear factors in [1 / spread, spread] on
        top (``apply(factors=...)``, exposure following)."""
        m = _ycbcr_matrix(matrix)
        m_inv = np.linalg.inv(m)
        gamma = rig.response[0]
        su = spread ** (1.0 / gamma)
        room = headroom(rig, spread)
        coeffs = []  # per lens, the 3x3 A of (Y' + o, Cb, Cr)
        for lens in rig.lenses:
            a = np.power(np.maximum(lens.exposure * np.asarray(lens.color_gain, np.float64), 1e-3), -1 / gamma)
            coeffs.append(m @ np.diag(a) @ m_inv)
        # luma goes through u / room and back through the roll-off (``_tables``); chroma is
        # left at full gain (the shoulder's desaturation of highlights is not modelled)
        coeffs = [np.diag([1.0 / room, 1.0, 1.0]) @ c for c in coeffs]
        tinted = any(abs(c[1, 0]) > 1e-6 or abs(c[2, 0]) > 1e-6 for c in coeffs)
        fw, fh = rig.frame_size
        lo, hi = 2.0 ** (-_GAIN_LOG2 / gamma), 2.0 ** (_GAIN_LOG2 / gamma)
        one = float(1 << _GAIN_BITS)
        c_range = 224.0 / 255.0 if full_range else 1.0  # chroma code values to limited range
        luma = np.empty((fh, fw), np.uint16)
        chroma = (np.empty((fh // 2, fw // 2), np.int16), np.empty((fh // 2, fw // 2), np.int16))
        tint = (np.empty((fh // 2, fw // 2), np.int16), np.empty((fh // 2, fw // 2), np.int16)) if tinted else None

        def per_lens(s: NDArray[np.float32], own: NDArray[np.bool_], i: int, j: int, scale: float, clip: tuple[float, float]) -> NDArray[np.float32]:
            k = np.where(own, np.float32(coeffs[0][i, j]), np.float32(coeffs[1][i, j]))
            np.multiply(s, k, out=k)
            np.clip(k, clip[0], clip[1], out=k)
            np.multiply(k, np.float32(scale), out=k)
            return np.round(k, out=k)

        def rows(y0: int) -> None:
            # luma rows [y0, y1) and the chroma rows under them (row chunks: bounded temporaries)
            y1 = min(fh, y0 + _ROW_CHUNK)
            s, own = _vignetting_factor(rig, (fw, fh), 1.0, (y0, y1), gamma)
            luma[y0:y1] = per_lens(s, own, 0, 0, one, (lo, hi))
            s, own = _vignetting_factor(rig, (fw // 2, fh // 2), 2.0, (y0 // 2, y1 // 2), gamma)
            for k, i in enumerate((1, 2)):
                chroma[k][y0 // 2 : y1 // 2] = per_lens(s, own, i, i, one * c_range, (lo, hi))
                if tint is not None:
                    # luma enters chroma in chroma code units (224 / 219 of luma's)
                    tint[k][y0 // 2 : y1 // 2] = per_lens(s, own, i, 0, one, (-hi, hi))

        run_chunks(rows, range(0, fh, _ROW_CHUNK))  # (_ROW_CHUNK is even: chroma rows y0 / 2 on)
        top = white_top(rig, room, min_u_gain(rig) / su)
        plain = is_srgb(rig.response) and room <= 1.0 and top <= 255.0 and spread <= 1.0
        tables = None if plain else _tables(rig.response, room, max_u_gain(rig) * su, top)
        split = LensSplit.of(rig) if spread > 1.0 else None
        return cls(luma, chroma, tint, bool(full_range), tables, split, 1.0 / gamma, max_u_gain(rig), room, tuple(rig.response))  # type: ignore[arg-type]

    def apply(
        self, planes: tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]], factors: tuple[float, float] | None = None
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
        """The compensated planes (Y, U, V), in this thread's scratch buffers (valid until
        its next call); ``factors``: per-frame linear gains of lens 0 and 1 on top (a
        gain built with a spread)."""
        y, u, v = planes
        if y.shape != self.luma.shape or u.shape != self.chroma[0].shape:
            raise ValueError(f"frame is {y.shape[1]}x{y.shape[0]}, gain expects {self.luma.shape[1]}x{self.luma.shape[0]}")
        loc = self._local
        if getattr(loc, "bufs", None) is None:
            loc.bufs = _Scratch(
                np.empty_like(y), np.empty_like(u), np.empty_like(u), np.empty(y.shape, np.uint16),
                np.empty(u.shape, np.int16), np.empty(u.shape, np.int16), np.empty(u.shape, np.uint8), np.empty(u.shape, np.int16),
                np.full(u.shape, 128 << _C_BITS, np.int16),
            )
        # row strips (even luma rows, the chroma rows under them) on the cores OpenCV
        # uses: tables and per-pixel multiplies are single-threaded in OpenCV, remap is not
        h = y.shape[0]
        n = max(1, min(cv2.getNumThreads(), h // 64))
        cuts = [2 * ((h // 2) * i // n) for i in range(n + 1)]
        bufs = loc.bufs  # (thread-local: pass them on)
        luma_lut = (self.tables.luts if self.tables is not None else _LUTS)[self.full_range][0]
        # per lens: (u-factor, luma columns, chroma columns, its luma table)
        parts: list[tuple[float, slice, slice, NDArray[np.uint16]]] = [(1.0, slice(None), slice(None), luma_lut)]
        if factors is not None and tuple(factors) != (1.0, 1.0):
            if self.split is None:
                raise ValueError("per-frame factors need a YuvGain built with a spread")
            parts = []
            for i, cols in self.split.columns():
                a = float(factors[i]) ** self.inv_gamma
                half = slice(None if cols.start is None else cols.start // 2, None if cols.stop is None else cols.stop // 2)
                parts.append((a, cols, half, np.clip(np.round(luma_lut * a), 0, 65535).astype(np.uint16)))
        tables = self.tables
        if self.split is not None and tables is not None:  # (built with a spread: the roll-off at the frame's own headroom)
            frame = frame_room(self.peak, self.response, self.room, (1.0, 1.0) if factors is None else factors)
            if frame < self.room:
                toe, slope = _rolled(self.response, self.room, frame)
                tables = replace(tables, toe=toe, slope=slope)
        run_parallel([lambda a=a, b=b: self._strip(y, u, v, bufs, a, b, parts, tables) for a, b in zip(cuts[:-1], cuts[1:])])
        return bufs.y, bufs.u, bufs.v

    def _strip(
        self, y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8], loc: "_Scratch", y0: int, y1: int,
        parts: "list[tuple[float, slice, slice, NDArray[np.uint16]]]", tables: "_Tables | None",
    ) -> None:
        """Compensate luma rows [y0, y1) and the chroma rows under them into ``loc``'s
        buffers (``tables``: this frame's, ``self.tables`` or its roll-off at the frame's headroom)."""
        g = 1.0 / (1 << _GAIN_BITS)
        if tables is None:
            tint_lut, toe_lut, y_off, y_bits, t_shift = _LUTS[self.full_range][1], _TOE_LUT, _Y_OFF, _Y_BITS, 0
        else:
            t = tables
            tint_lut, toe_lut, y_off, y_bits, t_shift = t.luts[self.full_range][1], t.toe, t.y_off, t.y_bits, t.tint_shift
        ly, l16 = loc.y[y0:y1], loc.y16[y0:y1]
        # luma: u (8 fractional bits, limited-range units) → times s·A00 → the affine code
        # value (u16 → u8, offset 3.955 > 0) → the toe table
        for _, cols, _, table in parts:  # (per lens when following: column views)
            cv2.LUT(y[y0:y1, cols], table, dst=l16[:, cols])
        cv2.multiply(l16, self.luma[y0:y1], dst=l16, scale=g)
        if y_off >= 0:
            cv2.convertScaleAbs(l16, dst=ly, alpha=1.0 / (1 << y_bits), beta=y_off)
        else:  # (a large offset: convertScaleAbs would fold negatives up)
            cv2.subtract(l16, -y_off * (1 << y_bits), dst=l16)
            cv2.convertScaleAbs(l16, dst=ly, alpha=1.0 / (1 << y_bits))
        cv2.LUT(ly, toe_lut, dst=ly)
        c0, c1 = y0 // 2, y1 // 2
        c16, p16 = loc.c16[c0:c1], loc.p16[c0:c1]
        if self.tint is not None:
            yd, yd16 = loc.yd[c0:c1], loc.yd16[c0:c1]
            cv2.resize(y[y0:y1], (yd.shape[1], yd.shape[0]), dst=yd, interpolation=cv2.INTER_AREA)  # 2x2 mean: the chroma site
            cv2.LUT(yd, tint_lut, dst=yd16)
        # chroma is affine in code values (no table): centred, times the multiplier (which
        # holds the range conversion) with _C_BITS fractional bits, plus the tint, plus
        # 128 (an array: OpenCV adds arrays several times faster than scalars), clipped
        # at 0 and rounded to uint8 (convertScaleAbs rounds and saturates at 255)
        half = loc.half[c0:c1]
        fac16 = None
        if tables is not None:
            # the shoulder's slope at each chroma site's compensated luma (2x2 mean)
            yo = np.empty((c1 - c0, u.shape[1]), np.uint8)
            cv2.resize(ly, (yo.shape[1], yo.shape[0]), dst=yo, interpolation=cv2.INTER_AREA)
            fac16 = np.take(tables.slope, yo)
        for k, (src, dst) in enumerate(((u, loc.u), (v, loc.v))):
            np.subtract(src[c0:c1], 128, out=c16, dtype=np.int16)
            # chroma and the tint are linear in u: the lens' per-frame factor goes on them too
            for a, _, cols, _ in parts:
                cv2.multiply(c16[:, cols], self.chroma[k][c0:c1, cols], dst=c16[:, cols], scale=g * (1 << _C_BITS) * a)
                if self.tint is not None:
                    cv2.multiply(yd16[:, cols], self.tint[k][c0:c1, cols], dst=p16[:, cols], scale=g * (1 << t_shift) * a)
            if self.tint is not None:
                cv2.add(c16, p16, dst=c16)
            if fac16 is not None:
                cv2.multiply(c16, fac16, dst=c16, scale=g)
            cv2.add(c16, half, dst=c16)
            cv2.max(c16, 0, dst=c16)
            cv2.convertScaleAbs(c16, dst=dst[c0:c1], alpha=1.0 / (1 << _C_BITS))

    def __getstate__(self) -> dict[str, object]:
        return {
            "luma": self.luma, "chroma": self.chroma, "tint": self.tint, "full_range": self.full_range, "tables": self.tables,
            "split": self.split, "inv_gamma": self.inv_gamma, "peak": self.peak, "room": self.room, "response": self.response,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_local", threading.local())


_TOE_U = 0.0031308 ** (1 / 2.4)  # u where the sRGB transfer turns linear (v = 0.04045)


def _u_of(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """u = lin^(1/2.4) of normalised code values, times 1.055 (= v + o above the toe);
    the sRGB curve continued above 1 (super-whites) and 0 below 0."""
    v = np.maximum(v, 0.0)
    return np.where(v <= 0.04045, 1.055 * np.power(v / 12.92, 1 / 2.4), v + _O)


def _make_luts(full_range: bool) -> tuple[NDArray[np.uint16], NDArray[np.int16]]:
    """Code value of the recorded frame → (1.055 u of luma in limited-range units, 8
    fractional bits), (1.055 u of luma in limited-range chroma units, 6 bits)."""
    codes = np.arange(256, dtype=np.float64)
    y = codes / 255.0 if full_range else (codes - 16.0) / 219.0
    luma = np.clip(np.round(219.0 * _u_of(y) * (1 << _Y_BITS)), 0, 65535).astype(np.uint16)
    tint = np.round(224.0 * _u_of(y) * (1 << _C_BITS)).astype(np.int16)
    return luma, tint


def _make_toe_lut() -> NDArray[np.uint8]:
    """Affine luma code value (3.955 + 219 · 1.055 u) → limited-range luma: the identity
    above the toe, 16 + 219 · 12.92 · u^2.4 below it (slope under 1: no precision lost)."""
    k = np.arange(256, dtype=np.float64)
    u = np.maximum(k - _Y_OFF, 0.0) / (219.0 * 1.055)
    toe = 16.0 + 219.0 * 12.92 * np.power(u, 2.4)
    return np.clip(np.round(np.where(u < _TOE_U, toe, k)), 0, 255).astype(np.uint8)


_LUTS = {False: _make_luts(False), True: _make_luts(True)}
_TOE_LUT = _make_toe_lut()


@dataclass(frozen=True)
class _Tables:
    """``_LUTS``, ``_TOE_LUT`` and ``_Y_OFF`` for another response curve or a headroom.

    sRGB with headroom: the same steps, luma entering as u / room and the last table
    undoing that through the roll-off. Another response (u affine in the code value v
    everywhere): luma enters as v + o (``y_bits`` fractional bits, fewer for a large
    offset), the gain and 1 / room multiply it, and ``y_off`` = 16 - 219 o / room (taken
    off by a saturating subtraction when negative) leaves the compensated code value over
    room, which the last table rolls off; luma enters the tint terms as v + o too, with
    ``tint_shift`` bits fewer than ``_C_BITS``."""

    luts: dict[bool, tuple[NDArray[np.uint16], NDArray[np.int16]]]
    toe: NDArray[np.uint8]
    y_off: float
    slope: NDArray[np.int16]
    """Compensated luma code value -> the roll-off's slope there (``_GAIN_BITS`` bits): the
    factor the shoulder puts on chroma, as applying the curve per RGB channel does."""
    y_bits: int = _Y_BITS
    tint_shift: int = 0


def _tables(response: tuple[float, float], room: float, max_gain: float = 1.0, top: float = 255.0) -> _Tables:
    o = float(response[1])
    srgb = is_srgb(response)
    codes = np.arange(256, dtype=np.float64)
    # (1 + o) u of the brightest code value: limited-range super-white, stretched white
    peak = (1.0 + o) * float(code_to_u(white_stretch(np.array([1.1 * 255.0]), top)[0] / 255.0, response))
    y_bits = int(min(_Y_BITS, math.floor(math.log2(65535.0 / (219.0 * peak * max_gain)))))
    tint_shift = max(0, math.ceil(math.log2(224.0 * peak * (1 << _C_BITS) / 32767.0)))
    luts = {}
    for full in (False, True):
        y = codes / 255.0 if full else (codes - 16.0) / 219.0
        vo = (1.0 + o) * code_to_u(white_stretch(y * 255.0, top) / 255.0, response)  # = v + o above the toe
        luma = np.clip(np.round(219.0 * vo * (1 << y_bits)), 0, 65535).astype(np.uint16)
        tint = np.clip(np.round(224.0 * vo * (1 << (_C_BITS - tint_shift))), -32768, 32767).astype(np.int16)
        luts[full] = (luma, tint)
    y_off = 16.0 - 219.0 * o if srgb else 16.0 - 219.0 * o / room
    toe, slope_lut = _rolled(tuple(response), room, room)
    return _Tables(luts, toe, y_off, slope_lut, y_bits, tint_shift)


@functools.lru_cache(maxsize=256)
def _rolled(response: tuple[float, float], room: float, frame: float) -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    """``_Tables.toe`` and ``slope`` for luma held over ``room`` rolled off at a frame's own
    headroom ``frame`` (<= room: ``gains.frame_room``; 1 beyond it)."""
    o = float(response[1])
    codes = k = np.arange(256, dtype=np.float64)
    x = np.linspace(0.0, room, 4097)
    rolled = rolloff(x, frame)
    slope = np.gradient(rolled, x)
    if is_srgb(response):
        y_off = 16.0 - 219.0 * o
        # affine luma code value k = y_off + 219 (1 + o) u / room  ->  limited-range luma
        u = np.maximum(k - y_off, 0.0) / (219.0 * (1.0 + o)) * room
        luma_out = 16.0 + 219.0 * u_to_code(rolloff(u, frame), response)
        luma_of_x = 16.0 + 219.0 * u_to_code(rolled, response)
    else:
        # k = 16 + 219 v' / room, v' the compensated code value  ->  16 + 219 rolloff(v')
        luma_out = 16.0 + 219.0 * rolloff(np.maximum(k - 16.0, 0.0) / 219.0 * room, frame)
        luma_of_x = 16.0 + 219.0 * rolled
    slope_of_code = np.interp(codes, luma_of_x, slope, left=1.0, right=float(slope[-1]))
    slope_lut = np.round(np.clip(slope_of_code, 0.0, 1.0) * (1 << _GAIN_BITS)).astype(np.int16)
    return np.clip(np.round(luma_out), 0, 255).astype(np.uint8), slope_lut


def _vignetting_factor(
    rig: RigProfile, size: tuple[int, int], scale: float, rows: tuple[int, int], gamma: float = 2.4
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Per pixel of ``rows`` [y0, y1) of a plane of ``size`` (``scale`` frame pixels per
    plane pixel): the vignetting factor s = vignetting(r)^(-1/gamma) of the lens whose image
    circle the pixel belongs to (the nearer centre, in radii), and whether that is lens 0."""
    w, _ = size
    xs = (np.arange(w, dtype=np.float32) + 0.5) * np.float32(scale)
    ys = (np.arange(rows[0], rows[1], dtype=np.float32) + 0.5) * np.float32(scale)
    r2, owner = circle_radii(rig, xs, ys)
    s = [
        np.power(np.maximum(_vignetting_f32(lens, np.minimum(q, np.float32(1.0))), np.float32(1e-3)), np.float32(-1 / gamma))
        for lens, q in zip(rig.lenses, r2)
    ]
    return np.where(owner, s[0], s[1]), owner


class YuvStitch:
    """A ``StitchPlan`` for yuv420p frames: ``YuvStitch(plan).apply(frame)``.

    ``frame`` is the recorded frame as one (fh * 3 // 2, fw) uint8 array (FFmpeg's plane
    layout); the result is the equirect frame in the same layout, (h * 3 // 2, w), limited
    range, the recorded frame's matrix. Built once per plan (the chroma planes' plan
    takes about a third of the plan's build time); ``apply`` may run in several threads.

    :param matrix: "bt601" or "bt709", the recorded frames' YCbCr matrix (the output keeps it).
    :param full_range: whether the recorded frames are full range (yuvj420p).
    """

    def __init__(self, plan: StitchPlan, *, matrix: str = "bt601", full_range: bool = False) -> None:
        if matrix not in LUMA_COEFFICIENTS:
            raise ValueError(f"matrix must be one of {', '.join(LUMA_COEFFICIENTS)}, got {matrix!r}")
        w, h = plan.size
        if w % 4:
            raise ValueError(f"yuv420p output needs a width that is a multiple of 4, got {w}")
        self.plan = plan
        self.size = plan.size
        self.matrix = matrix
        self.full_range = bool(full_range)
        # the same seam ring as the luma plan's: a per-frame seam cuts both at one place
        self.chroma_plan = type(plan).build(
            half_rig(plan.rig), w // 2, blend_width_deg=plan.blend_width_deg, compensate=False, blend=plan.blend, seam_width=plan.seam_width,
            seam=plan.seam,
        )
        self.luma_maps = PlaneMaps.of(plan)
        self.chroma_maps = PlaneMaps.of(self.chroma_plan)
        compensate = plan.compensating
        spread = plan.follow_spread
        self.gain = YuvGain.build(plan.rig if compensate else _neutral(plan.rig), matrix, full_range=full_range, spread=spread) if compensate or full_range else None
        kr, kb = LUMA_COEFFICIENTS[matrix]
        self.luma_weights = (kr, 1.0 - kr - kb, kb)
        self.follower = None
        if plan.follow:
            # the plan's own follower: a video goes through one path or the other
            self.follower = plan._follower

    @property
    def memory_frames(self) -> int:
        """As the plan's (``YuvPlan``): the followed exposure and tracked seam are the plan's own state."""
        return self.plan.memory_frames

    @property
    def stateful(self) -> bool:
        return self.follower is not None or self.plan._tracker is not None

    def observe(self, frame: "NDArray[np.uint8] | Planes") -> Observed:
        """Advance the temporal state (followed exposure, tracked seam) on one recorded
        yuv420p frame, in order, and return it with its factors and seam
        (``StitchPlan.observe``, for planes). The tracked seam is found on the planes
        compensated with the frame's own factors, which travel with it (copies: ``apply``
        does not compensate them again)."""
        tracker = self.plan._tracker
        if self.follower is None and tracker is None:
            return Observed(frame)
        planes = yuv420p_planes(frame)
        y = planes[0]
        fw, fh = self.plan.rig.frame_size
        if y.shape != (fh, fw):
            raise ValueError(f"yuv420p frame is {y.shape[1]}x{y.shape[0]}, the plan expects {fw}x{fh}")
        factors = None if self.follower is None else self.follower.update_luma(y, full_range=self.full_range, luma=self.luma_weights)
        if tracker is None:
            return Observed(frame, factors)
        comp = tuple(p.copy() for p in (planes if self.gain is None else self.gain.apply(planes, factors)))  # type: ignore[arg-type]
        seam = np.asarray(tracker.update_planes(*comp), np.float32)  # type: ignore[attr-defined]
        return Observed(frame, factors, seam, comp)

    def apply(
        self,
        frame: "NDArray[np.uint8] | Planes | Observed",
        out: "NDArray[np.uint8] | Planes | None" = None,
        *,
        index: int | None = None,
    ) -> "NDArray[np.uint8] | Planes":
        """Stitch one recorded yuv420p frame (one array, or the (Y, U, V) planes as the
        reader gives them; or what ``observe`` returned for it, the state then not
        touched); ``out`` receives it when given: a contiguous (h * 3 // 2, w) uint8
        array, or (Y, U, V) plane views (``EncoderFrame.writable()``); returned.
        ``index`` (the frame's number, ``YuvPlan``) is not used."""
        if not isinstance(frame, Observed):
            frame = self.observe(frame)
        planes, out, (oy, ou, ov) = stitch_planes(frame.frame, self.plan.rig.frame_size, out, self.size)
        if frame.compensated is not None:
            y, u, v = frame.compensated
        else:
            y, u, v = planes if self.gain is None else self.gain.apply(planes, frame.factors)
        # the tracked seam (one for all three planes), or None: the geometric one
        seam = frame.seam
        # black where no lens sees, as in RGB
        self.plan._stitch(y, oy, seam, border=16.0, maps=self.luma_maps)
        self.chroma_plan._stitch(u, ou, seam, border=128.0, maps=self.chroma_maps)
        self.chroma_plan._stitch(v, ov, seam, border=128.0, maps=self.chroma_maps)
        return out


def _neutral(rig: RigProfile) -> RigProfile:
    """``rig`` with no photometry to undo (for a range conversion alone)."""
    return replace(rig, lenses=tuple(replace(l, exposure=1.0, color_gain=(1.0, 1.0, 1.0), vignetting=(0.0, 0.0, 0.0)) for l in rig.lenses))
