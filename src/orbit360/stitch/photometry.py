"""The photometric model of a rig, fitted on what both lenses (or one lens in two frames)
see: per-lens exposure and white balance, the vignetting shared by both lenses, and the
camera's response curve (``_response``: gamma plus offset).

A scene point of linear radiance L seen by lens i at normalised radius r in frame k is
recorded as the code value v with

    u(v) ** gamma = L * exposure_i * colour_i[c] * frame_k * V(r)

so for two observations a, b of one direction, per channel c,

    gamma * (ln u(v_a) - ln u(v_b)) = d_c [a is back - b is back] + f_k(a) - f_k(b) + ln V(r_a) - ln V(r_b)

which is linear in the gains d, the frame terms f and the vignetting once the curve's
offset is fixed; the offset is found by a 1-D search (the gamma is not observable from
ratios: see ``_response``). Only observations unclipped in every channel, inside the
circle away from its rim, enter; the fit is robust (Huber-weighted least squares), then
refitted on the pairs whose residual is within a few MADs (parallax, moving things, flare
and misregistration are left out). The reference exposure is the geometric mean of the
two lenses (neither lens is boosted or darkened alone), and when the overlap does not
support the fit (few pairs, or compensated lenses agree no better than uncompensated
ones) the compensation shrinks towards none.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._response import SRGB_RESPONSE, code_to_u

__all__ = ["PairObservations", "PhotometricFit", "fit_pairs", "CODE_LO", "CODE_HI"]

CODE_LO = 6.0
"""Code values at or under this (any channel) are too dark to compare (noise, black)."""
CODE_HI = 245.0
"""Code values at or over this (any channel) may be clipped or on the camera's shoulder."""
OFFSETS = tuple(np.round(np.concatenate([np.linspace(-0.15, 0.05, 5), np.geomspace(0.1, 8.0, 12)]), 4))
"""Offsets the fit tries: raised black levels (negative), gamma-like curves (small) and
log-like ones (large: ln u is then nearly linear in the code value)."""
_HUBER_CODES = 3.0  # code values: past this a residual counts linearly
_REJECT_CODES = 6.0  # pairs are outliers past 3 MADs, but never under this many codes
_MIN_PAIRS = 400  # inlier pairs under which the fit shrinks towards no compensation
_FULL_PAIRS = 4000  # inlier pairs from which it is trusted fully
_SPLIT_OK = 3.0  # halves' brightness transfers this close (code values): trusted fully
_SPLIT_BAD = 8.0  # this far apart: not at all


@dataclass(frozen=True)
class PairObservations:
    """Pairs of observations of one direction: codes (N, 3) float in 0..255 of both,
    frame index and lens index (0 front, 1 back) of both, radii (normalised) of both,
    and a weight per pair (less where the image is busy: misregistration shows there)."""

    va: NDArray[np.float64]
    vb: NDArray[np.float64]
    ka: NDArray[np.int64]
    kb: NDArray[np.int64]
    ia: NDArray[np.int64]
    ib: NDArray[np.int64]
    ra: NDArray[np.float64]
    rb: NDArray[np.float64]
    weight: NDArray[np.float64]
    group: NDArray[np.int64]
    """Which sector of directions a pair belongs to (the two halves, even and odd, are
    fitted apart to see whether the fit is stable)."""


@dataclass(frozen=True)
class PhotometricFit:
    """:param log_gain: back lens' linear gain over the front lens' per channel (ln).
    :param vignetting_log: coefficients of ln V(r) on the basis ``basis`` gave.
    :param response: (gamma, offset) fitted.
    :param rms: RMS residual of the inliers, code values.
    :param inliers: pairs kept; ``rejected``: pairs left out as outliers (parallax ...).
    :param trust: 0..1, how far the fit is applied (1 = fully, 0 = no compensation).
    """

    log_gain: NDArray[np.float64]
    vignetting_log: NDArray[np.float64]
    response: tuple[float, float]
    rms: float
    inliers: int
    rejected: int
    trust: float
    frame_log_gain: NDArray[np.float64]
    split_codes: float = float("nan")
    """Largest difference (code values) between the brightness transfers fitted on the
    two halves of the directions."""
    raw_codes: float = float("nan")
    step_codes: tuple[float, ...] = ()
    """Mean residual front minus back (code values, per channel) of the inlier pairs the
    two lenses give in one frame: the colour step the model leaves."""


def _log_u(v: NDArray[np.float64], response: tuple[float, float]) -> NDArray[np.float64]:
    return np.log(np.maximum(code_to_u(v / 255.0, response), 1e-4))


