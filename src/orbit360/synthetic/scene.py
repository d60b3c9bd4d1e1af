"""Equirect scenes to record: textured, periodic in longitude, band-limited."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["make_scene"]


def _wrap_blur(img: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """Gaussian blur that wraps around horizontally (longitude is periodic)."""
    pad = int(3 * sigma) + 1
    padded = np.concatenate([img[:, -pad:], img, img[:, :pad]], axis=1)
    out = cv2.GaussianBlur(padded, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return out[:, pad:-pad]


def make_scene(width: int = 2048, seed: int = 0) -> NDArray[np.uint8]:
    """A textured equirect scene (height = width / 2), RGB uint8, periodic in longitude.

    Colour fields at several scales plus shapes, lines and text give every region of the
    sphere structure to match features on, while staying band-limited enough that a
    stitch can be compared to it pixel for pixel.
    """
    rng = np.random.default_rng(seed)
    w, h = int(width), int(width) // 2
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((w / 8, 0.55), (w / 32, 0.3), (w / 128, 0.15)):
        noise = rng.standard_normal((h, w, 3)).astype(np.float32)
        field_ = _wrap_blur(noise, scale / 3)
        field_ /= field_.std() + 1e-6
        img += amp * field_
    img = 0.5 + 0.18 * img
    canvas = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    for _ in range(int(w / 12)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(h // 12, h - h // 12))
        kind = rng.integers(0, 3)
        s = int(rng.integers(max(2, w // 400), max(3, w // 60)))
        if kind == 0:
            cv2.circle(canvas, (x, y), s, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(canvas, (x, y), (x + s, y + int(s * rng.uniform(0.5, 2))), colour, -1, cv2.LINE_AA)
        else:
            x2, y2 = x + int(rng.integers(-4 * s, 4 * s)), y + int(rng.integers(-4 * s, 4 * s))
            cv2.line(canvas, (x, y), (x2, y2), colour, max(1, s // 6), cv2.LINE_AA)
    for i in range(12):
        cv2.putText(
            canvas, f"ORBIT {seed}-{i}", (int(i * w / 12), int(h * (0.3 + 0.4 * (i % 2)))),
            cv2.FONT_HERSHEY_SIMPLEX, w / 2400, (255, 255, 255), max(1, w // 1200), cv2.LINE_AA,
        )
    # a light blur keeps the scene band-limited (no aliasing in the fisheye renders)
    return np.clip(_wrap_blur(canvas.astype(np.float32), max(0.6, w / 3000)), 0, 255).round().astype(np.uint8)
