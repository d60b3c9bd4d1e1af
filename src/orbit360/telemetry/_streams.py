"""One GPMF payload (one gpmd sample) -> the streams of every device in it.

Layout (GoPro's; the nesting is what the format defines, the keys are conventions)::

    DEVC                       one per device (a camera, a Bluetooth sensor, a drone)
      DVID, DVNM               device id and name
      STRM                     one per sensor stream
        STMP TSMP STNM SIUN UNIT SCAL TYPE MTRX ORIN ORIO TMPC ...   metadata ("sticky")
        ACCL                   the data KLV: the *last* KLV of the stream names it

Metadata applies to the KLVs after it in the same nest. A stream's data KLV is its last
KLV; every KLV of the stream with that key is data. Usually there is one, holding
``repeat`` samples in time. Some streams (FACE, SCEN, HUES) write one data KLV per
instant instead, each with several records "at the same time"; then the number of
instants is the number of data KLVs and every record of KLV ``j`` belongs to instant
``j``. That instant index is ``Stream.time_index``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..errors import TelemetryError
from ._klv import NUMERIC_TYPES, Klv, iter_klv
from ._values import DTYPES, apply_scale, decode_scalars, decode_text, decode_text_list, expand_type, numeric_table

__all__ = ["Stream", "parse_payload", "STRUCTURE_KEYS"]

# Keys that describe a stream and are never its data: a stream whose last KLV is one of
# these ("3A STATS" holds only a name) has no samples.
STRUCTURE_KEYS = frozenset(
    {"STNM", "RMRK", "TSMP", "STMP", "TICK", "TOCK", "EMPT", "TIMO", "SIUN", "UNIT", "SCAL", "TYPE"}
)

Sticky = NDArray[np.float64] | str | tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Stream:
    """The samples one device wrote for one sensor in one payload.

    ``values`` is (rows, components) float64 in physical units (raw / SCAL), components
    in the order stored (no MTRX/ORIN re-orientation), or None when the data is not
    numeric (text, FourCCs). Row ``i`` was taken at instant ``time_index[i]`` of
    ``n_times`` instants spread evenly over the payload's duration.
    """

    key: str
    """FourCC of the data KLV (ACCL, GYRO, CORI, GPS5, ...)."""
    device_id: str
    device_name: str
    name: str
    """STNM, the stream's display name ("" when absent)."""
    type: str
    """Type character of the data KLVs ('s', 'f', '?', ...)."""
    fields: str | None
    """Expanded TYPE (one character per field) for '?' data, else None."""
    values: NDArray[np.float64] | None
    time_index: NDArray[np.int64]
    n_times: int
    units: tuple[str, ...] = ()
    """SIUN (or UNIT when SIUN is absent): one for all components or one per component."""
    scale: NDArray[np.float64] | None = None
    total_samples: int | None = None
    """TSMP: samples delivered since the recording started, this payload's included."""
    timestamp_us: int | None = None
    """STMP: microsecond clock of the payload's first sample (Fusion, MAX and later)."""
    matrix: NDArray[np.float64] | None = None
    """MTRX (3x3): maps the stored component order (ORIN) to the output order (ORIO)."""
    orin: str | None = None
    orio: str | None = None
    sticky: dict[str, Sticky] = field(default_factory=dict)
    """Every other metadata KLV of the stream by key (GPSF, GPSU, GPSP, TMPC, VPTS, ...)."""
    offset: int = 0
    """Byte offset of the first data KLV's header in the payload."""

    @property
    def numeric(self) -> bool:
        return self.values is not None

    @property
    def components(self) -> int:
        return 0 if self.values is None else int(self.values.shape[1])

    def times(self, start: float, duration: float) -> NDArray[np.float64]:
        """Seconds of each row for a payload starting at ``start`` lasting ``duration``."""
        return start + self.time_index * (duration / self.n_times) if self.n_times else np.zeros(0)


def parse_payload(buf: bytes | memoryview) -> list[Stream]:
    """Every stream of every DEVC in one GPMF payload, in file order (device, then stream).

    Raises TelemetryError (with the byte offset in the payload) for a malformed payload.
    """
    streams: list[Stream] = []
    for top in iter_klv(buf, 0, len(buf)):
        if top.key != "DEVC":
            continue  # only devices carry streams; other top-level keys are not defined
        if not top.is_nest:
            raise TelemetryError("DEVC is not a nest", offset=top.offset)
        device_id, device_name = "", ""
        for item in iter_klv(buf, top.start, top.end):
            if item.key == "DVID":
                device_id = _device_id(buf, item)
            elif item.key == "DVNM":
                device_name = decode_text(buf, item)
            elif item.key == "STRM" and item.is_nest:
                stream = _parse_stream(buf, item, device_id, device_name)
                if stream is not None:
                    streams.append(stream)
    return streams


