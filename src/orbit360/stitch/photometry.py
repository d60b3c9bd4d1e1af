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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._response import OFFSET_RANGE, SRGB_RESPONSE, code_to_u

__all__ = ["PairObservations", "PhotometricFit", "fit_pairs", "CODE_LO", "CODE_HI"]

CODE_LO = 6.0
"""Code values at or under this (any channel) are too dark to compare (noise, black)."""
CODE_HI = 245.0
"""Code values at or over this (any channel) may be clipped or on the camera's shoulder."""
OFFSETS = tuple(np.round(np.concatenate([np.linspace(-0.15, 0.05, 5), np.geomspace(0.1, 8.0, 12)]), 4))
"""Offsets the fit tries: raised black levels (negative), gamma-like curves (small) and
log-like ones (large: ln u is then nearly linear in the code value)."""
_HUBER = 0.03  # natural-log units: past 3% a residual counts linearly
_MIN_PAIRS = 400  # inlier pairs under which the fit shrinks towards no compensation
_FULL_PAIRS = 4000  # inlier pairs from which it is trusted fully
_RMS_OK = 0.05  # inlier rms (ln units) up to which the fit is trusted fully
_RMS_BAD = 0.12  # and from which not at all


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


@dataclass(frozen=True)
class PhotometricFit:
    """:param log_gain: back lens' linear gain over the front lens' per channel (ln).
    :param vignetting_log: coefficients of ln V(r) on the basis ``basis`` gave.
    :param response: (gamma, offset) fitted.
    :param rms: RMS residual of the inliers (ln units).
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


def _log_u(v: NDArray[np.float64], response: tuple[float, float]) -> NDArray[np.float64]:
    return np.log(np.maximum(code_to_u(v / 255.0, response), 1e-4))


def _irls(a_mat: NDArray[np.float64], target: NDArray[np.float64], w0: NDArray[np.float64], rounds: int = 6) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Huber-weighted least squares (weights ``w0`` per row on top)."""
    wts = w0.copy()
    x = np.zeros(a_mat.shape[1])
    for _ in range(rounds):
        aw = a_mat * wts[:, None]
        x = np.linalg.solve(aw.T @ a_mat + 1e-9 * np.eye(a_mat.shape[1]), aw.T @ target)
        r = a_mat @ x - target
        wts = w0 * np.minimum(1.0, _HUBER / np.maximum(np.abs(r), 1e-9))
    return x, a_mat @ x - target


def _huber_cost(r: NDArray[np.float64], w: NDArray[np.float64]) -> float:
    a = np.abs(r)
    return float(np.sum(w * np.where(a < _HUBER, 0.5 * a * a, _HUBER * (a - 0.5 * _HUBER))) / max(np.sum(w), 1e-9))


def fit_pairs(
    obs: PairObservations,
    frames: int,
    vig_basis: "callable",  # type: ignore[valid-type]
    vig_terms: int,
    *,
    prior: tuple[float, float] = SRGB_RESPONSE,
) -> PhotometricFit:
    """Fit the model to ``obs``: ``vig_basis(r)`` gives the (N, vig_terms) columns of
    ln V(r). The response's gamma is the prior's; its offset is searched over
    ``OFFSET_RANGE`` and the prior's own curve, which is kept unless another fits clearly
    better (an offset is only observable when exposures differ)."""
    gamma = prior[0]
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
    a_mat = np.concatenate(blocks)
    w0 = np.tile(obs.weight, 3)

    def target(resp: tuple[float, float]) -> NDArray[np.float64]:
        y = gamma * (_log_u(obs.va, resp) - _log_u(obs.vb, resp))
        return np.concatenate([y[:, c] for c in range(3)])

    # the offset: a coarse search on a subsample, the prior's curve among the candidates
    rng = np.random.default_rng(0)
    sub = rng.choice(n, min(n, 30000), replace=False) if n > 30000 else np.arange(n)
    rows = np.concatenate([sub + c * n for c in range(3)])
    cands = [prior] + [(gamma, float(o)) for o in OFFSETS]
    costs = []
    for resp in cands:
        _, r = _irls(a_mat[rows], target(resp)[rows], w0[rows], rounds=4)
        costs.append(_huber_cost(r, w0[rows]))
    best = int(np.argmin(costs))
    # keep the prior's curve unless another explains the overlap clearly better
    response = cands[best] if costs[best] < 0.9 * costs[0] else prior
    y = target(response)
    x, r = _irls(a_mat, y, w0)
    # outliers (parallax, motion, flare) out by the residual of the pair (worst channel),
    # then an ordinary weighted least squares on the rest
    rp = np.abs(r.reshape(3, n)).max(axis=0)
    mad = 1.4826 * float(np.median(rp))
    keep = rp < max(0.04, 3.0 * mad)
    rows_in = np.tile(keep, 3)
    if keep.sum() >= 20:
        aw = a_mat[rows_in] * w0[rows_in, None]
        x = np.linalg.solve(aw.T @ a_mat[rows_in] + 1e-9 * np.eye(a_mat.shape[1]), aw.T @ y[rows_in])
        r = a_mat @ x - y
    rin = r[rows_in]
    rms = float(np.sqrt(np.mean(rin**2))) if rin.size else float("nan")
    inliers = int(keep.sum())
    # trust: enough pairs, and the compensated lenses must agree better than raw ones
    trust = float(np.clip((inliers - _MIN_PAIRS) / (_FULL_PAIRS - _MIN_PAIRS), 0.0, 1.0))
    raw = _huber_cost(y[rows_in], w0[rows_in])
    fitted = _huber_cost(r[rows_in], w0[rows_in])
    if not fitted < 0.9 * raw:
        trust = 0.0
    # a model that leaves the lenses this far apart does not describe the camera (its tone
    # curve is outside the family, or the geometry is off): applying it would trade one
    # error for another, so it fades out between _RMS_OK and _RMS_BAD
    trust *= float(np.clip((_RMS_BAD - rms) / (_RMS_BAD - _RMS_OK), 0.0, 1.0)) if math.isfinite(rms) else 0.0
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
    )


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
