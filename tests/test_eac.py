"""geometry.eac: the EAC 3x2 layout, checked against FFmpeg's v360 filter and itself."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orbit360.geometry import dirs_to_equirect
from orbit360.geometry.eac import EAC_TILES, dirs_to_eac, dirs_to_eac_tiles, eac_tiles_to_dirs, eac_to_dirs
from orbit360.metrics import psnr
from orbit360.synthetic import make_scene


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_axes_land_in_the_middle_of_their_tiles():
    axes = {"left": (-1, 0, 0), "front": (0, 0, 1), "right": (1, 0, 0), "down": (0, -1, 0), "back": (0, 0, -1), "up": (0, 1, 0)}
    for name, d in axes.items():
        tile, u, v = dirs_to_eac_tiles(np.array([d], float))
        assert EAC_TILES[tile[0]] == name
        assert u[0] == pytest.approx(0.5) and v[0] == pytest.approx(0.5)


def test_top_row_is_upright():
    # on the front tile, up is towards the top of the picture and right towards its right
    _, u_r, v_r = dirs_to_eac_tiles(_unit([[0.3, 0, 1]]))
    _, u_u, v_u = dirs_to_eac_tiles(_unit([[0, 0.3, 1]]))
    assert u_r[0] > 0.5 and v_r[0] == pytest.approx(0.5)
    assert v_u[0] < 0.5 and u_u[0] == pytest.approx(0.5)


def test_equal_angles_are_equal_distances():
    ang = np.radians([0, 15, 30, 45])
    d = np.stack([np.sin(ang), np.zeros(4), np.cos(ang)], -1)
    _, u, _ = dirs_to_eac_tiles(d)
    assert np.diff(u) == pytest.approx(np.full(3, 15 / 90))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=3).filter(lambda v: np.linalg.norm(v) > 1e-3),
       st.sampled_from([0.0, 2.0]))
def test_round_trip(v, pad):
    d = _unit([v])
    a = np.sort(np.abs(d[0]))
    assume(a[2] - a[1] > 1e-6)  # a point on a cube edge lies on two tiles' border
    xy = dirs_to_eac(d, (768, 512), pad=pad)
    assert 0 <= xy[0, 0] <= 768 and 0 <= xy[0, 1] <= 512
    assert np.allclose(eac_to_dirs(xy, (768, 512), pad=pad), d, atol=1e-9)


def test_tiles_round_trip_on_a_grid():
    rng = np.random.default_rng(1)
    d = _unit(rng.standard_normal((5000, 3)))
    t, u, v = dirs_to_eac_tiles(d)
    assert np.allclose(eac_tiles_to_dirs(t, u, v), d, atol=1e-12)


def test_matches_ffmpeg_v360():
    """v360 (input=e, output=eac) renders the same picture as our eac_to_dirs (v360 keeps a
    2-pixel margin, hence pad=2): every tile in the right place and orientation."""
    import av

    scene = make_scene(1024, seed=3)
    graph = av.filter.Graph()
    src = graph.add_buffer(width=1024, height=512, format="rgb24", time_base=Fraction(1, 30))
    v360 = graph.add("v360", "input=e:output=eac:w=768:h=512:interp=linear")
    sink = graph.add("buffersink")
    src.link_to(v360)
    v360.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(scene, format="rgb24")
    frame.pts = 0
    graph.push(frame)
    theirs = graph.pull().to_ndarray(format="rgb24")
    xs, ys = np.meshgrid(np.arange(768) + 0.5, np.arange(512) + 0.5)
    d = eac_to_dirs(np.stack([xs, ys], -1), (768, 512), pad=2)
    xy = dirs_to_equirect(d, (1024, 512)).astype(np.float32) - 0.5
    ours = cv2.remap(scene, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    for r in range(2):
        for c in range(3):
            tile = np.s_[r * 256 : (r + 1) * 256, c * 256 : (c + 1) * 256]
            assert psnr(ours[tile], theirs[tile]) > 33, EAC_TILES[3 * r + c]
