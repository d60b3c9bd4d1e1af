"""Encoding RGB frames (or yuv420p planes) to MP4 through PyAV, with audio copied through
unchanged from another file or encoded from PCM samples."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from numpy.typing import NDArray

from .._codecs import CODECS
from .._files import atomic_output
from .._types import SizeLike, StrPath
from ..errors import OutputError
from ._convert import plane_views, rgb_to_yuv420p

__all__ = ["EncodeOptions", "VideoWriter", "CODECS", "AUDIO_LAYOUTS", "AAC_FRAME", "resolve_encoder"]


AUDIO_LAYOUTS = {1: "mono", 2: "stereo", 4: "4.0"}
"""Channel layout of PCM given to ``VideoWriter(audio=...)``, by its number of channels."""

AAC_FRAME = 1024
"""Samples per AAC frame: ``VideoWriter(audio=...)`` encodes PCM in blocks of this many."""


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode: ``EncodeOptions(codec="h264", crf=20, preset="medium")``.

    :param codec: "h264" (default; browsers play it) or "hevc".
    :param crf: constant rate factor (lower = better), 0..51.
    :param preset: x264/x265 speed preset (ultrafast ... veryslow).
    :param encoder: an FFmpeg encoder name overriding the codec's default ("auto" picks
        NVENC when a GPU encoder opens, else libx264 / libx265).
    :param gop: key frame interval in frames (None = encoder default).
    :param bframes: number of B-frames (None = encoder default).
    :param threads: encoder threads; 0 (default) lets the encoder choose (x264: frame
        threads, 1.5 per core). Several encoders sharing a machine (a local segment
        pool) each take their share of its cores.
    """

    codec: str = "h264"
    crf: int = 20
    preset: str = "medium"
    encoder: str = "auto"
    gop: int | None = None
    bframes: int | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")


@lru_cache(maxsize=None)
def _nvenc_usable(name: str) -> bool:
    """True when the NVENC encoder exists and a device accepts a session."""
    if name not in av.codecs_available:
        return False
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.open()
        ctx.close() if hasattr(ctx, "close") else None
        return True
    except Exception:  # any failure means "no usable GPU encoder here"
        return False


def resolve_encoder(options: EncodeOptions) -> str:
    """The FFmpeg encoder name to use for ``options``."""
    if options.encoder and options.encoder != "auto":
        if "nvenc" in options.encoder and not _nvenc_usable(options.encoder):
            raise OutputError(
                f"encoder {options.encoder} does not open here (no NVIDIA GPU, driver or FFmpeg support); "
                "use --encoder auto, libx264 or libx265"
            )
        return options.encoder
    nv = {"h264": "h264_nvenc", "hevc": "hevc_nvenc"}[options.codec]
    return nv if _nvenc_usable(nv) else CODECS[options.codec]


