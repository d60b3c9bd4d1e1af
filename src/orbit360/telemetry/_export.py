"""Telemetry exports: JSON (issue 7's schema), CSV, GPX.

JSON is one object with a member per numeric stream, named by the data FourCC::

    {"ACCL": {"t": [seconds, ...], "values": [[x, y, z], ...]}, "GYRO": {...}, ...}

CSV is one table in long form, ``stream,t,v0,v1,...`` (a stream with fewer components
leaves the trailing cells empty). GPX is one track of the GPS5/GPS9 fixes with a lock.

Outputs are streamed block by block (one block per payload and device), so an 8-hour
recording never builds one giant list, and written atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import TextIO
from xml.sax.saxutils import escape

import numpy as np
from numpy.typing import NDArray

from .._files import atomic_output
from .._types import StrPath
from ._series import Series, Telemetry

__all__ = ["write_json", "write_csv", "write_gpx", "gps_fixes", "GpsFix", "export_telemetry", "ExportSummary"]


def _json_list(a: NDArray[np.float64]) -> str:
    """A JSON array of ``a`` (1-D or 2-D); NaN and infinities become null (JSON has none)."""
    if a.size and not np.isfinite(a).all():
        return json.dumps(np.where(np.isfinite(a), a, None).tolist())
    return json.dumps(a.tolist())


def _write_series_json(out: TextIO, series: Series) -> None:
    out.write('{"t": [')
    first = True
    for t, _ in series.blocks:
        if t.size:
            out.write(("" if first else ", ") + _json_list(t)[1:-1])
            first = False
    out.write('], "values": [')
    first = True
    for _, v in series.blocks:
        if v.shape[0]:
            out.write(("" if first else ", ") + _json_list(v)[1:-1])
            first = False
    out.write("]}")


def write_json(telemetry: Telemetry, path: StrPath) -> None:
    """Write every numeric stream as ``{"KEY": {"t": [...], "values": [[...], ...]}}``."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write("{")
        for i, (key, series) in enumerate(telemetry.all_series().items()):
            out.write(("" if i == 0 else ",\n ") + json.dumps(key) + ": ")
            _write_series_json(out, series)
        out.write("}\n")


def write_csv(telemetry: Telemetry, path: StrPath) -> None:
    """Write every numeric stream as rows ``stream,t,v0,...`` (t in seconds)."""
    all_series = telemetry.all_series()
    width = max((v.shape[1] for s in all_series.values() for _, v in s.blocks), default=0)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(["stream", "t", *(f"v{i}" for i in range(width))]) + "\n")
        for key, series in all_series.items():
            for t, v in series.blocks:
                if not t.size:
                    continue
                # One format string per block for the numbers, then the stream name put
                # before every line (a FourCC may hold '%' or ',', which savetxt cannot).
                fmt = ",".join(["%.9f", *["%.12g"] * v.shape[1]]) + "," * (width - v.shape[1])
                buf = io.StringIO()
                np.savetxt(buf, np.column_stack([t, v]), fmt=fmt)
                prefix = key.replace(",", "_").replace('"', "_") + ","
                out.write(prefix + buf.getvalue()[:-1].replace("\n", "\n" + prefix) + "\n")


