"""`app restore`: a snapshot back into the app's live volumes, between the restore hooks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, NotFound, interrupted
from coopcloud.settings import Settings

from . import scripts
from .hooks import EngineFor, run_hook
from .job import run_job
from .labels import BackupSpec, ServiceBackup
from .restic import BackupFailed, Progress, failure_reason, note, restic_job
from .snapshots import pick, snapshots
from .target import inspect_app, volume_mounts


@dataclass(frozen=True)
class Restored:
    app: str
    snapshot: str
    services: tuple[str, ...]
    seconds: float
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "snapshot": self.snapshot,
            "services": list(self.services),
            "seconds": round(self.seconds, 2),
            "warnings": list(self.warnings),
        }


def restore(
    settings: Settings,
    client: Engine,
    ref: Any,
    wanted: str | None = None,
    *,
    service: str | None = None,
    on_progress: Progress | None = None,
    engine_for: EngineFor | None = None,
) -> Restored:
    """Restore a snapshot into the app's live volumes, between the restore pre- and post-hooks.

    Stops nothing by itself (a recipe's restore pre-hook may). Files the snapshot holds are
    written back; files it does not hold are left as they are.
    """
    start = time.monotonic()
    app = inspect_app(settings, client, ref, service=service)
    snap = pick(ref, snapshots(settings, client, ref), wanted)
    chosen = [s for s in app.spec.services if s.service in snap.services]
    if not chosen:
        raise NotFound(
            f"app {ref.name}: snapshot {snap.short_id} holds no data of service {service or ', '.join(s.service for s in app.spec.services)}",
            hint=f"see: coop app backup ls {ref.name}",
        )
    spec = BackupSpec(tuple(chosen))
    script = scripts.restore_script(snap.id, [s.service for s in chosen] if service else None)
    job, _ = restic_job(
        settings,
        client,
        "restore",
        script,
        app_name=app.name,
        node_id=app.node_id,
        mounts=volume_mounts(spec, read_only=False),
    )
    warnings: list[str] = []
    hooked: list[ServiceBackup] = []
    restoring = False
    try:
        for svc in chosen:
            if svc.restore_pre_hook:
                note(on_progress, f"app {app.name}: service {svc.service}: restore pre-hook")
                run_hook(client, ref, svc, "restore pre-hook", svc.restore_pre_hook, engine_for=engine_for)
            hooked.append(svc)
        note(on_progress, f"app {app.name}: restoring snapshot {snap.short_id}")
        restoring = True
        result = run_job(client, job)
        if not result.ok:
            raise BackupFailed(
                f"app {app.name}: restore of snapshot {snap.short_id} failed: {failure_reason(result)}",
                hint=f"see: coop app backup verify {app.name} {snap.short_id}",
            )
    except BaseException as exc:
        # Whatever stopped it (a failed job, a lost connection, Ctrl-C or SIGTERM), undo what the
        # pre-hooks did (a stopped service…) before reporting; a post-hook that fails too is not the news.
        for svc in hooked:
            if svc.restore_post_hook:
                try:
                    run_hook(client, ref, svc, "restore post-hook", svc.restore_post_hook, engine_for=engine_for)
                except CoopError:
                    pass
        if isinstance(exc, KeyboardInterrupt):
            state = (
                "was stopped part way (its volumes may hold some of its files)"
                if restoring
                else "had not started (nothing was written)"
            )
            raise interrupted(
                exc,
                f"app {app.name}: the restore of snapshot {snap.short_id} {state}; "
                f"run it again: coop app restore {app.name} {snap.short_id}",
            ) from None
        raise
    for svc in hooked:
        if svc.restore_post_hook:
            note(on_progress, f"app {app.name}: service {svc.service}: restore post-hook")
            run_hook(client, ref, svc, "restore post-hook", svc.restore_post_hook, engine_for=engine_for)
    return Restored(app.name, snap.id, tuple(s.service for s in chosen), time.monotonic() - start, tuple(warnings))
