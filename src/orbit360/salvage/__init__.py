"""Rebuild recordings whose camera died mid-write (no moov), every track, byte-exact.

``salvage(path)`` writes ``NAME.salvaged.mp4``; ``diagnose(path)`` previews what it
would recover; ``scan(path)`` returns the recovered tracks without writing. GoPro files
need no reference (their "SOS" records index every sample); other cameras need a healthy
file of the same mode (``reference=``).

The package is also callable: ``orbit360.salvage(path)`` is ``orbit360.salvage.salvage``
(see ``orbit360._callable``).
"""

from .._callable import make_package_callable

from ._auto import needs_salvage, salvaged_if_broken
from ._report import SalvageReport, TrackRow
from ._salvage import Recovery, SalvagePreview, default_output_path, diagnose, salvage, salvage_folder, scan

__all__ = [
    "salvage",
    "salvage_folder",
    "scan",
    "diagnose",
    "default_output_path",
    "Recovery",
    "SalvageReport",
    "SalvagePreview",
    "TrackRow",
    "needs_salvage",
    "salvaged_if_broken",
]

make_package_callable(__name__, "orbit360.salvage._salvage:salvage")
