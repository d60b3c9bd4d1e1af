"""The lens geometry a camera model is known to have, for its nominal rig.

Used where the footage cannot tell (self-calibration failed): a nominal rig must be the
camera's own geometry, not one camera's numbers for every camera. Without an entry a
camera gets circles inscribed in each half at 195 degrees (``RigProfile.nominal``).

- GoPro Fusion: image circles a little larger than the frame's height (cut top and
  bottom), centred, about 190 degrees. Measured here on real frames of two modes: 3K
  video (1568x1504 a lens: radius 759-764 px, 0.505-0.508 of the height; both lenses'
  FOV 190.4 from the overlap) and 18 MP photos (3104x3000: radius 1507-1510 px, 0.503;
  FOV 190.3 at half size).
"""

from __future__ import annotations

from ..profile import RigProfile

__all__ = ["known_nominal_rig"]

# model substring -> (circle diameter over the half-frame's shorter side, FOV degrees)
_KNOWN = {"Fusion": (1.012, 190.0)}


def known_nominal_rig(frame_size: tuple[int, int], camera: str, *, fov_deg: float = 195.0) -> RigProfile:
    """The nominal side-by-side rig of ``camera`` for ``frame_size``: its known geometry
    when the model is known, else circles inscribed in each half at ``fov_deg``."""
    for model, (fill, fov) in _KNOWN.items():
        if model in camera:
            return RigProfile.nominal(frame_size, fov_deg=fov, camera=camera, fill=fill)
    return RigProfile.nominal(frame_size, fov_deg=fov_deg, camera=camera)
