"""Independent pieces of one frame's work on the cores OpenCV uses.

``cv2.remap`` and the pyramids spread one call over OpenCV's threads; tables (``LUT``),
per-pixel multiplies and Python-level loops over rectangles do not. ``run_parallel``
runs such pieces (closures over disjoint parts of the arrays) on a small thread pool
(OpenCV and numpy release the GIL). The pool is per process and made on first use, so a
forked worker never inherits a pool whose threads it does not have.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2

__all__ = ["run_parallel", "run_chunks"]

_POOL: tuple[int, ThreadPoolExecutor] | None = None
_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max(1, cv2.getNumThreads()), thread_name_prefix="orbit360-strip"))
        return _POOL[1]


def run_parallel(pieces: Sequence[Callable[[], None]]) -> None:
    """Run ``pieces`` (at most one per OpenCV thread, say) and wait for all; the first
    exception is re-raised. One piece runs in the calling thread."""
    if len(pieces) <= 1:
        for p in pieces:
            p()
        return
    futures = [_pool().submit(p) for p in pieces[1:]]
    try:
        pieces[0]()
    finally:
        for f in futures:
            f.result()


def run_chunks(fn: Callable[[int], None], starts: Sequence[int]) -> None:
    """``fn(start)`` for every start (of row chunks, say), dealt in turn to one piece per
    OpenCV thread: chunks far apart share the work about evenly."""
    n = max(1, cv2.getNumThreads())
    run_parallel([lambda k=k: [fn(s) for s in starts[k::n]] for k in range(min(n, len(starts)))])
