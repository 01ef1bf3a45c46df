"""The dashboard's data: `coopcloud.ops.overview` (and `backup ls`, `app diff`) behind a short cache.

Engine clients are not thread-safe and the web server answers from several threads, so the pages
share one `ServerPool` (kept connections: no handshake per page) under one lock, and what they read
is kept for `ttl` seconds, so several open tabs polling cost one read. The slow reads — snapshots
(a restic job on the server) and a full drift plan (registry digests) — use their own connections
and are kept longer; a page asks for them once, not at every refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from coopcloud.errors import CoopError
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.ops.backup import Snapshot
    from coopcloud.ops.deploy.drift import Drift
    from coopcloud.ops.overview import AppDetail, Overview, ServerDetail
    from coopcloud.ops.server.servers import ServerPool

T = TypeVar("T")

TTL = 2.0  # seconds a page's data is reused (pages refresh every 5 s: a change shows within ~7 s)
SLOW_TTL = 60.0  # snapshots and drift plans


class _Kept(Generic[T]):
    """What one kind of read returned, per name, for `ttl` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._found: dict[str, tuple[float, T]] = {}

    def get(self, name: str) -> T | None:
        hit = self._found.get(name)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl else None

    def put(self, name: str, value: T) -> None:
        self._found[name] = (time.monotonic(), value)


class Board:
    def __init__(self, settings: Settings, *, ttl: float = TTL, slow_ttl: float = SLOW_TTL):
        self.settings = settings
        self.ttl = ttl
        self.slow_ttl = slow_ttl
        self._lock = threading.Lock()
        self._slow_lock = threading.Lock()
        self._pool: ServerPool | None = None
        self._overview: _Kept[Overview] = _Kept(ttl)
        self._apps: _Kept[AppDetail] = _Kept(ttl)
        self._servers: _Kept[ServerDetail] = _Kept(ttl)
        self._snapshots: _Kept[list[Snapshot]] = _Kept(slow_ttl)
        self._drifts: _Kept[Drift] = _Kept(slow_ttl)

    def _read(self, kept: _Kept[T], name: str, read: Callable[[ServerPool], T]) -> T:
        from coopcloud.ops.server.servers import ServerPool

        with self._lock:
            hit = kept.get(name)
            if hit is not None:
                return hit
            if self._pool is None:
                self._pool = ServerPool(self.settings)
            try:
                value = read(self._pool)
            except CoopError:
                raise  # an answer (not found, unreachable...): the connections are fine
            except Exception:
                self._pool.close()  # a connection in an unknown state: the next page opens new ones
                self._pool = None
                raise
            kept.put(name, value)
            return value

    def _read_slow(self, kept: _Kept[T], name: str, read: Callable[[ServerPool], T]) -> T:
        from coopcloud.ops.server.servers import ServerPool

        with self._slow_lock:
            hit = kept.get(name)
            if hit is not None:
                return hit
            pool = ServerPool(self.settings)
            try:
                value = read(pool)
            finally:
                pool.close()
            kept.put(name, value)
            return value

    def overview(self) -> Overview:
        from coopcloud.ops.overview import overview

        return self._read(self._overview, "", lambda pool: overview(self.settings, pool))

    def app(self, name: str) -> AppDetail:
        from coopcloud.ops.overview import app_detail

        return self._read(self._apps, name, lambda pool: app_detail(self.settings, pool, name))

    def server(self, name: str) -> ServerDetail:
        from coopcloud.ops.overview import server_detail

        return self._read(self._servers, name, lambda pool: server_detail(self.settings, pool, name))

    def snapshots(self, name: str) -> list[Snapshot]:
        """`backup ls`: runs a short restic job on the app's server (a failed run's snapshot marked)."""
        from coopcloud.ops.app.apps import find_app
        from coopcloud.ops.backup import listed

        ref = find_app(self.settings, name)
        return self._read_slow(self._snapshots, name, lambda pool: listed(self.settings, pool.client(ref.server), ref))

    def drift(self, name: str) -> Drift:
        """`app diff`: the plan a redeploy of the pinned version would make."""
        from coopcloud.ops.deploy.drift import diff

        return self._read_slow(self._drifts, name, lambda pool: diff(self.settings, pool, name))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
