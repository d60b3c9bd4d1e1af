"""The staged single-machine pipeline: decode thread → stitch → encode thread.

Three stages joined by bounded queues, so they overlap: while frame i is encoded, frame
i+1 is stitched and frame i+2 decoded. On machines with many cores the stitch stage runs
in several threads (frames are written back in input order). FFmpeg (decoding, pixel-format conversion,
encoding) and OpenCV (remap) release the GIL, so the threads use separate cores. The
queues hold at most ``depth`` frames each, which bounds memory whatever the length of the
input. Stitched frames are written into a small pool of reused buffers (no per-frame
allocation of a full equirect frame): ``apply`` gets one as ``out``.

Each stage's busy time (not the time it waits on a queue) is measured; the slowest stage
sets the throughput, which ``StageTimings.bottleneck`` names.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Generic, Protocol, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from ..stitch import FramePlan, YuvPlan

__all__ = ["StageTimings", "run_stages", "default_stitchers", "stitch_threads"]

_POLL_S = 0.1

T = TypeVar("T")  # what the decode stage yields
O = TypeVar("O")  # what the stitch stage makes and the encode stage takes
Q = TypeVar("Q")  # what a queue holds


class _End:
    """The marker a stage puts on its queue after its last item."""


_END = _End()


class Buffer(Protocol):
    """A picture in the encoder's own buffers (``VideoWriter.new_frame``)."""

    def writable(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]: ...


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


def default_stitchers(plan: FramePlan | YuvPlan | None = None, cpus: int | None = None) -> int:
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
    frames: Iterable[T],
    apply: Callable[..., O],
    write: Callable[[O], None],
    *,
    depth: int = 3,
    stitchers: int = 1,
    progress: Callable[[int], None] | None = None,
    finish: Callable[[], None] | None = None,
    new_buffer: Callable[[], O] | None = None,
) -> StageTimings:
    """Run ``write(apply(frame, out=buffer))`` for every frame, decode / stitch / encode overlapped.

    :param frames: recorded frames; iterated in a decode thread (closed there when it is a
        generator).
    :param apply: the stitch, ``apply(frame, out=buffer)`` (runs in the calling thread, and
        in ``stitchers - 1`` more threads); ``buffer`` is a picture ``write`` is done with
        (None until there is one), to write into. It must not keep state from frame to
        frame when ``stitchers > 1``.
    :param write: the encoder (runs in an encode thread, frames in input order); must be
        done with its argument when it returns.
    :param depth: frames each queue holds at most.
    :param stitchers: stitch threads (OpenCV and numpy release the GIL).
    :param progress: ``progress(frames_written)``, called from the calling thread.
    :param finish: called in the encode thread after the last frame (the encoder's flush:
        frames it still holds are encoded then), timed as encoding.
    :param new_buffer: makes the buffers ``apply`` writes into (``VideoWriter.new_frame``:
        the encoder reads them without a copy): ``apply`` gets ``out=buffer.writable()``
        and ``write`` gets the buffer itself. Default: what ``apply`` returns is written,
        and given back to it as ``out``.

    ``StageTimings.stitch_s`` sums the busy time of all stitch threads. At most
    ``2 * depth + stitchers`` frames are between decoding and encoding at any time. An
    exception in any stage stops the others and is re-raised here.
    """
    stages = _Stages(frames, apply, write, depth=depth, stitchers=max(1, int(stitchers)), progress=progress,
                     finish=finish, new_buffer=new_buffer)
    return stages.run()


