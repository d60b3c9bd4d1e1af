"""The viewer's local HTTP server: routes, MIME types, Range, traversal, loopback, Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orbit360.errors import InputError, Orbit360Error
from orbit360.viewer import STATIC_DIR, ViewerServer

SECRET = b"top secret: this file must never be served\n"


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    # The server only checks that the file starts like an MP4 (an ftyp box), so a known
    # byte pattern after it is the best check that ranges return exactly the right slice.
    path = tmp_path / "clip 360.mp4"
    path.write_bytes(b"\0\0\0\x10ftypisom\0\0\x02\0" + (bytes(range(256)) * 1000 + b"tail")[16:])
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return path


@pytest.fixture()
def server(video: Path):
    with ViewerServer(video) as srv:
        yield srv


def request(server: ViewerServer, path: str, *, method: str = "GET", headers: dict[str, str] | None = None):
    """Send ``path`` byte for byte (http.client does not normalise it) and read the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def video_route(server: ViewerServer) -> str:
    """The video's path on the server, e.g. ``/video/clip%20360.mp4``."""
    return "/" + server.video_url.split("/", 3)[3]


def test_page_files_are_served_with_their_mime_types(server: ViewerServer) -> None:
    expected = {
        "/": ("text/html; charset=utf-8", STATIC_DIR / "index.html"),
        "/static/viewer.js": ("text/javascript; charset=utf-8", STATIC_DIR / "viewer.js"),
        "/static/viewer.css": ("text/css; charset=utf-8", STATIC_DIR / "viewer.css"),
    }
    for path, (mime, file) in expected.items():
        status, headers, body = request(server, path)
        assert status == 200, path
        assert headers["Content-Type"] == mime
        assert body == file.read_bytes()
        assert int(headers["Content-Length"]) == len(body)


def test_page_references_only_local_files() -> None:
    # Offline: no http(s):// URL may appear in anything the page loads.
    for name in ("index.html", "viewer.js", "viewer.css"):
        text = (STATIC_DIR / name).read_text()
        assert "http://" not in text and "https://" not in text, name


def test_config_names_the_video_and_video_is_served_whole(server: ViewerServer, video: Path) -> None:
    status, headers, body = request(server, "/config.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    config = json.loads(body)
    assert config["title"] == video.name
    status, headers, body = request(server, config["video"])
    assert status == 200
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert body == video.read_bytes()


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=100-199", 100, 199), ("bytes=256000-", 256000, 256003), ("bytes=-4", 256000, 256003),
     ("bytes=5-", 5, 256003), ("bytes=10-999999999", 10, 256003), ("bytes=0-0", 0, 0)],
)
def test_range_requests_get_206_with_exact_bytes(
    server: ViewerServer, video: Path, range_header: str, first: int, last: int
) -> None:
    data = video.read_bytes()
    status, headers, body = request(server, video_route(server), headers={"Range": range_header})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    assert body == data[first : last + 1]
    assert int(headers["Content-Length"]) == last - first + 1


