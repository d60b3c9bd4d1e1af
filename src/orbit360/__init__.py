"""orbit360: salvage, stitch, orient and publish footage from dual-lens 360 cameras.

The front door for library use; everything here is imported on first use, so
``import orbit360`` stays cheap. A recording is described, stitched to an equirect 360 MP4
with spherical metadata, and its result checked:

>>> import tempfile, pathlib
>>> import orbit360
>>> from orbit360.synthetic import make_scene, write_rig_video
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> rig = orbit360.RigProfile.nominal((512, 256))
>>> _ = write_rig_video(folder / "rig.mp4", rig, make_scene(512), frames=4)
>>> print(orbit360.describe_recording(folder / "rig.mp4").kind)
side-by-side
>>> result = orbit360.stitch(folder / "rig.mp4", folder / "360.mp4", rig=rig, width=256)
>>> result.frames, result.size
(4, (256, 128))
>>> print(orbit360.inspect_file(result.output).layout)
equirectangular 360 (already stitched)

Errors are ``Orbit360Error`` subclasses whose message names the file:

>>> try:
...     orbit360.open_rig(folder / "missing.mp4")
... except orbit360.InputError as e:
...     print(type(e).__name__)
InputError
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # not typing's: importing typing would double this module's import time

__all__ = [
    "__version__",
    # open and describe a recording
    "open_rig",
    "describe_recording",
    "Recording",
    "RecordingKind",
    "Layout",
    "inspect_file",
    # calibrate and stitch
    "calibrate_rig",
    "CalibrationResult",
    "stitch",
    "StitchResult",
    "JobResult",
    "EncodeOptions",
    "OrientMode",
    # salvage, telemetry, metadata
    "salvage",
    "SalvageReport",
    "read_telemetry",
    "export_telemetry",
    "Telemetry",
    "inject_spherical",
    # profiles
    "RigProfile",
    "LensProfile",
    # errors
    "Orbit360Error",
    "InputError",
    "OutputError",
    "BoxError",
    "SalvageError",
    "TelemetryError",
    "CalibrationError",
    "JobError",
]

# name -> the public module that defines it (PEP 562: imported when first asked for).
_HOMES: dict[str, str] = {
    "open_rig": "cameras",
    "describe_recording": "cameras",
    "Recording": "cameras",
    "RecordingKind": "cameras",
    "Layout": "cameras",
    "OrientMode": "orient",
    "inspect_file": "inspect",
    "calibrate_rig": "stitch",
    "CalibrationResult": "stitch",
    "StitchResult": "pipeline",
    "JobResult": "pipeline",
    "EncodeOptions": "video",
    "SalvageReport": "salvage",
    "read_telemetry": "telemetry",
    "export_telemetry": "telemetry",
    "Telemetry": "telemetry",
    "inject_spherical": "isobmff.spherical",
    "RigProfile": "profile",
    "LensProfile": "profile",
    **{name: "errors" for name in (
        "Orbit360Error", "InputError", "OutputError", "BoxError", "SalvageError", "TelemetryError", "CalibrationError",
        "JobError",
    )},
}
# ``stitch`` and ``salvage`` are subpackages made callable as their job's function
# (``_callable``): an attribute of this package cannot be both a module and a function.
_PACKAGES = {"stitch", "salvage"}

if TYPE_CHECKING:
    from .cameras import Layout, Recording, RecordingKind, describe_recording, open_rig
    from .errors import (
        BoxError, CalibrationError, InputError, JobError, Orbit360Error, OutputError, SalvageError, TelemetryError,
    )
    from .inspect import inspect_file
    from .isobmff.spherical import inject_spherical
    from .orient import OrientMode
    from .pipeline import JobResult, StitchResult
    from .pipeline.job import stitch
    from .profile import LensProfile, RigProfile
    from .salvage import SalvageReport, salvage
    from .stitch import CalibrationResult, calibrate_rig
    from .telemetry import Telemetry, export_telemetry, read_telemetry
    from .video import EncodeOptions

    __version__: str


def _version() -> str:
    """The installed distribution's version; from a source tree, pyproject.toml's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orbit360")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str) -> object:
    if name == "__version__":
        value: object = _version()
    elif name in _PACKAGES:
        value = import_module(f"{__name__}.{name}")
    elif name in _HOMES:
        value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
