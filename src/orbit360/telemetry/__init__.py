"""GoPro GPMF telemetry: KLV parser, streams over time, writer, JSON/CSV/GPX export.

Reading a recording::

    tel = read_telemetry("GX010123.MP4")      # every stream of every gpmd sample
    gyro = tel.series("GYRO")                  # gyro.t (N,), gyro.values (N, 3) in rad/s

``read_gpmd(path)`` gives the raw payloads with their timing, and ``mux_track`` turns
them into an ``isobmff.Track`` so a writer keeps the telemetry track in its output
(``attach_gpmd(video, track, out)`` does it for a finished MP4);
``parse_payload(bytes)`` one payload's streams, ``encode_*`` writes synthetic GPMF.
"""

from ._export import ExportSummary, GpsFix, export_telemetry, gps_fixes, write_csv, write_gpx, write_json
from ._mux import attach_gpmd
from ._klv import NUMERIC_TYPES, Klv, iter_klv
from ._series import Series, Telemetry, TimedStream, parse_samples, read_telemetry
from ._streams import Stream, parse_payload
from ._track import GPMD_SAMPLE_ENTRY, GpmdSample, GpmdTrack, gpmd_track_from_samples, gpmd_track_of, mux_track, read_gpmd
from ._writer import encode_device, encode_klv, encode_nest, encode_stream

__all__ = [
    "attach_gpmd",
    "GPMD_SAMPLE_ENTRY",
    "gpmd_track_from_samples",
    "mux_track",
    "ExportSummary",
    "export_telemetry",
    "GpmdSample",
    "GpsFix",
    "GpmdTrack",
    "Klv",
    "NUMERIC_TYPES",
    "Series",
    "Stream",
    "Telemetry",
    "TimedStream",
    "encode_device",
    "encode_klv",
    "encode_nest",
    "encode_stream",
    "gpmd_track_of",
    "gps_fixes",
    "iter_klv",
    "parse_payload",
    "parse_samples",
    "read_gpmd",
    "read_telemetry",
    "write_csv",
    "write_gpx",
    "write_json",
]
