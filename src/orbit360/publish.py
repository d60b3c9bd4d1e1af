"""The web rendition: an H.264 copy of a 360 video that phones and Chromium can play.

Why a second file: phones cap WebGL textures at 4096 pixels (some at 2048), and Chromium
does not decode HEVC, so the master (often 5.7K HEVC) cannot go to a browser as it is.
The rendition is at most ``max_width`` wide (default 4096, 2:1 kept), H.264 yuv420p,
audio copied, moov first (``+faststart``: playback starts before the download ends), and
marked equirectangular with Spherical Video V1 and V2 metadata.

It sits beside its source as ``NAME.web.mp4``; ``orbit360 view`` prefers it when present.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2

from ._files import check_input_file, check_output_dir, reported_as, within_job
from ._types import SizeLike, StrPath
from .errors import InputError

__all__ = [
    "WEB_MAX_WIDTH",
    "WEB_SUFFIX",
    "web_rendition_path",
    "web_size",
    "publish_web",
    "pick_viewable",
    "finish_publication",
    "publish_site",
    "SiteResult",
]

WEB_MAX_WIDTH = 4096
WEB_SUFFIX = ".web.mp4"
# Codecs Debian's Chromium decodes in a <video> element (measured; HEVC is not one).
BROWSER_CODECS = frozenset({"h264", "vp9", "av1", "vp8"})


def web_rendition_path(src: StrPath) -> Path:
    """Where the web rendition of ``src`` goes: ``clip.mp4`` -> ``clip.web.mp4``."""
    p = Path(src)
    return p if p.name.endswith(WEB_SUFFIX) else p.with_name(p.stem + WEB_SUFFIX)


def web_size(size: SizeLike, max_width: int = WEB_MAX_WIDTH) -> tuple[int, int]:
    """Output (width, height) for an input size: no wider than ``max_width``, 2:1, even."""
    width, _ = size
    if max_width < 4:
        raise ValueError(f"max_width must be at least 4, got {max_width}")
    out_w = min(int(width), int(max_width))
    out_w -= out_w % 4  # height = width / 2 must be even too (yuv420p)
    return out_w, out_w // 2


@within_job
def publish_web(
    src: StrPath,
    dst: StrPath | None = None,
    *,
    max_width: int = WEB_MAX_WIDTH,
    crf: int = 21,
    preset: str = "medium",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the web rendition of the 360 video ``src`` and return its path.

    :param dst: output path; default ``web_rendition_path(src)``.
    :param max_width: widest output in pixels (4096 for phones; 2048 for old ones).
    :param crf: x264 constant rate factor (lower = better and bigger).
    :param progress: called with (frames done, frame count) after each frame.
    :raises InputError: when ``src`` is unreadable or not a 2:1 equirect video.
    """
    from .isobmff.spherical import inject_spherical
    from .video import EncodeOptions, VideoWriter, open_reader

    source = check_input_file(src)
    target = Path(dst if dst is not None else web_rendition_path(source))
    if target.resolve() == source.resolve():
        raise InputError("the web rendition would overwrite its source; name another output", path=source)
    check_output_dir(target)  # and no other input of the job, whatever its spelling
    options = EncodeOptions(codec="h264", crf=crf, preset=preset, encoder="libx264")
    # Encode to a hidden sibling, then inject the spherical boxes into the final name
    # (inject writes atomically); the sibling goes whatever happens.
    fd, encoded_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".encode.mp4", dir=target.parent)
    os.close(fd)
    encoded = Path(encoded_name)
    try:
        with open_reader(source) as reader:
            width, height = reader.size
            if width != 2 * height:
                raise InputError(f"not a 2:1 equirect video ({width}x{height})", path=source)
            out_size = web_size(reader.size, max_width)
            if out_size[0] < 64:  # a 2x1 video would be 0 pixels wide
                raise InputError(f"too small for a web rendition ({reader.size[0]}x{reader.size[1]}; at least 64 wide)", path=source)
            total = reader.frame_count
            with reported_as(encoded, target), VideoWriter(
                encoded, size=out_size, fps=reader.fps, options=options, audio_from=source, faststart=True
            ) as writer:
                done = 0
                for done, frame in enumerate(reader.frames(), 1):
                    if (frame.shape[1], frame.shape[0]) != out_size:
                        # INTER_AREA: the right filter for shrinking (no aliasing).
                        frame = cv2.resize(frame, out_size, interpolation=cv2.INTER_AREA)
                    writer.write(frame)
                    if progress is not None:
                        progress(done, total)
                if done == 0:  # damaged sample tables: nothing decoded, nothing to publish
                    raise InputError("no video frame could be decoded", path=source)
        with reported_as(encoded, target):
            inject_spherical(encoded, target)
    finally:
        encoded.unlink(missing_ok=True)
    return target


