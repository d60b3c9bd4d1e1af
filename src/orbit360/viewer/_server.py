"""The local HTTP server behind ``orbit360 view``.

It serves exactly three things, all read-only, on 127.0.0.1 only:

- the page's own files from ``viewer/static/`` (``/`` is ``static/index.html``),
- ``/config.json``, which tells the page the video's URL and title,
- the one video it was started with, at ``/video/<its file name>``, with HTTP Range
  support (a ``<video>`` element cannot seek without 206 answers).

Every other path is 404, and anything that looks like a way out (``..`` segments, raw or
percent-encoded, backslashes, NUL, ``//absolute`` paths, symlinks that resolve outside
the static folder) is 403 before any file is touched. The ``Host`` header must name the
loopback address, so a web page elsewhere cannot reach the server by DNS rebinding.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import stat
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from .._files import check_input_file, open_input
from .._types import StrPath
from ..errors import InputError, Orbit360Error
from ._ranges import MalformedRange, UnsatisfiableRange, parse_byte_range

__all__ = ["ViewerServer", "STATIC_DIR", "MIME_TYPES", "LOOPBACK", "servable_video", "VIDEO_SUFFIXES"]

LOOPBACK = "127.0.0.1"
STATIC_DIR = Path(__file__).with_name("static")

# Explicit, not mimetypes.guess_type: that one reads /etc/mime.types and differs per host.
MIME_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/mp4",  # Chromium plays H.264 in QuickTime files only when told mp4
    ".webm": "video/webm",
}

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm"})
# The first bytes of a video the viewer serves: an ISO-BMFF top-level box, or WebM's EBML.
_BMFF_TOPS = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")
_EBML = b"\x1a\x45\xdf\xa3"

_CHUNK = 256 * 1024
# A connection that sends nothing (or reads nothing) for this long is closed; a browser
# simply opens a new one for its next range request.
IDLE_TIMEOUT_S = 20.0
# At most this many connections are served at once; more are answered 503 and closed.
MAX_CONNECTIONS = 32
_log = logging.getLogger("orbit360.viewer")


def _is_escape_attempt(raw_path: str) -> bool:
    """True when a request path tries to leave the served tree, however it is spelt.

    The path is decoded twice so that ``%252e%252e`` (an encoded ``%2e%2e``) is caught too.
    """
    once = unquote(raw_path)
    for text in (raw_path, once, unquote(once)):
        if "\x00" in text or "\\" in text or text.startswith("//"):
            return True
        if any(segment in ("..", ".") for segment in text.split("/")):
            return True
    return False


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd
    protocol_version = "HTTP/1.1"
    server_version = "orbit360-viewer"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S  # socket timeout: idle or half-sent requests do not hold a thread

    # -- plumbing ---------------------------------------------------------------------
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        _log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        if not self._host_allowed():
            self._send_error(HTTPStatus.FORBIDDEN, "Host not allowed")
            return
        raw_path = urlsplit(self.path).path
        if _is_escape_attempt(raw_path):
            self._send_error(HTTPStatus.FORBIDDEN, "path refused")
            return
        path = unquote(raw_path)
        if path in ("/", "/index.html"):
            self._send_static("index.html", send_body)
        elif path == "/config.json":
            self._send_bytes(self.server.config_json, MIME_TYPES[".json"], send_body, no_store=True)
        elif path.startswith("/static/"):
            self._send_static(path[len("/static/") :], send_body)
        elif path == self.server.video_url_path:
            self._send_file(self.server.video_path, send_body)
        else:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        port = self.server.server_address[1]
        return host in {LOOPBACK, "localhost", f"{LOOPBACK}:{port}", f"localhost:{port}"}

    # -- answers ----------------------------------------------------------------------
    def _send_error(self, status: HTTPStatus, reason: str) -> None:
        body = f"{status.value} {reason}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", MIME_TYPES[".txt"])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_bytes(self, body: bytes, mime: str, send_body: bool, *, no_store: bool = False) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        if no_store:
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _send_static(self, relative: str, send_body: bool) -> None:
        root = self.server.static_root
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            # A symlink inside static/ that points elsewhere.
            self._send_error(HTTPStatus.FORBIDDEN, "path refused")
            return
        if not candidate.is_file():
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        self._send_file(candidate, send_body)

    def _send_file(self, path: Path, send_body: bool) -> None:
        mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        try:
            # O_NONBLOCK: a FIFO swapped in after start must not block a thread; O_NOFOLLOW
            # where there is one: the path was resolved at start, a symlink now is a swap
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        handle = os.fdopen(fd, "rb")
        with handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self._send_error(HTTPStatus.NOT_FOUND, "not found")
                return
            os.set_blocking(fd, True)
            size = st.st_size
            range_header = self.headers.get("Range")
            span: tuple[int, int] | None = None
            if range_header:
                try:
                    span = parse_byte_range(range_header, size)
                except MalformedRange:
                    self._send_error(HTTPStatus.BAD_REQUEST, "malformed Range")
                    return
                except UnsatisfiableRange:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.send_header("Accept-Ranges", "bytes")
                    self.end_headers()
                    return
            first, last = span if span is not None else (0, size - 1)
            length = last - first + 1 if size else 0
            self.send_response(HTTPStatus.PARTIAL_CONTENT if span is not None else HTTPStatus.OK)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("X-Content-Type-Options", "nosniff")
            if span is not None:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if send_body and length:
                self._copy_span(handle, first, length)

    def _copy_span(self, handle: BinaryIO, first: int, length: int) -> None:
        handle.seek(first)
        remaining = length
        try:
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # Browsers drop video requests mid-body whenever they seek; that is normal.
            self.close_connection = True


def servable_video(path: StrPath, *, folder: StrPath | None = None) -> Path:
    """The resolved path of ``path`` if the viewer may serve it, else InputError.

    It must be a regular file with a video suffix whose first bytes are an MP4/MOV box or
    WebM's header, and, when ``folder`` is given (the folder of the video the user named,
    for a NAME.web.mp4 found beside it), it must resolve inside that folder: a symlink
    planted there cannot make the server hand out /etc/passwd or anything else.
    """
    p = check_input_file(path)
    resolved = p.resolve()
    if folder is not None and not resolved.is_relative_to(Path(folder).resolve()):
        raise InputError(f"resolves outside the video's folder (to {resolved}): not served", path=p)
    if resolved.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"not a video file name ({', '.join(sorted(VIDEO_SUFFIXES))}): not served", path=p)
    with open_input(resolved) as f:
        head = f.read(8)
    if head[4:8] not in _BMFF_TOPS and head[:4] != _EBML:
        raise InputError("not an MP4/MOV/WebM video: not served", path=p)
    return resolved


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True  # in-flight video streams must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, port: int, video_path: Path, static_root: Path) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.video_path = video_path
        self.static_root = static_root
        self.video_url_path = "/video/" + video_path.name
        self.config_json = json.dumps(
            {"video": "/video/" + quote(video_path.name), "title": video_path.name}
        ).encode()
        super().__init__((LOOPBACK, port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        _log.debug("request from %s failed", client_address, exc_info=True)

    # a bounded number of handler threads: past MAX_CONNECTIONS a client gets 503 at once
    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ViewerServer:
    """Serve the viewer page and one video on ``http://127.0.0.1:<port>/``.

    :param video: the video file to serve (H.264, VP9 or AV1 for Chromium; not HEVC).
    :param port: TCP port on 127.0.0.1; 0 (default) picks a free one.
    :param static_dir: the page's files; default the package's ``viewer/static``.
    :raises InputError: when ``video`` is missing, empty or unreadable.
    :raises Orbit360Error: when the port cannot be bound (in use, or privileged).

    Use it blocking (``serve_until_interrupted()``, what the CLI does) or in a background
    thread (``with ViewerServer(path) as server: ...``, what tests do).
    """

    def __init__(self, video: StrPath, *, port: int = 0, static_dir: StrPath | None = None) -> None:
        video_path = servable_video(video)
        static_root = Path(static_dir if static_dir is not None else STATIC_DIR).resolve()
        if not (static_root / "index.html").is_file():
            raise Orbit360Error("viewer page is missing (no index.html)", path=static_root)
        if not 0 <= port <= 65535:
            raise Orbit360Error(f"port {port} is out of range 0..65535")
        try:
            self._httpd = _Httpd(port, video_path, static_root)
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise Orbit360Error(f"cannot listen on {LOOPBACK}:{port}: {reason}") from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, ``http://127.0.0.1:<port>/``."""
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def video_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/video/{quote(self._httpd.video_path.name)}"

    def open_in_browser(self) -> None:
        """Open the page in the user's browser from a side thread (some browsers block)."""
        threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()

    def serve_until_interrupted(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until Ctrl-C (SIGINT) or SIGTERM, then close the socket and return.

        ``on_ready`` runs once the socket listens (the CLI opens the browser there).
        A signal is the normal way to stop, so it is not re-raised.
        """
        previous_term = None
        if threading.current_thread() is threading.main_thread():
            previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            if on_ready is not None:
                on_ready()
            self._httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()
            if previous_term is not None:
                signal.signal(signal.SIGTERM, previous_term)

    def start(self) -> ViewerServer:
        """Serve from a background thread; ``stop()`` ends it."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop a background server and close its socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
