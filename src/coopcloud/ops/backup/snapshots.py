"""`app backup ls`: the app's snapshots in the repository, and picking one by id."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, NotFound
from coopcloud.rawdata import JSONDict, RawMap, as_map, get_str, str_list
from coopcloud.settings import Settings

from . import repository, scripts
from .job import run_job
from .repository import NoRepository, Repository, password
from .restic import BackupFailed, failure_reason, restic_job
from .target import node_for


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
    empty: tuple[str, ...] = ()  # service/volume/path of declared directories recorded as empty
    run: str = ""  # the run tag (run=…) of the backup that saved it
    failed_run: bool = False  # that backup failed (its node was lost…): the history says so; see `listed`

    @classmethod
    def from_restic(cls, raw: RawMap) -> Snapshot:
        tag_list = str_list(raw.get("tags"), "tags")
        tags = dict(t.split("=", 1) for t in tag_list if "=" in t)
        paths = tuple(str_list(raw.get("paths"), "paths"))
        snapshot_id = get_str(raw, "id")
        services = sorted(
            {p.split("/")[2] for p in paths if p.startswith(scripts.MOUNT_ROOT + "/") and p.count("/") >= 2}
        )
        return cls(
            id=snapshot_id,
            short_id=get_str(raw, "short_id") or snapshot_id[:8],
            time=get_str(raw, "time"),
            why=tags.get("why", ""),
            version=tags.get("version", ""),
            recipe=tags.get("recipe", ""),
            services=tuple(services),
            paths=paths,
            empty=tuple(t[len(scripts.EMPTY_TAG) :] for t in tag_list if t.startswith(scripts.EMPTY_TAG)),
            run=f"run={tags['run']}" if tags.get("run") else "",
        )

    def to_json(self) -> JSONDict:
        from coopcloud.domain.words import json_time
        from coopcloud.engine.views import parse_time

        return {
            "snapshot": self.id,  # the one id, as every backup command's JSON names it; any unique prefix selects it
            "created": json_time(parse_time(self.time)) if self.time else None,
            "why": self.why,
            "version": self.version,
            "recipe": self.recipe,
            "services": list(self.services),
            "paths": list(self.paths),
            "empty": list(self.empty),
            "failed_run": self.failed_run,
        }


def volume_may_exist(client: Engine, node: str | None, name: str) -> bool:
    """Whether the volume exists on the node a job would run on; True when that is another node than the
    manager's (its volumes are not seen from here: the job finds out)."""
    if node is not None and node != views.info(client).node_id:
        return True
    return any(v.name == name for v in views.volumes(client, {"name": [name]}))


ANY_NODE = None
APP_NODE = ""


def snapshots(
    settings: Settings,
    client: Engine,
    ref: AppRef,
    repo: Repository | None = None,
    *,
    run_tag: str | None = None,
    node: str | None = APP_NODE,
) -> list[Snapshot]:
    """The app's snapshots in the command's repository (or `repo`), oldest first (none when nothing is there
    yet); only one run's with `run_tag`. The job runs on the app's node, or on `node` (`ANY_NODE`: swarm's choice)."""
    try:
        password(client)
    except NoRepository:
        return []
    repo = repo or repository.for_command(settings, client)
    node = node_for(client, ref) if node == APP_NODE else node
    if repo.kind == "volume" and repo.volume and not volume_may_exist(client, node, repo.volume):
        return []  # no repository there; a job mounting it would leave an empty volume behind
    known = repository.is_known(client, repo)
    job, _ = restic_job(
        settings,
        client,
        "snapshots",
        scripts.snapshots_script([f"app={ref.name}", *([run_tag] if run_tag else [])], known=known),
        app_name=ref.name,
        node_id=node,
        repo=repo,
    )
    result = run_job(client, job)
    if not result.ok or result.result not in ("listed", "absent"):
        raise BackupFailed(
            f"app {ref.name}: cannot list the snapshots in {repo.shown}: {failure_reason(result)}",
            hint="nothing was changed; fix the repository (or its setting: coop server backup-repo), then run it again",
        )
    if result.result == "listed" and not known:
        repository.mark_known(client, repo)
    listing = [line for line in result.stdout.splitlines() if line.strip().startswith("[")]
    try:
        raw = json.loads(listing[-1]) if listing else None
    except ValueError:
        raw = None
    if not isinstance(raw, list):
        raise BackupFailed(
            f"app {ref.name}: restic's snapshot list is not JSON", hint="run it again with --debug"
        ) from None
    return sorted((Snapshot.from_restic(as_map(r, "snapshot")) for r in raw), key=lambda s: s.time)


def listed(settings: Settings, client: Engine, ref: AppRef) -> list[Snapshot]:
    """`app backup ls`: the app's snapshots, each marked when the backup that saved it failed (the app's
    history notes the run tag of such a backup: one whose job's node was lost, whose snapshot restic may
    have finished before or after coop looked; or a `backup create` killed outright, whose job restic went
    on with)."""
    from coopcloud.ops.trail import audit

    found = snapshots(settings, client, ref)
    if not found:
        return found
    failed = {run for e in audit.history(client, ref.stack_name) for run in e.failed_runs}
    return [replace(s, failed_run=True) if s.run and s.run in failed else s for s in found]


def pick_snapshot(settings: Settings, client: Engine, ref: AppRef, wanted: str | None) -> Snapshot:
    """The snapshot named by id or id prefix (default: the newest) in the command's repository. One that is
    not there but in another repository setting of the server is said so, with the command that reaches it."""
    try:
        return pick(ref, snapshots(settings, client, ref), wanted)
    except NotFound:
        if wanted in (None, "", "latest"):
            raise
        assert wanted is not None
        here = repository.for_command(settings, client).shown
        for name in repository.setting_names(client):
            try:
                other = repository.repository(client, name)
                if other.shown == here or not any(
                    s.id.startswith(wanted) for s in snapshots(settings, client, ref, other)
                ):
                    continue
            except CoopError:
                continue  # a setting that cannot be read now is not the news
            how = (
                f"COOP_BACKUP_REPOSITORY=repo:{name}"
                if name != repository.DEFAULT_SETTING
                else "COOP_BACKUP_REPOSITORY unset"
            )
            raise NotFound(
                f"app {ref.name}: snapshot {wanted} is not in {here} but in repository setting {name} ({other.shown})",
                hint=f"run the command again with {how}",
            ) from None
        raise


def pick(ref: AppRef, found: list[Snapshot], wanted: str | None) -> Snapshot:
    """The snapshot named by id or id prefix (default: the newest)."""
    if not found:
        raise no_snapshots(ref)
    if wanted in (None, "", "latest"):
        return found[-1]
    assert wanted is not None
    matches = [s for s in found if s.id.startswith(wanted)]
    if len(matches) != 1:
        why = "matches several snapshots" if matches else "is not one of its snapshots"
        raise NotFound(f"app {ref.name}: snapshot {wanted} {why}", hint=f"see: coop app backup ls {ref.name}")
    return matches[0]


def no_snapshots(ref: AppRef) -> NotFound:
    return NotFound(f"app {ref.name} has no snapshots", hint=f"run: coop app backup create {ref.name}")
