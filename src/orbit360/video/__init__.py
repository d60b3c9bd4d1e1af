"""Video in and out through PyAV (FFmpeg): threaded decoding, H.264/HEVC encoding."""

from .._codecs import ENCODERS, CodecConflict, codec_for
from ._concat import SegmentCheck, check_segment, concat_segments
from ._convert import Planes, stitch_planes, yuv420p_planes
from ._reader import VideoReader, YuvFormat, key_frames_only, open_reader, probe_container
from ._writer import AAC_FRAME, AUDIO_LAYOUTS, CODECS, EncodeOptions, VideoWriter, resolve_encoder

__all__ = [
    "VideoReader", "YuvFormat", "VideoWriter", "EncodeOptions", "CODECS", "open_reader", "probe_container", "resolve_encoder",
    "key_frames_only", "ENCODERS", "CodecConflict", "codec_for",
    # PCM given to VideoWriter(audio=...)
    "AUDIO_LAYOUTS", "AAC_FRAME",
    # joining segments without re-encoding; yuv420p planes
    "concat_segments", "check_segment", "SegmentCheck", "Planes", "stitch_planes", "yuv420p_planes",
]
