"""Terminal output for the CLI: one place for messages and progress bars.

Progress bars appear only when stderr is a terminal (and not with --quiet); NO_COLOR is
honoured by click's styling. Library code never prints: it calls a progress callback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

__all__ = ["progress_bar", "info", "warn", "deferred_warnings"]


class _Deferred:
    """Warnings held back until the command shows it is working (a progress step, a line
    of output, or its end): a command that then fails prints its error line alone."""

    def __init__(self) -> None:
        self.pending: list[str] = []

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for message in pending:
            click.echo(f"orbit360: warning: {message}", err=True)

    def drop(self) -> None:
        self.pending = []


_deferred: _Deferred | None = None


@contextmanager
def deferred_warnings() -> Iterator[_Deferred]:
    """Hold warnings inside the block; what is still held at its end is printed (unless dropped)."""
    global _deferred
    outer, _deferred = _deferred, _Deferred()
    held = _deferred
    try:
        yield held
    finally:
        _deferred = outer
        held.flush()


def _flush_warnings() -> None:
    if _deferred is not None:
        _deferred.flush()


def info(message: str) -> None:
    _flush_warnings()
    click.echo(message)


def warn(message: str) -> None:
    if _deferred is not None:
        _deferred.pending.append(message)
        return
    click.echo(f"orbit360: warning: {message}", err=True)


@contextmanager
def progress_bar(label: str, *, quiet: bool = False, unit: str = "frames") -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``: a bar with items done, rate and ETA on a terminal's stderr.

    ``unit`` names what is counted: "frames" (shown with fps) or "bytes" (shown in MB/s).
    """
    if quiet or not sys.stderr.isatty():
        yield lambda done, total: _flush_warnings()
        return
    start = time.monotonic()
    state = {"bar": None, "done": 0}

    def show(_: object) -> str:
        elapsed = max(time.monotonic() - start, 1e-6)
        if unit == "bytes":
            return f"{state['done'] / 1e6:.0f} MB, {state['done'] / 1e6 / elapsed:.0f} MB/s"
        return f"{state['done']} {unit}, {state['done'] / elapsed:.1f} fps"

    def update(done: int, total: int) -> None:
        _flush_warnings()
        if state["bar"] is None:
            bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_eta=True, item_show_func=show)
            bar.__enter__()
            state["bar"] = bar
        bar = state["bar"]
        step = done - state["done"]
        state["done"] = done
        if step > 0:
            bar.update(step)  # type: ignore[union-attr]

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)  # type: ignore[union-attr]
