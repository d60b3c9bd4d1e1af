"""Shared fixtures: paths to the real camera samples and small synthetic recordings."""

from __future__ import annotations

from pathlib import Path

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
