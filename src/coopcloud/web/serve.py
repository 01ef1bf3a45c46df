"""Where the dashboard listens, its URL and token, and the server loop (uvicorn on our own socket).

The socket is bound before uvicorn starts, so `--port 0` knows its port before the URL is printed and
the Host check knows exactly which address it guards.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from coopcloud.errors import Conflict, UsageError
from coopcloud.settings import Settings

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "COOP_DASHBOARD_TOKEN"


@dataclass(frozen=True)
class Address:
    host: str  # an IP address, as bound
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    def hosts(self) -> frozenset[str]:
        """The Host headers accepted: the bound address (and `localhost` on loopback), with the port."""
        names = {self.netloc}
        if self.loopback:
            names.add(f"localhost:{self.port}")
        return frozenset(n.lower() for n in names)

    def url(self, token: str) -> str:
        return f"http://{self.netloc}/?token={token}"


def parse_bind(bind: str) -> str:
    """An IP address to bind to: a literal address, or `localhost` (127.0.0.1). A wildcard address is
    refused: the Host check needs the one address browsers will use."""
    if bind == "localhost":
        return DEFAULT_BIND
    try:
        address = ipaddress.ip_address(bind.strip("[]"))
    except ValueError:
        raise UsageError(f"--bind {bind}: not an IP address", hint="give one of this machine's addresses") from None
    if address.is_unspecified:
        raise UsageError(
            f"--bind {bind}: a wildcard address cannot be checked against the Host header",
            hint="bind to the one address the browser will use",
        )
    return str(address)


def token_from(environ: Mapping[str, str]) -> str:
    """`$COOP_DASHBOARD_TOKEN`, else a new random one."""
    given = environ.get(TOKEN_ENV, "")
    if given:
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,}", given):
            raise UsageError(f"${TOKEN_ENV} is not a usable token", hint="use 16 or more letters, digits, '-' or '_'")
        return given
    return secrets.token_urlsafe(24)


def listen(host: str, port: int) -> tuple[socket.socket, Address]:
    """A listening socket on host:port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(f"dashboard: {host}:{port} is in use", hint="pick another --port, or --port 0") from None
        raise UsageError(f"dashboard: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock, Address(host, sock.getsockname()[1])


def serve(settings: Settings, sock: socket.socket, address: Address, token: str) -> None:
    """Answer on `sock` until Ctrl-C (or SIGTERM)."""
    import uvicorn

    from coopcloud.web.app import create_app
    from coopcloud.web.board import Board

    board = Board(settings)
    app = create_app(board, token=token, hosts=address.hosts(), port=address.port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # the first request's URL carries the token
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        board.close()
        sock.close()
