"""A server's restic repository: where it is, and its password, both kept on the server.

- The password is the Docker secret `coop-backup-password`, generated on first use
  (and shown once to the operator who caused it); Docker never gives it back.
- The repository is, by default, the named volume `coop-backups` on the node that
  runs the job (the node holding the app's volumes). `coop server backup-repo SERVER URL`
  sets any restic URL instead (`sftp:`, `rest:`, `s3:`…, or `volume:NAME`): it is kept
  in the secret `coop-backup-repository` (a URL may carry credentials), and the
  restic container reads it with RESTIC_REPOSITORY_FILE. Labels on that secret say
  what kind it is and show the URL without its user info.

Being on the server, both are shared by every operator of that server.
"""

from __future__ import annotations

import re
import secrets as pysecrets
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import Conflict, EngineConflict, EngineError, EngineNotFound, NotFound, UsageError

from coopcloud.settings import Settings

from .job import Mount, SecretFile
from .scripts import REPOSITORY_MOUNT

PASSWORD_SECRET = "coop-backup-password"
REPOSITORY_SECRET = "coop-backup-repository"
DEFAULT_VOLUME = "coop-backups"
KIND_LABEL = "coop.backup.repository.kind"
SHOWN_LABEL = "coop.backup.repository.shown"
VOLUME_LABEL = "coop.backup.repository.volume"
ROLE_LABEL = "coop.backup"
URL_SCHEMES = ("sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone")
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Repository:
    kind: str  # "volume" | "url"
    shown: str  # what to show: volume:NAME, or the URL without user info
    volume: str | None = None
    secret: SecretFile | None = None  # the URL, for kind "url"

    def mounts(self) -> list[Mount]:
        return [Mount(self.volume, REPOSITORY_MOUNT)] if self.volume else []

    def env(self) -> dict[str, str]:
        if self.secret is not None:
            return {"RESTIC_REPOSITORY_FILE": f"/run/secrets/{self.secret.file_name}"}
        return {"RESTIC_REPOSITORY": REPOSITORY_MOUNT}

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "repository": self.shown}


def _find_secret(client: Engine, name: str) -> views.Secret | None:
    for secret in views.secrets(client, {"name": [name]}):
        if secret.name == name:  # the engine's name filter matches prefixes
            return secret
    return None


def repository(client: Engine) -> Repository:
    """The server's repository (the default volume when none was set)."""
    found = _find_secret(client, REPOSITORY_SECRET)
    if found is None:
        return Repository("volume", f"volume:{DEFAULT_VOLUME}", volume=DEFAULT_VOLUME)
    labels = found.labels
    if labels.get(KIND_LABEL) == "volume":
        volume = labels.get(VOLUME_LABEL) or DEFAULT_VOLUME
        return Repository("volume", f"volume:{volume}", volume=volume)
    secret = SecretFile(found.id, REPOSITORY_SECRET, "restic-repository")
    return Repository("url", labels.get(SHOWN_LABEL, "(a restic URL)"), secret=secret)


def for_command(settings: Settings, client: Engine) -> Repository:
    """The repository this command uses: `$COOP_BACKUP_REPOSITORY` (volume:NAME only) if set, else the server's.

    The variable sends one operator's commands elsewhere without changing the server's
    setting for everyone (a second copy, a test); a URL with credentials belongs in the
    server's secret (`coop server backup-repo`), so only a volume is taken from it.
    """
    override = settings.environ.get("COOP_BACKUP_REPOSITORY", "").strip()
    if not override:
        return repository(client)
    kind, shown, volume = parse_location(client.name, override)
    if kind != "volume":
        raise UsageError(
            f"COOP_BACKUP_REPOSITORY={shown}: only volume:NAME is read from the environment",
            hint=f"set a URL on the server: coop server backup-repo {client.name} URL",
        )
    return Repository("volume", shown, volume=volume)


def parse_location(server: str, location: str) -> tuple[str, str, str | None]:
    """(kind, shown, volume) of a repository location given on the command line; refuses anything else."""
    location = location.strip()
    if location.startswith("volume:"):
        name = location[len("volume:"):]
        if not _VOLUME_NAME.match(name):
            raise UsageError(f"server {server}: {name!r} is not a volume name", hint="e.g. volume:coop-backups")
        return "volume", location, name
    scheme = location.split(":", 1)[0]
    if scheme not in URL_SCHEMES or ":" not in location:
        raise UsageError(
            f"server {server}: {location!r} is not a restic repository URL",
            hint=f"use volume:NAME or one of {', '.join(s + ':' for s in URL_SCHEMES)}",
        )
    return "url", _without_userinfo(location), None


def _without_userinfo(url: str) -> str:
    """The URL to show: user and password removed (rest:https://user:pw@host/ → rest:https://host/)."""
    scheme, _, rest = url.partition(":")
    if "://" in rest:
        parts = urlsplit(rest)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{scheme}:{urlunsplit(parts._replace(netloc=netloc))}"
    if scheme == "sftp" and "@" in rest.split(":", 1)[0]:
        return f"{scheme}:{rest.split('@', 1)[1]}"
    return url


def set_repository(client: Engine, server: str, location: str) -> Repository:
    """Point the server's backups at `location` (see `parse_location`). Snapshots already taken stay where they are."""
    kind, shown, volume = parse_location(server, location)
    old = _find_secret(client, REPOSITORY_SECRET)
    if old is not None:
        try:
            client.secret_remove(old.id)
        except EngineNotFound:
            pass
        except EngineError as exc:  # a running backup job mounts it
            raise Conflict(f"server {server}: a backup job is using the repository setting", hint="try again when it ends") from exc
    labels = {ROLE_LABEL: "repository", KIND_LABEL: kind, SHOWN_LABEL: shown}
    if volume:
        labels[VOLUME_LABEL] = volume
    # For a URL, the secret holds it (credentials included); for a volume, where it is mounted.
    data = (REPOSITORY_MOUNT if volume else location).encode()
    client.secret_create(REPOSITORY_SECRET, data, labels=labels)
    return repository(client)


class NoRepository(NotFound):
    """The server has no backup password yet, so no backup was ever taken there."""


def password(client: Engine, *, generate: bool = False) -> tuple[SecretFile, str | None]:
    """The password secret, and its value when it was generated just now (to show once; None otherwise).

    Only a backup generates it (`generate=True`); anything else raises NoRepository without it.
    """
    found = _find_secret(client, PASSWORD_SECRET)
    generated = None
    if found is None and not generate:
        raise NoRepository(
            f"server {client.name} has no backups yet (no secret {PASSWORD_SECRET})",
            hint="run: coop app backup create APP",
        )
    if found is None:
        generated = pysecrets.token_urlsafe(32)
        try:
            created = client.secret_create(PASSWORD_SECRET, generated.encode(), labels={ROLE_LABEL: "password"})
            secret_id = created["ID"]
        except EngineConflict:  # another operator made it a moment ago: theirs it is
            generated = None
            found = _find_secret(client, PASSWORD_SECRET)
            assert found is not None
            secret_id = found.id
    else:
        secret_id = found.id
    return SecretFile(secret_id, PASSWORD_SECRET, "restic-password"), generated
