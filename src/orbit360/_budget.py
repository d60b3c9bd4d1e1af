"""Memory budget: a job checks what it will allocate before it allocates it.

A frame size or an output size typed by a user (``--size 100000x100000``) or read from a
damaged file must end in one line that says how much memory it would take, not in a
MemoryError half-way or the kernel's OOM killer. The budget is the least of the memory
the system has available, this process's address-space limit (``ulimit -v``), its
cgroup's limit, and ``ORBIT360_MEMORY_LIMIT`` (bytes, or with a K/M/G suffix).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import Orbit360Error

__all__ = ["memory_budget", "check_memory", "format_bytes", "BYTES_PER_VIEW_PIXEL", "BYTES_PER_STITCH_PIXEL"]

# Peak resident bytes per output pixel, measured (peak RSS at two sizes, the difference
# over the pixel difference) and rounded up: reframe 54, still --flat 46, stitch 62.
BYTES_PER_VIEW_PIXEL = 64
BYTES_PER_STITCH_PIXEL = 72


def format_bytes(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _parse_size(text: str) -> int | None:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if not m:
        return None
    return int(float(m[1]) * 1024 ** " KMGT".index(m[2].upper() or " "))


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def memory_budget() -> int:
    """Bytes this process can still allocate (see the module docstring)."""
    limits: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = 0
            try:
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("VmSize:"):
                        used = int(line.split()[1]) * 1024
            except (OSError, ValueError, IndexError):
                pass
            limits.append(max(0, soft - used))
    except ImportError:  # not on POSIX
        pass
    cg_max, cg_now = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if cg_max is not None and cg_now is not None:
        limits.append(max(0, cg_max - cg_now))
    env = _parse_size(os.environ.get("ORBIT360_MEMORY_LIMIT", "") or "x")
    if env is not None:
        limits.append(env)
    return min(limits) if limits else 1 << 62


def check_memory(need: int, what: str, hint: str) -> None:
    """Raise Orbit360Error when ``need`` bytes exceed the budget: "WHAT would need N GiB of
    memory, M GiB is available: HINT"."""
    budget = memory_budget()
    if need > budget:
        raise Orbit360Error(f"{what} would need {format_bytes(need)} of memory, {format_bytes(budget)} is available: {hint}")
