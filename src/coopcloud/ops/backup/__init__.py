"""Backups and restores of an app's volumes with restic, next to the data, as the backupbot labels say.

    create   pre-hooks in the services' containers -> one restic run on the node holding the
             volumes (mounted read-only) -> post-hooks; one snapshot per backup, tagged
             app=, recipe=, version=, why= (manual, pre-upgrade)
    ls       the app's snapshots
    verify   restic check, then restore into a scratch directory, every file's content checked
             against the snapshot's hashes
    download restore into a scratch volume, copy it to the operator's machine
    restore  restore pre-hooks -> restic restore into the live volumes -> restore post-hooks

A backup never lies: a failing pre-hook, a declared path missing or empty after the
pre-hooks, or a restic error fails it, and no snapshot of that run is left in the
repository (the job forgets it).

Docker is reached only through `engine/`; the restic container is a one-shot service
(`job.py`), so it runs on the node of the volumes and mounts the password secret.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, EngineError, EngineUnreachable, InvalidError, NotFound, UsageError, interrupted
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, coop_label

from . import repository, scripts
from .job import Job, JobResult, Mount, run_job
from .labels import BackupSpec, ServiceBackup, backup_spec
from .repository import NoRepository, Repository, password

DEFAULT_IMAGE = "restic/restic:0.17.3"
SCRATCH_LABEL = "coop.backup.scratch"
WHY = ("manual", "pre-upgrade", "pre-rollback", "server")

Progress = Callable[[str], None]


class BackupFailed(CoopError):
    """A backup, restore or verify did not do what was asked; nothing was recorded as good."""


def restic_image(settings: Settings) -> str:
    """`COOP_RESTIC_IMAGE`, or the pinned official image."""
    return settings.environ.get("COOP_RESTIC_IMAGE") or DEFAULT_IMAGE


# -- what an app backs up, and where ----------------------------------------------------------


@dataclass(frozen=True)
class AppBackup:
    """An app as deployed, seen for backups: its backup labels, the node of its volumes, its version."""

    name: str
    server: str
    stack: str
    spec: BackupSpec
    node_id: str | None
    recipe: str
    version: str


def _services(client: Engine, stack: str) -> list[views.Service]:
    return sorted(views.services(client, {"label": [f"{STACK_LABEL}={stack}"]}), key=lambda s: s.name)


def _running_node(client: Engine, service: str) -> str | None:
    """The node of the service's running task: where its volumes are."""
    running = [
        t for t in views.tasks(client, {"service": [service], "desired-state": ["running"]}) if t.running and t.node_id
    ]
    return running[0].node_id if running else None


def inspect_app(
    settings: Settings, client: Engine, ref: Any, *, service: str | None = None, need_running: bool = True
) -> AppBackup:
    """Read the app's live services: which are backed up, on which node, at which version.

    Raises NotFound when the app is not deployed or declares no backups (or has no such service).
    """
    services = _services(client, ref.stack_name)
    if not services:
        raise NotFound(
            f"app {ref.name} is not deployed on server {ref.server}", hint=f"run: coop app deploy {ref.name}"
        )
    spec = backup_spec(ref.name, ref.stack_name, services)
    if not spec.services:
        raise NotFound(
            f"app {ref.name} declares no backups (no service has the label backupbot.backup=true)",
            hint="add the backupbot labels to the recipe's services (see: coop recipe lint)",
        )
    if service is not None:
        spec = spec.only(service)
        if not spec.services:
            raise NotFound(f"app {ref.name}: service {service} is not backed up (no label backupbot.backup=true)")
    nodes = {s.service: _running_node(client, s.full_name) for s in spec.services}
    missing = [name for name, node in nodes.items() if node is None]
    if missing and need_running:
        raise NotFound(
            f"app {ref.name}: service {missing[0]} has no running task, so its volumes' node and container are unknown",
            hint=f"see: coop app ps {ref.name}",
        )
    found = sorted({n for n in nodes.values() if n})
    if len(found) > 1:
        raise UsageError(
            f"app {ref.name}: the backed-up services run on {len(found)} nodes; one backup covers one node's volumes",
            hint="back up one service at a time: coop app backup create APP SERVICE",
        )
    labels: dict[str, str] = {}
    for svc in services:
        labels.update(svc.labels)
    recipe = labels.get(coop_label(ref.stack_name, "recipe")) or _env_recipe(settings, ref) or "unknown"
    version = labels.get(coop_label(ref.stack_name, "version")) or "unknown"
    return AppBackup(ref.name, ref.server, ref.stack_name, spec, found[0] if found else None, recipe, version)


