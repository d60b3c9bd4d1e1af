"""Shared fixtures: paths to the real camera samples and small synthetic recordings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The shared samples folder (shared/samples: real camera files, GPMF payloads); tests
    that ask for it are skipped where it is missing."""
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def optional_samples_dir() -> Path | None:
    """The shared samples folder, or None where it is missing (for a test that checks more
    with the samples but still has something to check without them)."""
    return SAMPLES if SAMPLES.is_dir() else None


@pytest.fixture(scope="session")
def gopro_hero7(samples_dir: Path) -> Path:
    """The healthy HERO7 recording of the shared samples (H.264, AAC, timecode, GPMF, SOS)."""
    path = samples_dir / "gopro_hero7.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(params=sorted(SAMPLES.glob("gopro_*.mp4")) if SAMPLES.is_dir() else [], ids=lambda p: p.name)
def gopro_mp4(request: pytest.FixtureRequest) -> Path:
    """Each GoPro MP4 of the shared samples in turn (none, so skipped, where they are missing)."""
    return Path(request.param)


# CI runs the property tests with a fixed seed sequence, so a run is reproducible; a
# developer's run explores new examples each time (and `ORBIT360_FUZZ_EXAMPLES` digs deeper).
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# ---- the viewer in Debian's Chromium (test_viewer_browser, test_publish_site) ----------------
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


class BrowserKit:
    """What the browser tests share (the ``viewer_kit`` fixture): the viewport, a test
    pattern, the view orbit360.reframe renders for a page state, and the page driver."""

    VIEWPORT = (640, 400)

    @staticmethod
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

    @staticmethod
    def expected_view(frame: np.ndarray, yaw: float, pitch: float, fov: float, *, planet: bool = False) -> np.ndarray:
        from orbit360.geometry import Rotation
        from orbit360.reframe import Projection, ViewRenderer

        renderer = ViewRenderer(BrowserKit.VIEWPORT, Projection.PLANET if planet else Projection.FLAT)
        return renderer.render(frame, Rotation.from_ypr(yaw, pitch, 0.0), fov)

    @staticmethod
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
            assert image.shape[:2] == (BrowserKit.VIEWPORT[1], BrowserKit.VIEWPORT[0])
            return image


@pytest.fixture(scope="session")
def viewer_kit() -> type[BrowserKit]:
    return BrowserKit


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright, headless (skipped where it is missing)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()
