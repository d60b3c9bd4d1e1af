"""Bit reading for H.264/HEVC headers (parameter sets and slice headers only: short)."""

from __future__ import annotations

from ..errors import SalvageError

__all__ = ["BitReader", "unescape_rbsp", "picture_size"]

# The largest picture side an MP4 sample entry can state (16-bit fields); no codec level
# comes near it.
MAX_PICTURE_SIDE = 0xFFFF


def picture_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` from an SPS, checked: a corrupt one can crop the picture to
    nothing or state sides no sample entry can hold. Raises SalvageError."""
    if not (0 < width <= MAX_PICTURE_SIDE and 0 < height <= MAX_PICTURE_SIDE):
        raise SalvageError(f"malformed SPS: picture size {width}x{height}")
    return width, height


def unescape_rbsp(nal: bytes) -> bytes:
    """Drop the emulation-prevention bytes (00 00 03 -> 00 00) from a NAL unit's payload."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """MSB-first reader over a short byte string, with Exp-Golomb codes.

    Reading past the end raises SalvageError (a header cut short or malformed), never
    IndexError.
    """

    __slots__ = ("_value", "_bits", "pos")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self.pos = 0

    @property
    def bits_left(self) -> int:
        return self._bits - self.pos

    def u(self, n: int) -> int:
        if n == 0:
            return 0
        if self.pos + n > self._bits:
            raise SalvageError("header ends early: a parameter set or slice header is cut short")
        self.pos += n
        return (self._value >> (self._bits - self.pos)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, n: int) -> None:
        if self.pos + n > self._bits:
            raise SalvageError("header ends early: a parameter set or slice header is cut short")
        self.pos += n

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise SalvageError("malformed Exp-Golomb code in a header")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)
