"""Errors raised by orbit360.

The hierarchy, and when to catch each:

- ``Orbit360Error``: base of everything orbit360 raises on bad input or a failed job.
  The CLI turns it into one line ``orbit360: error: FILE: problem`` and exit code 2.
    - ``InputError``: an input file is missing, empty, unreadable or not what the command
      needs (no video track, not side-by-side, not a rig profile).
    - ``OutputError``: an output cannot be written (folder missing or read-only).
    - ``BoxError``: an ISO-BMFF box structure is inconsistent.
        - ``CorruptBoxError`` (also a ``ValueError``): a size or field is impossible.
        - ``TruncatedFileError``: the bytes end inside a box. Deliberately not an
          ``EOFError``: click turns an EOFError into "Aborted!" (exit 1/130), so no error
          of ours derives from a builtin that the CLI framework treats specially.
    - ``SalvageError``: nothing could be recovered from a broken recording.
    - ``TelemetryError``: a GPMF stream is malformed.
    - ``CalibrationError``: self-calibration could not reach an estimate.
    - ``JobError``: a segmented / distributed job failed.

Context is keyword-only: ``path=`` (the file) and ``offset=`` (a byte position).
``file_context(path)`` stamps ``path`` onto errors raised inside it, so byte parsers
never pass filenames along.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "Orbit360Error",
    "InputError",
    "OutputError",
    "BoxError",
    "CorruptBoxError",
    "TruncatedFileError",
    "SalvageError",
    "TelemetryError",
    "CalibrationError",
    "JobError",
    "file_context",
    "parse_guard",
]


_ESCAPE_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), 127)}


class Orbit360Error(Exception):
    """Base class: a problem with an input, an output or a job, worth one line to a user."""

    def __init__(
        self, message: str, *, path: str | os.PathLike[str] | None = None, offset: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.offset = offset

    def __str__(self) -> str:
        where = f" (at byte {self.offset:#x})" if self.offset is not None else ""
        prefix = f"{self.path}: " if self.path else ""
        # one line whatever a damaged file or an odd file name holds (a box type read
        # from corrupt bytes can be a newline): control characters shown escaped
        return f"{prefix}{self.message}{where}".translate(_ESCAPE_CONTROLS)


class InputError(Orbit360Error):
    """An input is missing, unreadable, or not what the command needs."""


class OutputError(Orbit360Error):
    """An output cannot be written."""


class BoxError(Orbit360Error):
    """An ISO-BMFF box structure is inconsistent."""


class CorruptBoxError(BoxError, ValueError):
    """A box size or field is impossible."""


class TruncatedFileError(BoxError):
    """The bytes end inside a box."""


class SalvageError(Orbit360Error):
    """Nothing could be recovered from a broken recording."""


class TelemetryError(Orbit360Error):
    """A GPMF telemetry stream is malformed."""


class CalibrationError(Orbit360Error):
    """Self-calibration could not reach an estimate."""


class JobError(Orbit360Error):
    """A segmented or distributed job failed."""


@contextmanager
def file_context(path: str | os.PathLike[str]) -> Iterator[None]:
    """Stamp ``path`` onto any Orbit360Error raised inside the block that has none yet."""
    try:
        yield
    except Orbit360Error as exc:
        if exc.path is None:
            exc.path = os.fspath(path)
        raise


# What a parser of untrusted bytes raises when a field it trusted was impossible: a table
# shorter than its count, a string that is not text, a number too large for its format.
_PARSE_ERRORS = (struct.error, IndexError, KeyError, UnicodeDecodeError, OverflowError, ZeroDivisionError, ValueError)


@contextmanager
def parse_guard(what: str = "box structure") -> Iterator[None]:
    """Turn the builtin errors a parser raises on impossible bytes into one CorruptBoxError
    ("damaged WHAT: ..."), so every container open fails in one line; with ``file_context``
    around it the line names the file. Orbit360Errors pass unchanged."""
    try:
        yield
    except Orbit360Error:
        raise
    except _PARSE_ERRORS as exc:
        detail = " ".join(str(exc).split())[:160]
        raise CorruptBoxError(f"damaged {what} ({type(exc).__name__}{': ' + detail if detail else ''})") from None