def _env_recipe(settings: Settings, ref: Any) -> str | None:
    from coopcloud.ops.app.apps import load_app

    try:
        return load_app(settings, ref.name).recipe
    except CoopError:
        return None


def _volume_mounts(spec: BackupSpec, *, read_only: bool) -> list[Mount]:
    return [
        Mount(vol.source, scripts.mount_point(svc.service, vol.name), read_only=read_only)
        for svc in spec.services
        for vol in svc.volumes
    ]


def _job(
    settings: Settings,
    client: Engine,
    kind: str,
    script: str,
    *,
    app_name: str,
    node_id: str | None,
    mounts: Sequence[Mount] = (),
    repo: Repository | None = None,
) -> tuple[Job, str | None]:
    """The restic job, with the repository and its password secret (generated on first use: returned to show once)."""
    repo = repo or repository.for_command(settings, client)
    secret, generated = password(client, generate=kind == "backup")
    env = {
        "RESTIC_PASSWORD_FILE": f"/run/secrets/{secret.file_name}",
        "RESTIC_CACHE_DIR": "/tmp/restic-cache",
        "RESTIC_PROGRESS_FPS": "0.5",
        **repo.env(),
    }
    job = Job(
        kind=kind,
        app=app_name,
        image=restic_image(settings),
        script=script,
        node_id=node_id,
        mounts=[*repo.mounts(), *mounts],
        secrets=[secret, *repo.secrets],
        env=env,
    )
    return job, generated


def _reason(result: JobResult) -> str:
    """The job's one-line reason: our own refusal, else restic's last error line, else the engine's."""
    if result.state not in ("complete", "failed") and result.error:  # it never ran (rejected, shut down)
        hint = " (set COOP_RESTIC_IMAGE to an image the server can pull)" if "image" in result.error.lower() else ""
        return f"the restic container did not run: {result.error}{hint}"
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(scripts.ERROR_PREFIX):
            return line[len(scripts.ERROR_PREFIX) :]
    fatal = [line for line in lines if line.lower().startswith(("fatal:", "error:")) or "error" in line.lower()]
    if fatal:
        return fatal[-1]
    if result.error:
        return result.error
    return lines[-1] if lines else f"the restic container ended with exit code {result.exit_code}"


# -- hooks -------------------------------------------------------------------------------------


# The engine of the node that runs a service's task (ops.nodes.engine_for_service), for hooks on
# another node than the manager's; None: the manager's own engine.
EngineFor = Callable[[str], Engine]
# The engine of a swarm node, by node id (ops.nodes.engine_for_node): where a download's job runs.
NodeEngine = Callable[[str], Engine]


HOOK_OUTPUT_KEPT = 64 * 1024


def run_hook(
    client: Engine, ref: Any, svc: ServiceBackup, which: str, hook: str, *, engine_for: EngineFor | None = None
) -> None:
    """Run a hook with `sh -c` in a running container of the service; a non-zero exit raises BackupFailed."""
    from coopcloud.ops.app import container

    tail = bytearray()  # only the end of the output, for the error line: a hook may print a whole dump

    def keep_tail(_stream: str, data: bytes) -> None:
        tail.extend(data)
        if len(tail) > 2 * HOOK_OUTPUT_KEPT:
            del tail[:-HOOK_OUTPUT_KEPT]

    engine = engine_for(svc.service) if engine_for is not None else client
    code = container.run(engine, ref, svc.service, ["sh", "-c", hook], on_output=keep_tail)
    if code != 0:
        text = bytes(tail[-HOOK_OUTPUT_KEPT:]).decode("utf-8", "replace").strip().splitlines()
        last = f": {text[-1].strip()[-300:]}" if text else ""
        raise BackupFailed(
            f"app {ref.name}: service {svc.service}: {which} failed (exit code {code}){last}",
            hint=f"check the label backupbot.{which.replace(' ', '.')} of service {svc.service}",
        )


