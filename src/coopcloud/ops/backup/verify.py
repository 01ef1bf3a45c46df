"""`app backup verify`: restic check, then a restore into scratch with every file's content checked."""

from __future__ import annotations

import time
from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.rawdata import JSONDict, get_int
from coopcloud.settings import Settings

from . import scripts
from .job import run_job
from .restic import BackupFailed, Progress, failure_reason, note, restic_job
from .snapshots import pick_snapshot
from .target import node_for


@dataclass(frozen=True)
class Verified:
    app: str
    snapshot: str
    files: int
    seconds: float

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "snapshot": self.snapshot,
            "files": self.files,
            "seconds": round(self.seconds, 2),
            "ok": True,
        }


def verify(
    settings: Settings, client: Engine, ref: AppRef, wanted: str | None = None, *, on_progress: Progress | None = None
) -> Verified:
    start = time.monotonic()
    snap = pick_snapshot(settings, client, ref, wanted)
    note(
        on_progress,
        f"app {ref.name}: checking the repository and restoring snapshot {snap.short_id} into a scratch directory",
    )
    job, _ = restic_job(
        settings, client, "verify", scripts.verify_script(snap.id), app_name=ref.name, node_id=node_for(client, ref)
    )
    result = run_job(client, job)
    if not result.ok:
        reason = failure_reason(result)
        if result.exit_code == scripts.LOCKED:
            raise BackupFailed(
                f"app {ref.name}: snapshot {snap.short_id} was not verified: {reason}",
                hint=f"run: coop app backup verify {ref.name} {snap.short_id}",
            )
        raise BackupFailed(
            f"app {ref.name}: snapshot {snap.short_id} failed verification: {reason}",
            hint="take a new backup (coop app backup create); the repository may need: restic repair",
        )
    files = next((get_int(o, "files") for o in result.json_lines() if "files" in o), 0)
    return Verified(ref.name, snap.id, files, time.monotonic() - start)
