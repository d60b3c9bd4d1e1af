"""The vocabularies as enums: each member is its own string (comparisons, JSON and
messages unchanged), and the CLI offers exactly the orient modes the pipeline knows."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from orbit360.cameras import LAYOUT_PAIR, LAYOUT_SBS, Layout, RecordingKind, describe_recording
from orbit360.orient import OrientMode, plan_orientation
from orbit360.profile import RigLayout
from orbit360.synthetic import make_scene, misaligned_rig, write_rig_video


def test_members_are_their_strings() -> None:
    assert RecordingKind.SIDE_BY_SIDE == "side-by-side" and f"{RecordingKind.PAIR}" == "pair"
    assert json.dumps({"kind": RecordingKind.GOPRO_MAX, "layout": Layout.MAX_EAC}) == (
        '{"kind": "gopro-max", "layout": "EAC cube in two HEVC tracks (GoPro .360)"}'
    )
    assert f"{LAYOUT_PAIR} (a + b)" == "dual fisheye, front/back pair (a + b)"
    assert str(OrientMode.SMOOTH) == "smooth" and OrientMode("earth") is OrientMode.EARTH
    assert len({m.value for m in Layout}) == len(Layout)  # no spelling twice


def test_cli_orient_choices_are_the_modes() -> None:
    from orbit360.cli import cli

    (option,) = [p for p in cli.commands["stitch"].params if p.name == "orient"]
    assert list(option.type.choices) == [m.value for m in OrientMode]


def test_describe_gives_enum_members(tmp_path) -> None:
    video = tmp_path / "rig.mp4"
    write_rig_video(video, misaligned_rig((256, 128), seed=1), make_scene(256), frames=2)
    rec = describe_recording(video)
    assert rec.kind is RecordingKind.SIDE_BY_SIDE and rec.layout is LAYOUT_SBS


def test_telemetry_planning_refuses_earth() -> None:
    with pytest.raises(ValueError, match="earth"):
        plan_orientation([], np.zeros(3), mode=OrientMode.EARTH)


def test_cli_codec_and_encoder_choices_are_the_writers() -> None:
    from orbit360.cli import cli
    from orbit360.video import CODECS, ENCODERS, CodecConflict, EncodeOptions, codec_for

    params = {p.name: p for p in cli.commands["stitch"].params}
    assert list(params["codec"].type.choices) == sorted(CODECS)  # type: ignore[attr-defined]
    assert list(params["encoder"].type.choices) == list(ENCODERS)  # type: ignore[attr-defined]
    # every encoder the CLI offers writes a codec EncodeOptions takes, and says which
    for encoder in ENCODERS:
        assert EncodeOptions(codec=codec_for(encoder), encoder=encoder).codec in CODECS
    assert [codec_for("hevc_nvenc"), codec_for("auto"), codec_for("auto", "hevc")] == ["hevc", "h264", "hevc"]
    with pytest.raises(CodecConflict, match="encoder libx264 writes h264, not hevc"):
        codec_for("libx264", "hevc")


# A comparison with a vocabulary's spelling is written with the member, so a renamed
# member cannot leave a comparison behind that silently never matches.
_SRC = Path(__file__).resolve().parents[1] / "src" / "orbit360"
_KNOWN_LITERAL_COMPARISONS: set[str] = set()


def _literal_comparisons(source: str, spellings: set[str]) -> list[str]:
    """The comparisons of a kind, layout or mode (a name or attribute called so) with a string
    constant that is a vocabulary's spelling, as source text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        names = [o.attr if isinstance(o, ast.Attribute) else o.id for o in operands if isinstance(o, ast.Attribute | ast.Name)]
        if not any(n.endswith(("kind", "layout", "mode", "orient")) for n in names):
            continue
        constants = [c for o in operands for c in ([o] if not isinstance(o, ast.Tuple | ast.List | ast.Set) else o.elts)]
        if any(isinstance(c, ast.Constant) and c.value in spellings for c in constants):
            found.append(ast.get_source_segment(source, node) or ast.dump(node))
    return found


def test_src_compares_vocabularies_with_members_not_strings() -> None:
    spellings = {m.value for enum in (RecordingKind, Layout, RigLayout, OrientMode) for m in enum}
    assert _literal_comparisons('if rec.kind in ("pair", "x"): pass\nok = t.kind == "video" or name == "pair"\nm = mode != "smooth"', spellings) == [
        'rec.kind in ("pair", "x")', 'mode != "smooth"']
    found = {
        f"{path.relative_to(_SRC)}: {text}"
        for path in sorted(_SRC.rglob("*.py"))
        for text in _literal_comparisons(path.read_text(encoding="utf-8"), spellings)
        if text not in _KNOWN_LITERAL_COMPARISONS
    }
    assert found == set(), "compare with the enum member (cameras.RecordingKind / Layout, profile.RigLayout, orient.OrientMode)"
