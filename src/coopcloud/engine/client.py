"""`EngineClient`: thin methods over the Docker Engine API, on `http.client`.

One client = one engine = one keep-alive connection (over ssh: one ``ssh …
docker system dial-stdio`` process) reused by every request. The API version
is negotiated once, on the first request (``GET /_ping``), as
``min(engine's version, MAX_API_VERSION)``; every path is then sent as
``/v1.41/...``.

Methods return the engine's parsed JSON (objects as `RawMap`, lists of them; as documented at
https://docs.docker.com/engine/api/v1.41/). Errors are the `EngineError`
family from `coopcloud.errors`, each one line naming the server.

Streams that must run beside other requests (``logs --follow``, an exec) use a
second channel: `clone()` gives an independent client to the same server
(over ssh it multiplexes on the first one's ControlMaster connection), and
`exec_run` opens its own channel because the engine takes the connection over
("hijacks" it) for an exec.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, cast
from urllib.parse import quote

from coopcloud.errors import EngineConflict, EngineError, EngineNotFound, ServerNotReady
from coopcloud.rawdata import RawMap, as_list, as_map, get_int, get_list, get_map, get_str

from .endpoint import Endpoint, parse_endpoint
from .stream import Frame, FrameDecoder, chunks_from, encode_filters, iter_frames, iter_lines, query_string
from .transport import Channel, Transport, make_transport

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from coopcloud.rawdata import JSONDict

    from .protocol import ByteReader, Filters

MAX_API_VERSION = "1.41"  # Docker 20.10; newer engines still serve it
MIN_API_VERSION = "1.30"  # distribution inspect, config update: older engines are refused
DEFAULT_TIMEOUT = 300.0  # seconds for one ordinary request (service create may resolve digests)
CONNECT_TIMEOUT = 60.0  # the first request includes the ssh handshake


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Connection(http.client.HTTPConnection):
    """An HTTPConnection whose socket comes from a `Transport` channel."""

    def __init__(self, transport: Transport, timeout: float | None):
        super().__init__("docker", timeout=timeout)
        self.transport = transport
        self.channel: Channel | None = None
        self.last_channel: Channel | None = None  # kept after close, to explain a failure
        self.hung_up = False  # set by EngineClient.hang_up: no stream may start after it

    def connect(self) -> None:
        self.channel = self.last_channel = self.transport.open(self.timeout)
        self.sock = self.channel.sock
        if self.hung_up:
            # hang_up() came while this connection was being opened (it found no socket to shut):
            # shut it now, or a stream about to start here would block its reader forever.
            _shutdown(self.sock)

    def close(self) -> None:
        super().close()  # drops self.sock
        if self.channel is not None:
            channel, self.channel = self.channel, None
            self.transport.release(channel)


class _ResponseStream(io.RawIOBase):
    """A response body read on demand; a lost connection is the client's EngineUnreachable."""

    def __init__(self, client: EngineClient, resp: http.client.HTTPResponse):
        self._client = client
        self._resp = resp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        try:
            return self._resp.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise self._client._lost(exc) from exc

    def close(self) -> None:
        if not self.closed and not self._resp.isclosed():
            self._resp.close()
            self._client._conn.close()  # the rest of the body is unread: this connection is spent
        super().close()


