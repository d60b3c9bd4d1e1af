"""Sound for synthetic recordings, as (channels, n) float32 PCM for an encoder.

``VideoWriter(audio=...)`` and ``encode.write_streams(audio=...)`` encode it as AAC.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..video import AAC_FRAME

__all__ = ["noise_audio", "tone_audio"]


def noise_audio(seconds: float, *, rate: int = 48000, channels: int = 2, seed: int = 0) -> NDArray[np.float32]:
    """(channels, n) band-limited noise with loud bursts: a sound two microphones share."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    base = rng.standard_normal(n + 64)
    base = np.convolve(base, np.hanning(32) / 16.0, mode="same")[:n]
    env = 0.3 + (rng.random(max(1, n // 2400 + 1)) > 0.7).repeat(2400)[:n]
    mono = (0.25 * base * env).astype(np.float32)
    return np.stack([mono * (1.0 - 0.1 * c) for c in range(channels)])


def tone_audio(seconds: float, *, rate: int = 48000) -> NDArray[np.float32]:
    """(2, n) a stereo test tone, 440 Hz left and 660 Hz right at 0.2, in whole AAC frames
    covering at least ``seconds`` (n is the first multiple of 1024 >= seconds * rate)."""
    n = math.ceil(seconds * rate / AAC_FRAME) * AAC_FRAME
    t = np.arange(n) / rate
    return np.stack([0.2 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
