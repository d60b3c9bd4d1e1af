"""Interop with other tools: Gyroflow lens profiles in, Hugin projects out and back in.

**Gyroflow** lens profiles (JSON) describe one lens with the OpenCV fisheye model:
``fisheye_params.camera_matrix`` (fx, fy, cx, cy in pixels of ``calib_dimension``, pixel
centres at integers) and ``fisheye_params.distortion_coeffs`` (k1..k4), which is our
Kannala-Brandt model. ``read_gyroflow_lens`` scales it to the lens' area of our frame
(pixel centres at i + 0.5) and closes the image circle at the given field of view;
``gyroflow_rig`` makes a side-by-side rig of two such lenses (one profile for both, or
one per lens), a starting point for ``calibrate_rig(nominal=...)``; ``write_gyroflow``
writes a calibrated rig back out as one profile per lens (each lens' own focal length,
centre and k1..k4; its FOV and rotation under an ``orbit360`` key Gyroflow ignores).

**Hugin** ``.pto`` projects: ``write_pto`` writes the rig as two circular-fisheye images
(``f2``), one per half of the side-by-side frame (``IMG_front``/``IMG_back`` names are
placeholders for the exported halves), into an equirectangular panorama. Per image:
``v`` the horizontal field of view across the image width (equidistant fisheye, so
``v = width / focal``), ``d``/``e`` the lens centre's offset from the image centre in
pixels (right, down), ``S`` the crop to the image circle's bounding box, ``y``/``p``/``r``
our yaw/pitch/roll, ``Eev`` the exposure in stops (``-log2(exposure)``, more is darker),
``Er``/``Eb`` the red and blue gains over green, and ``Va..Vd`` with ``Vm5`` the radial
vignetting polynomial in Hugin's normalisation (radius 1 at the image corner). Distortion
k1..k4 has no Hugin equivalent in the fisheye model; it is kept on an ``#orbit360``
comment line, which ``read_pto`` uses together with the Hugin fields (the fields win,
so edits made in Hugin are read back). Sign conventions of y/p/r and d/e are those stated
here; they are not checked against a Hugin installation.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._types import StrPath
from ..errors import InputError
from ..geometry import distort_theta
from ..profile import LensProfile, RigLayout, RigProfile

__all__ = ["read_gyroflow_lens", "gyroflow_rig", "gyroflow_lens_profile", "write_gyroflow", "write_pto", "read_pto", "pto_text"]


# ---- Gyroflow -------------------------------------------------------------------------------
def _load_json(path: StrPath) -> Any:
    from .._files import check_input_file

    p = check_input_file(path)
    try:
        return json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a lens profile: invalid JSON ({exc.__class__.__name__})", path=p) from None


def read_gyroflow_lens(
    source: StrPath | dict[str, Any],
    *,
    size: tuple[int, int],
    x_offset: float = 0.0,
    fov_deg: float = 195.0,
    rotation_ypr: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> LensProfile:
    """One lens from a Gyroflow lens profile.

    :param source: path of the JSON file, or its parsed content.
    :param size: (width, height) of the lens' area in our frame (a half of a side-by-side
        frame); the camera matrix is scaled from ``calib_dimension`` to it.
    :param x_offset: where that area starts in the frame (the back lens: half the width).
    :param fov_deg: the field of view at which the image circle ends.
    :raises InputError: when the file is not a fisheye Gyroflow profile.
    """
    path = None if isinstance(source, dict) else source
    d = source if isinstance(source, dict) else _load_json(source)
    try:
        params = d["fisheye_params"]
        cm = np.asarray(params["camera_matrix"], dtype=np.float64)
        k = tuple(float(x) for x in params["distortion_coeffs"])
        calib = d.get("calib_dimension") or {}
        cw, ch = float(calib.get("w", size[0])), float(calib.get("h", size[1]))
        model = str(d.get("distortion_model") or ("opencv_fisheye" if d.get("use_opencv_fisheye", True) else "?"))
        if cm.shape != (3, 3) or len(k) < 4 or cw <= 0 or ch <= 0:
            raise ValueError("camera_matrix must be 3x3 and distortion_coeffs hold k1..k4")
        if model not in ("opencv_fisheye", ""):
            raise ValueError(f"distortion model {model!r} is not the OpenCV fisheye model")
    except (KeyError, TypeError, ValueError) as exc:
        msg = str(exc) if isinstance(exc, ValueError) else f"missing field {exc}"
        raise InputError(f"not a Gyroflow fisheye lens profile: {msg}", path=path) from None
    sx, sy = size[0] / cw, size[1] / ch
    fx, fy = cm[0, 0] * sx, cm[1, 1] * sy
    focal = 0.5 * (fx + fy)
    # OpenCV puts pixel centres at integers, we at i + 0.5; scale about the image corner
    cx, cy = (cm[0, 2] + 0.5) * sx, (cm[1, 2] + 0.5) * sy
    kk = (k[0], k[1], k[2], k[3])
    radius = focal * float(distort_theta(math.radians(fov_deg) / 2.0, kk))
    return LensProfile(
        center=(cx + x_offset, cy), radius=radius, fov_deg=fov_deg, distortion=kk, rotation_ypr=rotation_ypr
    )


def gyroflow_rig(
    source: StrPath | dict[str, Any], frame_size: tuple[int, int], *, fov_deg: float = 195.0,
    back: StrPath | dict[str, Any] | None = None,
) -> RigProfile:
    """A side-by-side rig from Gyroflow lens profiles: ``source`` for the front lens and
    ``back`` for the back lens (default: the same profile for both). A profile written by
    ``gyroflow_lens_profile`` also restores its lens' FOV and rotation."""
    w, h = int(frame_size[0]), int(frame_size[1])
    d = source if isinstance(source, dict) else _load_json(source)
    db = d if back is None else back if isinstance(back, dict) else _load_json(back)
    half = (w // 2, h)

    def extra(p: dict[str, Any], key: str, default: Any) -> Any:
        ours = p.get("orbit360") if isinstance(p.get("orbit360"), dict) else {}
        return ours.get(key, default)

    front = read_gyroflow_lens(d, size=half, fov_deg=float(extra(d, "fov_deg", fov_deg)),
                               rotation_ypr=tuple(extra(d, "rotation_ypr", (0.0, 0.0, 0.0))))  # type: ignore[arg-type]
    rear = read_gyroflow_lens(db, size=half, x_offset=w // 2, fov_deg=float(extra(db, "fov_deg", fov_deg)),
                              rotation_ypr=tuple(extra(db, "rotation_ypr", (180.0, 0.0, 0.0))))  # type: ignore[arg-type]
    camera = " ".join(str(d.get(k, "")) for k in ("camera_brand", "camera_model", "lens_model")).strip() or "unknown"
    return RigProfile(frame_size=(w, h), lenses=(front, rear), layout=RigLayout.SIDE_BY_SIDE, camera=camera)


def gyroflow_lens_profile(rig: RigProfile, index: int) -> dict[str, Any]:
    """Gyroflow lens profile (OpenCV fisheye) of one lens of a side-by-side rig, in the
    pixels of its half of the frame; the FOV and rotation ride along under ``orbit360``."""
    if rig.layout != RigLayout.SIDE_BY_SIDE or len(rig.lenses) != 2:
        raise InputError(f"Gyroflow lens profiles are written for side-by-side dual-fisheye rigs, not {rig.layout}")
    fw, fh = rig.frame_size
    lens = rig.lenses[index]
    x0 = 0 if lens.center[0] < fw / 2 else fw // 2
    f = lens.focal
    # OpenCV puts pixel centres at integers, we at i + 0.5
    cx, cy = lens.center[0] - x0 - 0.5, lens.center[1] - 0.5
    return {
        "name": f"{rig.camera} {'front' if index == 0 else 'back'} lens (orbit360 calibration)",
        "camera_brand": "", "camera_model": rig.camera, "lens_model": "front" if index == 0 else "back",
        "calib_dimension": {"w": fw // 2, "h": fh},
        "orig_dimension": {"w": fw // 2, "h": fh},
        "distortion_model": "opencv_fisheye",
        "fisheye_params": {
            "camera_matrix": [[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]],
            "distortion_coeffs": [float(k) for k in lens.distortion],
        },
        "calibrated_by": "orbit360",
        "orbit360": {"fov_deg": lens.fov_deg, "rotation_ypr": list(lens.rotation_ypr), "radius": lens.radius},
    }


def write_gyroflow(rig: RigProfile, path: StrPath) -> tuple[Path, Path]:
    """Write one Gyroflow lens profile per lens, ``NAME_front.json`` and ``NAME_back.json``
    beside ``path`` (atomically); returns their paths."""
    from .._files import atomic_output

    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    out = []
    for i, role in enumerate(("front", "back")):
        target = p.with_name(f"{stem}_{role}.json")
        with atomic_output(target) as tmp:
            tmp.write_text(json.dumps(gyroflow_lens_profile(rig, i), indent=2) + "\n")
        out.append(target)
    return out[0], out[1]


# ---- Hugin ----------------------------------------------------------------------------------
def _corner_scale(lens: LensProfile, half: tuple[int, int]) -> float:
    """Hugin's vignetting radius unit (image half-diagonal) over the circle radius."""
    return math.hypot(half[0], half[1]) / 2.0 / lens.radius


def pto_text(rig: RigProfile, *, width: int | None = None, image_names: tuple[str, str] = ("IMG_front.png", "IMG_back.png")) -> str:
    """The Hugin project of ``rig`` as text (see the module docstring for the fields)."""
    if rig.layout != RigLayout.SIDE_BY_SIDE or len(rig.lenses) != 2:
        raise InputError(f"a Hugin project is written for side-by-side dual-fisheye rigs, not {rig.layout}")
    fw, fh = rig.frame_size
    half = (fw // 2, fh)
    pw = int(width or fw)
    lines = [
        "# hugin project file",
        "#hugin_ptoversion 2",
        f"# written by orbit360 from a {fw}x{fh} side-by-side dual-fisheye rig ({rig.camera})",
        f'p f2 w{pw} h{pw // 2} v360 E0 R0 n"TIFF_m c:LZW"',
        "m i0",
        "",
    ]
    for i, (lens, name) in enumerate(zip(rig.lenses, image_names)):
        x0 = 0 if lens.center[0] < fw / 2 else half[0]
        cx, cy = lens.center[0] - x0, lens.center[1]
        v = math.degrees(half[0] / lens.focal)
        d, e = cx - half[0] / 2.0, cy - half[1] / 2.0
        y, p, r = lens.rotation_ypr
        g = lens.exposure * float(lens.color_gain[1])
        eev = -math.log2(g)
        er, eb = lens.color_gain[0] / lens.color_gain[1], lens.color_gain[2] / lens.color_gain[1]
        s = _corner_scale(lens, half)
        va = (1.0, lens.vignetting[0] * s**2, lens.vignetting[1] * s**4, lens.vignetting[2] * s**6)
        crop = (
            int(math.floor(cx - lens.radius)), int(math.ceil(cx + lens.radius)),
            int(math.floor(cy - lens.radius)), int(math.ceil(cy + lens.radius)),
        )
        k = ",".join(f"{x:.9g}" for x in lens.distortion)
        lines.append(
            f"#orbit360 lens={i} source={lens.source} x0={x0} centre={lens.center[0]:.6f},{lens.center[1]:.6f} "
            f"radius={lens.radius:.6f} fov={lens.fov_deg:.6f} k={k}"
        )
        lines.append(
            f"i w{half[0]} h{half[1]} f2 v{v:.9g} Ra0 Rb0 Rc0 Rd0 Re0 Eev{eev:.9g} Er{er:.9g} Eb{eb:.9g} "
            f"r{r:.9g} p{p:.9g} y{y:.9g} TrX0 TrY0 TrZ0 Tpy0 Tpp0 j0 a0 b0 c0 d{d:.9g} e{e:.9g} g0 t0 "
            f"Va{va[0]:.9g} Vb{va[1]:.9g} Vc{va[2]:.9g} Vd{va[3]:.9g} Vx0 Vy0 Vm5 "
            f'S{crop[0]},{crop[1]},{crop[2]},{crop[3]} n"{name}"'
        )
    lines += ["", "# specify variables that should be optimized", "v y1 p1 r1 v0 d0 e0 d1 e1", "v", ""]
    return "\n".join(lines)


def write_pto(rig: RigProfile, path: StrPath, *, width: int | None = None) -> None:
    """Write ``rig`` as a Hugin project (atomically)."""
    from .._files import atomic_output

    stem = Path(path).stem
    text = pto_text(rig, width=width, image_names=(f"{stem}_front.png", f"{stem}_back.png"))
    with atomic_output(path) as tmp:
        tmp.write_text(text + "\n")


_KEYS = sorted(
    ["w", "h", "f", "v", "Ra", "Rb", "Rc", "Rd", "Re", "Eev", "Er", "Eb", "r", "p", "y", "TrX", "TrY", "TrZ", "Tpy", "Tpp",
     "j", "a", "b", "c", "d", "e", "g", "t", "Va", "Vb", "Vc", "Vd", "Vx", "Vy", "Vm", "S", "C", "n", "m", "u", "o", "K0a",
     "K0b", "K1a", "K1b", "K2a", "K2b", "Vf"],
    key=len,
    reverse=True,
)
_TOKEN = re.compile("(" + "|".join(re.escape(k) for k in _KEYS) + r')("[^"]*"|=\d+|[-+0-9.eE,]+)')


def _parse_i_line(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for tok in line[1:].split():
        m = _TOKEN.fullmatch(tok)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def read_pto(path: StrPath, *, frame_size: tuple[int, int] | None = None) -> RigProfile:
    """Read a rig back from a Hugin project written by ``write_pto`` (and edited in Hugin).

    :param frame_size: the side-by-side frame size; default twice the first image's width.
    :raises InputError: when the project does not hold two fisheye images.
    """
    from .._files import check_input_file

    p = check_input_file(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise InputError("not a Hugin project (not text)", path=p) from None
    images: list[dict[str, str]] = []
    extras: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#orbit360 "):
            extras.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
        elif line.startswith("i "):
            images.append(_parse_i_line(line))
    if len(images) != 2:
        raise InputError(f"expected a Hugin project with 2 images (one per lens), found {len(images)}", path=p)

    def value(i: int, key: str, default: float | None = None) -> float:
        v = images[i].get(key)
        if v is None:
            if default is None:
                raise InputError(f"image {i} has no '{key}' field", path=p)
            return default
        if v.startswith("="):  # linked to another image's value
            return value(int(v[1:]), key, default)
        return float(v)

    try:
        w0, h0 = int(value(0, "w")), int(value(0, "h"))
        fw, fh = frame_size if frame_size is not None else (2 * w0, h0)
        lenses = []
        for i in range(2):
            ex = extras[i] if i < len(extras) else {}
            wi, hi = int(value(i, "w")), int(value(i, "h"))
            if images[i].get("f", "2").lstrip("=") not in ("2", "3") and not images[i].get("f", "").startswith("="):
                raise ValueError(f"image {i} is not a fisheye (f{images[i].get('f')})")
            x0 = float(ex.get("x0", 0 if i == 0 else fw // 2))
            v = math.radians(value(i, "v"))
            focal = wi / v
            cx = wi / 2.0 + value(i, "d", 0.0) + x0
            cy = hi / 2.0 + value(i, "e", 0.0)
            k = tuple(float(x) for x in ex["k"].split(",")) if "k" in ex else (0.0, 0.0, 0.0, 0.0)
            if "radius" in ex:
                radius = float(ex["radius"])
            else:
                crop = [float(x) for x in images[i].get("S", f"0,{wi},0,{hi}").split(",")]
                radius = 0.5 * min(crop[1] - crop[0], crop[3] - crop[2])
            # the circle closes where r = focal * theta_d(fov / 2): solve for the fov
            from ..geometry import undistort_theta

            fov = math.degrees(2.0 * float(undistort_theta(radius / focal, k)))  # type: ignore[arg-type]
            eev = value(i, "Eev", 0.0)
            er, eb = value(i, "Er", 1.0), value(i, "Eb", 1.0)
            g = 2.0 ** (-eev)
            s = math.hypot(wi, hi) / 2.0 / radius
            vb, vc, vd = value(i, "Vb", 0.0), value(i, "Vc", 0.0), value(i, "Vd", 0.0)
            # put exposure in ``exposure`` and keep green at 1 in the colour gains
            lenses.append(
                LensProfile(
                    center=(cx, cy), radius=radius, fov_deg=fov, distortion=k,  # type: ignore[arg-type]
                    rotation_ypr=(value(i, "y", 0.0), value(i, "p", 0.0), value(i, "r", 0.0)),
                    source=int(ex.get("source", 0)), exposure=g, color_gain=(er, 1.0, eb),
                    vignetting=(vb / s**2, vc / s**4, vd / s**6),
                )
            )
    except (KeyError, ValueError) as exc:
        raise InputError(f"not a readable Hugin project: {exc}", path=p) from None
    return RigProfile(frame_size=(int(fw), int(fh)), lenses=tuple(lenses), layout=RigLayout.SIDE_BY_SIDE, camera="hugin")