class EngineClient:
    """A Docker Engine API client for one server. Use as a context manager, or call `close()`.

    Not thread-safe: one client per thread (servers in parallel = one client
    each). A stream that must run beside other requests goes on a `clone()`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        name: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        _transport: Transport | None = None,
        _api_version: str | None = None,
    ):
        self.endpoint = endpoint
        self.name = name or endpoint.default_name
        self.timeout = timeout
        self._owns_transport = _transport is None
        self._transport = _transport or make_transport(endpoint, self.name, environ=environ)
        first = CONNECT_TIMEOUT if timeout is not None and _api_version is None else timeout
        self._conn = _Connection(self._transport, first)
        self.api_version: str | None = _api_version
        self.requests = 0  # HTTP requests answered on this client's connection
        self._ping_headers: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; for ssh, the process ends (and is reaped). Clones close with their parent."""
        self._conn.close()
        if self._owns_transport:
            self._transport.close()

    def clone(self, *, timeout: float | None = None) -> EngineClient:
        """A second, independent connection to the same server (for a stream beside other requests).

        Shares the API version (no second negotiation) and, over ssh, the
        ControlMaster connection. Close it when done; it is also closed when
        this client closes. `timeout=None` (default) suits endless streams.
        """
        return EngineClient(
            self.endpoint,
            name=self.name,
            timeout=timeout,
            _transport=self._transport,
            _api_version=self.api_version,
        )

    def hang_up(self) -> None:
        """Wake a thread blocked reading this client's stream: shut the socket down (close alone does not).

        Sticky: a connection opened afterwards (by a thread that had not connected yet) is shut as
        soon as it is open, so its request fails at once instead of streaming.
        """
        self._conn.hung_up = True  # before reading .sock: connect() sets .sock, then checks this
        sock = self._conn.sock
        if sock is not None:
            _shutdown(sock)

    @property
    def url(self) -> str:
        return self.endpoint.url

    @property
    def pid(self) -> int | None:
        """pid of the ssh process serving this client's connection (None for a socket)."""
        channel = self._conn.channel
        return channel.pid if channel else None

    @property
    def channels_opened(self) -> int:
        """Connections (ssh processes, for ssh) opened by this client and its clones so far."""
        return self._transport.channels_opened

    def __repr__(self) -> str:
        return f"<EngineClient {self.name} {self.url} api={self.api_version} requests={self.requests}>"

    # -- the wire ----------------------------------------------------------

    def _negotiate(self) -> None:
        self.api_version = self._version_from(self._ping())

    def _version_from(self, headers: Mapping[str, str]) -> str:
        server = headers.get("api-version", "")
        try:
            version = min(_vtuple(server), _vtuple(MAX_API_VERSION))
        except ValueError:
            version = _vtuple(MAX_API_VERSION)
        if version < _vtuple(MIN_API_VERSION):
            raise ServerNotReady(
                f"the Docker engine on {self.name} is too old (API {server}, coop needs {MIN_API_VERSION})",
                hint="upgrade Docker there",
            )
        return ".".join(str(p) for p in version)

    def _ping(self) -> dict[str, str]:
        resp = self._send("GET", "/_ping", versioned=False)
        resp.read()
        self._ping_headers = {k.lower(): v for k, v in resp.getheaders()}
        self._after_first_answer()
        return self._ping_headers

    def _after_first_answer(self) -> None:
        # The first request's timeout covered the ssh handshake; later ones get the ordinary one.
        if self._conn.timeout != self.timeout:
            self._conn.timeout = self.timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(self.timeout)

    def _after_ping(self, headers: dict[str, str]) -> None:
        """Negotiate from a pipelined ``/_ping`` answer (see `get_many`)."""
        self._ping_headers = dict(headers)
        self._after_first_answer()
        self.api_version = self._version_from(headers)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: object = None,
        raw_body: bytes | IO[bytes] | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> http.client.HTTPResponse:
        if versioned and self.api_version is None:
            self._negotiate()
        url = (f"/v{self.api_version}{path}" if versioned else path) + query_string(params or {})
        hdrs = {"User-Agent": "coop"}
        data: bytes | IO[bytes] | Iterable[bytes] | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw_body is not None:
            data = raw_body
            hdrs["Content-Type"] = "application/x-tar"
        if headers:
            hdrs.update(headers)
        chunked = data is not None and not isinstance(data, (bytes, bytearray)) and not hasattr(data, "read")
        try:
            self._conn.request(method, url, body=data, headers=hdrs, encode_chunked=chunked)
            resp = self._conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        except KeyboardInterrupt:
            self._conn.close()  # half an exchange is on the wire: a later request (the lock's release) reconnects
            raise
        self.requests += 1
        if self._conn.channel is not None:
            self._conn.channel.requests += 1
        if resp.status >= 400:
            try:
                payload = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise self._lost(exc) from exc
            raise self._error(resp.status, payload, method, path)
        return resp

    def _lost(self, exc: BaseException) -> EngineError:
        # http.client may already have closed the connection (it does on ConnectionError).
        channel = self._conn.channel or self._conn.last_channel
        err = self._transport.failure(channel, exc)
        self._conn.close()
        return err

    def _error(self, status: int, payload: bytes, method: str, path: str) -> EngineError:
        message = ""
        try:
            message = json.loads(payload).get("message", "")
        except (ValueError, AttributeError):
            message = payload.decode("utf-8", "replace").strip()
        message = message or f"HTTP {status} on {method} {path}"
        if status == 503 and "not a swarm manager" in message:
            return ServerNotReady(
                f"server {self.name} is not a swarm manager", status=status, hint=f"run: coop server init {self.name}"
            )
        if status == 404:
            return EngineNotFound(f"server {self.name}: {message}", status=status)
        if status == 409:
            return EngineConflict(f"server {self.name}: {message}", status=status)
        return EngineError(f"server {self.name}: {message}", status=status)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: object = None,
        raw_body: bytes | IO[bytes] | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> object:
        """One request; the answer's decoded JSON, its bytes when it is not JSON, None when empty."""
        if self.api_version is None and method == "GET" and body is None and raw_body is None and not headers:
            # The first request of a command: its /_ping goes in the same round trip.
            return self.get_many([(path, {k: v for k, v in (params or {}).items() if v is not None})])[0]
        resp = self._send(method, path, params=params, body=body, raw_body=raw_body, headers=headers)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        except KeyboardInterrupt:
            self._conn.close()
            raise
        if not data:
            return None
        if (resp.getheader("Content-Type") or "").startswith("application/json"):
            return json.loads(data)
        return data

    def _obj(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawMap:
        """A request whose answer is one JSON object ({} when the engine sent none)."""
        return as_map(self._call(method, path, params=params, body=body, headers=headers), path)

    def _objs(self, path: str, *, params: Mapping[str, object] | None = None) -> list[RawMap]:
        """A GET whose answer is a JSON list of objects."""
        return [as_map(item, path) for item in as_list(self._call("GET", path, params=params), path)]

    def get_many(
        self, requests: Iterable[tuple[str, Mapping[str, object]]], *, return_errors: bool = False
    ) -> list[object]:  # the decoded answers, each as its endpoint sends it: views.py narrows them
        """Several independent GETs in ONE round trip: HTTP/1.1 pipelining on this connection.

        `requests`: ``(path, params)`` pairs as for `request()`; the answers come back in order,
        parsed as `request()` parses them. The engine (Go's net/http) answers pipelined requests in
        order on one connection, so a command costs one round trip for all of them instead of one
        each, which matters over a slow ssh link. When the API version is not known yet, the
        ``/_ping`` that negotiates it goes in the same batch, with the requests sent for
        `MAX_API_VERSION`; should the engine be older, they are asked again at its version.
        The first error answer is raised after every answer was read (the connection stays usable);
        with `return_errors=True` each failed request's `EngineError` takes its place in the list.
        """
        wanted = [(path, dict(params)) for path, params in requests]
        if not wanted:
            return []
        negotiate = self.api_version is None
        version = self.api_version or MAX_API_VERSION
        urls = (["/_ping"] if negotiate else []) + [f"/v{version}{p}" + query_string(q) for p, q in wanted]
        answers = self._pipeline(urls)
        if negotiate:
            status, headers, _ = answers.pop(0)
            if status >= 400:
                raise self._error(status, b"", "GET", "/_ping")
            self._after_ping(headers)
            if self.api_version != version:
                return self.get_many(wanted, return_errors=return_errors)
        out: list[object] = []
        failure: EngineError | None = None
        for (path, _), (status, headers, data) in zip(wanted, answers):
            if status >= 400:
                error = self._error(status, data, "GET", path)
                failure = failure or error
                out.append(error if return_errors else None)
            elif data and headers.get("content-type", "").startswith("application/json"):
                out.append(json.loads(data))
            else:
                out.append(data or None)
        if failure is not None and not return_errors:
            raise failure
        return out

    def _pipeline(self, urls: list[str]) -> list[tuple[int, dict[str, str], bytes]]:
        """Send every GET, then read every answer: (status, lower-cased headers, body)."""
        conn = self._conn
        try:
            if conn.sock is None:
                conn.connect()
            assert conn.sock is not None
            payload = b"".join(
                f"GET {url} HTTP/1.1\r\nHost: docker\r\nUser-Agent: coop\r\n\r\n".encode("latin-1") for url in urls
            )
            conn.sock.sendall(payload)
            # One buffered reader for every answer: a reader per response could read ahead into the next.
            reader = conn.sock.makefile("rb")
            shared = _SharedReader(reader)
            answers = []
            try:
                for _ in urls:
                    # `shared` stands in for the socket: HTTPResponse only calls its makefile()
                    resp = http.client.HTTPResponse(shared, method="GET")  # type: ignore[arg-type]
                    resp.begin()
                    body = resp.read()
                    answers.append((resp.status, {k.lower(): v for k, v in resp.getheaders()}, body))
            finally:
                reader.close()  # drops its reference only; the socket stays open for later requests
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        except KeyboardInterrupt:
            conn.close()
            raise
        self.requests += len(urls)
        if conn.channel is not None:
            conn.channel.requests += len(urls)
        return answers

    def request(
        self, method: str, path: str, *, params: Mapping[str, object] | None = None, body: object = None
    ) -> object:
        """Another endpoint: `path` without the version prefix, e.g. ``/swarm``; the decoded answer."""
        return self._call(method, path, params=params, body=body)

    # -- system ------------------------------------------------------------

    def ping(self) -> str:
        """``GET /_ping``: "OK". Also records the engine's headers (`ping_headers`)."""
        resp = self._send("GET", "/_ping", versioned=False)
        body = resp.read().decode()
        self._ping_headers = {k.lower(): v for k, v in resp.getheaders()}
        return body

    @property
    def ping_headers(self) -> dict[str, str]:
        """Headers of the last ``/_ping``: ``api-version``, ``swarm`` (e.g. "active/manager"), ``ostype``."""
        return dict(self._ping_headers)

    def version(self) -> RawMap:
        return self._obj("GET", "/version")

    def info(self) -> RawMap:
        return self._obj("GET", "/info")

    def swarm_inspect(self) -> RawMap:
        return self._obj("GET", "/swarm")

    def swarm_init(self, spec: Mapping[str, object]) -> str:
        """``POST /swarm/init``; returns the node id."""
        node_id = self._call("POST", "/swarm/init", body=dict(spec))
        return node_id if isinstance(node_id, str) else ""

    def require_manager(self) -> RawMap:
        """`info()`, or ServerNotReady when the engine is not a swarm manager."""
        info = self.info()
        swarm = get_map(info, "Swarm")
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise ServerNotReady(
                f"server {self.name} is not a swarm manager", hint=f"run: coop server init {self.name}"
            )
        return info

    def nodes(self, filters: Filters = None) -> list[RawMap]:
        return self._objs("/nodes", params={"filters": encode_filters(filters)})

    def node(self, id_or_name: str) -> RawMap:
        return self._obj("GET", f"/nodes/{_q(id_or_name)}")

    def node_update(self, id_or_name: str, version: int, spec: Mapping[str, object]) -> None:
        """``POST /nodes/{id}/update?version=N`` with the whole node spec (Role, Availability, Labels)."""
        self._call("POST", f"/nodes/{_q(id_or_name)}/update", params={"version": version}, body=dict(spec))

    # -- networks ----------------------------------------------------------

    def networks(self, filters: Filters = None) -> list[RawMap]:
        return self._objs("/networks", params={"filters": encode_filters(filters)})

    def network(self, id_or_name: str) -> RawMap:
        return self._obj("GET", f"/networks/{_q(id_or_name)}")

    def network_create(self, spec: Mapping[str, object]) -> RawMap:
        """``POST /networks/create`` with ``{"Name":…, "Driver": "overlay", "Attachable":…, "Labels":…}``; returns ``{"Id":…}``."""
        return self._obj("POST", "/networks/create", body=dict(spec))

    def network_remove(self, id_or_name: str) -> None:
        self._call("DELETE", f"/networks/{_q(id_or_name)}")

    # -- secrets -----------------------------------------------------------

    def secrets(self, filters: Filters = None) -> list[RawMap]:
        return self._objs("/secrets", params={"filters": encode_filters(filters)})

    def secret(self, id_or_name: str) -> RawMap:
        return self._obj("GET", f"/secrets/{_q(id_or_name)}")

    def secret_create(self, name: str, data: bytes, *, labels: Mapping[str, str] | None = None) -> RawMap:
        """Create a secret from its raw bytes; returns ``{"ID":…}``. The value is never logged."""
        spec = {"Name": name, "Labels": dict(labels or {}), "Data": base64.b64encode(data).decode()}
        return self._obj("POST", "/secrets/create", body=spec)

    def secret_remove(self, id_or_name: str) -> None:
        self._call("DELETE", f"/secrets/{_q(id_or_name)}")

    # -- configs -----------------------------------------------------------

    def configs(self, filters: Filters = None) -> list[RawMap]:
        return self._objs("/configs", params={"filters": encode_filters(filters)})

    def config(self, id_or_name: str) -> RawMap:
        return self._obj("GET", f"/configs/{_q(id_or_name)}")

    def config_create(
        self,
        name: str,
        data: bytes,
        *,
        labels: Mapping[str, str] | None = None,
        templating: Mapping[str, object] | None = None,
    ) -> RawMap:
        spec: JSONDict = {"Name": name, "Labels": dict(labels or {}), "Data": base64.b64encode(data).decode()}
        if templating:
            spec["Templating"] = dict(templating)
        return self._obj("POST", "/configs/create", body=spec)

    def config_update(self, id_or_name: str, version: int, spec: Mapping[str, object]) -> None:
        """``POST /configs/{id}/update?version=N``: only Labels may change (the engine's rule)."""
        self._call("POST", f"/configs/{_q(id_or_name)}/update", params={"version": version}, body=dict(spec))

    def config_remove(self, id_or_name: str) -> None:
        self._call("DELETE", f"/configs/{_q(id_or_name)}")

    # -- services ----------------------------------------------------------

    def services(self, filters: Filters = None, *, status: bool = False) -> list[RawMap]:
        """``GET /services``; `status=True` adds ``ServiceStatus`` (running/desired tasks)."""
        return self._objs("/services", params={"filters": encode_filters(filters), "status": True if status else None})

    def service(self, id_or_name: str, *, insert_defaults: bool = False) -> RawMap:
        return self._obj(
            "GET", f"/services/{_q(id_or_name)}", params={"insertDefaults": True if insert_defaults else None}
        )

    def service_create(
        self, spec: Mapping[str, object], *, registry_auth: str | Mapping[str, str] | None = None
    ) -> RawMap:
        """``POST /services/create``; returns ``{"ID":…, "Warnings":…}``."""
        return self._obj("POST", "/services/create", body=dict(spec), headers=_auth_header(registry_auth))

    def service_update(
        self,
        id_or_name: str,
        version: int,
        spec: Mapping[str, object],
        *,
        registry_auth_from: str | None = None,
        registry_auth: str | Mapping[str, str] | None = None,
        rollback: str | None = None,
    ) -> RawMap:
        """``POST /services/{id}/update?version=N``.

        `registry_auth_from`: "spec" or "previous-spec"; `rollback="previous"`
        asks the engine to roll back to the previous spec. Returns ``{"Warnings":…}``.
        """
        params = {"version": version, "registryAuthFrom": registry_auth_from, "rollback": rollback}
        return self._obj(
            "POST",
            f"/services/{_q(id_or_name)}/update",
            params=params,
            body=dict(spec),
            headers=_auth_header(registry_auth),
        )

    def service_remove(self, id_or_name: str) -> None:
        self._call("DELETE", f"/services/{_q(id_or_name)}")

    def service_logs(
        self,
        id_or_name: str,
        *,
        follow: bool = False,
        tail: int | str | None = None,
        since: int | float | str | None = None,
        timestamps: bool = False,
        details: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        tty: bool | None = None,
        lines: bool = False,
    ) -> Iterator[Frame]:
        """Log frames of a service, as an iterator (endless with `follow=True`: use a `clone()`).

        `tail`: number of lines or "all"; `since`: UNIX timestamp (or docker's
        string form); `tty`: whether the service runs with a TTY (raw bytes, no
        frames) — None guesses from the first bytes. `lines=True` re-cuts the
        frames into lines. The connection is busy until the iterator ends or
        is closed.
        """
        return self._logs(
            f"/services/{_q(id_or_name)}/logs",
            follow=follow,
            tail=tail,
            since=since,
            timestamps=timestamps,
            details=details,
            stdout=stdout,
            stderr=stderr,
            tty=tty,
            lines=lines,
        )

    def _logs(self, path: str, *, tty: bool | None, lines: bool, **options: object) -> Iterator[Frame]:
        params = {k: v for k, v in options.items() if v is not None and v is not False}
        if "tail" in params:
            params["tail"] = str(params["tail"])
        resp = self._send("GET", path, params=params)
        if options.get("follow") and self._conn.sock is not None:
            self._conn.sock.settimeout(None)  # an endless stream: silence is not a failure
        if (resp.getheader("Content-Type") or "").startswith("application/vnd.docker.multiplexed-stream"):
            tty = False
        frames = self._stream_frames(resp, raw=tty)
        return iter_lines(frames) if lines else frames

    def _stream_frames(self, resp: http.client.HTTPResponse, raw: bool | None) -> Iterator[Frame]:
        try:
            yield from iter_frames(chunks_from(resp.read1), raw=raw)
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        finally:
            if not resp.isclosed():
                # Abandoned mid-stream: this connection cannot be reused.
                self._conn.close()
            elif self._conn.sock is not None:
                self._conn.sock.settimeout(self._conn.timeout)

    # -- tasks, distribution ----------------------------------------------

    def tasks(self, filters: Filters = None) -> list[RawMap]:
        """``GET /tasks``; filters such as ``{"service": name, "desired-state": "running", "label": [...]}``."""
        return self._objs("/tasks", params={"filters": encode_filters(filters)})

    def distribution(self, image: str, *, registry_auth: str | Mapping[str, str] | None = None) -> RawMap:
        """``GET /distribution/{image}/json``: ``Descriptor.digest`` and ``Platforms`` from the registry."""
        return self._obj("GET", f"/distribution/{_q(image)}/json", headers=_auth_header(registry_auth))

    def image(self, name: str) -> RawMap:
        return self._obj("GET", f"/images/{_q(name)}/json")

    # -- containers --------------------------------------------------------

    def containers(self, filters: Filters = None, *, all: bool = False) -> list[RawMap]:
        return self._objs("/containers/json", params={"filters": encode_filters(filters), "all": True if all else None})

    def container(self, id_or_name: str) -> RawMap:
        return self._obj("GET", f"/containers/{_q(id_or_name)}/json")

    def exec_create(
        self,
        container: str,
        cmd: list[str],
        *,
        stdin: bool = False,
        tty: bool = False,
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> str:
        """``POST /containers/{id}/exec``; returns the exec id."""
        spec: JSONDict = {
            "Cmd": list(cmd),
            "AttachStdin": stdin,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": tty,
        }
        if env:
            spec["Env"] = list(env)
        if workdir:
            spec["WorkingDir"] = workdir
        if user:
            spec["User"] = user
        return get_str(self._obj("POST", f"/containers/{_q(container)}/exec", body=spec), "Id")

    def exec_start(
        self, exec_id: str, *, stdin: bytes | ByteReader | None = None, tty: bool = False, timeout: float | None = None
    ) -> Iterator[Frame]:
        """``POST /exec/{id}/start`` attached: yields output frames until the command ends.

        The engine takes the connection over for the exec, so this runs on a
        channel of its own (over ssh: a multiplexed session, not a new login).
        `stdin` (bytes or a binary file) is sent, then the write side is closed
        (EOF for the command). `timeout`: longest silence allowed (None: wait
        as long as the command runs).
        """
        if self.api_version is None:
            self._negotiate()
        channel = self._transport.open(timeout)
        try:
            yield from _hijacked_exec(channel, f"/v{self.api_version}/exec/{_q(exec_id)}/start", stdin, tty, self)
        finally:
            self._transport.release(channel)

    def exec_inspect(self, exec_id: str) -> RawMap:
        return self._obj("GET", f"/exec/{_q(exec_id)}/json")

    def exec_run(
        self,
        container: str,
        cmd: list[str],
        *,
        stdin: bytes | ByteReader | None = None,
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run `cmd` in a running container; collect stdout, stderr and the exit code."""
        exec_id = self.exec_create(container, cmd, stdin=stdin is not None, env=env, workdir=workdir, user=user)
        out, err = bytearray(), bytearray()
        for frame in self.exec_start(exec_id, stdin=stdin, timeout=timeout):
            (err if frame.stream == "stderr" else out).extend(frame.data)
        code = get_int(self.exec_inspect(exec_id), "ExitCode", -1)
        return ExecResult(exit_code=code, stdout=bytes(out), stderr=bytes(err))

    def archive_get(self, container: str, path: str, into: IO[bytes] | None = None) -> tuple[RawMap, bytes]:
        """``GET /containers/{id}/archive?path=…``: (stat of `path`, tar bytes).

        With `into`, the tar is streamed into that file and the bytes returned are empty.
        """
        resp = self._send("GET", f"/containers/{_q(container)}/archive", params={"path": path})
        stat = _path_stat(resp.getheader("X-Docker-Container-Path-Stat"))
        try:
            if into is None:
                return stat, resp.read()
            for chunk in chunks_from(resp.read1):
                into.write(chunk)
            return stat, b""
        except (OSError, http.client.HTTPException) as exc:
            raise self._lost(exc) from exc
        finally:
            if not resp.isclosed():
                # Abandoned mid-body (Ctrl-C): this connection cannot be reused; the next request
                # (removing the scratch container and volume) opens another.
                self._conn.close()

    def container_create(self, spec: Mapping[str, object], *, name: str | None = None) -> str:
        """``POST /containers/create``; returns the container id (it is not started)."""
        return get_str(self._obj("POST", "/containers/create", params={"name": name}, body=dict(spec)), "Id")

    def container_remove(self, id_or_name: str, *, force: bool = False, volumes: bool = False) -> None:
        params = {"force": True if force else None, "v": True if volumes else None}
        self._call("DELETE", f"/containers/{_q(id_or_name)}", params=params)

    def archive_open(self, container: str, path: str) -> tuple[RawMap, IO[bytes]]:
        """``GET /containers/{id}/archive?path=…`` as a stream: (stat of `path`, the tar to read).

        Nothing is held in memory: read the stream and close it before the next request on this
        client. Closing it before the end drops the connection (the next request opens another).
        """
        resp = self._send("GET", f"/containers/{_q(container)}/archive", params={"path": path})
        stat = _path_stat(resp.getheader("X-Docker-Container-Path-Stat"))
        return stat, cast(IO[bytes], _ResponseStream(self, resp))  # a RawIOBase, read as a binary file

    def archive_stat(self, container: str, path: str) -> RawMap:
        resp = self._send("HEAD", f"/containers/{_q(container)}/archive", params={"path": path})
        resp.read()
        return _path_stat(resp.getheader("X-Docker-Container-Path-Stat"))

    def archive_put(
        self,
        container: str,
        path: str,
        tar: bytes | IO[bytes] | Iterable[bytes],
        *,
        no_overwrite_dir_non_dir: bool = False,
    ) -> None:
        """``PUT /containers/{id}/archive?path=…``: extract a tar (bytes, file or chunks) into `path`."""
        params = {"path": path, "noOverwriteDirNonDir": True if no_overwrite_dir_non_dir else None}
        self._call("PUT", f"/containers/{_q(container)}/archive", params=params, raw_body=tar)

    # -- volumes -----------------------------------------------------------

    def volumes(self, filters: Filters = None) -> list[RawMap]:
        found = get_list(self._obj("GET", "/volumes", params={"filters": encode_filters(filters)}), "Volumes")
        return [as_map(v, "Volumes") for v in found]

    def volume(self, name: str) -> RawMap:
        return self._obj("GET", f"/volumes/{_q(name)}")

    def volume_create(self, name: str, *, labels: Mapping[str, str] | None = None, driver: str = "local") -> RawMap:
        """``POST /volumes/create``; an existing volume of that name is returned as it is."""
        return self._obj("POST", "/volumes/create", body={"Name": name, "Driver": driver, "Labels": dict(labels or {})})

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        self._call("DELETE", f"/volumes/{_q(name)}", params={"force": True if force else None})

    def volume_sizes(self) -> dict[str, int]:
        """``GET /system/df?type=volume``: each volume's size in bytes (-1 when the engine did not measure it)."""
        found = (
            as_map(v, "Volumes") for v in get_list(self._obj("GET", "/system/df", params={"type": "volume"}), "Volumes")
        )
        return {get_str(v, "Name"): get_int(get_map(v, "UsageData"), "Size", -1) for v in found}

    # -- prune -------------------------------------------------------------

    def containers_prune(self) -> RawMap:
        """``POST /containers/prune``: removes every stopped container; ``{"ContainersDeleted", "SpaceReclaimed"}``."""
        return self._obj("POST", "/containers/prune")

    def images_prune(self, *, dangling_only: bool = True) -> RawMap:
        """``POST /images/prune``: dangling images, or (``dangling_only=False``) every image no container
        uses; ``{"ImagesDeleted": [{"Deleted"|"Untagged": …}], "SpaceReclaimed"}``."""
        filters = encode_filters({"dangling": ["true" if dangling_only else "false"]})
        return self._obj("POST", "/images/prune", params={"filters": filters})


class _SharedReader:
    """Stands in for a socket to `http.client.HTTPResponse`: every response reads from one buffer,
    and closing a response leaves it open for the next."""

    def __init__(self, reader: IO[bytes]):
        self._reader = reader

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> _SharedReader:
        return self

    def __getattr__(self, name: str) -> object:
        return getattr(self._reader, name)

    def close(self) -> None:
        pass


def _q(part: str) -> str:
    """A path segment; image references keep their ``/`` and ``:`` (the engine's route allows them)."""
    return quote(part, safe="/:@")


def _auth_header(auth: str | Mapping[str, str] | None) -> dict[str, str] | None:
    if auth is None:
        return None
    if not isinstance(auth, str):
        auth = base64.urlsafe_b64encode(json.dumps(dict(auth)).encode()).decode()
    return {"X-Registry-Auth": auth}


def _path_stat(header: str | None) -> RawMap:
    if not header:
        return {}
    try:
        stat = json.loads(base64.b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        return {}
    return stat if isinstance(stat, dict) else {}


def _hijacked_exec(
    channel: Channel, url: str, stdin: bytes | ByteReader | None, tty: bool, client: EngineClient
) -> Iterator[Frame]:
    sock = channel.sock
    body = json.dumps({"Detach": False, "Tty": tty}).encode()
    head = (
        f"POST {url} HTTP/1.1\r\nHost: docker\r\nUser-Agent: coop\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    ).encode()
    transport = client._transport
    try:
        sock.sendall(head + body)
        reader = sock.makefile("rb")
        status_line = reader.readline(65537)
        if not status_line:
            raise ConnectionResetError("connection closed before the engine answered")
        parts = status_line.decode("latin-1").split(None, 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        length = None
        while True:
            line = reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip())
        client.requests += 1
        channel.requests += 1
        if status >= 400 or status == 0:
            payload = reader.read(length) if length is not None else reader.read()
            raise client._error(status, payload, "POST", url)
        writer = None
        if stdin is not None:
            # Feed stdin from a thread while we read: a command that answers as
            # it reads (cat, psql < dump) would otherwise deadlock both sides.
            writer = threading.Thread(target=_feed_stdin, args=(sock, stdin), daemon=True)
            writer.start()
        decoder = FrameDecoder(raw=tty)
        while True:
            data = reader.read1(65536)
            if not data:
                break
            yield from decoder.feed(data)
        if writer is not None:
            writer.join(timeout=5)
    except EngineError:
        raise
    except (OSError, ValueError) as exc:
        raise transport.failure(channel, exc) from exc


def _feed_stdin(sock: socket.socket, stdin: bytes | ByteReader) -> None:
    try:
        if isinstance(stdin, (bytes, bytearray, memoryview)):
            sock.sendall(stdin)
        else:
            for chunk in chunks_from(stdin.read):
                sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)  # EOF for the command's stdin
    except OSError:
        pass  # the command ended or the connection broke: the reader reports it


def connect(
    endpoint: str | Endpoint,
    *,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> EngineClient:
    """A client for the engine at `endpoint` (see `engine.endpoint` for the forms). No I/O until the first call."""
    import os

    env = os.environ if environ is None else environ
    ep = endpoint if isinstance(endpoint, Endpoint) else parse_endpoint(endpoint, env)
    return EngineClient(ep, name=name, environ=env, timeout=timeout)
