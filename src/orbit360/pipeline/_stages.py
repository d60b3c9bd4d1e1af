"""The staged single-machine pipeline: decode thread → stitch → encode thread.

Three stages joined by bounded queues, so they overlap: while frame i is encoded, frame
i+1 is stitched and frame i+2 decoded. On machines with many cores the stitch stage runs
in several threads (frames are written back in input order). FFmpeg (decoding, pixel-format conversion,
encoding) and OpenCV (remap) release the GIL, so the threads use separate cores. The
queues hold at most ``depth`` frames each, which bounds memory whatever the length of the
input. Stitched frames are written into a small pool of reused buffers (no per-frame
allocation of a full equirect frame) when the plan's ``apply`` accepts ``out=``.

Each stage's busy time (not the time it waits on a queue) is measured; the slowest stage
sets the throughput, which ``StageTimings.bottleneck`` names.
"""

from __future__ import annotations

import inspect
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["StageTimings", "run_stages", "default_stitchers", "stitch_threads"]

_END = object()
_POLL_S = 0.1


@dataclass
class StageTimings:
    """Seconds each stage was busy, over ``frames`` frames, and the wall time.

    ``decode_s`` includes the conversion to RGB and ``encode_s`` the conversion back to
    YUV when the job stitches RGB (``_frames``: the YUV path has neither); ``encode_s``
    includes the muxing.
    """

    frames: int = 0
    decode_s: float = 0.0
    stitch_s: float = 0.0
    encode_s: float = 0.0
    wall_s: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def bottleneck(self) -> str:
        """The stage with the most busy time: "decode", "stitch" or "encode"."""
        busy = {"decode": self.decode_s, "stitch": self.stitch_s, "encode": self.encode_s}
        return max(busy, key=busy.__getitem__)

    def per_frame_ms(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: 1000.0 * v / n for k, v in (("decode", self.decode_s), ("stitch", self.stitch_s), ("encode", self.encode_s))}

    def __add__(self, other: "StageTimings") -> "StageTimings":
        return StageTimings(
            self.frames + other.frames,
            self.decode_s + other.decode_s,
            self.stitch_s + other.stitch_s,
            self.encode_s + other.encode_s,
            self.wall_s + other.wall_s,
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> "StageTimings":
        return cls(int(d.get("frames", 0)), float(d.get("decode_s", 0)), float(d.get("stitch_s", 0)),
                   float(d.get("encode_s", 0)), float(d.get("wall_s", 0)))


def _accepts_out(apply: Callable[..., object]) -> bool:
    try:
        return "out" in inspect.signature(apply).parameters
    except (TypeError, ValueError):
        return False


def default_stitchers(plan: object = None, cpus: int | None = None) -> int:
    """Stitch threads for ``plan`` on a machine of ``cpus`` cores (default: this one): one
    on small machines, where the encoder needs every core; a quarter of the cores (at
    most 4) on bigger ones, where a single stitch thread would be the bottleneck.
    (Followed exposure and a tracked seam are observed in the decoding thread, ``_frames``:
    the stitch of an observed frame keeps no state.)"""
    n = cpus if cpus is not None else usable_cpus()
    return 1 if n <= 4 else min(4, n // 4)


_SLOW_PRESETS = ("medium", "slow", "slower", "veryslow", "placebo")


@contextmanager
def stitch_threads(encoder: str, preset: str = "medium", cpus: int | None = None) -> Iterator[None]:
    """OpenCV's threads while a job runs: one when a software encoder (x264, x265) at
    preset medium or slower shares a small machine (4 cores or fewer) with the stitch. The
    encoder then keeps every core busy, and a stitch spread over the cores costs more CPU
    for the same work (measured at 2880 wide on 2 cores: decode + stitch 66-70 CPU ms a
    frame on one thread, 78-79 on two), which comes off the encoder. With NVENC, a fast
    preset, or more cores, the stitch can be the bottleneck and keeps OpenCV's default.
    Restored afterwards."""
    n = cpus if cpus is not None else usable_cpus()
    if "nvenc" in encoder or n > 4 or preset not in _SLOW_PRESETS:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def usable_cpus() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_stages(
    frames: Iterable[NDArray[np.uint8]],
    apply: Callable[..., NDArray[np.uint8]],
    write: Callable[[NDArray[np.uint8]], None],
    *,
    depth: int = 3,
    stitchers: int = 1,
    progress: Callable[[int], None] | None = None,
    finish: Callable[[], None] | None = None,
    new_buffer: Callable[[], Any] | None = None,
) -> StageTimings:
    """Run ``write(apply(frame))`` for every frame, decode / stitch / encode overlapped.

    :param frames: recorded frames; iterated in a decode thread.
    :param apply: the stitch (runs in the calling thread, and in ``stitchers - 1`` more
        threads); given ``out=`` a reused buffer when it accepts one. It must not keep
        state from frame to frame when ``stitchers > 1``.
    :param write: the encoder (runs in an encode thread, frames in input order); must be
        done with its argument when it returns.
    :param depth: frames each queue holds at most.
    :param stitchers: stitch threads (OpenCV and numpy release the GIL).
    :param progress: ``progress(frames_written)``, called from the calling thread.
    :param finish: called in the encode thread after the last frame (the encoder's flush:
        frames it still holds are encoded then), timed as encoding.
    :param new_buffer: makes the buffers ``apply`` writes into when it accepts ``out=``
        (``VideoWriter.new_frame``: the encoder reads them without a copy): ``apply`` gets
        ``out=buffer.writable()`` and ``write`` gets the buffer itself. Default: what
        ``apply`` returns is written, and given back to it as ``out=``.

    ``StageTimings.stitch_s`` sums the busy time of all stitch threads. At most
    ``2 * depth + stitchers`` frames are between decoding and encoding at any time. An
    exception in any stage stops the others and is re-raised here.
    """
    n_st = max(1, int(stitchers))
    timings = StageTimings()
    decoded: queue.Queue[object] = queue.Queue(depth)
    stitched: queue.Queue[object] = queue.Queue(depth)
    free: queue.Queue[NDArray[np.uint8]] = queue.Queue()
    inflight = threading.Semaphore(2 * depth + n_st)
    stop = threading.Event()
    lock = threading.Lock()
    errors: list[BaseException] = []
    written = [0]
    use_out = _accepts_out(apply)

    def fail(exc: BaseException) -> None:
        errors.append(exc)
        stop.set()

    def put(q: queue.Queue[object], item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue[object]) -> object:
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if stop.is_set():
                    return _END

    def decode() -> None:
        it = iter(frames)
        seq = 0
        try:
            while not stop.is_set():
                while not inflight.acquire(timeout=_POLL_S):
                    if stop.is_set():
                        return
                t0 = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                timings.decode_s += time.perf_counter() - t0
                if not put(decoded, (seq, f)):
                    break
                seq += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            fail(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            for _ in range(n_st):
                put(decoded, _END)

    def stitch(report: bool) -> None:
        try:
            while True:
                item = get(decoded)
                if item is _END:
                    break
                seq, frame = item  # type: ignore[misc]
                t0 = time.perf_counter()
                if use_out:
                    try:
                        buf = free.get_nowait()
                    except queue.Empty:
                        # a new buffer (no more than the frames in flight)
                        buf = None if new_buffer is None else new_buffer()
                    if new_buffer is None:
                        out = apply(frame, out=buf)
                    else:
                        apply(frame, out=buf.writable())
                        out = buf
                else:
                    out = apply(frame)
                dt = time.perf_counter() - t0
                with lock:
                    timings.stitch_s += dt
                if not put(stitched, (seq, out)):
                    break
                if report and progress is not None:
                    progress(written[0])
        except BaseException as exc:  # noqa: BLE001
            fail(exc)
        finally:
            put(stitched, _END)

    def encode() -> None:
        ends, nxt = 0, 0
        pending: dict[int, NDArray[np.uint8]] = {}
        try:
            while True:
                item = get(stitched)
                if item is _END:
                    if stop.is_set():
                        break
                    ends += 1
                    if ends < n_st:
                        continue
                    if finish is not None:
                        t0 = time.perf_counter()
                        finish()
                        timings.encode_s += time.perf_counter() - t0
                    break
                seq, out = item  # type: ignore[misc]
                pending[seq] = out
                while nxt in pending:  # stitch threads finish out of order; write in order
                    f = pending.pop(nxt)
                    t0 = time.perf_counter()
                    write(f)
                    timings.encode_s += time.perf_counter() - t0
                    written[0] += 1
                    nxt += 1
                    inflight.release()
                    if use_out:
                        free.put(f)
        except BaseException as exc:  # noqa: BLE001
            fail(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=decode, name="orbit360-decode", daemon=True),
               threading.Thread(target=encode, name="orbit360-encode", daemon=True)]
    threads += [threading.Thread(target=stitch, args=(False,), name=f"orbit360-stitch-{i}", daemon=True) for i in range(1, n_st)]
    for t in threads:
        t.start()
    try:
        stitch(True)
    finally:
        for t in threads:
            t.join()
    timings.wall_s = time.perf_counter() - start
    timings.frames = written[0]
    if errors:
        raise errors[0]
    if progress is not None:
        progress(written[0])
    return timings
