"""Self-calibration on real camera frames (samples/real): the GoPro Fusion 3K video frames
(front and back files side by side, circles cut by the frame edges, a hand-held camera
with the operator close to it) and the THETA Z1 frame. No ground truth: the calibration
must converge (the lenses' rays agree across the overlap to a fraction of a degree, the
back lens near its nominal axis) instead of failing over to the nominal rig, and it must
make the two lenses agree better than the nominal rig does."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from orbit360.profile import RigProfile
from orbit360.stitch import calibrate_rig
from orbit360.stitch._lensfit import Tracks, _Pyramid, fit_lenses, priors_for, track_overlap


def _rgb(path: Path, scale: float = 1.0) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        pytest.skip(f"{path} not found")
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _overlap_rms(rig: RigProfile, frames: list[np.ndarray]) -> float:
    """RMS ray disagreement of overlap tracks under ``rig`` as it stands (rotation-only refit
    with everything else held: how well this rig's lenses agree)."""
    pyr = [_Pyramid(f) for f in frames]
    pf, pb, _ = track_overlap(pyr, rig)
    return fit_lenses(rig, Tracks(pf, pb), priors_for(rig, rig, (0.5, 0.5)), fit_intrinsics=False).overlap_rms_deg if len(pf) >= 30 else 90.0


def test_fusion_3k_frames_calibrate(samples_dir: Path) -> None:
    d = samples_dir / "real" / "fusion3k"
    # half size (1568x752 side by side): the calibration works in angles, not pixels
    frames = [np.concatenate([_rgb(d / f"GPFR0003_img{i}.jpg", 0.5), _rgb(d / f"GPBK0003_img{i}.jpg", 0.5)], axis=1) for i in (1, 3, 5)]
    h, w = frames[0].shape[:2]
    nominal = RigProfile.nominal((w, h))
    result = calibrate_rig(frames, (w, h), nominal=nominal, photometric=False)
    summary = result.summary()
    assert result.matches > 100 and result.residual_deg < 0.3, summary
    assert all(186.0 < lens.fov_deg < 200.0 for lens in result.rig.lenses), summary
    assert _overlap_rms(result.rig, frames) < 0.5 * _overlap_rms(nominal, frames), summary


def test_theta_z1_frame_calibrates(samples_dir: Path) -> None:
    frame = _rgb(samples_dir / "real" / "theta_z1_dualfisheye.jpg")
    h, w = frame.shape[:2]
    result = calibrate_rig([frame], (w, h), photometric=False)
    summary = result.summary()
    assert result.matches > 100 and result.residual_deg < 0.25, summary
    assert all(186.0 < lens.fov_deg < 200.0 for lens in result.rig.lenses), summary
