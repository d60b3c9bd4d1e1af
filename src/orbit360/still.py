"""Stills: one frame of a 360 video as a photo-sphere JPEG, or a flat view as plain JPEG.

A photo sphere is an ordinary equirect JPEG plus Google's GPano XMP (``ProjectionType
equirectangular``, ``FullPanoWidthPixels`` ...) in an APP1 segment; photo apps and
viewers that see it open the image as a sphere. The segment is written here, byte by
byte, after the JFIF APP0 (JFIF requires APP0 first), so no XMP toolkit is needed.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from xml.sax.saxutils import quoteattr

import cv2
import numpy as np
from numpy.typing import NDArray

from ._files import atomic_output, check_input_file
from ._types import SizeLike, StrPath
from .errors import InputError, OutputError

__all__ = [
    "XMP_NAMESPACE_HEADER",
    "gpano_xmp",
    "encode_jpeg",
    "insert_xmp",
    "write_photosphere",
    "write_jpeg",
    "read_xmp",
    "gpano_fields",
    "read_frame_at",
    "read_equirect_frame_at",
]

XMP_NAMESPACE_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_SEGMENT_PAYLOAD = 65533  # the 16-bit length field counts itself


def gpano_xmp(
    size: SizeLike,
    *,
    heading_deg: float = 0.0,
    initial_yaw_deg: float = 0.0,
    initial_pitch_deg: float = 0.0,
    initial_fov_deg: float = 90.0,
    software: str = "orbit360",
) -> bytes:
    """The XMP packet (UTF-8) that marks a full equirect image of ``size`` as a photo sphere.

    ``heading_deg`` is the compass heading of the image centre (GPano PoseHeadingDegrees);
    the ``initial_*`` values are the view a viewer opens with (yaw relative to the centre).
    """
    width, height = int(size[0]), int(size[1])
    fields = {
        "UsePanoramaViewer": "True",
        "ProjectionType": "equirectangular",
        "CaptureSoftware": software,
        "StitchingSoftware": software,
        "PoseHeadingDegrees": f"{heading_deg % 360.0:.1f}",
        "InitialViewHeadingDegrees": f"{(heading_deg + initial_yaw_deg) % 360.0:.1f}",
        "InitialViewPitchDegrees": f"{initial_pitch_deg:.1f}",
        "InitialHorizontalFOVDegrees": f"{initial_fov_deg:.1f}",
        "FullPanoWidthPixels": str(width),
        "FullPanoHeightPixels": str(height),
        "CroppedAreaImageWidthPixels": str(width),
        "CroppedAreaImageHeightPixels": str(height),
        "CroppedAreaLeftPixels": "0",
        "CroppedAreaTopPixels": "0",
    }
    attributes = "\n".join(f"    GPano:{name}={quoteattr(value)}" for name, value in fields.items())
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="orbit360">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:GPano="http://ns.google.com/photos/1.0/panorama/"\n'
        f"{attributes}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def encode_jpeg(image_rgb: NDArray[np.uint8], quality: int = 92) -> bytes:
    """JPEG bytes of an (h, w, 3) RGB image (OpenCV's libjpeg, 4:2:0 subsampling)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) RGB image, got shape {image_rgb.shape}")
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the JPEG")
    return data.tobytes()


def insert_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """``jpeg`` with an APP1 XMP segment holding ``xmp``, after SOI and any APP0 (JFIF).

    An existing XMP APP1 is replaced, so inserting twice leaves one.
    """
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    payload = XMP_NAMESPACE_HEADER + xmp
    if len(payload) > _MAX_SEGMENT_PAYLOAD:
        raise ValueError(f"XMP packet too large for one APP1 segment ({len(payload)} bytes)")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    head, pos = [jpeg[:2]], 2
    # Walk the leading APPn segments: keep APP0 first, drop an old XMP APP1.
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        marker, body = jpeg[pos + 1], jpeg[pos + 4 : pos + 2 + length]
        if not (marker == 0xE1 and body.startswith(XMP_NAMESPACE_HEADER)):
            head.append(jpeg[pos : pos + 2 + length])
        pos += 2 + length
    app0_count = 1 + sum(1 for part in head[1:] if part[1] == 0xE0)
    return b"".join(head[:app0_count]) + segment + b"".join(head[app0_count:]) + jpeg[pos:]


def read_xmp(path: StrPath) -> bytes | None:
    """The XMP packet of a JPEG, or None when it has none (reads the APPn segments only)."""
    p = check_input_file(path)
    data = p.read_bytes()
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG file", path=p)
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if data[pos + 1] == 0xE1 and body.startswith(XMP_NAMESPACE_HEADER):
            return body[len(XMP_NAMESPACE_HEADER) :]
        pos += 2 + length
    return None


def gpano_fields(xmp: bytes) -> dict[str, str]:
    """GPano attributes of an XMP packet as a dict (``ProjectionType`` -> ``equirectangular``)."""
    return {k.decode(): v.decode() for k, v in re.findall(rb'GPano:(\w+)="([^"]*)"', xmp)}


def _write_bytes(dst: StrPath, data: bytes) -> Path:
    try:
        with atomic_output(dst) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror}", path=dst) from None
    return Path(dst)


def write_photosphere(frame_rgb: NDArray[np.uint8], dst: StrPath, *, quality: int = 92, **view: float) -> Path:
    """Write an equirect RGB frame as a photo-sphere JPEG (GPano XMP); ``view`` goes to ``gpano_xmp``."""
    height, width = frame_rgb.shape[:2]
    if width != 2 * height:
        raise ValueError(f"a photo sphere must be 2:1 equirect, got {width}x{height}")
    return _write_bytes(dst, insert_xmp(encode_jpeg(frame_rgb, quality), gpano_xmp((width, height), **view)))


def write_jpeg(image_rgb: NDArray[np.uint8], dst: StrPath, *, quality: int = 92) -> Path:
    """Write a plain JPEG (a flat view: no GPano, it is not a sphere)."""
    return _write_bytes(dst, encode_jpeg(image_rgb, quality))


def read_frame_at(src: StrPath, seconds: float) -> NDArray[np.uint8]:
    """The RGB frame shown at ``seconds`` into ``src`` (the frame whose interval holds it)."""
    from .video import open_reader

    if not np.isfinite(seconds) or seconds < 0:
        raise InputError(f"time must be 0 or more seconds, got {seconds}", path=src)
    with open_reader(src) as reader:
        index = int(np.floor(seconds * float(reader.fps) + 1e-6))
        if reader.frame_count and index >= reader.frame_count:
            raise InputError(f"{seconds:g} s is past the end of the video ({reader.duration:.3f} s)", path=src)
        for frame in reader.frames(start=index, stop=index + 1):
            return frame
    raise InputError(f"no frame at {seconds:g} s", path=src)


def read_equirect_frame_at(src: StrPath, seconds: float) -> NDArray[np.uint8]:
    """``read_frame_at`` for a 360 video: InputError naming ``src`` when the frame is not 2:1
    equirect (a flat or a side-by-side video has no photo sphere or view to take)."""
    frame = read_frame_at(src, seconds)
    height, width = frame.shape[:2]
    if width != 2 * height:
        raise InputError(f"not a 2:1 equirect video ({width}x{height})", path=src)
    return frame
