"""Salvage on the way in: commands that read a recording salvage a broken one first."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .._files import check_input_file, reported_as
from .._types import StrPath
from ..errors import SalvageError

__all__ = ["needs_salvage", "salvaged_if_broken"]


def needs_salvage(path: StrPath) -> bool:
    """True when ``path`` is an ISO-BMFF recording without a usable moov: none at all, or
    one whose samples run past the end of the file (the index written first, the media
    data cut)."""
    from ..isobmff import iter_boxes, read_movie
    from ..errors import BoxError

    p = check_input_file(path)
    with open(p, "rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] not in (b"ftyp", b"mdat", b"free", b"wide", b"skip"):
            return False  # not an MP4 at all: let the reader say what it is
        try:
            if not any(b.type == b"moov" for b in iter_boxes(f, 0, p.stat().st_size)):
                return True
        except BoxError:
            # a box runs past the end of the file before any moov: an unfinished recording
            return True
    try:
        return read_movie(p).is_cut
    except BoxError:
        return False  # a damaged moov: the reader that follows says what is wrong


@contextmanager
def salvaged_if_broken(
    path: StrPath,
    *,
    beside: StrPath,
    reference: StrPath | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Yield ``path`` itself, or, when its moov is missing, a salvaged copy of it.

    The copy lives in a temporary folder next to ``beside`` (the command's output, so
    it is on a disk with room for it) and is removed afterwards. ``log`` hears one line
    saying what was done.
    """
    from ._salvage import salvage

    src = Path(path)
    if not needs_salvage(src):
        yield src
        return
    work = Path(tempfile.mkdtemp(prefix=".orbit360-salvage-", dir=Path(beside).parent or "."))
    try:
        out = work / f"{src.stem}.salvaged.mp4"
        try:
            report = salvage(src, out, reference=reference)
        except SalvageError as exc:
            if exc.path is None:
                exc.path = str(src)
            raise
        if log is not None:
            video = [t for t in report.tracks if t["handler"] == "vide"]
            frames = sum(t["samples"] for t in video)
            why = "the file is cut (its index points past its end)" if report.method == "cut-moov" else "no moov (unfinished recording)"
            log(f"{src}: {why}: salvaged {frames} video frames, {report.seconds:.2f} s, to a temporary file first")
        with reported_as(out, src):  # a problem of the salvaged copy is the recording's
            yield out
    finally:
        shutil.rmtree(work, ignore_errors=True)
