"""The viewer page in a real browser: Debian's Chromium driven by Playwright.

The test video is an equirect pattern that turns 18 degrees of longitude per frame, so
every frame and every view direction looks different. Each screenshot of the canvas is
compared with the view that orbit360.reframe renders from the same decoded frame at the
page's yaw/pitch/FOV: the right view must match closely, and a wrong one (another
direction, or another frame) must not.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from orbit360.geometry.rotation import Rotation
from orbit360.reframe import Projection, ViewRenderer
from orbit360.viewer import ViewerServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = (640, 400)
FPS = 10
FRAMES = 20
WIDTH, HEIGHT = 960, 480
SHIFT_PER_FRAME = WIDTH // FRAMES  # 48 px = 18 degrees of longitude


def equirect_pattern(width: int, height: int) -> np.ndarray:
    """Coloured 30-degree tiles with dark grid lines and a bright disc at yaw 40, pitch 15."""
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 360.0
    lat = (0.5 - (np.arange(height) + 0.5) / height) * 180.0
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    sector = np.floor((lon_grid + 180.0) / 30.0).astype(int)
    band = np.floor((lat_grid + 90.0) / 30.0).astype(int)
    rng = np.random.default_rng(7)
    palette = rng.integers(40, 230, size=(72, 3))
    image = palette[(sector * 6 + band) % 72].astype(np.uint8)
    lines = (np.abs(((lon_grid + 180.0) % 10.0) - 5.0) > 4.6) | (np.abs(((lat_grid + 90.0) % 10.0) - 5.0) > 4.6)
    image[lines] = (20, 20, 20)
    marker = (lon_grid - 40.0) ** 2 + (lat_grid - 15.0) ** 2 < 6.0**2
    image[marker] = (255, 255, 255)
    return image


@pytest.fixture(scope="module")
def turning_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A 2 s, 10 fps H.264 equirect video, and its frames as FFmpeg decodes them."""
    import av

    path = tmp_path_factory.mktemp("viewer") / "turning.mp4"
    base = equirect_pattern(WIDTH, HEIGHT)
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


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def expected_view(frame: np.ndarray, yaw: float, pitch: float, fov: float, *, planet: bool = False) -> np.ndarray:
    renderer = ViewRenderer(VIEWPORT, Projection.PLANET if planet else Projection.FLAT)
    return renderer.render(frame, Rotation.from_ypr(yaw, pitch, 0.0), fov)


def view_error(shot: np.ndarray, expected: np.ndarray, rows: int) -> float:
    """Mean absolute RGB difference over the top ``rows`` (above the controls), lightly blurred
    so that a half-pixel difference in edge placement does not dominate."""
    a = cv2.GaussianBlur(shot[:rows].astype(np.float32), (0, 0), 1.5)
    b = cv2.GaussianBlur(expected[:rows].astype(np.float32), (0, 0), 1.5)
    return float(np.mean(np.abs(a - b)))


class Page:
    """The viewer page, with helpers to wait for drawn frames and grab the canvas."""

    def __init__(self, page, out_dir: Path) -> None:
        self.page = page
        self.out_dir = out_dir
        self.controls_top = 0

    def state(self) -> dict:
        return self.page.evaluate(
            "() => ({...window.orbit360.state, time: window.orbit360.video.currentTime,"
            " label: document.getElementById('time').textContent})"
        )

    def wait_drawn(self, expression: str = "true") -> None:
        """Wait until a video frame is uploaded and drawn, and ``expression`` holds."""
        self.page.wait_for_function(
            "() => { const s = window.orbit360 && window.orbit360.state;"
            " return s && s.framesUploaded > 0 && s.drawnUpload === s.framesUploaded && !s.dirty && ("
            + expression + "); }",
            timeout=30000,
        )
        # Two animation frames: the last draw has reached the compositor.
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def shot(self, name: str) -> np.ndarray:
        path = self.out_dir / f"{name}.png"
        self.page.screenshot(path=str(path))
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert image.shape[:2] == (VIEWPORT[1], VIEWPORT[0])
        return image


def test_viewer_plays_looks_around_seeks_and_toggles_planet(
    browser, turning_video: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    video, frames = turning_video
    errors: list[str] = []
    with ViewerServer(video) as server:
        context = browser.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, device_scale_factor=1)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        viewer = Page(page, tmp_path)
        page.goto(server.url + "?autoplay=0&yaw=30&pitch=10&fov=90")
        viewer.wait_drawn()
        viewer.controls_top = int(page.locator("#controls").bounding_box()["y"])
        rows = viewer.controls_top
        assert rows > VIEWPORT[1] * 0.8

        # 1. The first frame, seen at yaw 30, pitch 10, FOV 90.
        start = viewer.state()
        assert start["error"] is None
        assert (start["yaw"], start["pitch"], start["fov"]) == (30, 10, 90)
        shot = viewer.shot("1-initial")
        right = view_error(shot, expected_view(frames[0], 30, 10, 90), rows)
        wrong = view_error(shot, expected_view(frames[0], 75, 10, 90), rows)
        assert right < 10 and wrong > 3 * right, (right, wrong)

        # 2. Drag 120 px left: the grabbed point follows, so the view turns right by 120 * fov / width.
        page.mouse.move(320, 200)
        page.mouse.down()
        for x in range(300, 199, -20):
            page.mouse.move(x, 200)
        page.mouse.up()
        viewer.wait_drawn()
        dragged = viewer.state()
        assert dragged["yaw"] == pytest.approx(30 + 120 * 90 / VIEWPORT[0], abs=0.01)
        assert dragged["pitch"] == pytest.approx(10, abs=0.01)
        shot = viewer.shot("2-dragged")
        right = view_error(shot, expected_view(frames[0], dragged["yaw"], 10, 90), rows)
        before = view_error(shot, expected_view(frames[0], 30, 10, 90), rows)
        assert right < 10 and before > 3 * right, (right, before)

        # 3. Seek to 1.25 s with the seek bar: frame 12 (shown from 1.2 s) appears.
        page.locator("#seek").fill("1.25")
        viewer.wait_drawn("Math.abs(window.orbit360.video.currentTime - 1.25) < 1e-3 && !window.orbit360.video.seeking")
        seeked = viewer.state()
        assert seeked["time"] == pytest.approx(1.25, abs=1e-3)
        assert seeked["label"].startswith("0:01.3 / 0:02.0") or seeked["label"].startswith("0:01.2 / 0:02.0"), seeked["label"]
        shot = viewer.shot("3-seeked")
        right = view_error(shot, expected_view(frames[12], dragged["yaw"], 10, 90), rows)
        old_frame = view_error(shot, expected_view(frames[0], dragged["yaw"], 10, 90), rows)
        assert right < 10 and old_frame > 3 * right, (right, old_frame)

        # 4. Little planet: looking straight down through a stereographic projection.
        page.locator("#planet").click()
        viewer.wait_drawn("window.orbit360.state.planet")
        planet = viewer.state()
        assert (planet["pitch"], planet["fov"]) == (-90, 280)
        shot = viewer.shot("4-planet")
        right = view_error(shot, expected_view(frames[12], planet["yaw"], -90, 280, planet=True), rows)
        flat = view_error(shot, expected_view(frames[12], planet["yaw"], -90, 120), rows)
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


def test_no_seam_where_the_equirect_wraps(browser, tmp_path: Path) -> None:
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
        context = browser.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, device_scale_factor=1)
        viewer = Page(context.new_page(), tmp_path)
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
    assert abs(band[:, VIEWPORT[0] // 2, 0].mean() - 28) < 6
