"""The only code that talks to Docker: a small Engine API client over a unix socket or ssh.

Cheap to import: nothing here loads `http.client`, `ssl` or `subprocess`
until `connect()` is called, so `coop --help` stays fast.

    from coopcloud import engine
    with engine.connect("ssh://srv1", name="srv1") as docker:
        docker.require_manager()
        services = docker.services({"label": "com.docker.stack.namespace=app_example_org"})

One client is one connection (over ssh: one ``ssh … docker system dial-stdio``
process) reused for every request of a command; `client.clone()` opens a second
one for a stream that runs beside other requests (``logs --follow``).
`engine.Pool()` hands out one client per server for a whole command.

Type an engine parameter as `engine.Engine` (the protocol the client and the
tests' fake satisfy) and read its answers through `engine.views`
(``views.services(docker, filters)`` → typed `Service`s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import MAX_API_VERSION, EngineClient, ExecResult
    from .endpoint import Endpoint, parse_endpoint, ssh_argv
    from .pool import Pool
    from .protocol import Engine
    from .stream import Frame, encode_filters, label_filters

__all__ = [
    "MAX_API_VERSION",
    "Endpoint",
    "Engine",
    "EngineClient",
    "ExecResult",
    "Frame",
    "Pool",
    "connect",
    "encode_filters",
    "label_filters",
    "parse_endpoint",
    "ssh_argv",
]

_LAZY = {
    "Engine": ".protocol",
    "EngineClient": ".client",
    "ExecResult": ".client",
    "MAX_API_VERSION": ".client",
    "Pool": ".pool",
    "Endpoint": ".endpoint",
    "parse_endpoint": ".endpoint",
    "ssh_argv": ".endpoint",
    "Frame": ".stream",
    "encode_filters": ".stream",
    "label_filters": ".stream",
}


def connect(
    endpoint: str | Endpoint,
    *,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
    timeout: float | None = 300.0,
) -> EngineClient:
    """A client for the engine at `endpoint`: ``unix://…``, ``ssh://[user@]host[:port]``,
    ``[user@]host[:port]`` / an ssh alias, or ``default`` (``$DOCKER_HOST`` or the local socket).

    `environ` (default `os.environ`) supplies ``DOCKER_HOST`` and ``COOP_SSH_CONFIG``;
    `name` is how messages name the server. No I/O happens until the first call.
    """
    from .client import connect as _connect

    return _connect(endpoint, environ=environ, name=name, timeout=timeout)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
