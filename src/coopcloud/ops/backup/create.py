"""`app backup create`: pre-hooks, one restic snapshot, post-hooks; and the snapshot before an upgrade."""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coopcloud.engine.protocol import Engine
from coopcloud.ops.trail.audit import mutation
from coopcloud.settings import Settings

from . import repository, scripts
from .hooks import EngineFor, run_hook
from .job import Job
from .labels import ServiceBackup
from .repository import Repository, password
from .restic import BackupFailed, Progress, failure_reason, note, restic_job, run_resolved, status_printer
from .target import inspect_app, volume_mounts


@dataclass(frozen=True)
class Created:
    app: str
    snapshot: str
    short_id: str
    why: str
    version: str
    repository: str
    paths: tuple[str, ...]
    files: int
    bytes_added: int
    bytes_processed: int
    seconds: float
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "snapshot": self.snapshot,
            "why": self.why,
            "version": self.version,
            "repository": self.repository,
            "paths": list(self.paths),
            "files": self.files,
            "bytes_added": self.bytes_added,
            "bytes_processed": self.bytes_processed,
            "seconds": round(self.seconds, 2),
            "warnings": list(self.warnings),
        }


@mutation
def create(
    settings: Settings,
    client: Engine,
    ref: Any,
    *,
    service: str | None = None,
    why: str = "manual",
    on_progress: Progress | None = None,
    on_password: Callable[[str], None] | None = None,
    engine_for: EngineFor | None = None,
) -> Created:
    """Back up the app (or one service): hooks, then one restic snapshot. Raises BackupFailed, leaving no snapshot.

    The server's first backup generates the repository password: `on_password` gets it at once
    (to show it, once), whatever happens next.
    """
    start = time.monotonic()
    app = inspect_app(settings, client, ref, service=service)
    shown = repository.for_command(settings, client).shown  # checked now; resolved again as the job is made
    run_tag = f"run={pysecrets.token_hex(6)}"
    tags = ["coop", f"app={app.name}", f"recipe={app.recipe}", f"version={app.version}", f"why={why}"]
    _, generated = password(client, generate=True)
    if generated and on_password is not None:
        on_password(generated)
    known: list[bool] = []

    def build(repo: Repository) -> Job:
        known[:] = [repository.is_known(client, repo)]
        script = scripts.backup_script(app.spec, host=app.name, tags=tags, run_tag=run_tag, known=known[0])
        mounts = volume_mounts(app.spec, read_only=True)
        return restic_job(
            settings, client, "backup", script, app_name=app.name, node_id=app.node_id, mounts=mounts, repo=repo
        )[0]

    warnings: list[str] = []
    hooked: list[ServiceBackup] = []
    try:
        for svc in app.spec.services:
            if svc.pre_hook:
                note(on_progress, f"app {app.name}: service {svc.service}: pre-hook")
                run_hook(client, ref, svc, "backup pre-hook", svc.pre_hook, engine_for=engine_for)
            hooked.append(svc)
        note(on_progress, f"app {app.name}: restic backup of {len(scripts.backup_paths(app.spec))} path(s) to {shown}")
        repo, result = run_resolved(settings, client, build, on_status=status_printer(on_progress, "backup"))
    finally:
        # Post-hooks undo what pre-hooks did (restart a service, remove a dump), even after a failure.
        for svc in hooked:
            if svc.post_hook:
                try:
                    run_hook(client, ref, svc, "backup post-hook", svc.post_hook, engine_for=engine_for)
                except BackupFailed as exc:
                    warnings.append(str(exc))
    if not result.ok:
        reason = failure_reason(result)
        kept = "" if result.exit_code == scripts.SNAPSHOT_KEPT else "; no snapshot was kept"
        raise BackupFailed(
            f"app {app.name}: backup to {repo.shown} failed: {reason}{kept}",
            hint=f"fix it, then run: coop app backup create {app.name}",
        )
    if not known[0]:
        repository.mark_known(client, repo)  # from now on a missing config there is damage, never "new"
    summary = next((o for o in reversed(result.json_lines()) if o.get("message_type") == "summary"), None)
    if not summary or not summary.get("snapshot_id"):
        raise BackupFailed(f"app {app.name}: restic reported no snapshot", hint="run it again with --debug")
    snap = summary["snapshot_id"]
    warnings[:0] = [
        f"app {app.name}: {line.strip()[len(scripts.WARNING_PREFIX) :]}"
        for line in result.stderr.splitlines()
        if line.strip().startswith(scripts.WARNING_PREFIX)
    ]
    return Created(
        app=app.name,
        snapshot=snap,
        short_id=snap[:8],
        why=why,
        version=app.version,
        repository=repo.shown,
        paths=tuple(scripts.backup_paths(app.spec)),
        files=int(summary.get("total_files_processed", 0)),
        bytes_added=int(summary.get("data_added", 0)),
        bytes_processed=int(summary.get("total_bytes_processed", 0)),
        seconds=time.monotonic() - start,
        warnings=tuple(warnings),
    )