def pick_viewable(src: StrPath) -> tuple[Path, str | None]:
    """The file ``orbit360 view`` should serve for ``src``, and a warning for the user or None.

    The web rendition wins when it exists. Without one, an HEVC source is still served
    (other browsers may play it) but the warning says how to make one Chromium can play.
    """
    source = check_input_file(src)
    rendition = web_rendition_path(source)
    if rendition != source and os.path.lexists(rendition):
        from .errors import Orbit360Error
        from .viewer import servable_video

        try:  # only a real video inside the source's own folder (not a symlink elsewhere)
            return servable_video(rendition, folder=source.absolute().parent), None
        except Orbit360Error as exc:
            return source, f"{rendition.name} is not used: {exc.message}"
    from .video import probe_container

    with probe_container(source) as container:
        streams = container.streams.video
        codec = streams[0].codec_context.name if streams and streams[0].codec_context is not None else None
    if codec is None:
        raise InputError("no video track", path=source)
    if codec not in BROWSER_CODECS:
        return source, (
            f"{source.name} is {codec.upper()}, which Chromium cannot play; "
            f"run `orbit360 publish {source.name}` for an H.264 web rendition"
        )
    return source, None


def finish_publication(path: StrPath, *, web: bool = False) -> list[str]:
    """The last steps after a 360 MP4 is written: mark ambisonic audio with SA3D (ambiX)
    and, with ``web``, write the web rendition. Returns one line per thing done."""
    from .audio import audio_tracks, mark_spatial_audio

    done: list[str] = []
    if any(t.ambisonic for t in audio_tracks(path)):
        marked = mark_spatial_audio(path, path)
        done.append(f"spatial audio: SA3D (ambiX) on {len(marked)} ambisonic track(s)")
    if web:
        done.append(f"web rendition: {publish_web(path)}")
    return done


# ---- a static site ------------------------------------------------------------------------
POSTER_NAME = "poster.jpg"
POSTER_SIZE = (1280, 720)
SITE_MARKER = "config.json"


class SiteResult:
    """What ``publish_site`` wrote: the folder, its files, and the HTML to embed it."""

    def __init__(self, folder: Path, files: list[str], snippet: str) -> None:
        self.folder = folder
        self.files = files
        self.snippet = snippet


def _site_page(title: str, video_name: str) -> str:
    """The viewer page (the one ``orbit360 view`` serves) with the poster and title as
    page metadata, so a link to it previews with the poster."""
    from html import escape

    from .viewer import STATIC_DIR

    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    meta = (
        f'<meta property="og:title" content="{escape(title)}">\n'
        f'<meta property="og:image" content="{POSTER_NAME}">\n'
        f'<meta property="og:video" content="{escape(video_name)}">\n'
    )
    return page.replace("<title>orbit360 viewer</title>", f"<title>{escape(title)} - orbit360</title>\n{meta}", 1)


def publish_site(
    src: StrPath,
    site: StrPath,
    *,
    max_width: int = WEB_MAX_WIDTH,
    crf: int = 21,
    preset: str = "medium",
    poster_at: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SiteResult:
    """Write ``site``: a folder any static web server hosts as it is.

    It holds the viewer page (``index.html``, ``static/viewer.js``, ``static/viewer.css``),
    ``config.json`` naming the video, the web rendition of ``src`` (the one beside ``src``
    when it exists, else made here) and ``poster.jpg`` (a flat 16:9 view at ``poster_at``
    seconds, default the middle). The folder is built beside ``site`` and renamed into
    place when complete; an existing ``site`` is replaced only when it is an earlier site
    (or empty). Every URL in it is relative: it works under any path of any host.
    """
    import json
    import shutil

    from .geometry.rotation import Rotation
    from .reframe import render_view
    from .still import encode_jpeg, read_frame_at
    from .viewer import STATIC_DIR

    source = check_input_file(src)
    target = Path(site)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / SITE_MARKER).is_file())):
        raise InputError("exists and is not an orbit360 site folder: name a new or empty folder", path=target)
    check_output_dir(target)
    rendition = web_rendition_path(source)
    video_name = rendition.name if rendition != source else source.stem + WEB_SUFFIX
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".building", dir=target.parent))
    try:
        (build / "static").mkdir()
        for name in ("viewer.js", "viewer.css"):
            shutil.copyfile(STATIC_DIR / name, build / "static" / name)
        if rendition != source and rendition.is_file():
            shutil.copyfile(rendition, build / video_name)
        else:
            publish_web(source, build / video_name, max_width=max_width, crf=crf, preset=preset, progress=progress)
        from .video import open_reader

        with open_reader(build / video_name) as reader:
            duration = reader.duration
        at = duration / 2 if poster_at is None else poster_at
        view = render_view(read_frame_at(build / video_name, at), size=POSTER_SIZE, rotation=Rotation.identity(), fov_deg=90.0)
        (build / POSTER_NAME).write_bytes(encode_jpeg(view, 88))
        title = source.stem
        (build / "config.json").write_text(json.dumps({"video": video_name, "title": title, "poster": POSTER_NAME, "rangeCheck": True}) + "\n")
        (build / "index.html").write_text(_site_page(title, video_name), encoding="utf-8")
        for p in build.rglob("*"):  # mkdtemp made the folder private; a web server must read it
            p.chmod(0o755 if p.is_dir() else 0o644)
        build.chmod(0o755)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(build, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(build, target)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    snippet = (
        f'<iframe src="{target.name}/index.html" width="960" height="540" style="border:0" '
        f'allow="autoplay; fullscreen" allowfullscreen title="{title} (360 video)">'
        f'<a href="{target.name}/index.html"><img src="{target.name}/{POSTER_NAME}" alt="{title} (360 video)"></a></iframe>'
    )
    return SiteResult(target, files, snippet)
