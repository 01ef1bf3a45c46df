"""`server backup`: every app of a server that declares backups, one line each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, NotFound
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from .create import create
from .hooks import EngineFor
from .labels import backup_spec
from .target import stack_services


@dataclass(frozen=True)
class AppBackupLine:
    """One app's outcome in `server backup`."""

    app: str
    status: str  # ok, failed, skipped
    detail: str
    snapshot: str | None = None

    def to_json(self) -> JSONDict:
        return {"app": self.app, "status": self.status, "detail": self.detail, "snapshot": self.snapshot}


def server_backup(
    settings: Settings,
    client: Engine,
    server: str,
    *,
    on_line: Callable[[AppBackupLine], None],
    on_password: Callable[[str], None],
    warn: Callable[[str], None] | None = None,
    engine_for: Callable[[AppRef], EngineFor] | None = None,
) -> list[AppBackupLine]:
    """Back up every app of the server that declares backups; one line each; goes on past a failure.

    Each app's backup takes its lock and is recorded in its history.
    """
    from coopcloud.ops.app.apps import all_apps
    from coopcloud.ops.trail import audit

    lines = []
    for ref in [a for a in all_apps(settings) if a.server == server]:
        try:
            services = stack_services(client, ref.stack_name)
            if not services:
                raise NotFound("not deployed")
            if not backup_spec(ref.name, ref.stack_name, services).services:
                raise NotFound("declares no backups (no label backupbot.backup=true)")
        except NotFound as exc:
            line = AppBackupLine(ref.name, "skipped", str(exc))
            on_line(line)
            lines.append(line)
            continue
        try:
            with audit.tracked(settings, client, ref, "backup create", warn=warn) as change:
                done = create(
                    settings,
                    client,
                    ref,
                    why="server",
                    on_password=on_password,
                    engine_for=engine_for(ref) if engine_for else None,
                )
                change.version_from, change.detail = done.version, f"snapshot {done.short_id}"
            line = AppBackupLine(ref.name, "ok", f"snapshot {done.short_id}, {done.files} files", done.snapshot)
        except CoopError as exc:
            line = AppBackupLine(ref.name, "failed", str(exc))
        on_line(line)
        lines.append(line)
    return lines
