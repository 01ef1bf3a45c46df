"""The backupbot label spec, read from an app's live services (pure: no I/O).

Co-op Cloud recipes declare backups with backup-bot-two's labels on a service
(`deploy.labels`, so they reach the swarm service's labels, interpolated by the
deploy like every other label):

    backupbot.backup=true                          back this service up
    backupbot.backup.pre-hook=CMD                  run in its container before (sh -c)
    backupbot.backup.post-hook=CMD                 ... and after
    backupbot.backup.volumes.<volume>=false        leave that volume out
    backupbot.backup.volumes.<volume>.path=a,b     only these paths, relative to the volume root
    backupbot.restore.pre-hook=CMD                 around a restore
    backupbot.restore.post-hook=CMD
    backupbot.backup.path=/abs/a,/abs/b            legacy: container paths; only the volumes
                                                   holding them are backed up, and only those paths

A volume is named as in the compose file (`data`, not `<stack>_data`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from coopcloud.engine.views import Service
from coopcloud.errors import InvalidError
from coopcloud.rawdata import get_str
from coopcloud.swarm import service_spec

BACKUP = "backupbot.backup"
PRE_HOOK = "backupbot.backup.pre-hook"
POST_HOOK = "backupbot.backup.post-hook"
RESTORE_PRE_HOOK = "backupbot.restore.pre-hook"
RESTORE_POST_HOOK = "backupbot.restore.post-hook"
LEGACY_PATH = "backupbot.backup.path"
VOLUMES_PREFIX = "backupbot.backup.volumes."


@dataclass(frozen=True)
class VolumeBackup:
    """One volume of a service to back up: its compose name, its Docker name, where it is mounted."""

    name: str  # as in the compose file
    source: str  # the Docker volume (<stack>_<name> for a stack's own volume)
    target: str  # where the service mounts it
    paths: tuple[str, ...] = ()  # relative to the volume root; () = all of it


@dataclass(frozen=True)
class ServiceBackup:
    service: str  # short name (app, db)
    full_name: str  # <stack>_<service>
    volumes: tuple[VolumeBackup, ...]
    pre_hook: str | None = None
    post_hook: str | None = None
    restore_pre_hook: str | None = None
    restore_post_hook: str | None = None


@dataclass(frozen=True)
class BackupSpec:
    services: tuple[ServiceBackup, ...] = field(default_factory=tuple)

    def only(self, service: str | None) -> BackupSpec:
        if service is None:
            return self
        return BackupSpec(tuple(s for s in self.services if s.service == service))


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _relative(app: str, service: str, volume: str, path: str) -> str:
    """A declared path, normalised relative to the volume root; one that leaves the volume is refused."""
    norm = posixpath.normpath(path.strip().lstrip("/"))
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        raise InvalidError(
            f"app {app}: service {service}: {VOLUMES_PREFIX}{volume}.path entry {path!r} is not a path inside the volume",
            hint="list paths relative to the volume root, e.g. dump.sql,uploads",
        )
    return norm


def volume_name(stack: str, source: str) -> str:
    """The compose name of a stack's volume (`<stack>_data` -> `data`); another volume keeps its name."""
    prefix = f"{stack}_"
    return source[len(prefix) :] if source.startswith(prefix) else source


def service_backup(app: str, stack: str, service: Service) -> ServiceBackup | None:
    """The service's backup declaration from its live spec, or None when it is not labelled for backup."""
    labels = service.labels
    if labels.get(BACKUP, "").strip().lower() != "true":
        return None
    full = service.name
    short = full[len(stack) + 1 :] if full.startswith(f"{stack}_") else full
    mounts = service_spec.mounts(service.spec)
    legacy = _split(labels.get(LEGACY_PATH, ""))
    volumes: list[VolumeBackup] = []
    for mount in sorted(mounts, key=lambda m: get_str(m, "Target")):
        source = get_str(mount, "Source")
        if get_str(mount, "Type", "volume") != "volume" or not source:
            continue  # anonymous volumes, binds and tmpfs are not the app's named data
        name = volume_name(stack, source)
        target = get_str(mount, "Target")
        if labels.get(f"{VOLUMES_PREFIX}{name}", "").strip().lower() == "false":
            continue
        paths: tuple[str, ...] = ()
        declared = labels.get(f"{VOLUMES_PREFIX}{name}.path")
        if declared is not None:
            paths = tuple(_relative(app, short, name, p) for p in _split(declared))
            if not paths:
                raise InvalidError(
                    f"app {app}: service {short}: {VOLUMES_PREFIX}{name}.path is empty",
                    hint=f"list paths relative to the volume root, or set {VOLUMES_PREFIX}{name}=false",
                )
        elif legacy:
            inside = [
                p
                for p in legacy
                if posixpath.normpath(p) == target or posixpath.normpath(p).startswith(target.rstrip("/") + "/")
            ]
            if not inside:
                continue  # the legacy label names paths: volumes holding none of them are left out
            paths = tuple(
                _relative(app, short, name, posixpath.relpath(posixpath.normpath(p), target))
                if posixpath.normpath(p) != target
                else "."
                for p in inside
            )
            if "." in paths:
                paths = ()
        volumes.append(VolumeBackup(name=name, source=source, target=target, paths=paths))

    def hook(key: str) -> str | None:
        value = labels.get(key, "").strip()
        return value or None

    return ServiceBackup(
        service=short,
        full_name=full,
        volumes=tuple(volumes),
        pre_hook=hook(PRE_HOOK),
        post_hook=hook(POST_HOOK),
        restore_pre_hook=hook(RESTORE_PRE_HOOK),
        restore_post_hook=hook(RESTORE_POST_HOOK),
    )


def backup_spec(app: str, stack: str, services: Sequence[Service]) -> BackupSpec:
    """Every service of the app labelled `backupbot.backup=true`, sorted by name."""
    found = [b for b in (service_backup(app, stack, s) for s in services) if b is not None]
    return BackupSpec(tuple(sorted(found, key=lambda b: b.service)))
