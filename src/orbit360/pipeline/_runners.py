"""Where a segmented job's segments run: a local process pool or a Dask cluster.

A ``Runner`` resolves the encoder where the pixel work happens (a worker's GPU decides
"auto"), gives each segment its share of a host's cores for the encoder, and submits
``_segment.run_segment`` tasks, whose futures the driver polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import JobError
from ..video import EncodeOptions, resolve_encoder
from ._segment import JobSpec, run_segment
from ._stages import usable_cpus
from ._work import Record, SegmentTask

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["Runner", "SegmentFuture", "runner_for"]

_DASK_HINT = "pip install 'orbit360[dask]'"


class SegmentFuture(Protocol):
    """A submitted segment (``concurrent.futures.Future`` or a Dask future)."""

    def done(self) -> bool: ...

    def result(self) -> Record: ...

    def cancel(self) -> bool: ...


class Runner:
    stitchers = 0
    """Stitch threads per segment (0: the worker decides from its cores)."""

    def resolve_encoder(self, options: EncodeOptions) -> str:
        raise NotImplementedError

    def encoder_threads(self, options: EncodeOptions) -> int:
        """Encoder threads per segment (0: the encoder chooses, on the worker)."""
        return options.threads

    def submit(self, spec: JobSpec, task: SegmentTask) -> SegmentFuture:
        raise NotImplementedError

    def describe(self) -> Record:
        raise NotImplementedError

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _PoolRunner(Runner):
    """A local ``ProcessPoolExecutor`` (spawned processes: no fork of a threaded driver)."""

    stitchers = 1  # one process per core already: one stitch thread each

    def __init__(self, workers: int | None) -> None:
        self.workers = max(1, int(workers or usable_cpus()))
        self._pool: "ProcessPoolExecutor | None" = None

    def resolve_encoder(self, options: EncodeOptions) -> str:
        return resolve_encoder(options)

    def encoder_threads(self, options: EncodeOptions) -> int:
        # the workers' encoders share this machine: each takes its share of the cores.
        # Left to itself each x264 takes 1.5 threads per core (2880 wide, 2 workers on 2
        # cores: 7% slower and 7% more CPU than one thread each, and more memory); one
        # worker alone keeps x264's own choice (2 threads instead of its 3: 3% slower)
        return options.threads or _share_of(usable_cpus(), self.workers)

    def describe(self) -> Record:
        return {"kind": "process-pool", "workers": self.workers}

    def submit(self, spec: JobSpec, task: SegmentTask) -> SegmentFuture:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(run_segment, spec, task)

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _DaskRunner(Runner):
    """A Dask distributed cluster: one task per segment, run in the cluster's workers."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise JobError(f"--scheduler needs Dask distributed, which is not installed: {_DASK_HINT}") from None
        self.address = address
        try:
            self.client = Client(address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise JobError(f"cannot reach the Dask scheduler at {address}: {exc}") from None

    def resolve_encoder(self, options: EncodeOptions) -> str:
        # where the pixel work happens: a worker's GPU decides "auto", not the driver's
        return str(self.client.submit(resolve_encoder, options, pure=False).result())

    def encoder_threads(self, options: EncodeOptions) -> int:
        # the segments that run at once on a host (its workers' threads) share its cores;
        # the smallest share over the hosts, so that no host is oversubscribed
        if options.threads:
            return options.threads
        try:
            cores = self.client.run(usable_cpus)  # {worker address: cores}
            workers = self.client.scheduler_info().get("workers", {})
        except Exception:  # noqa: BLE001 - a cluster that cannot tell: the encoder chooses
            return 0
        threads: dict[str, int] = {}
        host_cores: dict[str, int] = {}
        for address, w in workers.items():
            host = str(w.get("host", address))
            threads[host] = threads.get(host, 0) + int(w.get("nthreads", 1))
            if address in cores:
                host_cores[host] = int(cores[address])
        shares = [_share_of(host_cores[h], n) for h, n in threads.items() if h in host_cores and n > 0]
        shared = [n for n in shares if n > 0]  # hosts running one segment at a time need no share
        return min(shared) if shared else 0

    def describe(self) -> Record:
        workers = self.client.scheduler_info().get("workers", {})
        return {"kind": "dask", "scheduler": self.address, "workers": len(workers)}

    def submit(self, spec: JobSpec, task: SegmentTask) -> SegmentFuture:
        return self.client.submit(run_segment, spec, task, key=f"orbit360-segment-{spec.key[:12]}-{task.index:05d}", pure=False)

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _share_of(cores: int, concurrent: int) -> int:
    """Encoder threads for each of ``concurrent`` segments on ``cores`` cores; 0 (the
    encoder's own choice) for a segment that has the machine to itself."""
    return 0 if concurrent <= 1 else max(1, cores // concurrent)


def runner_for(scheduler: str | None, workers: int | None) -> Runner:
    """A Dask runner for ``scheduler``'s cluster, else a local pool of ``workers`` processes."""
    return _DaskRunner(scheduler) if scheduler else _PoolRunner(workers)
