"""Rig profiles: JSON round trip and refusal of files that are not rig profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orbit360.errors import InputError
from orbit360.profile import RigProfile
from orbit360.synthetic import misaligned_rig


def test_json_round_trip(tmp_path: Path) -> None:
    rig = misaligned_rig((1280, 640), seed=3)
    path = tmp_path / "rig.json"
    rig.save(path)
    back = RigProfile.load(path)
    assert back == rig
    assert back.lenses[1].rotation_ypr == rig.lenses[1].rotation_ypr


def test_nominal_rig_geometry() -> None:
    rig = RigProfile.nominal((3840, 1920), fov_deg=200)
    front, back = rig.lenses
    assert front.center == (960.0, 960.0) and back.center == (2880.0, 960.0)
    assert back.rotation_ypr == (180.0, 0.0, 0.0)
    assert front.radius == 960.0 and front.fov_deg == 200


@pytest.mark.parametrize(
    "content",
    ["{}", "[1, 2]", "not json at all", json.dumps({"format": "orbit360.rig/1", "frame_size": [10, 5], "lenses": [{"center": [1, 2]}]})],
)
def test_not_a_rig_profile(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match="not a rig profile") as exc:
        RigProfile.load(path)
    assert str(path) in str(exc.value)


def test_scaled_to_another_resolution_and_not_another_crop() -> None:
    rig = RigProfile.nominal((1920, 960), fov_deg=197.0)
    rig = rig.with_lens(1, rig.lenses[1].replace(center=(1441.5, 478.25), radius=471.0, distortion=(0.01, 0.0, 0.0, 0.0)))
    big = rig.scaled_to((2880, 1440))
    assert big.frame_size == (2880, 1440)
    assert big.lenses[1].center == (1441.5 * 1.5, 478.25 * 1.5) and big.lenses[1].radius == 471.0 * 1.5
    assert big.lenses[1].fov_deg == 197.0 and big.lenses[1].distortion == (0.01, 0.0, 0.0, 0.0)
    assert big.lenses[1].rotation_ypr == rig.lenses[1].rotation_ypr
    assert rig.scaled_to((1920, 960)) is rig
    # the focal length in pixels scales with the frame
    assert abs(big.lenses[1].focal / rig.lenses[1].focal - 1.5) < 1e-12
    with pytest.raises(InputError, match="another aspect ratio"):
        rig.scaled_to((1920, 1080))
    with pytest.raises(InputError) as exc:
        rig.scaled_to((3136, 1504), path="rig.json")
    assert "\n" not in str(exc.value) and "rig.json" in str(exc.value)
