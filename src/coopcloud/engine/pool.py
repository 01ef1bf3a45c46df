"""One connection per server per command: a cache of `EngineClient`s, closed together.

    with engine.Pool() as pool:
        for server, address in servers:          # or in threads, one per server
            docker = pool.get(address, name=server)
            docker.services(...)                  # same connection on every call

`get()` returns the same client for the same server for the whole command,
so the ssh handshake happens once per server however many ops ask for it.
Clients are not thread-safe: a thread should use its own server's client
only (servers in parallel is fine; one server from many threads is not).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from .client import DEFAULT_TIMEOUT, EngineClient, connect


class Pool:
    def __init__(self, *, environ: Mapping[str, str] | None = None, timeout: float | None = DEFAULT_TIMEOUT):
        self._environ = environ
        self._timeout = timeout
        self._clients: dict[str, EngineClient] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str, *, name: str | None = None) -> EngineClient:
        """The client for this server (keyed by `name`, else by the address), made on first use."""
        key = name or endpoint
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = connect(endpoint, environ=self._environ, name=name, timeout=self._timeout)
                self._clients[key] = client
            return client

    def __contains__(self, key: str) -> bool:
        return key in self._clients

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
