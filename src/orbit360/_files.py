"""File-level helpers shared by every command: input checks and atomic outputs.

Outputs are written under a temporary name in the target folder and renamed into place
only when complete, so a crash never leaves a half-written file at the final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._types import StrPath
from .errors import InputError, OutputError

__all__ = ["check_input_file", "atomic_output", "check_output_dir"]


def check_input_file(path: StrPath) -> Path:
    """Return ``path`` as a Path after checking it is a readable, non-empty regular file.

    Raises InputError naming the file otherwise.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    if p.is_dir():
        raise InputError("is a folder, expected a file", path=p)
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=p) from None
    if size == 0:
        raise InputError("file is empty (0 bytes)", path=p)
    return p


def check_output_dir(path: StrPath) -> Path:
    """Check that the folder that will hold ``path`` exists and is writable."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("output folder does not exist", path=parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", path=parent)
    if p.is_dir():
        raise OutputError("output path is a folder", path=p)
    return p


@contextmanager
def atomic_output(path: StrPath) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the final suffix (FFmpeg picks the muxer from it) and is
    removed if the block raises.
    """
    final = check_output_dir(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent or "."
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give the output the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
