"""The viewer page in a real browser: Debian's Chromium driven by Playwright.

The test video is an equirect pattern that turns 18 degrees of longitude per frame, so
every frame and every view direction looks different. Each screenshot of the canvas is
compared with the view that orbit360.reframe renders from the same decoded frame at the
page's yaw/pitch/FOV: the right view must match closely, and a wrong one (another
direction, or another frame) must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orbit360.viewer import ViewerServer

pytestmark = pytest.mark.browser

FPS = 10
FRAMES = 20
WIDTH, HEIGHT = 960, 480
SHIFT_PER_FRAME = WIDTH // FRAMES  # 48 px = 18 degrees of longitude


@pytest.fixture(scope="module")
def turning_video(viewer_kit, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A 2 s, 10 fps H.264 equirect video, and its frames as FFmpeg decodes them."""
    import av

    path = tmp_path_factory.mktemp("viewer") / "turning.mp4"
    base = viewer_kit.equirect_pattern(WIDTH, HEIGHT)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast", "g": "5"}
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * SHIFT_PER_FRAME, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == FRAMES
    return path, decoded


def test_viewer_plays_looks_around_seeks_and_toggles_planet(viewer_kit, 
    browser, turning_video: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    video, frames = turning_video
    errors: list[str] = []
    with ViewerServer(video) as server:
        context = browser.new_context(viewport={"width": viewer_kit.VIEWPORT[0], "height": viewer_kit.VIEWPORT[1]}, device_scale_factor=1)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        viewer = viewer_kit.Page(page, tmp_path)
        page.goto(server.url + "?autoplay=0&yaw=30&pitch=10&fov=90")
        viewer.wait_drawn()
        viewer.controls_top = int(page.locator("#controls").bounding_box()["y"])
        rows = viewer.controls_top
        assert rows > viewer_kit.VIEWPORT[1] * 0.8

        # 1. The first frame, seen at yaw 30, pitch 10, FOV 90.
        start = viewer.state()
        assert start["error"] is None
        assert (start["yaw"], start["pitch"], start["fov"]) == (30, 10, 90)
        shot = viewer.shot("1-initial")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 30, 10, 90), rows)
        wrong = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 75, 10, 90), rows)
        assert right < 10 and wrong > 3 * right, (right, wrong)

        # 2. Drag 120 px left: the grabbed point follows, so the view turns right by 120 * fov / width.
        page.mouse.move(320, 200)
        page.mouse.down()
        for x in range(300, 199, -20):
            page.mouse.move(x, 200)
        page.mouse.up()
        viewer.wait_drawn()
        dragged = viewer.state()
        assert dragged["yaw"] == pytest.approx(30 + 120 * 90 / viewer_kit.VIEWPORT[0], abs=0.01)
        assert dragged["pitch"] == pytest.approx(10, abs=0.01)
        shot = viewer.shot("2-dragged")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], dragged["yaw"], 10, 90), rows)
        before = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], 30, 10, 90), rows)
        assert right < 10 and before > 3 * right, (right, before)

        # 3. Seek to 1.25 s with the seek bar: frame 12 (shown from 1.2 s) appears.
        page.locator("#seek").fill("1.25")
        viewer.wait_drawn("Math.abs(window.orbit360.video.currentTime - 1.25) < 1e-3 && !window.orbit360.video.seeking")
        seeked = viewer.state()
        assert seeked["time"] == pytest.approx(1.25, abs=1e-3)
        assert seeked["label"].startswith("0:01.3 / 0:02.0") or seeked["label"].startswith("0:01.2 / 0:02.0"), seeked["label"]
        shot = viewer.shot("3-seeked")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[12], dragged["yaw"], 10, 90), rows)
        old_frame = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[0], dragged["yaw"], 10, 90), rows)
        assert right < 10 and old_frame > 3 * right, (right, old_frame)

        # 4. Little planet: looking straight down through a stereographic projection.
        page.locator("#planet").click()
        viewer.wait_drawn("window.orbit360.state.planet")
        planet = viewer.state()
        assert (planet["pitch"], planet["fov"]) == (-90, 280)
        shot = viewer.shot("4-planet")
        right = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[12], planet["yaw"], -90, 280, planet=True), rows)
        flat = viewer_kit.view_error(shot, viewer_kit.expected_view(frames[12], planet["yaw"], -90, 120), rows)
        assert right < 12 and flat > 2 * right, (right, flat)

        # 5. Keys and wheel: P back to the flat view it left, arrows turn, the wheel zooms.
        page.keyboard.press("p")
        viewer.wait_drawn("!window.orbit360.state.planet")
        back = viewer.state()
        assert (back["yaw"], back["pitch"], back["fov"]) == (dragged["yaw"], 10, 90)
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowUp")
        page.mouse.move(320, 200)
        page.mouse.wheel(0, 200)
        viewer.wait_drawn()
        moved = viewer.state()
        assert moved["yaw"] == pytest.approx(back["yaw"] + 90 / 18, abs=1e-6)
        assert moved["pitch"] == pytest.approx(10 + 90 / 18, abs=1e-6)
        assert moved["fov"] == pytest.approx(90 * np.exp(0.2), rel=1e-6)

        # 6. Play: time advances and new frames reach the texture; pause stops it.
        uploads = moved["framesUploaded"]
        page.locator("#play").click()
        page.wait_for_function(
            f"() => window.orbit360.state.framesUploaded >= {uploads + 3} && !window.orbit360.video.paused", timeout=30000
        )
        assert page.locator("#play").text_content() == "Pause"
        # Space with the Play button focused pauses: exactly one toggle between the button's
        # own activation and the page's space key.
        page.keyboard.press(" ")
        # The button follows the media element's "pause" event, which fires just after.
        page.wait_for_function("() => window.orbit360.video.paused && document.getElementById('play').textContent === 'Play'")
        context.close()
    assert not errors, errors


def test_no_seam_where_the_equirect_wraps(viewer_kit, browser, tmp_path: Path) -> None:
    """Looking towards yaw 180 (the left/right edge of the frame) shows no line: the picture is
    smooth across the wrap, and so must the canvas be (LINEAR filtering, no mipmaps)."""
    import av

    width, height = 512, 256
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    image = np.empty((height, width, 3), np.uint8)
    image[...] = np.stack([128 + 100 * np.cos(lon), 128 + 60 * np.cos(2 * lon), 128 + 100 * np.sin(lon)], -1).astype(np.uint8)
    video = tmp_path / "smooth.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast"}
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    with ViewerServer(video) as server:
        context = browser.new_context(viewport={"width": viewer_kit.VIEWPORT[0], "height": viewer_kit.VIEWPORT[1]}, device_scale_factor=1)
        viewer = viewer_kit.Page(context.new_page(), tmp_path)
        # Yaw 179.95 puts the wrap 0.8 px right of the centre, inside a 2x2 pixel quad: a
        # mipmapped texture would pick its blurriest level there (the derivative of the
        # texture coordinate jumps by 1) and draw a line.
        viewer.page.goto(server.url + "?autoplay=0&yaw=179.95&fov=40")
        viewer.wait_drawn()
        shot = viewer.shot("seam").astype(int)
        context.close()
    band = shot[100:300]
    # The wrap sits at the canvas centre column; no step there is larger than anywhere else.
    steps = np.abs(np.diff(band, axis=1)).max(axis=(0, 2))
    assert steps.max() <= 3, steps.argmax()
    # And the seam really is in view: red (cos lon) is at its minimum there, ~28.
    assert abs(band[:, viewer_kit.VIEWPORT[0] // 2, 0].mean() - 28) < 6
