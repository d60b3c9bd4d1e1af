"""Camera file names: GoPro chapters and Fusion front/back, Insta360 lens pairs.

GoPro splits a long recording into chapters of about 4 GB, numbered in the name:

- HERO5 and later, MAX: ``G`` + codec letter (H = AVC, X = HEVC, S = 360) + 2-digit
  chapter + 4-digit recording number: ``GH010042.MP4``, ``GH020042.MP4``; ``GS010042.360``.
- Older cameras: the first chapter is ``GOPR0042.MP4``, then ``GP010042.MP4``,
  ``GP020042.MP4``. The Fusion writes ``GPFR0042.MP4`` (front card) and ``GPBK0042.MP4``
  (back card), then ``GF010042.MP4`` / ``GB010042.MP4``.

Insta360 names a lens pair ``VID_<date>_<time>_00_<n>.insv`` and ``..._10_<n>.insv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ChapterName", "parse_chapter", "chapter_set", "fusion_role", "fusion_partner", "insta360_partner"]

_NEW = re.compile(r"^G([A-Z])(\d{2})(\d{4})$", re.I)
_OLD_FIRST = re.compile(r"^(GOPR|GPFR|GPBK)(\d{4})$", re.I)
_OLD_LATER = re.compile(r"^(GP|GF|GB)(\d{2})(\d{4})$", re.I)
_OLD_SERIES = {"GOPR": "GP", "GPFR": "GF", "GPBK": "GB"}
_OLD_FIRST_OF = {v: k for k, v in _OLD_SERIES.items()}
_INSTA_LENS = re.compile(r"^(.*_)(00|10)(_\d+)$")


@dataclass(frozen=True)
class ChapterName:
    """``series`` (e.g. "GH", "GP", "GF"), ``chapter`` (1 = first) and recording ``number``."""

    series: str
    chapter: int
    number: str

    def filename(self, suffix: str) -> str:
        s = self.series.upper()
        if s in _OLD_FIRST_OF:
            stem = f"{_OLD_FIRST_OF[s]}{self.number}" if self.chapter == 1 else f"{s}{self.chapter - 1:02d}{self.number}"
        else:
            stem = f"{s}{self.chapter:02d}{self.number}"
        return stem + suffix


def parse_chapter(path: Path) -> ChapterName | None:
    """The GoPro chapter name of ``path``, or None for other names."""
    stem = path.stem
    m = _OLD_FIRST.match(stem)
    if m:
        return ChapterName(_OLD_SERIES[m.group(1).upper()], 1, m.group(2))
    m = _OLD_LATER.match(stem)
    if m:
        return ChapterName(m.group(1).upper(), int(m.group(2)) + 1, m.group(3))
    m = _NEW.match(stem)
    if m and int(m.group(2)) >= 1:
        return ChapterName("G" + m.group(1).upper(), int(m.group(2)), m.group(3))
    return None


def _sibling(folder: Path, name: str) -> Path | None:
    """``folder/name``, matched case-insensitively (cards are FAT: names may be any case)."""
    exact = folder / name
    if exact.exists():
        return exact
    low = name.lower()
    try:
        return next((p for p in folder.iterdir() if p.name.lower() == low), None)
    except OSError:
        return None


def chapter_set(path: Path) -> list[Path]:
    """Every chapter of the recording ``path`` belongs to, in order, from the first.

    Stops at the first missing chapter; a name that is not a chapter gives ``[path]``.
    """
    name = parse_chapter(path)
    if name is None:
        return [path]
    out: list[Path] = []
    for chapter in range(1, 100):
        p = _sibling(path.parent, ChapterName(name.series, chapter, name.number).filename(path.suffix))
        if p is None:
            break
        out.append(p)
    return out if path.resolve() in {p.resolve() for p in out} else [path]


def fusion_role(path: Path) -> str | None:
    """"front" or "back" for GoPro Fusion file names, else None."""
    name = parse_chapter(path)
    if name is None:
        return None
    return {"GF": "front", "GB": "back"}.get(name.series)


def fusion_partner(path: Path) -> tuple[Path, Path] | None:
    """(front, back) first chapters of the Fusion recording ``path`` belongs to, or None.

    Raises nothing: a missing partner gives ``(front, None)``-like results as None.
    """
    name = parse_chapter(path)
    if name is None or name.series not in ("GF", "GB"):
        return None
    front = _sibling(path.parent, ChapterName("GF", name.chapter, name.number).filename(path.suffix))
    back = _sibling(path.parent, ChapterName("GB", name.chapter, name.number).filename(path.suffix))
    if front is None or back is None:
        return None
    return front, back


def fusion_partner_name(path: Path) -> str | None:
    """The file name the other lens of a Fusion file should have."""
    name = parse_chapter(path)
    if name is None or name.series not in ("GF", "GB"):
        return None
    other = "GB" if name.series == "GF" else "GF"
    return ChapterName(other, name.chapter, name.number).filename(path.suffix)


def insta360_partner(path: Path) -> tuple[Path, Path] | None:
    """(``_00_``, ``_10_``) files of an Insta360 lens pair ``path`` belongs to, or None."""
    m = _INSTA_LENS.match(path.stem)
    if m is None:
        return None
    first = _sibling(path.parent, f"{m.group(1)}00{m.group(3)}{path.suffix}")
    second = _sibling(path.parent, f"{m.group(1)}10{m.group(3)}{path.suffix}")
    if first is None or second is None:
        return None
    return first, second