def _irls(
    a_mat: NDArray[np.float64], target: NDArray[np.float64], w0: NDArray[np.float64], scale: NDArray[np.float64], rounds: int = 6
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Huber-weighted least squares (weights ``w0`` per row on top); ``scale`` turns a
    row's residual into code values, where the Huber threshold ``_HUBER_CODES`` lies."""
    wts = w0.copy()
    x = np.zeros(a_mat.shape[1])
    for _ in range(rounds):
        aw = a_mat * wts[:, None]
        x = np.linalg.solve(aw.T @ a_mat + 1e-9 * np.eye(a_mat.shape[1]), aw.T @ target)
        r = a_mat @ x - target
        wts = w0 * np.minimum(1.0, _HUBER_CODES / np.maximum(np.abs(r) * scale, 1e-9))
    return x, a_mat @ x - target


def _huber_cost(r_codes: NDArray[np.float64], w: NDArray[np.float64]) -> float:
    """Mean Huber loss of residuals in code values."""
    a = np.abs(r_codes)
    h = _HUBER_CODES
    return float(np.sum(w * np.where(a < h, 0.5 * a * a, h * (a - 0.5 * h))) / max(np.sum(w), 1e-9))


@dataclass(frozen=True)
class _Design:
    a_mat: NDArray[np.float64]
    w0: NDArray[np.float64]
    n: int
    frames: int


def _design(obs: PairObservations, frames: int, vig_basis: "callable", vig_terms: int) -> _Design:  # type: ignore[valid-type]
    n = len(obs.va)
    frame_cols = np.zeros((n, max(frames - 1, 0)))
    for k in range(1, frames):
        frame_cols[:, k - 1] = (obs.ka == k).astype(float) - (obs.kb == k).astype(float)
    back = (obs.ia == 1).astype(float) - (obs.ib == 1).astype(float)
    vig_cols = vig_basis(obs.ra) - vig_basis(obs.rb) if vig_terms else np.zeros((n, 0))
    blocks = []
    for c in range(3):
        gcols = np.zeros((n, 3))
        gcols[:, c] = back
        blocks.append(np.concatenate([gcols, frame_cols, vig_cols], axis=1))
    return _Design(np.concatenate(blocks), np.tile(obs.weight, 3), n, frames)


def _target(obs: PairObservations, resp: tuple[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """gamma (ln u_a - ln u_b) per row (channel-major), and per row the factor from those
    units to code values (1 / the slope of gamma ln u at the pair's mean code value)."""
    gamma, o = resp
    y = gamma * (_log_u(obs.va, resp) - _log_u(obs.vb, resp))
    vm = 0.5 * (obs.va + obs.vb) / 255.0
    if abs(o - SRGB_RESPONSE[1]) < 1e-9 and abs(gamma - SRGB_RESPONSE[0]) < 1e-9:
        scale = 255.0 * np.maximum(vm + 0.055, 0.02) / gamma
    else:
        scale = 255.0 * np.maximum(vm + o, 0.02) / gamma
    return np.concatenate([y[:, c] for c in range(3)]), np.concatenate([scale[:, c] for c in range(3)])


def _solve(d: _Design, obs: PairObservations, resp: tuple[float, float], rounds: int = 6) -> tuple[NDArray[np.float64], NDArray[np.bool_], float, float]:
    """Fit with ``resp``'s curve: robust, then refitted without the pairs past 3 MADs
    (worst channel). Returns (parameters, inlier pairs, inlier rms in code values, Huber
    cost of the inliers in code values)."""
    y, scale = _target(obs, resp)
    a_mat, w0 = d.a_mat, d.w0
    n = len(y) // 3
    x, r = _irls(a_mat, y, w0, scale, rounds=rounds)
    rc = np.abs(r * scale).reshape(3, n).max(axis=0)
    mad = 1.4826 * float(np.median(rc))
    keep = rc < max(_REJECT_CODES, 3.0 * mad)
    rows_in = np.tile(keep, 3)
    if keep.sum() >= 20:
        aw = a_mat[rows_in] * w0[rows_in, None]
        x = np.linalg.solve(aw.T @ a_mat[rows_in] + 1e-9 * np.eye(a_mat.shape[1]), aw.T @ y[rows_in])
        r = a_mat @ x - y
    rin = (r * scale)[rows_in]
    rms = float(np.sqrt(np.mean(rin**2))) if rin.size else float("inf")
    return x, keep, rms, _huber_cost(rin, w0[rows_in])


def _btf(x: NDArray[np.float64], resp: tuple[float, float]) -> NDArray[np.float64]:
    """Front code values (3 channels) at which the back lens records 20, 40 .. 220 at
    equal radius: the brightness transfer the fit implies (compared between halves)."""
    from ._response import u_to_code

    v = np.arange(20.0, 240.0, 20.0)[:, None] / 255.0
    u = code_to_u(v, resp) * np.exp(-x[:3] / resp[0])[None, :]
    return u_to_code(u, resp) * 255.0


def fit_pairs(
    obs: PairObservations,
    frames: int,
    vig_basis: "callable",  # type: ignore[valid-type]
    vig_terms: int,
    *,
    prior: tuple[float, float] = SRGB_RESPONSE,
) -> PhotometricFit:
    """Fit the model to ``obs``: ``vig_basis(r)`` gives the (N, vig_terms) columns of
    ln V(r). The response's gamma is the prior's; its offset is searched over ``OFFSETS``
    and the prior's own curve, compared by their robust cost in code values; the prior's
    curve is kept unless another fits clearly better (an offset is only observable when
    exposures differ).

    Trust (how much of the fit is applied): the fit on each half of the directions (by
    ``obs.group``, alternately) must imply the same brightness transfer between the
    lenses within a few code values, the compensated lenses must agree better than the
    raw ones, and enough pairs must remain."""
    gamma = prior[0]
    d = _design(obs, frames, vig_basis, vig_terms)
    n = d.n
    cands = [prior] + [(gamma, float(o)) for o in OFFSETS]
    rng = np.random.default_rng(0)

    def search(idx: NDArray[np.int64]) -> list[float]:
        """Robust cost of each candidate curve on (up to 12k of) the pairs ``idx``."""
        if len(idx) > 12000:
            idx = np.sort(rng.choice(idx, 12000, replace=False))
        rows = np.concatenate([idx + c * n for c in range(3)])
        d_sub, obs_sub = _Design(d.a_mat[rows], d.w0[rows], len(idx), frames), _subset(obs, idx)
        return [_solve(d_sub, obs_sub, resp, rounds=3)[3] for resp in cands]

    # another curve than the prior's only when it explains the overlap clearly better on
    # each half of the directions apart (an offset one half does not confirm is noise:
    # misregistration, parallax, a shoulder the family lacks)
    response = prior
    halves = [np.flatnonzero(obs.group % 2 == h) for h in (0, 1)]
    if all(len(hv) >= 200 for hv in halves):
        costs = [search(hv) for hv in halves]
        if os.environ.get("ORBIT360_DEBUG_PHOTOMETRY"):
            print("offset costs", [[(round(c[1], 3), round(k, 3)) for c, k in zip(cands, cs)] for cs in costs])
        total = np.sum(costs, axis=0)
        best = int(np.argmin(total))
        if all(cs[best] < 0.9 * cs[0] for cs in costs):
            response = cands[best]
    x, keep, rms, fitted = _solve(d, obs, response)
    inliers = int(keep.sum())
    # the colour step left between the lenses: mean signed residual, in code values, of
    # the inlier pairs of both lenses in one frame (front minus back)
    y_all, sc_all = _target(obs, response)
    res_codes = ((d.a_mat @ x - y_all) * sc_all).reshape(3, n)
    across = keep & (obs.ia != obs.ib) & (obs.ka == obs.kb)
    sign = np.where(obs.ia == 0, -1.0, 1.0)  # residual is model - data of a minus b
    step = (res_codes[:, across] * sign[across]).mean(axis=1) if across.any() else np.full(3, np.nan)
    # trust: enough pairs ...
    trust = float(np.clip((inliers - _MIN_PAIRS) / (_FULL_PAIRS - _MIN_PAIRS), 0.0, 1.0))
    # ... the compensated lenses agree better than raw ones (on the same inliers) ...
    # (on the pairs of both lenses in one frame: what the compensation is for)
    y, scale = _target(obs, response)
    rows_in = np.tile(keep & across, 3) if across.any() else np.tile(keep, 3)
    raw = _huber_cost((y * scale)[rows_in], d.w0[rows_in])
    fitted = _huber_cost((res_codes.ravel())[rows_in], d.w0[rows_in])
    if not fitted < 0.8 * raw:
        trust = 0.0
    # ... and both halves of the directions tell the same story
    spread = float("inf")
    if all(len(hv) >= 50 for hv in halves):
        fits = []
        for hv in halves:
            hrows = np.concatenate([hv + c * n for c in range(3)])
            fits.append(_solve(_Design(d.a_mat[hrows], d.w0[hrows], len(hv), frames), _subset(obs, hv), response)[0])
        spread = float(np.max(np.abs(_btf(fits[0], response) - _btf(fits[1], response))))
    trust *= float(np.clip((_SPLIT_BAD - spread) / (_SPLIT_BAD - _SPLIT_OK), 0.0, 1.0))
    nf = max(frames - 1, 0)
    frame_gain = np.concatenate([[0.0], x[3 : 3 + nf]])
    return PhotometricFit(
        log_gain=x[:3].copy(),
        vignetting_log=x[3 + nf :].copy(),
        response=response,
        rms=rms,
        inliers=inliers,
        rejected=int(n - inliers),
        trust=trust,
        frame_log_gain=frame_gain - float(np.mean(frame_gain)),
        split_codes=spread,
        raw_codes=float(math.sqrt(2.0 * raw)) if raw > 0 else 0.0,
        step_codes=tuple(float(v) for v in step),
    )


def _subset(obs: PairObservations, idx: NDArray[np.int64]) -> PairObservations:
    return PairObservations(**{k: getattr(obs, k)[idx] for k in obs.__dataclass_fields__})


def reference_split(log_gain: NDArray[np.float64]) -> tuple[tuple[float, tuple[float, ...]], tuple[float, tuple[float, ...]]]:
    """(exposure, colour gain) of the front and back lens with the geometric mean of the
    two as reference: the back lens' gain over the front's split half each way."""
    half = np.asarray(log_gain, np.float64) / 2.0
    out = []
    for g in (-half, half):
        exposure = float(math.exp(float(np.mean(g))))
        colour = tuple(float(c) for c in np.exp(g) / exposure)
        out.append((exposure, colour))
    return out[0], out[1]
