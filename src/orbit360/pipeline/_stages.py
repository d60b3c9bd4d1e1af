"""The staged single-machine pipeline: decode thread → stitch → encode thread.

Three stages joined by bounded queues, so they overlap: while frame i is encoded, frame
i+1 is stitched and frame i+2 decoded. FFmpeg (decoding, pixel-format conversion,
encoding) and OpenCV (remap) release the GIL, so the threads use separate cores. The
queues hold at most ``depth`` frames each, which bounds memory whatever the length of the
input. Stitched frames are written into a small pool of reused buffers (no per-frame
allocation of a full equirect frame) when the plan's ``apply`` accepts ``out=``.

Each stage's busy time (not the time it waits on a queue) is measured; the slowest stage
sets the throughput, which ``StageTimings.bottleneck`` names.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["StageTimings", "run_stages"]

_END = object()
_POLL_S = 0.1


@dataclass
class StageTimings:
    """Seconds each stage was busy, over ``frames`` frames, and the wall time.

    ``decode_s`` includes the conversion to RGB, ``encode_s`` the conversion back to YUV
    and the muxing.
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


def run_stages(
    frames: Iterable[NDArray[np.uint8]],
    apply: Callable[..., NDArray[np.uint8]],
    write: Callable[[NDArray[np.uint8]], None],
    *,
    depth: int = 3,
    progress: Callable[[int], None] | None = None,
    finish: Callable[[], None] | None = None,
) -> StageTimings:
    """Run ``write(apply(frame))`` for every frame, decode / stitch / encode overlapped.

    :param frames: recorded frames; iterated in a decode thread.
    :param apply: the stitch (runs in the calling thread); given ``out=`` a reused
        buffer when it accepts one.
    :param write: the encoder (runs in an encode thread); must be done with its argument
        when it returns.
    :param depth: frames each queue holds at most.
    :param progress: ``progress(frames_written)``, called from the calling thread.
    :param finish: called in the encode thread after the last frame (the encoder's flush:
        frames it still holds are encoded then), timed as encoding.

    An exception in any stage stops the others and is re-raised here.
    """
    timings = StageTimings()
    decoded: queue.Queue[object] = queue.Queue(depth)
    stitched: queue.Queue[object] = queue.Queue(depth)
    free: queue.Queue[NDArray[np.uint8]] = queue.Queue()
    stop = threading.Event()
    errors: list[BaseException] = []
    written = [0]
    use_out = _accepts_out(apply)

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
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                timings.decode_s += time.perf_counter() - t0
                if not put(decoded, f):
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
            stop.set()
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            put(decoded, _END)

    def encode() -> None:
        try:
            while True:
                item = get(stitched)
                if item is _END:
                    if finish is not None and not stop.is_set():
                        t0 = time.perf_counter()
                        finish()
                        timings.encode_s += time.perf_counter() - t0
                    break
                t0 = time.perf_counter()
                write(item)  # type: ignore[arg-type]
                timings.encode_s += time.perf_counter() - t0
                written[0] += 1
                if use_out:
                    free.put(item)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()

    start = time.perf_counter()
    threads = [threading.Thread(target=decode, name="orbit360-decode", daemon=True),
               threading.Thread(target=encode, name="orbit360-encode", daemon=True)]
    for t in threads:
        t.start()
    try:
        while True:
            item = get(decoded)
            if item is _END:
                break
            t0 = time.perf_counter()
            if use_out:
                try:
                    buf = free.get_nowait()
                except queue.Empty:
                    buf = None  # a new buffer (at most 2 * depth + 2 of them ever exist)
                out = apply(item, out=buf)
            else:
                out = apply(item)
            timings.stitch_s += time.perf_counter() - t0
            if not put(stitched, out):
                break
            if progress is not None:
                progress(written[0])
    except BaseException as exc:
        errors.append(exc)
        stop.set()
    finally:
        if not stop.is_set():
            put(stitched, _END)
        else:
            stop.set()
        for t in threads:
            t.join()
    timings.wall_s = time.perf_counter() - start
    timings.frames = written[0]
    if errors:
        raise errors[0]
    if progress is not None:
        progress(written[0])
    return timings
