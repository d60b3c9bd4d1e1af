"""Type aliases for what orbit360's public functions accept."""

from __future__ import annotations

import os
from typing import TypeAlias

StrPath: TypeAlias = str | os.PathLike[str]
"""A filesystem path as a string or path-like object."""

SizeLike: TypeAlias = tuple[int, int]
"""An image size as (width, height) in pixels, OpenCV order."""
