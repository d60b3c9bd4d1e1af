"""The codecs and encoders a stitch can write, and which encoder writes which codec.

Kept apart from ``video`` (which loads PyAV) so the CLI builds its ``--codec`` and
``--encoder`` choices from these names without loading FFmpeg.
"""

from __future__ import annotations

__all__ = ["CODECS", "ENCODER_CODECS", "ENCODERS", "CodecConflict", "codec_for"]

CODECS = {"h264": "libx264", "hevc": "libx265"}
"""Codec names accepted by ``EncodeOptions.codec`` and the software encoder used."""

ENCODER_CODECS = {"libx264": "h264", "libx265": "hevc", "h264_nvenc": "h264", "hevc_nvenc": "hevc"}
"""The FFmpeg encoders ``EncodeOptions.encoder`` may name, and the codec each writes."""

ENCODERS = ("auto", *ENCODER_CODECS)
"""``EncodeOptions.encoder`` values: "auto" (NVENC when a GPU encoder opens, else the
codec's software encoder) or one of ``ENCODER_CODECS``."""


class CodecConflict(ValueError):
    """An encoder was asked for a codec it does not write."""

    def __init__(self, encoder: str, writes: str, asked: str) -> None:
        super().__init__(f"encoder {encoder} writes {writes}, not {asked}")
        self.encoder, self.writes, self.asked = encoder, writes, asked


def codec_for(encoder: str, codec: str | None = None) -> str:
    """The codec to encode with: ``codec`` when given, else the one ``encoder`` writes
    (h264 for "auto"). Raises CodecConflict when ``encoder`` writes another codec."""
    implied = ENCODER_CODECS.get(encoder)
    if codec is not None and implied is not None and codec != implied:
        raise CodecConflict(encoder, implied, codec)
    return codec or implied or "h264"