# -- create ------------------------------------------------------------------------------------


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
            "short_id": self.short_id,
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
    repo = repository.for_command(settings, client)
    run_tag = f"run={pysecrets.token_hex(6)}"
    tags = ["coop", f"app={app.name}", f"recipe={app.recipe}", f"version={app.version}", f"why={why}"]
    script = scripts.backup_script(app.spec, host=app.name, tags=tags, run_tag=run_tag)
    job, generated = _job(
        settings,
        client,
        "backup",
        script,
        app_name=app.name,
        node_id=app.node_id,
        mounts=_volume_mounts(app.spec, read_only=True),
        repo=repo,
    )
    if generated and on_password is not None:
        on_password(generated)
    warnings: list[str] = []
    hooked: list[ServiceBackup] = []
    try:
        for svc in app.spec.services:
            if svc.pre_hook:
                _note(on_progress, f"app {app.name}: service {svc.service}: pre-hook")
                run_hook(client, ref, svc, "backup pre-hook", svc.pre_hook, engine_for=engine_for)
            hooked.append(svc)
        _note(
            on_progress,
            f"app {app.name}: restic backup of {len(scripts.backup_paths(app.spec))} path(s) to {repo.shown}",
        )
        result = run_job(client, job, on_status=_status_printer(on_progress, "backup"))
    finally:
        # Post-hooks undo what pre-hooks did (restart a service, remove a dump), even after a failure.
        for svc in hooked:
            if svc.post_hook:
                try:
                    run_hook(client, ref, svc, "backup post-hook", svc.post_hook, engine_for=engine_for)
                except BackupFailed as exc:
                    warnings.append(str(exc))
    if not result.ok:
        reason = _reason(result)
        kept = "" if "could not be removed" in reason else "; no snapshot was kept"
        raise BackupFailed(
            f"app {app.name}: backup failed: {reason}{kept}",
            hint=f"fix it, then run: coop app backup create {app.name}",
        )
    summary = next((o for o in reversed(result.json_lines()) if o.get("message_type") == "summary"), None)
    if not summary or not summary.get("snapshot_id"):
        raise BackupFailed(f"app {app.name}: restic reported no snapshot", hint="run it again with --debug")
    snap = summary["snapshot_id"]
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


def _note(on_progress: Progress | None, text: str) -> None:
    if on_progress is not None:
        on_progress(text)


def _status_printer(on_progress: Progress | None, what: str) -> Callable[[dict[str, Any]], None] | None:
    if on_progress is None:
        return None

    def show(status: dict[str, Any]) -> None:
        pct = float(status.get("percent_done") or 0) * 100
        done = int(status.get("bytes_done") or 0) / 1e6
        total = int(status.get("total_bytes") or 0) / 1e6
        on_progress(f"{what}: {pct:5.1f}%  {done:.1f}/{total:.1f} MB")

    return show


# -- ls ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    why: str
    version: str
    recipe: str
    services: tuple[str, ...]
    paths: tuple[str, ...]

    @classmethod
    def from_restic(cls, raw: dict[str, Any]) -> Snapshot:
        tags = dict(t.split("=", 1) for t in raw.get("tags") or [] if "=" in t)
        paths = tuple(raw.get("paths") or ())
        services = sorted(
            {p.split("/")[2] for p in paths if p.startswith(scripts.MOUNT_ROOT + "/") and p.count("/") >= 2}
        )
        return cls(
            id=raw["id"],
            short_id=raw.get("short_id") or raw["id"][:8],
            time=raw.get("time", ""),
            why=tags.get("why", ""),
            version=tags.get("version", ""),
            recipe=tags.get("recipe", ""),
            services=tuple(services),
            paths=paths,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "time": self.time,
            "why": self.why,
            "version": self.version,
            "recipe": self.recipe,
            "services": list(self.services),
            "paths": list(self.paths),
        }


def _node_for(client: Engine, ref: Any) -> str | None:
    """The node of the app's backed-up volumes (where a `volume:` repository is too) when a backed-up
    service runs, else of any running service of the app; None lets the swarm choose (a single node)."""
    services = _services(client, ref.stack_name)
    try:
        backed_up = {s.full_name for s in backup_spec(ref.name, ref.stack_name, services).services}
    except InvalidError:
        backed_up = set()  # labels a backup would refuse: any running service's node is as good a guess
    for svc in sorted(services, key=lambda s: s.name not in backed_up):
        node = _running_node(client, svc.name)
        if node:
            return node
    return None


def _volume_may_exist(client: Engine, node: str | None, name: str) -> bool:
    """Whether the volume exists on the node a job would run on; True when that is another node than the
    manager's (its volumes are not seen from here: the job finds out)."""
    if node is not None and node != views.info(client).node_id:
        return True
    return any(v.name == name for v in views.volumes(client, {"name": [name]}))


