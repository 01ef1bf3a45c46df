"""coopcloud.httpclient on a real HTTP server on loopback: statuses are answers, no answer is Unreachable,
credentials never follow a redirect, the proxy comes from the environment (never for loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coopcloud.httpclient import Unreachable, request, user_agent


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None, str | None]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), self.headers.get("User-Agent")))
        if self.path.endswith("/missing"):
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"no such thing")
        elif self.path.endswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/landed")
            self.end_headers()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"x" * 100
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_an_answer_and_an_error_status_are_both_answers(server):
    ok = request(server + "/x", timeout=5)
    assert (ok.status, ok.ok, ok.body) == (200, True, b"x" * 100)
    missing = request(server + "/missing", timeout=5)
    assert (missing.status, missing.reason, missing.ok, missing.body) == (404, "Not Found", False, b"no such thing")
    assert _Handler.seen[0][3] == user_agent()


def test_the_body_is_bounded_posted_and_not_read_for_head(server):
    assert request(server + "/x", timeout=5, max_body=10).body == b"x" * 10
    assert request(server + "/x", method="POST", data=b"hello", timeout=5).body == b"hello"
    assert request(server + "/x", method="HEAD", timeout=5).body == b""


def test_credentials_never_follow_a_redirect(server):
    answer = request(server + "/moved", authorization="Bearer secret", timeout=5)
    assert answer.status == 200
    assert [(path, auth) for _, path, auth, _ in _Handler.seen] == [("/moved", "Bearer secret"), ("/landed", None)]


def test_no_answer_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(Unreachable) as info:
        request(f"http://127.0.0.1:{port}/", timeout=5)
    assert "refused" in str(info.value.reason).lower()


def test_a_file_url_reads_the_file(tmp_path):
    (tmp_path / "recipes.json").write_text("{}")
    answer = request((tmp_path / "recipes.json").as_uri(), timeout=5)
    assert (answer.status, answer.body) == (200, b"{}")
    with pytest.raises(Unreachable):
        request((tmp_path / "none.json").as_uri(), timeout=5)


def test_the_proxy_comes_from_the_environment_but_never_for_loopback(server):
    proxied = request("http://recipes.example.invalid/x", timeout=5, environ={"HTTP_PROXY": server})
    assert proxied.status == 200
    assert _Handler.seen[-1][1] == "http://recipes.example.invalid/x"  # the proxy was asked for the whole URL
    direct = {"http_proxy": "http://127.0.0.1:9"}  # nothing listens there: used, it would fail
    assert request(server + "/x", timeout=5, environ=direct).status == 200
    with pytest.raises(Unreachable):
        request("http://recipes.example.invalid/x", timeout=5, environ={**direct, "no_proxy": "example.invalid"})