class VideoWriter:
    """Writes RGB frames to an MP4 at ``path`` (via a temporary name, renamed at close).

    ``write`` takes (h, w, 3) RGB frames, converted to BT.601 limited-range yuv420p, or
    yuv420p planes as one (h * 3 // 2, w) uint8 array, encoded as they are: limited range,
    in the matrix ``yuv_matrix`` says ("bt709" is written into the stream's colour tags;
    "bt601" is what an untagged stream means to players, as for converted RGB).
    ``audio_from`` copies every audio stream of another file through unchanged; or
    ``audio`` (channels, n) float32 PCM in [-1, 1] at ``audio_rate`` is encoded as AAC
    beside the video, interleaved with it as frames are written (what is left at
    ``close`` after the last frame is written then). ``faststart`` puts the moov first
    (web playback).
    """

    def __init__(
        self,
        path: StrPath,
        *,
        size: SizeLike,
        fps: Fraction | int | float,
        options: EncodeOptions = EncodeOptions(),
        audio_from: StrPath | None = None,
        audio: NDArray[np.float32] | None = None,
        audio_rate: int = 48000,
        faststart: bool = False,
        start_frame: int = 0,
        yuv_matrix: str = "bt601",
    ) -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] % 2 or self.size[1] % 2:
            raise ValueError(f"frame size must be even for yuv420p, got {self.size}")
        self.fps = Fraction(fps).limit_denominator(1001000)
        pcm = None
        if audio is not None:
            if audio_from is not None:
                raise ValueError("give audio_from (copied) or audio (encoded), not both")
            pcm = np.asarray(audio, dtype=np.float32)
            if pcm.ndim != 2 or pcm.shape[0] not in AUDIO_LAYOUTS:
                raise ValueError(f"audio must be (channels, samples) with channels in {sorted(AUDIO_LAYOUTS)}, got {pcm.shape}")
        self._atomic = atomic_output(self.path)
        self._tmp = self._atomic.__enter__()
        self._closed = False
        try:
            container_opts = {"movflags": "+faststart"} if faststart else {}
            self._out = av.open(str(self._tmp), "w", format="mp4", options=container_opts)
            self.encoder = resolve_encoder(options)
            vs = self._out.add_stream(self.encoder, rate=self.fps)
            vs.width, vs.height = self.size
            vs.pix_fmt = "yuv420p"
            if yuv_matrix == "bt709":  # tags for frames given as planes in BT.709
                cc = vs.codec_context
                cc.colorspace = cc.color_primaries = cc.color_trc = 1
                cc.color_range = 1  # limited (MPEG)
            vs.time_base = Fraction(1, 1) / self.fps
            opts: dict[str, str] = {}
            if self.encoder.startswith("libx26"):
                opts = {"crf": str(options.crf), "preset": options.preset}
                # x264 in frame threads, as the ffmpeg command line runs it: PyAV asks
                # for slice threads, which on 2 cores encode 7-20% slower (each frame
                # waits for its slowest slice, and the stitch thread preempts them)
                vs.thread_type = "AUTO"
                if options.threads:
                    vs.codec_context.thread_count = options.threads
                if self.encoder == "libx265":
                    opts["x265-params"] = "log-level=error"
            elif "nvenc" in self.encoder:
                opts = {"preset": "p4", "cq": str(options.crf), "rc": "vbr"}
            if options.gop is not None:
                vs.codec_context.gop_size = options.gop
            if options.bframes is not None:
                vs.codec_context.max_b_frames = options.bframes
            vs.options = opts
            if options.codec == "hevc":
                vs.codec_tag = "hvc1"  # Apple/QuickTime and spherical tools expect hvc1
            self._video = vs
            self._audio_src = None
            self._audio_pairs: list[tuple[av.stream.Stream, av.stream.Stream]] = []
            if audio_from is not None:
                self._audio_src = av.open(str(audio_from), "r", metadata_errors="replace")
                for a in self._audio_src.streams.audio:
                    self._audio_pairs.append((a, self._out.add_stream_from_template(a)))
            self._pcm = pcm
            self._pcm_rate = int(audio_rate)
            self._pcm_stream = None
            if pcm is not None:
                self._pcm_stream = self._out.add_stream("aac", rate=self._pcm_rate, layout=AUDIO_LAYOUTS[pcm.shape[0]])
            self._next_pts = start_frame
            self._video_packets = start_frame  # packets muxed, for a missing DTS (_mux_video)
            self._last_dts: int | None = None
            self._audio_samples = 0
        except av.error.FFmpegError as exc:
            self._abort()
            raise OutputError(f"cannot open encoder: {exc.strerror}", path=self.path) from None
        except BaseException:
            self._abort()
            raise

    def new_frame(self) -> "EncoderFrame":
        """A yuv420p picture of the writer's size to fill and pass to ``write``: encoded
        from its own buffers, with no copy (reuse it after ``write`` returns)."""
        return EncoderFrame(self.size)

    def write(self, frame: "NDArray[np.uint8] | EncoderFrame") -> None:
        """Encode one (height, width, 3) RGB uint8 frame, one (height * 3 // 2, width)
        uint8 array of yuv420p planes, or an ``EncoderFrame`` from ``new_frame``."""
        w, h = self.size
        if isinstance(frame, EncoderFrame):
            if frame.size != self.size:
                raise ValueError(f"frame is {frame.size[0]}x{frame.size[1]}, writer expects {w}x{h}")
            vf = frame.av_frame
        elif frame.ndim == 2:
            if frame.shape != (h * 3 // 2, w):
                raise ValueError(f"yuv420p frame has shape {frame.shape}, writer expects {(h * 3 // 2, w)} ({w}x{h})")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="yuv420p")
        elif frame.shape[1] != w or frame.shape[0] != h:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, writer expects {w}x{h}")
        elif self._video.pix_fmt == "yuv420p":  # OpenCV's conversion, swscale's chroma (10x faster)
            vf = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
        else:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self._next_pts
        self._next_pts += 1
        try:
            for packet in self._video.encode(vf):
                self._mux_video(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"cannot encode or write video frame {vf.pts}: {exc.strerror}", path=self.path) from None
        if self._pcm_stream is not None:
            self._encode_pcm(self._next_pts / float(self.fps))

    def _mux_video(self, packet: av.Packet) -> None:
        """Mux one video packet, its decode timestamp made sane first.

        libx265 through FFmpeg leaves the DTS of a very short clip's packets uninitialised
        (measured: most 2-frame clips, values like -9e15), and the MP4 muxer then refuses
        the file about one time in five ("not yet implemented" / "invalid argument"). A
        DTS that is missing, after its PTS, more than 64 frames before it, or not after the
        previous one is replaced by the packet's place in decode order less the encoder's
        reorder delay (``has_b_frames``), kept increasing and never after the PTS.
        """
        pts, dts, tb = packet.pts, packet.dts, packet.time_base
        last = self._last_dts
        if pts is not None and tb is not None:
            frame = 1.0 / (float(self.fps) * float(tb))  # one frame in packet ticks
            if dts is None or dts > pts or (pts - dts) > 64 * frame or (last is not None and dts <= last):
                fixed = int(round((self._video_packets - self._video.codec_context.has_b_frames) * frame))
                if last is not None:
                    fixed = max(fixed, last + 1)
                packet.dts = dts = min(fixed, pts)
        self._last_dts = dts
        self._video_packets += 1
        self._out.mux(packet)

    def _encode_pcm(self, until_s: float) -> None:
        """Encode the PCM given as ``audio`` in blocks of ``AAC_FRAME`` samples up to ``until_s`` seconds
        (the video written so far), so the two streams reach the muxer interleaved."""
        assert self._pcm is not None and self._pcm_stream is not None
        rate, total = self._pcm_rate, self._pcm.shape[1]
        layout = AUDIO_LAYOUTS[self._pcm.shape[0]]
        while self._audio_samples < until_s * rate and self._audio_samples < total:
            block = np.ascontiguousarray(self._pcm[:, self._audio_samples : self._audio_samples + AAC_FRAME])
            af = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            af.sample_rate = rate
            af.pts = self._audio_samples
            self._audio_samples += block.shape[1]
            for packet in self._pcm_stream.encode(af):
                self._out.mux(packet)

    def _copy_audio(self) -> None:
        if self._audio_src is None:
            return
        streams = [a for a, _ in self._audio_pairs]
        target = {a.index: o for a, o in self._audio_pairs}
        if not streams:
            return
        for packet in self._audio_src.demux(streams):
            if packet.dts is None:
                continue
            packet.stream = target[packet.stream.index]
            self._out.mux(packet)

    def close(self) -> None:
        """Flush the encoders, finish the file and rename it into place."""
        if self._closed:
            return
        try:
            for packet in self._video.encode(None):
                self._mux_video(packet)
            if self._pcm_stream is not None:
                self._encode_pcm(float("inf"))
                for packet in self._pcm_stream.encode(None):
                    self._out.mux(packet)
            self._copy_audio()
            self._out.close()
            if self._audio_src is not None:
                self._audio_src.close()
            self._closed = True
            self._atomic.__exit__(None, None, None)
        except av.error.FFmpegError as exc:
            self._abort(exc)
            raise OutputError(f"cannot finish the video: {exc.strerror}", path=self.path) from None
        except BaseException as exc:
            self._abort(exc)
            raise

    def _abort(self, exc: BaseException | None = None) -> None:
        self._closed = True
        for c in (getattr(self, "_out", None), getattr(self, "_audio_src", None)):
            try:
                if c is not None:
                    c.close()
            except Exception:
                pass
        e = exc or RuntimeError("aborted")
        try:
            self._atomic.__exit__(type(e), e, None)
        except BaseException:
            pass

    @property
    def frames_written(self) -> int:
        return self._next_pts

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if e is None:
            self.close()
        else:
            self._abort(e)


