"""Shared fixtures: paths to the real camera samples and small synthetic recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    return SAMPLES


# CI runs the property tests with a fixed seed sequence, so a run is reproducible; a
# developer's run explores new examples each time (and `ORBIT360_FUZZ_EXAMPLES` digs deeper).
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