def test_unsatisfiable_range_is_416_and_head_has_no_body(server: ViewerServer, video: Path) -> None:
    size = video.stat().st_size
    path = video_route(server)
    status, headers, body = request(server, path, headers={"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}" and body == b""
    status, headers, body = request(server, path, method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) == size and body == b""


def test_traversal_attempts_are_refused(server: ViewerServer, video: Path) -> None:
    secret = video.parent / "secret.txt"
    attempts = [
        "/../secret.txt",
        "/video/../secret.txt",
        "/static/../../../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/video/..%2fsecret.txt",
        "/static/%252e%252e/%252e%252e/etc/passwd",
        "/static/..\\..\\secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/static/" + str(secret),
        "/static/" + str(secret).replace("/", "%2f"),
        str(secret),
        "/video/secret.txt",
        "/static/./viewer.js",
        "/static/%00viewer.js",
    ]
    for path in attempts:
        status, _, body = request(server, path)
        assert status in (403, 404), path
        assert SECRET not in body and b"root:" not in body, path
    # The encoded forms are refused outright, before any lookup.
    for path in ("/%2e%2e/secret.txt", "/static/..%2f..%2fsecret.txt", "/static/%252e%252e/x"):
        assert request(server, path)[0] == 403, path


def test_symlinks_out_of_the_static_folder_are_refused(video: Path, tmp_path: Path) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    (static / "leak.txt").symlink_to(video.parent / "secret.txt")
    (static / "outside").symlink_to(video.parent, target_is_directory=True)
    (static / "inside.js").symlink_to(static / "viewer.js")
    with ViewerServer(video, static_dir=static) as srv:
        for path in ("/static/leak.txt", "/static/outside/secret.txt"):
            status, _, body = request(srv, path)
            assert status == 403, path
            assert SECRET not in body
        # A symlink that stays inside is an ordinary file.
        status, _, body = request(srv, "/static/inside.js")
        assert status == 200 and body == (static / "viewer.js").read_bytes()


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this host other than 127.x, if it has one."""
    candidates = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it picks a source address
            candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    return next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), None)


def test_server_listens_on_loopback_only(server: ViewerServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to try")
    with pytest.raises(OSError):
        socket.create_connection((address, server.port), timeout=3).close()


def test_foreign_host_header_is_refused(server: ViewerServer) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the video.
    status, _, _ = request(server, "/config.json", headers={"Host": f"evil.example:{server.port}"})
    assert status == 403
    assert request(server, "/config.json", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_bad_inputs_raise_one_line_errors(video: Path, tmp_path: Path, server: ViewerServer) -> None:
    with pytest.raises(InputError, match="no such file"):
        ViewerServer(tmp_path / "missing.mp4")
    with pytest.raises(Orbit360Error, match="already in use"):
        ViewerServer(video, port=server.port)


def _tiny_h264(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 64, 3), 40 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_ctrl_c_shuts_the_view_command_down_cleanly(tmp_path: Path) -> None:
    video = _tiny_h264(tmp_path / "tiny.mp4")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "orbit360", "view", str(video), "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # Ctrl-C as a terminal gives it: a background job of a non-interactive shell (a CI
        # script's `cmd &`) inherits SIGINT ignored, and Python then installs no handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line[line.index("http://") :].split()[0]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        # A browser keeps connections open; one idle keep-alive connection must not block exit.
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        idle.request("GET", "/config.json")
        assert idle.getresponse().read()
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # say what the server was doing, not only that it hung
            proc.send_signal(signal.SIGABRT)  # -X faulthandler: every thread's stack to stderr
            proc.wait(timeout=10)
            pytest.fail("view did not exit within 10 s of Ctrl-C; its stderr:\n" + proc.stderr.read()[-4000:])
        elapsed = time.monotonic() - start
        err = proc.stderr.read()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert elapsed < 5
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- hostile use (issue 19) --------------------------------------------------------------


def test_web_rendition_symlink_out_of_the_folder_is_not_served(tmp_path: Path) -> None:
    """A NAME.web.mp4 beside the video that links elsewhere (/etc/passwd) is ignored, and a
    file that is not a video is never served, even when named directly."""
    from orbit360.publish import pick_viewable
    from orbit360.viewer import servable_video

    folder = tmp_path / "videos"
    folder.mkdir()
    video = _tiny_h264(folder / "clip.mp4")
    outside = tmp_path / "passwd"
    outside.write_bytes(SECRET)
    (folder / "clip.web.mp4").symlink_to(outside)
    source, note = pick_viewable(video)
    assert source == video and note is not None and "not used" in note
    with ViewerServer(source) as srv:
        status, _, body = request(srv, video_route(srv))
        assert status == 200 and body == video.read_bytes() and SECRET not in body
    with pytest.raises(InputError, match="not a video file name"):
        ViewerServer(outside)
    disguised = folder / "secret.mp4"
    disguised.write_bytes(SECRET)
    with pytest.raises(InputError, match="not an MP4/MOV/WebM video"):
        servable_video(disguised)
    inside = folder / "inside.mp4"
    inside.symlink_to(video)  # a link that stays in the folder is the video it names
    assert servable_video(inside, folder=folder) == video.resolve()


def _raw(server: ViewerServer, data: bytes, *, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_malformed_ranges_get_an_http_answer(server: ViewerServer) -> None:
    route = video_route(server).encode()
    host = f"127.0.0.1:{server.port}".encode()
    for value, status in ((b"bytes=\xb2-", b"400"), (b"bytes=" + b"9" * 5000 + b"-", b"416"), (b"bytes=0-" + b"9" * 5000, b"206")):
        answer = _raw(server, b"GET " + route + b" HTTP/1.1\r\nHost: " + host + b"\r\nRange: " + value + b"\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 " + status), (value[:20], answer[:80])


def test_idle_connections_time_out_and_threads_are_bounded(video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orbit360.viewer import _server

    monkeypatch.setattr(_server._Handler, "timeout", 1.0)
    monkeypatch.setattr(_server, "MAX_CONNECTIONS", 3)
    with ViewerServer(video) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(3)]
        for s in idle:
            s.sendall(b"GET / HTTP/1.1\r\nHo")  # half a request, then silence
        time.sleep(0.3)
        # every slot is held: the next client is told so at once, not queued forever
        assert _raw(srv, b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").startswith(b"HTTP/1.1 503")
        for s in idle:  # the server hangs up on the idle ones after its timeout
            start = time.monotonic()
            assert s.recv(100) == b""  # closed by the server, no answer to half a request
            assert time.monotonic() - start < 5
            s.close()
        time.sleep(0.2)
        status, _, _ = request(srv, "/config.json")
        assert status == 200  # slots are free again
