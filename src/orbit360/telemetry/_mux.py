"""Add a gpmd telemetry track to an MP4 (issue 7, item 5: the 360 output keeps it).

The output is the input's tracks, unchanged and byte-exact, plus the gpmd track: one new
``mdat`` holds the input's media data followed by the telemetry payloads, and a new
``moov`` indexes both. Run it before spherical metadata is added (the moov is rebuilt
from the tracks' tables; boxes outside them, such as a V1 spherical ``uuid`` in a
``trak``, are not carried).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._files import check_input_file, check_output_dir
from .._types import StrPath
from ..errors import InputError, file_context
from ..isobmff import MdatSource, read_movie, write_movie
from ._track import GpmdTrack, mux_track

__all__ = ["attach_gpmd"]

_BLOCK = 16 * 1024 * 1024
_DEFAULT_FTYP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def attach_gpmd(video: StrPath, gpmd: GpmdTrack, output: StrPath) -> None:
    """Write ``output``: every track of ``video`` plus ``gpmd`` as a telemetry track.

    Raises InputError when ``video`` already has a gpmd track or its samples do not all
    lie in one ``mdat``.
    """
    src = check_input_file(video)
    out = check_output_dir(output)
    with file_context(src):
        movie = read_movie(src)
        if any(t.codec == b"gpmd" for t in movie.tracks):
            raise InputError("already has a gpmd telemetry track")
        if movie.mdat is None:
            raise InputError("no mdat box")
        lo, hi = movie.mdat.payload_offset, movie.mdat.end
        for t in movie.tracks:
            if t.sample_count and (int(t.offsets.min()) < lo or int((t.offsets + t.sizes).max()) > hi):
                raise InputError(f"track {t.track_id} has samples outside the first mdat")
        with open(src, "rb") as f:
            head = f.read(8)
            ftyp = _DEFAULT_FTYP
            if head[4:8] == b"ftyp":
                size = int.from_bytes(head[:4], "big")
                f.seek(0)
                ftyp = f.read(size) if 8 <= size <= 4096 else _DEFAULT_FTYP

    # One contiguous source for write_movie: the input's media data, then the payloads.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".mdat", dir=out.parent or ".")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, open(src, "rb") as f:
            f.seek(lo)
            left = hi - lo
            while left > 0:
                block = f.read(min(_BLOCK, left))
                if not block:
                    raise InputError("file ends inside its mdat", path=src)
                dst.write(block)
                left -= len(block)
            sizes = [len(s.data) for s in gpmd.samples]
            for s in gpmd.samples:
                dst.write(s.data)
        offsets = (hi - lo) + np.concatenate([[0], np.cumsum(sizes[:-1], dtype=np.int64)]) if sizes else []
        tracks = [replace(t, offsets=(t.offsets.astype(np.int64) - lo).astype(np.uint64)) for t in movie.tracks]
        next_id = max((t.track_id for t in tracks), default=0) + 1
        tracks.append(mux_track(gpmd, offsets, track_id=next_id))
        write_movie(
            out,
            ftyp=ftyp,
            source=MdatSource(tmp, 0, tmp.stat().st_size),
            tracks=tracks,
            movie_timescale=movie.timescale,
            udta=movie.udta,
        )
    finally:
        tmp.unlink(missing_ok=True)