def snapshots(settings: Settings, client: Engine, ref: Any) -> list[Snapshot]:
    """The app's snapshots, oldest first (none when the server has no repository yet)."""
    try:
        password(client)
    except NoRepository:
        return []
    repo = repository.for_command(settings, client)
    node = _node_for(client, ref)
    if repo.kind == "volume" and repo.volume and not _volume_may_exist(client, node, repo.volume):
        return []  # no repository there; a job mounting it would leave an empty volume behind
    job, _ = _job(
        settings,
        client,
        "snapshots",
        scripts.snapshots_script([f"app={ref.name}"]),
        app_name=ref.name,
        node_id=node,
        repo=repo,
    )
    result = run_job(client, job)
    if not result.ok:
        raise BackupFailed(f"app {ref.name}: cannot list snapshots: {_reason(result)}")
    listing = [line for line in result.stdout.splitlines() if line.strip().startswith("[")]
    try:
        raw = json.loads(listing[-1]) if listing else None
    except ValueError:
        raw = None
    if not isinstance(raw, list):
        raise BackupFailed(
            f"app {ref.name}: restic's snapshot list is not JSON", hint="run it again with --debug"
        ) from None
    return sorted((Snapshot.from_restic(r) for r in raw or []), key=lambda s: s.time)


def pick(ref: Any, found: list[Snapshot], wanted: str | None) -> Snapshot:
    """The snapshot named by id or id prefix (default: the newest)."""
    if not found:
        raise NotFound(f"app {ref.name} has no snapshots", hint=f"run: coop app backup create {ref.name}")
    if wanted in (None, "", "latest"):
        return found[-1]
    assert wanted is not None
    matches = [s for s in found if s.id.startswith(wanted)]
    if len(matches) != 1:
        why = "matches several snapshots" if matches else "is not one of its snapshots"
        raise NotFound(f"app {ref.name}: snapshot {wanted} {why}", hint=f"see: coop app backup ls {ref.name}")
    return matches[0]


# -- verify ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    app: str
    snapshot: str
    files: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "snapshot": self.snapshot,
            "files": self.files,
            "seconds": round(self.seconds, 2),
            "ok": True,
        }


def verify(
    settings: Settings, client: Engine, ref: Any, wanted: str | None = None, *, on_progress: Progress | None = None
) -> Verified:
    start = time.monotonic()
    snap = pick(ref, snapshots(settings, client, ref), wanted)
    _note(
        on_progress,
        f"app {ref.name}: checking the repository and restoring snapshot {snap.short_id} into a scratch directory",
    )
    job, _ = _job(
        settings, client, "verify", scripts.verify_script(snap.id), app_name=ref.name, node_id=_node_for(client, ref)
    )
    result = run_job(client, job)
    if not result.ok:
        reason = _reason(result)
        if "locked by another restic job" in reason:
            raise BackupFailed(
                f"app {ref.name}: snapshot {snap.short_id} was not verified: {reason}",
                hint=f"run: coop app backup verify {ref.name} {snap.short_id}",
            )
        raise BackupFailed(
            f"app {ref.name}: snapshot {snap.short_id} failed verification: {reason}",
            hint="take a new backup (coop app backup create); the repository may need: restic repair",
        )
    files = next((int(o["files"]) for o in result.json_lines() if "files" in o), 0)
    return Verified(ref.name, snap.id, files, time.monotonic() - start)


# -- restore -----------------------------------------------------------------------------------


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
    job, _ = _job(
        settings,
        client,
        "restore",
        script,
        app_name=app.name,
        node_id=app.node_id,
        mounts=_volume_mounts(spec, read_only=False),
    )
    warnings: list[str] = []
    hooked: list[ServiceBackup] = []
    restoring = False
    try:
        for svc in chosen:
            if svc.restore_pre_hook:
                _note(on_progress, f"app {app.name}: service {svc.service}: restore pre-hook")
                run_hook(client, ref, svc, "restore pre-hook", svc.restore_pre_hook, engine_for=engine_for)
            hooked.append(svc)
        _note(on_progress, f"app {app.name}: restoring snapshot {snap.short_id}")
        restoring = True
        result = run_job(client, job)
        if not result.ok:
            raise BackupFailed(
                f"app {app.name}: restore of snapshot {snap.short_id} failed: {_reason(result)}",
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
            _note(on_progress, f"app {app.name}: service {svc.service}: restore post-hook")
            run_hook(client, ref, svc, "restore post-hook", svc.restore_post_hook, engine_for=engine_for)
    return Restored(app.name, snap.id, tuple(s.service for s in chosen), time.monotonic() - start, tuple(warnings))


# -- download ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Downloaded:
    app: str
    snapshot: str
    dest: str
    files: int

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "snapshot": self.snapshot, "dest": self.dest, "files": self.files}