class EncoderFrame:
    """A yuv420p picture in buffers the encoder reads directly.

    ``VideoFrame.from_ndarray`` copies a picture into freshly allocated buffers; at 5.7K
    that is 25 MB a frame, which the C library maps and unmaps every frame (page faults
    and zeroing in the kernel: a few ms of CPU per frame, measured with perf). Writing the
    stitched planes straight into a small pool of these avoids both. ``writable()`` gives
    the (Y, U, V) views to write into: rows ``line_size`` apart, so with
    ``StitchPlan.yuv420().apply(frame, out=planes)``.
    """

    def __init__(self, size: SizeLike) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.av_frame = av.VideoFrame(self.size[0], self.size[1], "yuv420p")
        self._ptrs: tuple[int, ...] = ()
        self.planes: tuple[NDArray[np.uint8], ...] = ()
        self.writable()

    def writable(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
        """The (Y, U, V) views to write the next picture into: the buffers are copied first
        if the encoder still holds them (FFmpeg's ``av_frame_make_writable``), so a picture
        being encoded is never overwritten."""
        self.av_frame.make_writable()
        ptrs = tuple(p.buffer_ptr for p in self.av_frame.planes)
        if ptrs != self._ptrs:
            self._ptrs, self.planes = ptrs, plane_views(self.av_frame)
        return self.planes  # type: ignore[return-value]
