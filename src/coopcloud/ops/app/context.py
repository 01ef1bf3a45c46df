"""`AppContext`: one app, resolved once per command, and the one way to change it.

Every app operation takes the context instead of re-resolving ``(settings, pool, app_name)``::

    app = AppContext.open(settings, pool, "cloud.example.org", warn=print)
    with app.mutating("undeploy") as change:   # lock, "started", completed, released
        change.version_from = ...
        lifecycle.undeploy(app.engine, app.ref)  # an @mutation op: refused outside mutating()

The CLI builds it in its runner for every command marked ``@mutating`` (cli/context.py), so a
command cannot change a server without the lock and a line in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppConfig, AppRef
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.ops.trail.mutation import TrackedChange


def _ignore(_line: str) -> None:
    pass


@dataclass
class AppContext:
    """Settings, the per-command server pool, the resolved app and its engine; `warn` shows warnings."""

    settings: Settings
    pool: ServerPool
    ref: AppRef
    warn: Callable[[str], None] = field(default=_ignore, repr=False)
    change: TrackedChange | None = field(default=None, repr=False)  # while mutating() is open

    @classmethod
    def open(
        cls, settings: Settings, pool: ServerPool, app_name: str, *, warn: Callable[[str], None] | None = None
    ) -> AppContext:
        """Resolve APP (its env file under any server; NotFound names `coop app ls`)."""
        from coopcloud.ops.app.apps import find_app

        return cls(settings, pool, find_app(settings, app_name), warn or _ignore)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def server(self) -> str:
        return self.ref.server

    @property
    def stack(self) -> str:
        return self.ref.stack_name

    @property
    def engine(self) -> Engine:
        """The app's server's engine (one connection per server per command, from the pool)."""
        return self.pool.client(self.ref.server)

    def config(self) -> AppConfig:
        """The app's env, read now (an edit made meanwhile is seen)."""
        from coopcloud.ops.app.apps import load_app

        return load_app(self.settings, self.ref.name)

    def engine_for_service(self, service: str) -> Engine:
        """The engine of the node that runs SERVICE's task (its server entry on a multi-node swarm)."""
        from coopcloud.ops.server.nodes import engine_for_service

        return engine_for_service(self.settings, self.pool, self.ref, service)

    def changing(self) -> TrackedChange:
        """The change `mutating()` tracks, to note versions, plan lines and detail for the history."""
        from coopcloud.ops.trail.mutation import OutsideMutating

        if self.change is None:
            raise OutsideMutating(f"app {self.name}: no change is being made (call mutating() first)")
        return self.change

    def declined(self) -> None:
        """The operator answered no: nothing happened worth a line in the history."""
        if self.change is not None:
            self.change.record = False

    @contextmanager
    def mutating(self, command: str, *, lock: str = "now") -> Iterator[TrackedChange]:
        """The bracket around a change of this app, on every exit path:

        - takes the app's lock (`lock="now"`), or refuses at once while someone else holds it and
          takes it at `change.begin()` (`"at begin"`: deploy, upgrade, rollback, after the plan was
          approved), or never (`"none"`: unlock);
        - `change.begin()` (called by the first `@mutation` op, or by `ops.deploy.execute`) runs the
          `change.recheck` callbacks once the lock is held and writes the "started" line;
        - completes the line at the end (ok, failed, rolled back, refused, interrupted), so a killed
          command reads "did not finish" in `app history`, and releases the lock.

        A lock held by another operator raises `LockHeld` (exit 9), recorded as refused.
        """
        from coopcloud.ops.trail import audit

        outer = self.change
        with audit.tracked(self.settings, self.engine, self.ref, command, lock=lock, warn=self.warn) as change:
            self.change = change
            try:
                yield change
            finally:
                self.change = outer