def download(
    settings: Settings,
    client: Engine,
    ref: Any,
    wanted: str | None,
    dest: Path,
    *,
    on_progress: Progress | None = None,
    node_engine: NodeEngine | None = None,
) -> Downloaded:
    """Restore a snapshot into a scratch volume on the server, then copy it into `dest` (<service>/<volume>/…).

    The restic job, its scratch volume and the container the copy is read through are all on one
    node: the node of the app's volumes when the repository is a volume there (reached with
    `node_engine` when it is not the manager's), else the manager's. Succeeds only when `dest`
    holds as many files as the snapshot; else `dest` is left as it was found (empty or absent).
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} is not an empty directory", hint="name a new or empty directory with --dest")
    # Which node, and its engine, before anything is created (an unreachable node: exit 5, nothing to undo).
    repo = repository.for_command(settings, client)
    here = views.info(client).node_id
    node = (_node_for(client, ref) if repo.kind == "volume" else None) or here
    if node == here:
        engine = client
    elif node_engine is not None:
        engine = node_engine(node)
    else:
        raise EngineUnreachable(
            f"app {ref.name}: its backups are on another node than the manager's, which coop cannot reach here",
            hint=f"see: coop server nodes {ref.server}",
        )
    snap = pick(ref, snapshots(settings, client, ref), wanted)
    scratch = f"coop-download-{pysecrets.token_hex(5)}"
    engine.volume_create(scratch, labels={SCRATCH_LABEL: ref.name})
    container = None
    try:
        job, _ = _job(
            settings,
            client,
            "download",
            scripts.download_script(snap.id, "/restore"),
            app_name=ref.name,
            node_id=node or None,
            mounts=[Mount(scratch, "/restore")],
            repo=repo,
        )
        _note(on_progress, f"app {ref.name}: restoring snapshot {snap.short_id} on the server")
        result = run_job(client, job)
        if not result.ok:
            raise BackupFailed(f"app {ref.name}: download of snapshot {snap.short_id} failed: {_reason(result)}")
        restored = next((int(o["files"]) for o in result.json_lines() if "files" in o), None)
        if restored is None:
            raise BackupFailed(
                f"app {ref.name}: download of snapshot {snap.short_id}: the restic job did not say how many files it restored",
                hint="run it again with --debug",
            )
        # A created (never started) container gives the volume's files as a tar through the API.
        container = engine.container_create(
            {
                "Image": restic_image(settings),
                "Cmd": ["true"],
                "Labels": {SCRATCH_LABEL: ref.name},
                "HostConfig": {
                    "Mounts": [{"Type": "volume", "Source": scratch, "Target": "/restore", "ReadOnly": True}]
                },
            }
        )
        _note(on_progress, f"app {ref.name}: copying snapshot {snap.short_id} to {dest}")
        files = _copy_into(engine, container, dest, app=ref.name, snapshot=snap.short_id, expected=restored)
    finally:
        if container is not None:
            try:
                engine.container_remove(container, force=True)
            except EngineError:
                pass  # labelled coop.backup.scratch: findable; the first error is the one to report
        _remove_volume(engine, scratch)
    return Downloaded(ref.name, snap.id, str(dest), files)


def _copy_into(engine: Engine, container: str, dest: Path, *, app: str, snapshot: str, expected: int) -> int:
    """Extract the scratch volume's /restore/backup into `dest`; all of the snapshot's files, or `dest` as it was."""
    created = not dest.exists()
    try:
        try:
            dest.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile() as tmp:
                engine.archive_get(container, "/restore" + scripts.MOUNT_ROOT, into=tmp)
                tmp.seek(0)
                files = _extract(tmp, dest)
        except (tarfile.TarError, OSError, KeyError) as exc:  # KeyError: tarfile's "link target not found"
            raise BackupFailed(
                f"app {app}: snapshot {snapshot}: cannot write its files into {dest}: {exc}",
                hint="check the directory (space, permissions), then run it again",
            ) from None
        if files != expected:
            raise BackupFailed(
                f"app {app}: snapshot {snapshot} holds {expected} files, but {files} reached {dest}; nothing was kept",
                hint=f"run it again: coop app backup download {app} {snapshot} --dest {dest}",
            )
    except BaseException:
        _empty(dest, remove=created)  # never a partial copy that looks like a download
        raise
    return files


def _empty(dest: Path, *, remove: bool) -> None:
    """Take out what a failed download put into `dest` (which was empty or absent before it)."""
    if not dest.is_dir():
        return
    for entry in dest.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if remove:
        dest.rmdir()


def _remove_volume(client: Engine, name: str, *, wait: float = 15.0) -> None:
    """Remove a scratch volume; the job's container may hold it a moment after the job ended."""
    deadline = time.monotonic() + wait
    while True:
        try:
            client.volume_remove(name, force=True)
            return
        except EngineUnreachable:
            return  # the connection is gone: labelled coop.backup.scratch, findable and harmless
        except EngineError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)


