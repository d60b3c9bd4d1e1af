"""`orbit360 publish --site DIR`: a static folder that a plain static server (Python's
`http.server` on loopback, no orbit360 code) serves as it is, played in Debian's Chromium:
the first frame seen in the asked direction, and after a seek the frame of that time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

from orbit360.cli import main

FPS, FRAMES, WIDTH = 10, 20, 960


def _turning_video(viewer_kit, path: Path) -> None:  # type: ignore[no-untyped-def]
    base = viewer_kit.equirect_pattern(WIDTH, WIDTH // 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, WIDTH // 2, "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast", "g": "5"}
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * (WIDTH // FRAMES), axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_site_plays_and_seeks_from_a_plain_static_server(viewer_kit, browser, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "orbit.mp4"
    _turning_video(viewer_kit, src)
    site = tmp_path / "site"
    assert main(["publish", str(src), "--site", str(site), "--preset", "veryfast", "--crf", "16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert '<iframe src="site/index.html"' in out and 'site/poster.jpg' in out
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "config.json", "index.html", "orbit.web.mp4", "poster.jpg", "static/viewer.css", "static/viewer.js"]
    assert cv2.imread(str(site / "poster.jpg")).shape == (720, 1280, 3)
    with av.open(str(site / "orbit.web.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == FRAMES

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        errors: list[str] = []
        context = browser.new_context(viewport={"width": viewer_kit.VIEWPORT[0], "height": viewer_kit.VIEWPORT[1]}, device_scale_factor=1)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        viewer = viewer_kit.Page(page, tmp_path)
        page.goto(f"http://127.0.0.1:{port}/?autoplay=0&yaw=30&pitch=10&fov=90")
        viewer.wait_drawn()
        rows = int(page.locator("#controls").bounding_box()["y"])
        assert page.title() == "orbit - orbit360"
        shot = viewer.shot("site-first")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 30, 10, 90), rows)
        wrong = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 75, 10, 90), rows)
        assert right < 10 and wrong > 3 * right, (right, wrong)
        page.locator("#seek").fill("1.25")
        viewer.wait_drawn("Math.abs(window.orbit360.video.currentTime - 1.25) < 1e-3 && !window.orbit360.video.seeking")
        shot = viewer.shot("site-seeked")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[12], 30, 10, 90), rows)
        old = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 30, 10, 90), rows)
        assert right < 10 and old > 3 * right, (right, old)
        context.close()
        assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=10)
