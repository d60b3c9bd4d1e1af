"""HTTP ``Range: bytes=...`` parsing (RFC 9110 section 14), single range only.

A ``<video>`` element seeks by asking for ``bytes=N-``; it never sends multi-range
requests, so a request with several ranges is answered with its first one (allowed:
a server may ignore or coalesce ranges it does not want to serve as multipart).
"""

from __future__ import annotations

__all__ = ["parse_byte_range", "UnsatisfiableRange", "MalformedRange"]

# A byte position with more digits than this is past the end of any file (10^18 bytes);
# it is never handed to int(), which refuses strings over 4,300 digits.
_MAX_DIGITS = 18


class UnsatisfiableRange(ValueError):
    """The range lies wholly past the end of the file: answer 416."""


class MalformedRange(ValueError):
    """The range's numbers are not plain ASCII digits (``bytes=\xb2-``): answer 400."""


def _number(text: str) -> bool:
    """True for "" or ASCII digits; MalformedRange for other digits ("²", Arabic-Indic ...)."""
    if text == "" or (text.isascii() and text.isdigit()):
        return True
    if any(c.isdigit() or c.isnumeric() for c in text):
        raise MalformedRange(text[:40])
    return False


def parse_byte_range(header: str, size: int) -> tuple[int, int] | None:
    """Return the inclusive ``(first, last)`` byte span that ``header`` asks for.

    :param header: the ``Range`` header value, e.g. ``"bytes=100-"`` or ``"bytes=-500"``.
    :param size: the file size in bytes.
    :returns: ``None`` when the header is not a byte range we understand (the caller then
        serves the whole file with 200, as RFC 9110 says to do for an invalid Range).
    :raises UnsatisfiableRange: when the first byte is at or past ``size``.
    :raises MalformedRange: when a position is spelt with digits that are not ASCII.
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    first_spec = spec.split(",")[0].strip()
    start_text, dash, end_text = first_spec.partition("-")
    if not dash:
        return None
    start_text, end_text = start_text.strip(), end_text.strip()
    if not _number(start_text) or not _number(end_text):
        return None
    if len(start_text.lstrip("0")) > _MAX_DIGITS:
        raise UnsatisfiableRange(first_spec[:40])
    if len(end_text.lstrip("0")) > _MAX_DIGITS:
        end_text = str(size)  # "to a byte past the end": to the end
    if start_text == "":
        # Suffix range: the last N bytes.
        if end_text == "":
            return None
        length = int(end_text)
        if length == 0 or size == 0:
            raise UnsatisfiableRange(first_spec)
        return max(0, size - length), size - 1
    first = int(start_text)
    if first >= size:
        raise UnsatisfiableRange(first_spec)
    last = int(end_text) if end_text else size - 1
    if last < first:
        return None
    return first, min(last, size - 1)