def _device_id(buf: bytes | memoryview, klv: Klv) -> str:
    if klv.type in ("F", "c"):
        return decode_text(buf, klv)
    ids = decode_scalars(buf, klv)
    return str(int(ids[0])) if ids is not None and ids.size else ""


def _data_klvs(buf: bytes | memoryview, children: list[Klv], key: str) -> list[Klv]:
    """The stream's data KLVs: those with ``key``, looking one level into nests of that key
    (the delayed-CV form, where each instant is a nest with TICK/TOCK and the data)."""
    out: list[Klv] = []
    for k in children:
        if k.key != key:
            continue
        if k.is_nest:
            out.extend(inner for inner in iter_klv(buf, k.start, k.end) if inner.key == key and not inner.is_nest)
        else:
            out.append(k)
    return out


def _parse_stream(buf: bytes | memoryview, strm: Klv, device_id: str, device_name: str) -> Stream | None:
    children = list(iter_klv(buf, strm.start, strm.end))
    if not children or children[-1].key in STRUCTURE_KEYS:
        return None
    key = children[-1].key
    data = _data_klvs(buf, children, key)
    if not data:
        return None
    if len({k.type for k in data}) != 1:
        raise TelemetryError(f"'{key}' KLVs of one stream have different types", offset=data[0].offset)

    name, type_string = "", None
    siun: tuple[str, ...] = ()
    unit: tuple[str, ...] = ()
    scale = None
    matrix = None
    total_samples = timestamp_us = None
    orin = orio = None
    sticky: dict[str, Sticky] = {}
    for k in children:
        if k.key == key or k.is_nest:
            continue
        if k.key == "STNM":
            name = decode_text(buf, k)
        elif k.key == "TYPE":
            type_string = expand_type(decode_text(buf, k), offset=k.offset)
        elif k.key == "SIUN":
            siun = decode_text_list(buf, k)
        elif k.key == "UNIT":
            unit = decode_text_list(buf, k)
        elif k.key == "SCAL":
            scale = decode_scalars(buf, k)
            if scale is None:
                raise TelemetryError(f"SCAL of '{key}' has non-numeric type '{k.type}'", offset=k.offset)
        elif k.key == "MTRX":
            m = decode_scalars(buf, k)
            matrix = m.reshape(3, 3) if m is not None and m.size == 9 else None
        elif k.key == "ORIN":
            orin = decode_text(buf, k)
        elif k.key == "ORIO":
            orio = decode_text(buf, k)
        elif k.key == "TSMP":
            total_samples = _first_int(buf, k)
        elif k.key == "STMP":
            timestamp_us = _first_int(buf, k)
        elif k.type in ("c", "U", "F"):
            sticky[k.key] = decode_text(buf, k)
        else:
            nums = decode_scalars(buf, k)
            if nums is not None:
                sticky[k.key] = nums

    first = data[0]
    fields = type_string if first.type == "?" else None
    tables = [numeric_table(buf, k, fields) for k in data]
    numeric = (first.type == "?" and fields is not None and set(fields) <= NUMERIC_TYPES) or first.type in NUMERIC_TYPES
    values = None
    if numeric and all(t is not None for t in tables):
        widths = {t.shape[1] for t in tables}  # type: ignore[union-attr]
        if len(widths) != 1:
            raise TelemetryError(f"'{key}' KLVs of one stream have different widths", offset=first.offset)
        values = apply_scale(np.concatenate(tables), scale, key=key, offset=first.offset)  # type: ignore[arg-type]
    if len(data) == 1:
        time_index = np.arange(first.repeat, dtype=np.int64)
        n_times = first.repeat
    else:
        time_index = np.repeat(np.arange(len(data), dtype=np.int64), [k.repeat for k in data])
        n_times = len(data)
    return Stream(
        key=key,
        device_id=device_id,
        device_name=device_name,
        name=name,
        type=first.type,
        fields=fields,
        values=values,
        time_index=time_index,
        n_times=n_times,
        units=siun or unit,
        scale=scale,
        total_samples=total_samples,
        timestamp_us=timestamp_us,
        matrix=matrix,
        orin=orin,
        orio=orio,
        sticky=sticky,
        offset=first.offset,
    )


def _first_int(buf: bytes | memoryview, klv: Klv) -> int | None:
    # Read the integer exactly (float64 would round a 64-bit microsecond clock).
    if klv.type not in DTYPES or klv.size < klv.struct_size or klv.struct_size == 0:
        return None
    dt = np.dtype(DTYPES[klv.type])
    if dt.kind not in "iu" or klv.struct_size < dt.itemsize:
        return None
    return int(np.frombuffer(buf[klv.start : klv.start + dt.itemsize], dtype=dt)[0])
