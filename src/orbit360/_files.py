"""File-level helpers shared by every command: input checks and atomic outputs.

Outputs are written under a temporary name in the target folder and renamed into place
only when complete, so a crash never leaves a half-written file at the final name.

Inputs are never overwritten. Within a *job* (``job_files()``: the CLI opens one around
every command, the library's entry points open one when called directly) every file that
``check_input_file`` accepts is remembered by its resolved path and its inode, and every
output (``atomic_output``, ``check_output_dir``) is refused when it is, or resolves to, one
of those inputs: the same name, another spelling of it, a symbolic or a hard link. Commands
read through ``check_input_file`` and write through ``atomic_output``, so a new command gets
the check without asking for it.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ._types import StrPath
from .errors import InputError, OutputError

__all__ = ["check_input_file", "atomic_output", "check_output_dir", "check_not_input", "job_files", "open_input",
           "check_outputs", "same_file", "reported_as", "within_job"]


@dataclass
class _Job:
    """What one command has read and written so far."""

    inputs: dict[tuple[int, int], Path] = field(default_factory=dict)  # (st_dev, st_ino) -> the path as given
    input_names: dict[Path, Path] = field(default_factory=dict)  # resolved path -> the path as given
    written: set[tuple[int, int]] = field(default_factory=set)  # files this job produced itself
    depth: int = 0


_job: _Job | None = None
# errors that can only be the output's: the disk is full, over quota or read-only
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_job_lock = threading.Lock()


@contextmanager
def job_files() -> Iterator[None]:
    """Scope of one job: inputs read inside it can not be overwritten by outputs written inside it.

    Nested scopes join the outer one, so a command that calls library entry points (which
    open their own scope) checks all its outputs against all its inputs.
    """
    global _job
    with _job_lock:
        if _job is None:
            _job = _Job()
        _job.depth += 1
    try:
        yield
    finally:
        with _job_lock:
            assert _job is not None
            _job.depth -= 1
            if _job.depth == 0:
                _job = None


_F = TypeVar("_F", bound=Callable[..., Any])


def within_job(func: _F) -> _F:
    """Run ``func`` in a ``job_files()`` scope: a library entry point that reads inputs and
    writes outputs then refuses to overwrite its inputs when called outside the CLI too."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with job_files():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _identity(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the absolute spelling
        return p.absolute()


def _register_input(p: Path, st: os.stat_result) -> None:
    with _job_lock:
        if _job is None or _identity(st) in _job.written:
            return  # no job, or a file this job wrote itself (a second pass over its own output)
        _job.inputs.setdefault(_identity(st), p)
        _job.input_names.setdefault(_resolved(p), p)


def _mark_written(p: Path) -> None:
    with _job_lock:
        if _job is None:
            return
        try:
            _job.written.add(_identity(os.stat(p)))
        except OSError:
            pass


def check_not_input(path: StrPath) -> Path:
    """Raise OutputError when ``path`` is (or resolves to, or is a link of) an input of the current job."""
    p = Path(path)
    with _job_lock:
        if _job is None:
            return p
        candidates = [_job.input_names.get(_resolved(p))]
        try:
            candidates.append(_job.inputs.get(_identity(os.stat(p))))
        except (OSError, ValueError):
            pass
    # an input counts while it is still there as it was read: a temporary input deleted
    # since (a salvaged copy, a joined moov) may have handed its inode on to this output
    same = next((c for c in candidates if c is not None and _still_input(c)), None)
    if same is not None:
        what = "is an input" if os.fspath(same) == os.fspath(p) else f"is the same file as the input {same}"
        raise OutputError(f"{what} of this command: refusing to overwrite it", path=p)
    return p


def _still_input(p: Path) -> bool:
    try:
        st = os.stat(p)
    except (OSError, ValueError):
        return False
    with _job_lock:
        return _job is not None and _identity(st) in _job.inputs


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_input_file(path: StrPath) -> Path:
    """Return ``path`` as a Path after checking it is a readable, non-empty regular file.

    Pipes, devices and sockets are refused before anything reads them (reading a FIFO
    with no writer would wait forever). The file is remembered as an input of the
    current job, so no output of the job can overwrite it. Raises InputError naming the
    file otherwise.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError("no such file", path=p) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder, expected a file", path=p)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"is {_not_regular(st.st_mode)}, expected a file", path=p)
    with open_input(p) as f:
        st = os.fstat(f.fileno())
    if st.st_size == 0:
        raise InputError("file is empty (0 bytes)", path=p)
    _register_input(p, st)
    return p


@contextmanager
def open_input(path: StrPath) -> Iterator[BinaryIO]:
    """Open ``path`` for reading without ever blocking, and check it is a regular file.

    O_NONBLOCK makes opening a FIFO return at once (the stat that callers did first can
    be raced by a rename); fstat then tells what was opened.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("no such file", path=p) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a file", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=p) from None
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"is {_not_regular(st.st_mode)}, expected a file", path=p)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        yield f
    finally:
        f.close()


def check_output_dir(path: StrPath) -> Path:
    """Check that the folder that will hold ``path`` exists and is writable, and that ``path``
    is not an input of the current job."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("output folder does not exist", path=parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", path=parent)
    if p.is_dir():
        raise OutputError("output path is a folder", path=p)
    check_not_input(p)
    return p


def same_file(a: StrPath, b: StrPath) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or the same inode."""
    pa, pb = Path(a), Path(b)
    if _resolved(pa) == _resolved(pb):
        return True
    try:
        return os.path.samefile(pa, pb)
    except (OSError, ValueError):
        return False


def check_outputs(paths: list[Path]) -> None:
    """Check a command's outputs before it starts: none is an input, no two are one file."""
    for i, out in enumerate(paths):
        check_not_input(out)
        for other in paths[:i]:
            if same_file(out, other):
                raise OutputError(f"is also given as another output ({other}): name two different files", path=out)


@contextmanager
def reported_as(tmp: StrPath, final: StrPath) -> Iterator[None]:
    """Errors raised inside the block about the hidden temporary ``tmp`` name ``final``
    instead: a user never sees ".clip.k3j2x.enc.mp4", only the file they asked for."""
    from .errors import Orbit360Error

    try:
        yield
    except Orbit360Error as exc:
        if exc.path is not None and os.path.abspath(exc.path) == os.path.abspath(tmp):
            exc.path = os.fspath(final)
        raise


@contextmanager
def atomic_output(path: StrPath) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the final suffix (FFmpeg picks the muxer from it) and is
    removed if the block raises. ``path`` is refused (OutputError) when it is an input of
    the current job, both before the block runs and again before the rename (inputs found
    while working count too). A full disk or a failed write is an OutputError naming
    ``path``, never the temporary name.
    """
    final = check_output_dir(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent or "."
        )
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=final) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with reported_as(tmp, final):
                yield tmp
        except OSError as exc:
            about_tmp = exc.filename is not None and os.path.abspath(os.fsdecode(exc.filename)) == os.path.abspath(tmp)
            if not about_tmp and abs(exc.errno or 0) not in _DISK_ERRORS:  # FFmpeg's errors carry -errno
                raise  # about another file: not ours to reword
            raise OutputError(f"cannot write: {exc.strerror or os.strerror(abs(exc.errno or 0))}", path=final) from None
        check_not_input(final)
        # mkstemp makes the file private (0600); give the output the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        try:
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path=final) from None
        _mark_written(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
