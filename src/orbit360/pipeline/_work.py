"""The work folder of a segmented job, and what makes a job the same job again.

Beside the output ``OUT.mp4`` lies ``.OUT.mp4.orbit360-work/``:

- ``manifest.json``: the job key, the input identity and the settings it hashes, the
  segment ranges, and per finished segment where it ran (written by the driver);
- ``rig.json``: the rig the job stitches with (calibrated once per job, reused on resume);
- ``seg-00003.mp4`` + ``seg-00003.json``: a finished segment and its record (frames,
  bytes, SHA-256, worker, pid, host, stage timings), written by whoever stitched it, the
  record last, each via a temporary name and a rename;
- ``.seg-00003.progress``: frames done so far (polled by the driver for the progress bar);
- ``lock``: an ``flock`` held by the running job (the kernel drops it when the job dies).

The job key is a SHA-256 of the input's identity (size, mtime, first and last MiB) and
of every setting that changes the pixels or the bitstream (width, rig, codec, encoder,
CRF, preset, GOP, B-frames, segment length, orbit360 version). A changed key wipes the
folder's segments.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from .._files import atomic_output
from .._types import StrPath
from ..errors import JobError

JsonValue = Union[str, int, float, bool, None, list["JsonValue"], dict[str, "JsonValue"]]
Record = dict[str, JsonValue]
"""A JSON object: a manifest, a segment's record, the job's settings."""

__all__ = ["Record", "WorkFolder", "input_identity", "job_key", "segment_ranges", "SegmentTask", "sha256_file"]

MANIFEST_VERSION = 1
_EDGE = 1024 * 1024


def work_folder_for(output: StrPath) -> Path:
    out = Path(output)
    return out.parent / f".{out.name}.orbit360-work"


def sha256_file(path: StrPath, *, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = limit
        while True:
            block = f.read(8 * 1024 * 1024 if left is None else min(8 * 1024 * 1024, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
                if left <= 0:
                    break
    return h.hexdigest()


def input_identity(path: StrPath) -> Record:
    """Size, mtime and hashes of the first and last MiB of ``path``."""
    p = Path(path)
    st = p.stat()
    with open(p, "rb") as f:
        head = hashlib.sha256(f.read(_EDGE)).hexdigest()
        f.seek(max(0, st.st_size - _EDGE))
        tail = hashlib.sha256(f.read(_EDGE)).hexdigest()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head, "tail_sha256": tail}


def job_key(identity: Record, settings: Record) -> str:
    ident = {k: v for k, v in identity.items() if k != "path"}  # moving the input keeps the job
    blob = json.dumps({"input": ident, "settings": settings}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class SegmentTask:
    """Segment ``index``: input frames [start, stop), written to ``name`` in the work folder."""

    index: int
    start: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"seg-{self.index:05d}.mp4"

    @property
    def record_name(self) -> str:
        return f"seg-{self.index:05d}.json"

    @property
    def progress_name(self) -> str:
        return f".seg-{self.index:05d}.progress"


def segment_ranges(frame_count: int, segment_frames: int, *, first: int = 0) -> list[SegmentTask]:
    """Frames [first, first + frame_count) cut every ``segment_frames``; a last piece shorter than half
    a segment joins the one before (a one- or two-frame x265 encode can come out with a
    presentation time before its decode time, which MP4 cannot hold; tiny segments are
    also the least efficient)."""
    if segment_frames < 1:
        raise ValueError(f"segment length must be >= 1 frame, got {segment_frames}")
    starts = list(range(0, frame_count, segment_frames))
    if len(starts) > 1 and frame_count - starts[-1] < segment_frames / 2:
        starts.pop()
    return [
        SegmentTask(i, first + a, first + (starts[i + 1] if i + 1 < len(starts) else frame_count)) for i, a in enumerate(starts)
    ]


def write_json(path: Path, data: Record) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Record | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


class WorkFolder:
    """The work folder beside ``output``, locked for this process while open."""

    def __init__(self, output: StrPath) -> None:
        self.output = Path(output)
        self.path = work_folder_for(output)
        self._lock_fd: int | None = None

    def __enter__(self) -> "WorkFolder":
        self.path.mkdir(exist_ok=True)
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobError("another orbit360 job is writing this output (its work folder is locked)", path=self.output) from None
        self._lock_fd = fd
        # what a killed job left half-written: temporary names never become segments
        for p in self.path.iterdir():
            if ".part" in p.name or p.name.startswith(".moov."):
                p.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> Record | None:
        return read_json(self.manifest_path)

    def write_manifest(self, data: Record) -> None:
        write_json(self.manifest_path, data)

    def reset(self) -> None:
        """Forget an older job: remove everything but the lock."""
        for p in self.path.iterdir():
            if p.name == "lock":
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder (after a successful job)."""
        self.__exit__()
        shutil.rmtree(self.path, ignore_errors=True)