@dataclass
class _Stages(Generic[T, O]):
    """One run of the three stages: the queues between them, their shared stop signal and
    counts, and one method per stage (``decode``, ``stitch``, ``encode``) run in threads."""

    frames: Iterable[T]
    apply: Callable[..., O]
    write: Callable[[O], None]
    depth: int
    stitchers: int
    progress: Callable[[int], None] | None
    finish: Callable[[], None] | None
    new_buffer: Callable[[], O] | None
    timings: StageTimings = field(default_factory=StageTimings)
    written: int = 0
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.decoded: queue.Queue[tuple[int, T] | _End] = queue.Queue(self.depth)
        self.stitched: queue.Queue[tuple[int, O] | _End] = queue.Queue(self.depth)
        self.free: queue.Queue[O] = queue.Queue()  # written pictures, for ``apply`` to reuse
        self.inflight = threading.Semaphore(2 * self.depth + self.stitchers)

    def run(self) -> StageTimings:
        start = time.perf_counter()
        threads = [threading.Thread(target=self.decode, name="orbit360-decode", daemon=True),
                   threading.Thread(target=self.encode, name="orbit360-encode", daemon=True)]
        threads += [threading.Thread(target=self.stitch, args=(False,), name=f"orbit360-stitch-{i}", daemon=True)
                    for i in range(1, self.stitchers)]
        for t in threads:
            t.start()
        try:
            self.stitch(True)
        finally:
            for t in threads:
                t.join()
        self.timings.wall_s = time.perf_counter() - start
        self.timings.frames = self.written
        if self.errors:
            raise self.errors[0]
        if self.progress is not None:
            self.progress(self.written)
        return self.timings

    # ---- what the stages share ----------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.stop.set()

    def put(self, q: "queue.Queue[Q]", item: Q) -> bool:
        """Put ``item`` on ``q`` unless the run stops first (then False)."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: "queue.Queue[Q]") -> "Q | _End":
        """The next item of ``q``, or ``_END`` once the run stops."""
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    return _END

    # ---- the stages ---------------------------------------------------------------------
    def decode(self) -> None:
        """Iterate the frames onto ``decoded``, at most ``2 * depth + stitchers`` in flight."""
        it = iter(self.frames)
        seq = 0
        try:
            while not self.stop.is_set():
                while not self.inflight.acquire(timeout=_POLL_S):
                    if self.stop.is_set():
                        return
                t0 = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                self.timings.decode_s += time.perf_counter() - t0
                if not self.put(self.decoded, (seq, f)):
                    break
                seq += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            self.fail(exc)
        finally:
            if isinstance(it, Generator):
                it.close()
            for _ in range(self.stitchers):
                self.put(self.decoded, _END)

    def stitch(self, report: bool) -> None:
        """Stitch decoded frames onto ``stitched`` (one of ``stitchers`` threads)."""
        try:
            while True:
                item = self.get(self.decoded)
                if isinstance(item, _End):
                    break
                seq, frame = item
                t0 = time.perf_counter()
                out = self.stitch_one(frame)
                dt = time.perf_counter() - t0
                with self.lock:
                    self.timings.stitch_s += dt
                if not self.put(self.stitched, (seq, out)):
                    break
                if report and self.progress is not None:
                    self.progress(self.written)
        except BaseException as exc:  # noqa: BLE001
            self.fail(exc)
        finally:
            self.put(self.stitched, _END)

    def stitch_one(self, frame: object) -> O:
        """``apply`` on one frame, into a picture the encoder is done with (or a new one)."""
        try:
            buf: O | None = self.free.get_nowait()
        except queue.Empty:
            # a new buffer (no more than the frames in flight)
            buf = None if self.new_buffer is None else self.new_buffer()
        if self.new_buffer is None:
            return self.apply(frame, out=buf)
        self.apply(frame, out=cast(Buffer, buf).writable())
        return cast(O, buf)

    def encode(self) -> None:
        """Write stitched frames in input order (stitch threads finish out of order), then ``finish``."""
        ends, nxt = 0, 0
        pending: dict[int, O] = {}
        try:
            while True:
                item = self.get(self.stitched)
                if isinstance(item, _End):
                    if self.stop.is_set():
                        break
                    ends += 1
                    if ends < self.stitchers:
                        continue
                    if self.finish is not None:
                        t0 = time.perf_counter()
                        self.finish()
                        self.timings.encode_s += time.perf_counter() - t0
                    break
                seq, out = item
                pending[seq] = out
                while nxt in pending:
                    self.write_one(pending.pop(nxt))
                    nxt += 1
        except BaseException as exc:  # noqa: BLE001
            self.fail(exc)

    def write_one(self, picture: O) -> None:
        t0 = time.perf_counter()
        self.write(picture)
        self.timings.encode_s += time.perf_counter() - t0
        self.written += 1
        self.inflight.release()
        self.free.put(picture)
