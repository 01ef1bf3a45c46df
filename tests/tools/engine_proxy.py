"""A recording proxy for the Docker Engine API on a unix socket.

Listens on a temporary unix socket, forwards every byte to the real engine
socket, and records each request's method, path (without the API version
prefix and query string) and JSON body. Used by the differential tests to
capture exactly what ``docker stack deploy`` sends.

    with EngineProxy("/var/run/docker.sock") as proxy:
        subprocess.run(["docker", "-H", proxy.url, "stack", "deploy", ...])
        bodies = proxy.bodies("POST", "/services/create")
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
from dataclasses import dataclass, field

_VERSION_PREFIX = re.compile(r"^/v\d+(\.\d+)?(?=/)")


@dataclass
class Request:
    method: str
    path: str  # "/services/create", version prefix and query string removed
    query: str
    raw_path: str
    body: object = None  # parsed JSON, or None


@dataclass
class EngineProxy:
    upstream: str
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="coop-proxy-")
        self.path = os.path.join(self._dir, "docker.sock")
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = False

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def bodies(self, method: str, path: str) -> list[object]:
        with self._lock:
            return [r.body for r in self.requests if r.method == method and r.path == path]

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> EngineProxy:
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass

    # -- plumbing --------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            threading.Thread(target=self._client_to_upstream, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _client_to_upstream(self, client: socket.socket, upstream: socket.socket) -> None:
        reader = _Reader(client)
        try:
            while True:
                head = reader.read_until(b"\r\n\r\n")
                if head is None:
                    break
                upstream.sendall(head)
                lines = head.decode("latin-1").split("\r\n")
                method, raw_path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = b""
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size_line = reader.read_until(b"\r\n")
                        assert size_line is not None
                        upstream.sendall(size_line)
                        size = int(size_line.split(b";")[0].strip(), 16)
                        chunk = reader.read_exact(size + 2)
                        upstream.sendall(chunk)
                        body += chunk[:-2]
                        if size == 0:
                            # trailers (none expected) end with an empty line
                            break
                elif "content-length" in headers:
                    body = reader.read_exact(int(headers["content-length"]))
                    upstream.sendall(body)
                self._record(method, raw_path, body)
        except (OSError, AssertionError):
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def _record(self, method: str, raw_path: str, body: bytes) -> None:
        path, _, query = raw_path.partition("?")
        path = _VERSION_PREFIX.sub("", path)
        parsed: object = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body
        with self._lock:
            self.requests.append(Request(method, path, query, raw_path, parsed))


class _Reader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_until(self, sep: bytes) -> bytes | None:
        while sep not in self.buf:
            if not self._fill():
                return None
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise OSError("connection closed mid-body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