def _extract(fileobj: Any, dest: Path) -> int:
    """Extract the tar of /restore/backup into `dest`, without its top directory; nothing may land outside."""
    count = 0
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in _members(tar):
            target = (dest / member.name).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep):
                raise InvalidError(f"the snapshot's archive names a path outside {dest}: {member.name}")
            tar.extract(member, dest, filter="data")
            count += member.isfile() or member.islnk()  # a hard link is a file of its own once extracted
    return count


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        _, _, rest = member.name.partition("/")
        if not rest:
            continue  # the top directory (backup/) itself
        member.name = rest
        if member.islnk():  # a hard link names its target by its path in the archive: strip it alike
            member.linkname = member.linkname.partition("/")[2]
        yield member


# -- before an upgrade ---------------------------------------------------------------------------


def declares_backups(client: Engine, ref: Any) -> bool:
    """Whether the deployed app has a service labelled backupbot.backup=true."""
    try:
        return bool(backup_spec(ref.name, ref.stack_name, _services(client, ref.stack_name)).services)
    except InvalidError:
        return True  # declared, if badly: the snapshot attempt says what is wrong


@dataclass
class PreUpgrade:
    """A step for the deploy's `before_first_change`: snapshot the app's data; `taken` says which."""

    settings: Settings
    client: Engine
    ref: Any
    why: str
    on_progress: Progress | None = None
    on_password: Callable[[str], None] | None = None
    engine_for: EngineFor | None = None
    taken: Created | None = None

    def __call__(self, _prepared: Any) -> None:
        # A failed snapshot stops the upgrade before anything changed (BackupFailed, exit 1).
        self.taken = create(
            self.settings,
            self.client,
            self.ref,
            why=self.why,
            on_progress=self.on_progress,
            on_password=self.on_password,
            engine_for=self.engine_for,
        )

    def restore_command(self) -> str:
        assert self.taken is not None
        return f"coop app restore {self.ref.name} {self.taken.short_id}"


# -- every app of a server ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerLine:
    app: str
    status: str  # ok, failed, skipped
    detail: str
    snapshot: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "status": self.status, "detail": self.detail, "snapshot": self.snapshot}


def server_backup(
    settings: Settings,
    client: Engine,
    server: str,
    *,
    on_line: Callable[[ServerLine], None],
    on_password: Callable[[str], None],
    warn: Callable[[str], None] | None = None,
    engine_for: Callable[[Any], EngineFor] | None = None,
) -> list[ServerLine]:
    """Back up every app of the server that declares backups; one line each; goes on past a failure.

    Each app's backup takes its lock and is recorded in its history.
    """
    from coopcloud.ops.app.apps import all_apps
    from coopcloud.ops.trail import audit

    lines = []
    for ref in [a for a in all_apps(settings) if a.server == server]:
        try:
            services = _services(client, ref.stack_name)
            if not services:
                raise NotFound("not deployed")
            if not backup_spec(ref.name, ref.stack_name, services).services:
                raise NotFound("declares no backups (no label backupbot.backup=true)")
        except NotFound as exc:
            line = ServerLine(ref.name, "skipped", str(exc))
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
            line = ServerLine(ref.name, "ok", f"snapshot {done.short_id}, {done.files} files", done.snapshot)
        except CoopError as exc:
            line = ServerLine(ref.name, "failed", str(exc))
        on_line(line)
        lines.append(line)
    return lines
