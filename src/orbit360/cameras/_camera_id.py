"""Which camera wrote a file: maker and model from the bytes the camera leaves.

Read, in this order, whatever is present (no decoding):

- GoPro: the movie ``udta`` box ``FIRM`` (firmware, e.g. "HD7.01.01.70.00": the prefix
  names the model) and the device name ``DVNM`` in the first GPMF telemetry sample
  ("Hero7 Black", "GoPro Max", "Fusion").
- QuickTime text tags in ``udta``: ``©mak`` / ``©mod`` / ``©swr`` and ``manu`` / ``modl``
  (Ricoh Theta, Samsung Gear 360 and others write maker and model there).
- Insta360: the ``.insv`` trailer's INFO record (camera type, serial, firmware).
- Last, a scan of the ``moov`` for a known maker name (RICOH THETA, SAMSUNG, Insta360).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["CameraId", "identify_camera", "udta_tags", "gopro_model", "gpmf_device_name", "read_timecode"]

# firmware prefix -> GoPro model (the first letters of FIRM)
_GOPRO_FIRMWARE = (
    ("HD3.1", "HERO3+"),
    ("HD3", "HERO3"),
    ("HD4", "HERO4"),
    ("HDX", "HERO Session"),
    ("HD5", "HERO5 Black"),
    ("HD6", "HERO6 Black"),
    ("HD7", "HERO7"),
    ("HD8", "HERO8 Black"),
    ("HD9", "HERO9 Black"),
    ("H21", "HERO10 Black"),
    ("H22", "HERO11 Black"),
    ("H23", "HERO12 Black"),
    ("H19", "MAX"),
    ("FS1", "Fusion"),
)

GOPRO_360_MODELS = ("MAX", "Fusion")

_KNOWN_MAKERS = (
    (re.compile(rb"RICOH THETA[ A-Za-z0-9]*"), "Ricoh"),
    (re.compile(rb"Gear ?360|SM-C200|SM-R210"), "Samsung"),
    (re.compile(rb"Insta360[ A-Za-z0-9]*"), "Insta360"),
)


@dataclass(frozen=True)
class CameraId:
    """Maker and model as the file states them (None where it says nothing)."""

    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None

    @property
    def name(self) -> str:
        """"GoPro MAX", "Insta360 ONE X2", "Ricoh THETA V", or "unknown"."""
        if self.maker and self.model:
            if self.model.lower().startswith(self.maker.lower()):
                return self.model
            return f"{self.maker} {self.model}"
        return self.maker or self.model or "unknown"


def udta_tags(udta: bytes) -> dict[str, str]:
    """Text children of a movie ``udta`` box (whole box, header included): FourCC -> text."""
    tags: dict[str, str] = {}
    if len(udta) < 8:
        return tags
    pos, end = 8, min(len(udta), struct.unpack_from(">I", udta, 0)[0] or len(udta))
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", udta, pos)
        if size < 8 or pos + size > end:
            break
        body = udta[pos + 8 : pos + size]
        key = kind.decode("latin-1")
        if kind[:1] == b"\xa9" and len(body) >= 4:
            # QuickTime international text: u16 length, u16 language, text
            (n,) = struct.unpack_from(">H", body, 0)
            text = body[4 : 4 + n]
        else:
            text = body
        value = text.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
        if value and value.isprintable():
            tags[key] = value
        pos += size
    return tags


def gopro_model(firmware: str) -> str | None:
    """The GoPro model a ``FIRM`` string names, or None."""
    for prefix, model in _GOPRO_FIRMWARE:
        if firmware.startswith(prefix):
            return model
    return None


def gpmf_device_name(payload: bytes) -> str | None:
    """The ``DVNM`` (device name) of a GPMF payload, or None."""
    i = payload.find(b"DVNM")
    if i < 0 or i + 8 > len(payload) or payload[i + 4 : i + 5] != b"c":
        return None
    size, repeat = payload[i + 5], struct.unpack_from(">H", payload, i + 6)[0]
    text = payload[i + 8 : i + 8 + size * repeat].split(b"\0", 1)[0]
    return text.decode("utf-8", "replace").strip() or None


def read_timecode(f: BinaryIO, movie) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """(start frame number, frames per second) of the first ``tmcd`` track, or None.

    The ``tmcd`` sample is a big-endian u32 frame counter; the sample entry holds flags,
    timescale, frame duration and the number of frames per second.
    """
    for t in movie.tracks:
        if t.codec != b"tmcd" or not t.sample_count:
            continue
        entry = t.sample_entry
        if len(entry) < 8 + 8 + 4 + 12 + 1:
            continue
        _flags, timescale, frame_duration, nframes = struct.unpack_from(">IIIB", entry, 8 + 8 + 4)
        off, size = t.sample_range(0)
        if size < 4:
            continue
        f.seek(off)
        raw = f.read(4)
        if len(raw) < 4:
            continue
        (counter,) = struct.unpack(">I", raw)
        fps = nframes or (round(timescale / frame_duration) if frame_duration else 0)
        return counter, int(fps)
    return None


def _moov_bytes(f: BinaryIO, movie, limit: int = 8 << 20) -> bytes:  # type: ignore[no-untyped-def]
    f.seek(movie.moov.offset)
    return f.read(min(movie.moov.size, limit))


def identify_camera(path: Path, movie=None, trailer=None) -> CameraId:  # type: ignore[no-untyped-def]
    """Maker and model of the camera that wrote ``path`` (a parsed ``Movie`` and
    Insta360 trailer may be passed in to avoid reading them again)."""
    if trailer is not None and trailer.info:
        info = trailer.info
        model = info.get("camera_type") or None
        return CameraId("Insta360", model, info.get("firmware"), info.get("serial"))
    if movie is None:
        return CameraId()
    tags = udta_tags(movie.udta)
    firmware = tags.get("FIRM")
    with open(path, "rb") as f:
        if firmware or any(t.codec == b"gpmd" for t in movie.tracks):
            model = gopro_model(firmware) if firmware else None
            if model is None:
                gpmd = next((t for t in movie.tracks if t.codec == b"gpmd" and t.sample_count), None)
                if gpmd is not None:
                    off, size = gpmd.sample_range(0)
                    f.seek(off)
                    model = gpmf_device_name(f.read(min(size, 1 << 20)))
                    if model and model.lower().startswith("gopro "):
                        model = model[6:]
            return CameraId("GoPro", model, firmware)
        maker = tags.get("\xa9mak") or tags.get("manu")
        model = tags.get("\xa9mod") or tags.get("modl")
        if maker or model:
            return CameraId(_tidy_maker(maker), model, tags.get("\xa9swr"))
        blob = _moov_bytes(f, movie)
    for pattern, maker in _KNOWN_MAKERS:
        m = pattern.search(blob)
        if m:
            return CameraId(maker, m.group(0).decode("latin-1").strip() or None)
    return CameraId()


def _tidy_maker(maker: str | None) -> str | None:
    if maker is None:
        return None
    known = {"RICOH": "Ricoh", "SAMSUNG": "Samsung", "INSTA360": "Insta360", "GOPRO": "GoPro"}
    return known.get(maker.strip().upper(), maker.strip())
