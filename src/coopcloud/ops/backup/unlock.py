"""`app backup unlock`: remove the repository's stale restic locks, once no job of ours runs.

A restic job killed outright (its node lost, the OOM killer, `docker kill`) leaves its lock in the
repository; restic then refuses `check` (and so `verify`) for 30 minutes, and `forget` until it is
removed. This removes every lock (`restic unlock --remove-all`) — but only after removing the job
services killed commands left behind and finding no restic job of ours using that repository running.
"""

from __future__ import annotations

from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.errors import LockHeld, NotFound
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from . import repository, scripts
from .job import APP_LABEL, remove_orphans, run_job, running_jobs
from .repository import NoRepository, password
from .restic import BackupFailed, failure_reason, restic_job
from .snapshots import volume_may_exist
from .target import node_for


@dataclass(frozen=True)
class Unlocked:
    app: str
    repository: str
    orphans_removed: tuple[str, ...]

    def to_json(self) -> JSONDict:
        return {"app": self.app, "repository": self.repository, "orphans_removed": list(self.orphans_removed)}


def unlock(settings: Settings, client: Engine, ref: AppRef) -> Unlocked:
    """Remove the stale locks of the repository the app's backups use; `LockHeld` (exit 9) while a job runs."""
    orphans = remove_orphans(client)
    repo = repository.for_command(settings, client)
    running = running_jobs(client, repo.shown)
    if running:
        other = running[0]
        raise LockHeld(
            f"app {ref.name}: restic job {other.name} (app {other.labels.get(APP_LABEL, '?')}) is running on "
            f"{repo.shown}, so its locks are not stale; nothing was removed",
            hint=f"wait for it to end, then run: coop app backup unlock {ref.name}",
        )
    try:
        password(client)
    except NoRepository as exc:
        raise NotFound(str(exc.message), hint=exc.hint) from None
    node = node_for(client, ref)
    if repo.kind == "volume" and repo.volume and not volume_may_exist(client, node, repo.volume):
        raise NotFound(f"app {ref.name}: there is no repository {repo.shown} on its node", hint="nothing to unlock")
    job, _ = restic_job(settings, client, "unlock", scripts.unlock_script(), app_name=ref.name, node_id=node, repo=repo)
    result = run_job(client, job)
    if not result.ok or result.result != "unlocked":
        raise BackupFailed(f"app {ref.name}: cannot unlock {repo.shown}: {failure_reason(result)}")
    return Unlocked(ref.name, repo.shown, tuple(orphans))
