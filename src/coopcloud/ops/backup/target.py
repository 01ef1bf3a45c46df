"""What an app backs up, and where: its backed-up services, the node of their volumes, its version."""

from __future__ import annotations

from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, InvalidError, NotFound, UsageError
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, coop_label

from . import scripts
from .job import Mount
from .labels import BackupSpec, backup_spec


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


def stack_services(client: Engine, stack: str) -> list[views.Service]:
    return sorted(views.services(client, {"label": [f"{STACK_LABEL}={stack}"]}), key=lambda s: s.name)


def running_node(client: Engine, service: str) -> str | None:
    """The node of the service's running task: where its volumes are."""
    running = [
        t for t in views.tasks(client, {"service": [service], "desired-state": ["running"]}) if t.running and t.node_id
    ]
    return running[0].node_id if running else None


def inspect_app(
    settings: Settings, client: Engine, ref: AppRef, *, service: str | None = None, need_running: bool = True
) -> AppBackup:
    """Read the app's live services: which are backed up, on which node, at which version.

    Raises NotFound when the app is not deployed or declares no backups (or has no such service).
    """
    services = stack_services(client, ref.stack_name)
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
    nodes = {s.service: running_node(client, s.full_name) for s in spec.services}
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


def _env_recipe(settings: Settings, ref: AppRef) -> str | None:
    from coopcloud.ops.app.apps import load_app

    try:
        return load_app(settings, ref.name).recipe
    except CoopError:
        return None


def volume_mounts(spec: BackupSpec, *, read_only: bool) -> list[Mount]:
    return [
        Mount(vol.source, scripts.mount_point(svc.service, vol.name), read_only=read_only)
        for svc in spec.services
        for vol in svc.volumes
    ]


def node_for(client: Engine, ref: AppRef) -> str | None:
    """The node of the app's backed-up volumes (where a `volume:` repository is too) when a backed-up
    service runs, else of any running service of the app; None lets the swarm choose (a single node)."""
    services = stack_services(client, ref.stack_name)
    try:
        backed_up = {s.full_name for s in backup_spec(ref.name, ref.stack_name, services).services}
    except InvalidError:
        backed_up = set()  # labels a backup would refuse: any running service's node is as good a guess
    for svc in sorted(services, key=lambda s: s.name not in backed_up):
        node = running_node(client, svc.name)
        if node:
            return node
    return None


def declares_backups(client: Engine, ref: AppRef) -> bool:
    """Whether the deployed app has a service labelled backupbot.backup=true."""
    try:
        return bool(backup_spec(ref.name, ref.stack_name, stack_services(client, ref.stack_name)).services)
    except InvalidError:
        return True  # declared, if badly: the snapshot attempt says what is wrong