@dataclass(frozen=True, eq=False)
class GpsFix:
    """A GPS track: ``t`` (s), ``lat``, ``lon`` (degrees), ``ele`` (m), ``time`` (UTC or None)."""

    t: NDArray[np.float64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    ele: NDArray[np.float64]
    time: list[datetime | None]

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _parse_gpsu(text: str) -> datetime | None:
    # GPSU is "yymmddhhmmss.sss" UTC.
    try:
        return datetime.strptime(text.strip()[:16], "%y%m%d%H%M%S.%f").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _iter_fixes(telemetry: Telemetry) -> Iterator[tuple[NDArray, NDArray, NDArray, NDArray, list]]:
    for ts in telemetry.streams:
        s = ts.stream
        if s.values is None or not s.values.shape[0] or s.key not in ("GPS5", "GPS9"):
            continue
        t, v = ts.t, s.values
        if s.key == "GPS5":
            fix = s.sticky.get("GPSF")
            if isinstance(fix, np.ndarray) and fix.size and fix[0] < 2:
                continue  # no lock: the coordinates are the last known or zero
            base = _parse_gpsu(s.sticky["GPSU"]) if isinstance(s.sticky.get("GPSU"), str) else None
            times = [None if base is None else base + timedelta(seconds=float(dt)) for dt in t - t[0]]
            yield t, v[:, 0], v[:, 1], v[:, 2], times
        elif v.shape[1] >= 9:
            # GPS9: lat, lon, alt, 2D speed, 3D speed, days since 2000, s since midnight, DOP, fix
            keep = v[:, 8] >= 2
            epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
            times = [epoch + timedelta(days=float(d), seconds=float(sec)) for d, sec in v[keep][:, 5:7]]
            yield t[keep], v[keep, 0], v[keep, 1], v[keep, 2], times


def gps_fixes(telemetry: Telemetry) -> GpsFix:
    """Every GPS5/GPS9 sample taken with a 2D or 3D lock, in file order."""
    parts = list(_iter_fixes(telemetry))
    if not parts:
        z = np.zeros(0)
        return GpsFix(z, z, z, z, [])
    cat = [np.concatenate([p[i] for p in parts]) for i in range(4)]
    return GpsFix(*cat, [x for p in parts for x in p[4]])


def write_gpx(telemetry: Telemetry, path: StrPath, *, name: str = "orbit360") -> int:
    """Write the GPS fixes as a GPX 1.1 track; returns the number of points."""
    fixes = gps_fixes(telemetry)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write('<gpx version="1.1" creator="orbit360" xmlns="http://www.topografix.com/GPX/1/1">\n')
        out.write(f"<trk><name>{escape(name)}</name><trkseg>\n")
        for lat, lon, ele, when in zip(fixes.lat.tolist(), fixes.lon.tolist(), fixes.ele.tolist(), fixes.time):
            stamp = "" if when is None else f"<time>{when.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z</time>"
            out.write(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>{ele:.3f}</ele>{stamp}</trkpt>\n')
        out.write("</trkseg></trk>\n</gpx>\n")
    return len(fixes)


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_telemetry`` wrote: file paths and the sample count per stream."""

    outputs: tuple[str, ...]
    counts: dict[str, int]
    gps_points: int | None


def export_telemetry(
    source: StrPath, json_path: StrPath, *, csv: bool = False, gpx: bool = False,
    start_s: float | None = None, stop_s: float | None = None,
) -> ExportSummary:
    """Read the telemetry of ``source`` and write JSON, plus CSV / GPX beside it
    (same name, suffix .csv / .gpx). Raises InputError when the file has no gpmd track.

    ``start_s``/``stop_s``: only the samples timed in [start_s, stop_s) seconds (times
    stay the recording's); InputError when the range lies outside the telemetry."""
    from .._files import check_input_file, job_files

    with job_files():
        return _export(check_input_file(source), Path(json_path), csv=csv, gpx=gpx, start_s=start_s, stop_s=stop_s)


def _export(src: Path, out: Path, *, csv: bool, gpx: bool, start_s: float | None, stop_s: float | None) -> ExportSummary:
    from .._files import check_outputs
    from ..errors import InputError, file_context, parse_guard
    from ._series import parse_samples
    from ._track import read_gpmd

    # every file this export writes, checked before the first is written
    check_outputs([out, *([out.with_suffix(".csv")] if csv else []), *([out.with_suffix(".gpx")] if gpx else [])])
    with file_context(src), parse_guard("GPMF telemetry"):
        track = read_gpmd(src)
        if track is None:
            raise InputError("no GPMF telemetry track (sample entry 'gpmd')")
        telemetry = parse_samples(track.samples)
        if start_s is not None or stop_s is not None:
            from dataclasses import replace
            from fractions import Fraction

            from ..timerange import frame_span

            end = max((s.start + s.duration for s in track.samples), default=0.0)
            ms = frame_span(start_s, stop_s, fps=Fraction(1000), frame_count=int(round(end * 1000)), path=src)
            telemetry = replace(telemetry, span=ms.seconds)
    write_json(telemetry, out)
    outputs = [str(out)]
    if csv:
        write_csv(telemetry, out.with_suffix(".csv"))
        outputs.append(str(out.with_suffix(".csv")))
    points = None
    if gpx:
        points = write_gpx(telemetry, out.with_suffix(".gpx"), name=src.name)
        outputs.append(str(out.with_suffix(".gpx")))
    counts = {key: len(series) for key, series in telemetry.all_series().items()}
    return ExportSummary(tuple(outputs), counts, points)
