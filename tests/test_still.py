"""Stills: photo-sphere JPEGs with GPano XMP (read back by an independent parser), flat views."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from orbit360.cli import main
from orbit360.still import encode_jpeg, gpano_xmp, insert_xmp

GPANO = "{http://ns.google.com/photos/1.0/panorama/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MARKER = (255, 0, 255)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the scan, walked by hand from the spec."""
    assert data[:2] == b"\xff\xd8", "no SOI"
    segments, pos = [], 2
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments


def gpano_of(path: Path) -> dict[str, str]:
    """GPano properties of a JPEG via ElementTree (attribute or element form)."""
    xmp = [p for m, p in jpeg_segments(path.read_bytes()) if m == 0xE1 and p.startswith(b"http://ns.adobe.com/xap/1.0/\x00")]
    assert len(xmp) == 1, f"expected one XMP APP1 segment, found {len(xmp)}"
    root = ET.fromstring(xmp[0].split(b"\x00", 1)[1])
    fields = {}
    for description in root.iter(f"{RDF}Description"):
        fields.update({k[len(GPANO):]: v for k, v in description.attrib.items() if k.startswith(GPANO)})
        fields.update({c.tag[len(GPANO):]: c.text or "" for c in description if c.tag.startswith(GPANO)})
    return fields


def marker_equirect(width: int, yaw: float, pitch: float) -> np.ndarray:
    height = width // 2
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 360
    lat = (0.5 - (np.arange(height) + 0.5) / height) * 180
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    image = np.full((height, width, 3), 70, np.uint8)
    image[np.hypot(lon_grid - yaw, lat_grid - pitch) < 3] = MARKER
    return image


def marker_centroid(image: np.ndarray) -> tuple[float, float]:
    mask = (image[..., 0] > 150) & (image[..., 2] > 150) & (image[..., 1] < 100)
    assert mask.sum() > 4, "marker not found"
    ys, xs = np.nonzero(mask)
    return float(xs.mean() + 0.5), float(ys.mean() + 0.5)


@pytest.fixture(scope="module")
def moving_marker_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 fps, 1 s, 512x256: in frame i the marker sits at yaw -90 + 20 i, pitch 20."""
    path = tmp_path_factory.mktemp("still") / "in360.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 512, 256, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for i in range(10):
            image = marker_equirect(512, -90 + 20 * i, 20)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def test_still_is_a_photo_sphere_with_gpano_xmp(moving_marker_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "frame.jpg"
    assert main(["still", str(moving_marker_video), "--at", "0.55", "-o", str(out)]) == 0
    data = out.read_bytes()
    segments = jpeg_segments(data)
    assert segments[0][0] == 0xE0 and segments[0][1].startswith(b"JFIF\x00"), "JFIF APP0 must stay first"
    assert segments[1][0] == 0xE1, "XMP APP1 right after APP0"
    gpano = gpano_of(out)
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    assert (width, height) == (512, 256)
    assert gpano["ProjectionType"] == "equirectangular"
    assert gpano["UsePanoramaViewer"] == "True"
    assert int(gpano["FullPanoWidthPixels"]) == int(gpano["CroppedAreaImageWidthPixels"]) == width
    assert int(gpano["FullPanoHeightPixels"]) == int(gpano["CroppedAreaImageHeightPixels"]) == height
    assert int(gpano["CroppedAreaLeftPixels"]) == int(gpano["CroppedAreaTopPixels"]) == 0
    # 0.55 s at 10 fps is frame 5: marker at yaw 10, pitch 20, i.e. pixel
    # x = (10 / 360 + 0.5) * 512, y = (0.5 - 20 / 180) * 256.
    x, y = marker_centroid(image)
    assert x == pytest.approx((10 / 360 + 0.5) * 512, abs=1.0)
    assert y == pytest.approx((0.5 - 20 / 180) * 256, abs=1.0)


def test_flat_still_looks_where_asked_and_is_not_a_sphere(moving_marker_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "flat.jpg"
    args = ["still", str(moving_marker_video), "--at", "0.3", "--flat", "--look", "-30,20", "--fov", "60", "--size", "320x180", "-o", str(out)]
    assert main(args) == 0
    data = out.read_bytes()
    assert not any(m == 0xE1 for m, _ in jpeg_segments(data))
    image = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert image.shape == (180, 320, 3)
    # Frame 3 has its marker at yaw -30, pitch 20: dead centre of this view.
    x, y = marker_centroid(image)
    assert (x, y) == (pytest.approx(160, abs=1.0), pytest.approx(90, abs=1.0))


def test_xmp_insertion_replaces_an_old_packet_and_keeps_the_image() -> None:
    image = marker_equirect(128, 0, 0)
    plain = encode_jpeg(image)
    once = insert_xmp(plain, gpano_xmp((128, 64)))
    twice = insert_xmp(once, gpano_xmp((128, 64), heading_deg=90))
    xmps = [p for m, p in jpeg_segments(twice) if m == 0xE1]
    assert len(xmps) == 1 and b'PoseHeadingDegrees="90.0"' in xmps[0]
    decoded = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR) for d in (plain, twice)]
    np.testing.assert_array_equal(decoded[0], decoded[1])


def test_still_errors_are_one_line(moving_marker_video: Path, tmp_path: Path, capsys) -> None:
    assert main(["still", str(moving_marker_video), "--at", "5", "-o", str(tmp_path / "x.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orbit360: error: ") and "past the end" in err and err.count("\n") == 1
    assert main(["still", str(moving_marker_video), "-o", str(tmp_path / "missing" / "x.jpg")]) == 2
    assert "output folder does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()
