"""`app backup create`: pre-hooks, one restic snapshot, post-hooks; and the snapshot before an upgrade."""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError
from coopcloud.ops.trail.mutation import TrackedChange, active, mutation
from coopcloud.rawdata import JSONDict, RawMap, get_int, get_str
from coopcloud.settings import Settings

from . import repository, scripts
from .hooks import EngineFor, run_hook
from .job import Job, JobLost
from .labels import ServiceBackup
from .repository import Repository, password
from .restic import BackupFailed, Progress, failure_reason, note, restic_job, run_resolved, status_printer
from .snapshots import ANY_NODE, snapshots
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

    def to_json(self) -> JSONDict:
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


def _new_run(
    change: TrackedChange,
    settings: Settings,
    client: Engine,
    ref: AppRef,
    *,
    service: str | None = None,
    why: str = "manual",
    on_progress: Progress | None = None,
    on_password: Callable[[str], None] | None = None,
    engine_for: EngineFor | None = None,
) -> None:
    """A backup that is the command itself (`backup create`, not an upgrade's snapshot): its run tag goes into the
    history with its start, so a snapshot restic finishes after coop was killed outright is marked as a failed
    run's (the event never ends ok)."""
    change.run = f"run={pysecrets.token_hex(6)}"


@mutation(before=_new_run)
def create(
    settings: Settings,
    client: Engine,
    ref: AppRef,
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
    change = active()
    run_tag = change.run if change is not None and change.run else f"run={pysecrets.token_hex(6)}"
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
        try:
            repo, result = run_resolved(settings, client, build, on_status=status_printer(on_progress, "backup"))
        except JobLost as lost:
            _failed_run(run_tag)
            raise _told_truly(settings, client, ref, lost, run_tag) from None
    finally:
        # Post-hooks undo what pre-hooks did (restart a service, remove a dump), even after a failure.
        for svc in hooked:
            if svc.post_hook:
                try:
                    run_hook(client, ref, svc, "backup post-hook", svc.post_hook, engine_for=engine_for)
                except CoopError as exc:  # failed, or its node is gone too: not the news
                    warnings.append(str(exc))
    if not result.ok:
        reason = failure_reason(result)
        kept = "" if result.exit_code == scripts.SNAPSHOT_KEPT else "; no snapshot was kept"
        if kept == "":
            _failed_run(run_tag)
        raise BackupFailed(
            f"app {app.name}: backup to {repo.shown} failed: {reason}{kept}",
            hint=f"fix it, then run: coop app backup create {app.name}",
        )
    if not known[0]:
        repository.mark_known(client, repo)  # from now on a missing config there is damage, never "new"
    summary: RawMap | None = next(
        (o for o in reversed(result.json_lines()) if o.get("message_type") == "summary"), None
    )
    if not summary or not get_str(summary, "snapshot_id"):  # its output was lost: the repository says what it holds
        found = snapshots(settings, client, ref, repo, run_tag=run_tag)
        if not found:
            raise BackupFailed(f"app {app.name}: restic reported no snapshot", hint="run it again with --debug")
        summary = {"snapshot_id": found[-1].id}
    snap = get_str(summary, "snapshot_id")
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
        files=get_int(summary, "total_files_processed"),
        bytes_added=get_int(summary, "data_added"),
        bytes_processed=get_int(summary, "total_bytes_processed"),
        seconds=time.monotonic() - start,
        warnings=tuple(warnings),
    )


def _failed_run(run_tag: str) -> None:
    """Note in the command's history that the run tagged `run_tag` failed: `backup ls` marks its snapshot,
    whenever it shows up (restic may still finish it in a container of a node coop lost)."""
    change = active()
    if change is not None:
        change.failed_run = run_tag


def _told_truly(settings: Settings, client: Engine, ref: AppRef, lost: JobLost, run_tag: str) -> CoopError:
    """The error of a backup whose job's node went away, once the repository said what this run left there.

    The job's container may outlive its node's engine (a killed dockerd leaves it running, a lost machine
    may still reach the repository): restic can still save a snapshot after coop looked. Whatever it
    saves carries the run's tag, which the history notes as failed: `backup ls` lists it as a failed run's."""
    repo = repository.for_command(settings, client)
    listed = f"coop app backup ls {ref.name} lists it as from a failed run"
    if repo.kind == "volume":
        return BackupFailed(
            f"app {ref.name}: backup failed: {lost.message}; its repository {repo.shown} is on that node, so "
            "whether restic saved a snapshot first is known only once the node is back",
            hint=f"then see: coop app backup ls {ref.name} (a snapshot of this run is complete, and marked failed run)",
        )
    try:
        found = snapshots(settings, client, ref, repo, run_tag=run_tag, node=ANY_NODE)
    except CoopError as exc:
        return BackupFailed(
            f"app {ref.name}: backup failed: {lost.message}; its repository cannot be looked at now: {exc.message}",
            hint=f"see: coop app backup ls {ref.name} (a snapshot of this run is complete, and marked failed run)",
        )
    if found:
        return BackupFailed(
            f"app {ref.name}: backup failed: {lost.message}; restic had saved snapshot {found[-1].short_id} in "
            f"{repo.shown} first: it is kept and complete ({listed}), but its post-hooks may not have run",
            hint=f"see: coop app backup ls {ref.name}",
        )
    return BackupFailed(
        f"app {ref.name}: backup failed: {lost.message}; {repo.shown} holds no snapshot of this run now, and "
        f"restic may go on in its container there until that node's engine is back: a snapshot it saves is "
        f"complete, and {listed}",
        hint=f"once the node is back, run: coop app backup create {ref.name}",
    )
