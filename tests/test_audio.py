"""audio: ambisonic detection and the SA3D (ambiX) box; stereo passes through unmarked."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbit360.audio import Sa3d, ambisonic_order, audio_tracks, describe_audio, mark_spatial_audio, spatial_audio_boxes
from orbit360.synthetic import noise_audio, write_streams
from orbit360.errors import CorruptBoxError
from orbit360.isobmff.spherical import inject_spherical

FRAMES = [np.full((32, 64, 3), 90, np.uint8)] * 3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    ambi = write_streams(d / "ambi.mp4", [FRAMES], audio=noise_audio(0.1, channels=4))
    stereo = write_streams(d / "stereo.mp4", [FRAMES], audio=noise_audio(0.1, channels=2))
    # a MAX-like file: a stereo track and a 4-channel ambisonic track
    both = d / "both.mp4"
    with av.open(str(both), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 64, 32, "yuv420p"
        streams = [out.add_stream("aac", rate=48000, layout=layout) for layout in ("stereo", "4.0")]
        for i, f in enumerate(FRAMES):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                out.mux(p)
        for s, n in zip(streams, (2, 4)):
            pcm = noise_audio(0.1, channels=n)
            for k in range(0, pcm.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, k : k + 1024]), format="fltp", layout=s.layout.name)
                af.sample_rate, af.pts = 48000, k
                for p in s.encode(af):
                    out.mux(p)
        for s in [v, *streams]:
            for p in s.encode(None):
                out.mux(p)
    return ambi, stereo, both


def test_ambisonic_orders():
    assert [ambisonic_order(n) for n in (1, 2, 4, 6, 9, 16, 25)] == [None, None, 1, None, 2, 3, 4]


def test_sa3d_bytes_follow_the_rfc():
    raw = Sa3d.ambix(4).to_bytes()
    assert raw[:8] == struct.pack(">I4s", 36, b"SA3D")
    # version 0, periphonic, order 1, ACN, SN3D, 4 channels, map 0 1 2 3
    assert raw[8:] == bytes([0, 0]) + struct.pack(">I", 1) + bytes([0, 0]) + struct.pack(">5I", 4, 0, 1, 2, 3)


@given(st.integers(1, 4), st.booleans())
def test_sa3d_round_trip(order, head_locked):
    n = (order + 1) ** 2 + (2 if head_locked else 0)
    box = Sa3d(order=order, channel_map=tuple(range(n)), head_locked_stereo=head_locked)
    assert Sa3d.parse(box.to_bytes()[8:]) == box


def test_sa3d_rejects_short_payloads():
    with pytest.raises(CorruptBoxError):
        Sa3d.parse(b"\0" * 5)
    with pytest.raises(CorruptBoxError):
        Sa3d.parse(Sa3d.ambix(4).to_bytes()[8:-4])
    with pytest.raises(ValueError):
        Sa3d.ambix(2)


def test_detection(files):
    ambi, stereo, both = files
    (a,) = audio_tracks(ambi)
    assert (a.channels, a.ambisonic, a.kind) == (4, True, "ambisonic (order 1, 4 ch)")
    (s,) = audio_tracks(stereo)
    assert (s.channels, s.ambisonic, s.kind) == (2, False, "stereo")
    assert [t.ambisonic for t in audio_tracks(both)] == [False, True]


def test_boxes_for_inject_spherical(files, tmp_path):
    ambi, stereo, both = files
    assert spatial_audio_boxes(stereo) is None  # stereo passes through
    assert spatial_audio_boxes(both) is None  # mixed: SA3D on every track would be wrong
    boxes = spatial_audio_boxes(ambi)
    assert boxes == {b"SA3D": Sa3d.ambix(4).to_bytes()}
    out = tmp_path / "published.mp4"
    inject_spherical(ambi, out, extra_audio_boxes=boxes)
    (t,) = audio_tracks(out)
    assert t.sa3d == Sa3d.ambix(4)
    assert describe_audio(out) == "ambisonic (order 1, 4 ch) mp4a, SA3D"
    with av.open(str(out)) as c:  # still decodes
        assert sum(f.samples for f in c.decode(c.streams.audio[0])) >= 4800


def test_mark_only_the_ambisonic_track(files, tmp_path):
    _, _, both = files
    out = tmp_path / "marked.mp4"
    marked = mark_spatial_audio(both, out)
    assert [t.channels for t in marked] == [4]
    stereo_t, ambi_t = audio_tracks(out)
    assert stereo_t.sa3d is None and ambi_t.sa3d == Sa3d.ambix(4)
    mark_spatial_audio(out, out)  # again: replaced, not duplicated
    assert out.read_bytes().count(b"SA3D") == 1


def test_pcm_ambisonics_in_a_mov_is_marked_too(tmp_path):
    """Cameras may store the four channels as 24-bit PCM ('in24'), which the box editor
    keeps opaque: the SA3D box still lands in its sample entry, and it still decodes."""
    src = tmp_path / "pcm.mov"
    with av.open(str(src), "w", format="mov") as out:
        a = out.add_stream("pcm_s24le", rate=48000, layout="4.0")
        for k in range(0, 4800, 1024):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 4 * 1024), np.int32), format="s32", layout="4.0")
            af.sample_rate, af.pts = 48000, k
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    (t,) = audio_tracks(src)
    assert (t.codec, t.channels, t.ambisonic) == ("in24", 4, True)
    out = tmp_path / "pcm_marked.mov"
    mark_spatial_audio(src, out)
    assert audio_tracks(out)[0].sa3d == Sa3d.ambix(4)
    with av.open(str(out)) as c:
        assert sum(f.samples for f in c.decode(c.streams.audio[0])) >= 4800
