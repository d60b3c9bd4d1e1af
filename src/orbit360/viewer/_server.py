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
import signal
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from .._files import check_input_file
from .._types import StrPath
from ..errors import Orbit360Error
from ._ranges import UnsatisfiableRange, parse_byte_range

__all__ = ["ViewerServer", "STATIC_DIR", "MIME_TYPES", "LOOPBACK"]

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

_CHUNK = 256 * 1024
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
            handle = open(path, "rb")
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        with handle:
            size = path.stat().st_size
            range_header = self.headers.get("Range")
            span: tuple[int, int] | None = None
            if range_header:
                try:
                    span = parse_byte_range(range_header, size)
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


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True  # in-flight video streams must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, port: int, video_path: Path, static_root: Path) -> None:
        self.video_path = video_path
        self.static_root = static_root
        self.video_url_path = "/video/" + video_path.name
        self.config_json = json.dumps(
            {"video": "/video/" + quote(video_path.name), "title": video_path.name}
        ).encode()
        super().__init__((LOOPBACK, port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        _log.debug("request from %s failed", client_address, exc_info=True)


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
        video_path = check_input_file(video).resolve()
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
