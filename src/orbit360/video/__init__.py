"""Video in and out through PyAV (FFmpeg): threaded decoding, H.264/HEVC encoding."""

from ._reader import VideoReader, YuvFormat, key_frames_only, open_reader, probe_container
from ._writer import CODECS, EncodeOptions, VideoWriter, resolve_encoder

__all__ = ["VideoReader", "YuvFormat", "VideoWriter", "EncodeOptions", "CODECS", "open_reader", "probe_container", "resolve_encoder", "key_frames_only"]
