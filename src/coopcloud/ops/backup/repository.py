"""A server's restic repository: where it is, how to reach it, and its password, all kept on the server.

- The password is the Docker secret `coop-backup-password`, generated on first use
  (and shown once to the operator who caused it); Docker never gives it back.
- The repository is, by default, the named volume `coop-backups` on the node that
  runs the job (the node holding the app's volumes). `coop server backup-repo SERVER URL`
  sets any restic URL instead (`sftp:`, `rest:`, `s3:`…, or `volume:NAME`), with what the
  job needs to reach it: for `sftp:` an ssh key and the server's known_hosts (host keys are
  always checked), for the others environment variables (`AWS_ACCESS_KEY_ID`…). Each is a
  Docker secret mounted into the restic job; the URL is read with RESTIC_REPOSITORY_FILE
  (it may carry credentials), the variables are exported from a file inside the job, never
  put in the service's Env. Labels say what kind it is, show the URL without its user info,
  and list the variables' names (not their values).

A setting is a *generation* of secrets (`coop-backup-<setting>-<gen>-<part>`): changing it
creates the new generation first, then removes the old one; a secret a running job still
mounts is left to it (Docker refuses to remove it) and removed by the next change, so a
running job never breaks and the next job uses the new setting. Besides the server's
`default` setting there may be named ones (`--name offsite`), used by one command with
`COOP_BACKUP_REPOSITORY=repo:offsite`.

Being on the server, all of this is shared by every operator of that server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets as pysecrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from coopcloud.domain import envfile
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import (
    Conflict,
    CoopError,
    EngineConflict,
    EngineError,
    EngineNotFound,
    InvalidError,
    NotFound,
    UsageError,
)
from coopcloud.rawdata import JSONDict, get_str
from coopcloud.settings import Settings
from coopcloud.swarm import service_spec

from .job import Mount, SecretFile
from .scripts import ENV_FILE, KNOWN_HOSTS_FILE, REPOSITORY_FILE, REPOSITORY_MOUNT, SSH_KEY_FILE

PASSWORD_SECRET = "coop-backup-password"
LEGACY_SECRET = "coop-backup-repository"  # the default setting as first stored: one secret, no generation
DEFAULT_VOLUME = "coop-backups"
DEFAULT_SETTING = "default"
ROLE_LABEL = "coop.backup"
SETTING_LABEL = "coop.backup.repository.setting"
GENERATION_LABEL = "coop.backup.repository.generation"  # nanoseconds: the newest generation wins
KIND_LABEL = "coop.backup.repository.kind"
SHOWN_LABEL = "coop.backup.repository.shown"
VOLUME_LABEL = "coop.backup.repository.volume"
ENV_KEYS_LABEL = "coop.backup.repository.env-keys"  # the variables' names, never their values
PART_LABEL = "coop.backup.repository.%s"  # on the URL secret: the name of its ssh-key/known-hosts/env secret
URL_SCHEMES = ("sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone")
# The parts of a setting: (part, file name under /run/secrets in the job)
PARTS = {"ssh-key": SSH_KEY_FILE, "known-hosts": KNOWN_HOSTS_FILE, "env": ENV_FILE}
ROLES = ("repository", *(f"repository-{p}" for p in PARTS))
# Variables the job sets itself: an env file may not change where the password or repository come from.
RESERVED_ENV = frozenset(
    {
        "RESTIC_PASSWORD",
        "RESTIC_PASSWORD_FILE",
        "RESTIC_PASSWORD_COMMAND",
        "RESTIC_REPOSITORY",
        "RESTIC_REPOSITORY_FILE",
        "RESTIC_CACHE_DIR",
        "HOME",
        "PATH",
    }
)
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_SETTING_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,23}\Z")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z, not $: $ also matches before a final newline


@dataclass(frozen=True)
class Repository:
    kind: str  # "volume" | "url"
    shown: str  # what to show: volume:NAME, or the URL without user info
    volume: str | None = None
    secrets: tuple[SecretFile, ...] = ()  # kind "url": the URL, then its ssh key, known_hosts, env file
    setting: str = DEFAULT_SETTING
    env_keys: tuple[str, ...] = ()

    def mounts(self) -> list[Mount]:
        return [Mount(self.volume, REPOSITORY_MOUNT)] if self.volume else []

    def env(self) -> dict[str, str]:
        if self.kind == "url":
            return {"RESTIC_REPOSITORY_FILE": f"/run/secrets/{REPOSITORY_FILE}"}
        return {"RESTIC_REPOSITORY": REPOSITORY_MOUNT}

    @property
    def ssh(self) -> bool:
        return any(s.file_name == SSH_KEY_FILE for s in self.secrets)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "repository": self.shown,
            "setting": self.setting,
            "ssh_key": self.ssh,
            "env": list(self.env_keys),
        }

    def describe(self) -> str:
        extra = [*(["ssh key and known_hosts"] if self.ssh else []), *self.env_keys]
        return self.shown + (f" (with {', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class ServerRepository:
    """`server backup-repo`: a server's repository setting, as set or as read."""

    server: str
    repository: Repository

    def to_json(self) -> JSONDict:
        return {"server": self.server, **self.repository.to_json()}


@dataclass(frozen=True)
class SettingRemoved:
    """`server backup-repo --remove`: the setting forgotten; `kept`: secrets a job ending now still holds."""

    server: str
    setting: str
    kept: tuple[str, ...]

    def to_json(self) -> JSONDict:
        return {"server": self.server, "setting": self.setting, "removed": True}


# -- what the operator gives ---------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What a URL repository needs besides its URL, read from the operator's files and environment."""

    ssh_key: bytes | None = field(default=None, repr=False)  # never printed, even by --debug
    known_hosts: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def env_file(self) -> bytes:
        """The variables as a file the job's shell reads (`. FILE`): each value single-quoted, so never run."""
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(self.env.items())).encode()


@dataclass(frozen=True)
class Location:
    kind: str  # "volume" | "url"
    shown: str
    volume: str | None = None
    ssh_host: tuple[str, int] | None = None  # sftp: the host and port ssh connects to
    url: str = field(default="", repr=False)  # as given: it may carry credentials


def parse_location(server: str, location: str) -> Location:
    """A repository location given on the command line; refuses anything else with one line (usage)."""
    location = location.strip()
    if location.startswith("volume:"):
        name = location[len("volume:") :]
        if not _VOLUME_NAME.match(name):
            raise UsageError(f"server {server}: {name!r} is not a volume name", hint="e.g. volume:coop-backups")
        return Location("volume", location, volume=name)
    scheme, _, rest = location.partition(":")
    if scheme not in URL_SCHEMES or not rest or any(c.isspace() for c in location):
        raise UsageError(
            f"server {server}: {redact(location)!r} is not a restic repository URL",
            hint=f"use volume:NAME or one of {', '.join(s + ':' for s in URL_SCHEMES)}",
        )
    shown = redact(location)
    if scheme == "sftp":
        return Location("url", shown, ssh_host=_sftp_host(server, shown, rest), url=location)
    if scheme == "rest" and not urlsplit(rest).netloc:
        raise UsageError(
            f"server {server}: {shown!r} is not a restic rest: URL", hint="e.g. rest:https://host:8000/repo"
        )
    return Location("url", shown, url=location)


# restic's short form: [user@]host:path, an IPv6 host in brackets ([user@][::1]:path).
_SFTP_SHORT = re.compile(r"(?:[^@/\[\]:]+@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^@/\[\]:]+)):(?P<path>.+)")


def _sftp_host(server: str, shown: str, rest: str) -> tuple[str, int]:
    """restic's two sftp forms: sftp:[user@]host:path and sftp://[user@]host[:port]//path."""
    if rest.startswith("//"):
        parts = urlsplit(rest)
        try:
            host, port, path = parts.hostname or "", parts.port or 22, parts.path.lstrip("/")
        except ValueError:
            host, port, path = "", 22, ""
    else:
        short = _SFTP_SHORT.fullmatch(rest)
        host = (short.group("v6") or short.group("host")) if short else ""
        port, path = 22, short.group("path") if short else ""
    if not host or not path:
        raise UsageError(
            f"server {server}: {shown!r} is not a restic sftp: URL",
            hint="e.g. sftp:backup@vault.example.org:/srv/restic or sftp://backup@vault.example.org:2222//srv/restic",
        )
    return host, port


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:(?://)?)[^\s/@]+@")  # sftp://u:p@h, rest:https://u:p@h, sftp:u@h
_USER_AT = re.compile(r"(?<![\w.+-])[\w.+-]+@(?=[\w\[])")  # ssh's user@host


def redact(text: str) -> str:
    """Text from a job (restic's and ssh's words) with every URL's user info and every user@ taken out:
    a repository URL's user and password are never shown, kept in the history, or printed by --debug."""
    return _USER_AT.sub("", _URL_USERINFO.sub(r"\1", text))


def _read(server: str, option: str, path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"server {server}: {option} {path}: cannot read it ({exc.strerror or exc})",
            hint=f"give a readable file with {option}",
        ) from None
    if not data.strip():
        raise UsageError(f"server {server}: {option} {path} is empty", hint=f"give the right file with {option}")
    return data


def load_credentials(
    server: str,
    where: Location,
    *,
    ssh_key: Path | None = None,
    known_hosts: Path | None = None,
    env_file: Path | None = None,
    env_keys: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Read and check what a URL repository needs, before anything changes on the server.

    sftp: needs both an ssh key (without a passphrase: nobody types it in the job) and a
    known_hosts file holding the sftp server's host key (ssh refuses any other key).
    Variables come from `env_file` (KEY=value lines) and from `env_keys` (each read from
    this process's environment: a value on the command line would be in the shell's history).
    """
    given = [o for o, v in (("--ssh-key", ssh_key), ("--known-hosts", known_hosts)) if v is not None]
    if where.kind == "volume" and (given or env_file or env_keys):
        raise UsageError(
            f"server {server}: {(given or ['--env-file/--env'])[0]} is for a URL repository, not {where.shown}"
        )
    if where.ssh_host is None and given:
        raise UsageError(
            f"server {server}: {given[0]} is for an sftp: repository, not {where.shown}",
            hint="give other back ends' credentials with --env-file FILE or --env KEY",
        )
    key = hosts = None
    if where.ssh_host is not None:
        if ssh_key is None or known_hosts is None:
            missing = "--ssh-key FILE" if ssh_key is None else "--known-hosts FILE"
            raise UsageError(
                f"server {server}: an sftp: repository needs {missing} (the job connects with that key "
                "and checks the sftp server's host key against that file)",
                hint=f"e.g. ssh-keyscan -p {where.ssh_host[1]} {where.ssh_host[0]} > known_hosts, then check its fingerprint",
            )
        key = _read(server, "--ssh-key", ssh_key)
        _check_private_key(server, ssh_key, key)
        hosts = _read(server, "--known-hosts", known_hosts)
        _check_known_hosts(server, known_hosts, hosts, *where.ssh_host)
    env: dict[str, str] = {}
    if env_file is not None:
        env.update(_read_env_file(server, env_file))
    environ = os.environ if environ is None else environ
    for k in env_keys:
        if "=" in k:
            raise UsageError(
                f"server {server}: --env takes a variable's name, not KEY=value (it would be in the shell's history)",
                hint=f"export {k.split('=', 1)[0]}=… then pass --env {k.split('=', 1)[0]}, or use --env-file FILE",
            )
        if k not in environ:
            raise UsageError(
                f"server {server}: --env {k}: {k} is not set in this environment", hint=f"export {k}=… first"
            )
        env[k] = environ[k]
    for k, v in env.items():
        if not _ENV_KEY.match(k):
            raise UsageError(f"server {server}: {k!r} is not a variable name")
        if k in RESERVED_ENV:
            raise UsageError(f"server {server}: {k} is set by coop itself in the backup job", hint="leave it out")
        if "\0" in v:
            raise UsageError(f"server {server}: the value of {k} holds a NUL byte")
    return Credentials(ssh_key=key, known_hosts=hosts, env=env)


def _check_private_key(server: str, path: Path, data: bytes) -> None:
    text = data.decode("ascii", "replace")
    if "PRIVATE KEY-----" not in text:
        raise UsageError(
            f"server {server}: --ssh-key {path} is not a private key",
            hint="give the private half (not the .pub) of a key the sftp server accepts",
        )
    if "ENCRYPTED" in text or _openssh_cipher(text) not in (None, "none"):
        raise UsageError(
            f"server {server}: --ssh-key {path} is protected by a passphrase, which nobody can type in the backup job",
            hint="make a dedicated key without one: ssh-keygen -t ed25519 -N '' -f backup-key",
        )


def _openssh_cipher(text: str) -> str | None:
    """The cipher of an OpenSSH-format private key ("none" when it has no passphrase); None for other formats."""
    match = re.search(r"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END", text, re.S)
    if not match:
        return None
    try:
        raw = base64.b64decode("".join(match.group(1).split()))
    except ValueError:
        return None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic) or len(raw) < len(magic) + 4:
        return None
    size = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
    return raw[len(magic) + 4 : len(magic) + 4 + size].decode("ascii", "replace")


def _check_known_hosts(server: str, path: Path, data: bytes, host: str, port: int) -> None:
    """The file must hold a host key for the sftp server, as ssh looks it up: `host`, or `[host]:port`."""
    lines = [
        line.split()
        for line in data.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    entries = [f[1:] if f[0].startswith("@") else f for f in lines]
    if not entries or any(len(e) < 3 for e in entries):
        raise UsageError(
            f"server {server}: --known-hosts {path} is not a known_hosts file (lines of: host key-type key)",
            hint=f"e.g. ssh-keyscan -p {port} {host} > known_hosts, then check its fingerprint",
        )
    wanted = host if port == 22 else f"[{host}]:{port}"
    if not any(_host_matches(e[0], wanted) for e in entries):
        raise UsageError(
            f"server {server}: --known-hosts {path} has no host key for {wanted}",
            hint=f"add it: ssh-keyscan -p {port} {host} >> {path}, then check its fingerprint",
        )


def _host_matches(patterns: str, wanted: str) -> bool:
    """ssh's known_hosts host field: hashed (|1|salt|hash) or comma-separated patterns with * ? and !negation."""
    if patterns.startswith("|1|"):
        try:
            _, _, salt, digest = patterns.split("|", 3)
            mac = hmac.new(base64.b64decode(salt), wanted.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except ValueError:
            return False
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lstrip("!"))
        if re.fullmatch(regex, wanted, re.I):
            if negated:
                return False
            matched = True
    return matched


def _read_env_file(server: str, path: Path) -> dict[str, str]:
    data = _read(server, "--env-file", path)
    try:
        parsed = envfile.EnvFile.parse(data.decode("utf-8"), name=str(path))
        return parsed.values()
    except UnicodeDecodeError:
        raise UsageError(f"server {server}: --env-file {path} is not UTF-8 text") from None
    except InvalidError as exc:
        # The parser quotes the offending text, which may be a secret: keep only where it is.
        where = re.match(rf"{re.escape(str(path))}:(\d+)", str(exc))
        line = f" line {where.group(1)}" if where else ""
        raise UsageError(
            f"server {server}: --env-file {path}:{line} is not KEY=value",
            hint="one KEY=value per line; # starts a comment",
        ) from None


# -- on the server --------------------------------------------------------------------------------


def _find_secret(client: Engine, name: str) -> views.Secret | None:
    for secret in views.secrets(client, {"name": [name]}):
        if secret.name == name:  # the engine's name filter matches prefixes
            return secret
    return None


def _setting_of(secret: views.Secret) -> str | None:
    return secret.labels.get(SETTING_LABEL) or (DEFAULT_SETTING if secret.name == LEGACY_SECRET else None)


def _setting_secrets(client: Engine, setting: str) -> list[views.Secret]:
    return [
        s
        for s in views.secrets(client, {"label": [ROLE_LABEL]})
        if s.labels.get(ROLE_LABEL) in ROLES and _setting_of(s) == setting
    ]


def setting_names(client: Engine) -> list[str]:
    """The server's repository settings: `default` first, then the named ones."""
    named = {
        _setting_of(s)
        for s in views.secrets(client, {"label": [ROLE_LABEL]})
        if s.labels.get(ROLE_LABEL) == "repository"
    }
    return [DEFAULT_SETTING, *sorted(n for n in named if n and n != DEFAULT_SETTING)]


def repository(client: Engine, setting: str = DEFAULT_SETTING) -> Repository:
    """The server's repository setting (for `default`: the default volume when none was set)."""
    found = _setting_secrets(client, setting)
    mains = [s for s in found if s.labels.get(ROLE_LABEL) == "repository"]
    if not mains:
        if setting != DEFAULT_SETTING:
            raise NotFound(
                f"server {client.name} has no backup repository setting {setting!r}",
                hint=f"run: coop server backup-repo {client.name} URL --name {setting}",
            )
        return Repository("volume", f"volume:{DEFAULT_VOLUME}", volume=DEFAULT_VOLUME)
    main = max(mains, key=lambda s: int(s.labels.get(GENERATION_LABEL, "0") or 0))
    labels = main.labels
    if labels.get(KIND_LABEL) == "volume":
        volume = labels.get(VOLUME_LABEL) or DEFAULT_VOLUME
        return Repository("volume", f"volume:{volume}", volume=volume, setting=setting)
    by_name = {s.name: s for s in found}
    parts = [SecretFile(main.id, main.name, REPOSITORY_FILE)]
    for part, file_name in PARTS.items():
        name = labels.get(PART_LABEL % part)
        if not name:
            continue
        companion = by_name.get(name)
        if companion is None:
            raise NotFound(
                f"server {client.name}: the backup repository setting {setting!r} lacks its secret {name}",
                hint=f"set it again: coop server backup-repo {client.name} URL …",
            )
        parts.append(SecretFile(companion.id, companion.name, file_name))
    keys = tuple(k for k in labels.get(ENV_KEYS_LABEL, "").split(",") if k)
    return Repository(
        "url", labels.get(SHOWN_LABEL, "(a restic URL)"), secrets=tuple(parts), setting=setting, env_keys=keys
    )


def for_command(settings: Settings, client: Engine) -> Repository:
    """The repository this command uses: `$COOP_BACKUP_REPOSITORY` if set, else the server's default setting.

    `volume:NAME` (a volume on the node of the data) or `repo:NAME` (a named setting made with
    `coop server backup-repo SERVER URL --name NAME`) sends one operator's commands elsewhere
    without changing the server's setting for everyone (a second copy, a test). A URL is never
    taken from the environment: its credentials belong in secrets on the server.
    """
    override = settings.environ.get("COOP_BACKUP_REPOSITORY", "").strip()
    if not override:
        return repository(client)
    if override.startswith("repo:"):
        name = override[len("repo:") :]
        if not _SETTING_NAME.match(name):
            raise UsageError(f"COOP_BACKUP_REPOSITORY={override}: {name!r} is not a setting name")
        return repository(client, name)
    where = parse_location(client.name, override)
    if where.kind != "volume":
        raise UsageError(
            f"COOP_BACKUP_REPOSITORY={where.shown}: only volume:NAME or repo:NAME is read from the environment",
            hint=f"set a URL on the server: coop server backup-repo {client.name} URL [--name NAME]",
        )
    return Repository("volume", where.shown, volume=where.volume)


def check_setting_name(server: str, setting: str) -> None:
    if not _SETTING_NAME.match(setting):
        raise UsageError(
            f"server {server}: {setting!r} is not a setting name", hint="lower-case letters, digits and -, at most 24"
        )


@dataclass(frozen=True)
class SetResult:
    repository: Repository
    kept: tuple[str, ...]  # secrets of the old setting a running job still mounts (removed by the next change)


def set_repository(
    client: Engine, server: str, where: Location, creds: Credentials | None = None, *, setting: str = DEFAULT_SETTING
) -> SetResult:
    """Point the setting at `where` (checked by `parse_location`/`load_credentials`). Snapshots already
    taken stay where they are. The new secrets are made before the old ones are removed."""
    check_setting_name(server, setting)
    creds = creds or Credentials()
    old = _setting_secrets(client, setting)
    gen = pysecrets.token_hex(4)
    base = {ROLE_LABEL: "repository", SETTING_LABEL: setting, GENERATION_LABEL: str(time.time_ns())}
    made: list[str] = []

    def create(part: str, data: bytes, labels: Mapping[str, str]) -> str:
        name = f"coop-backup-{setting}-{gen}-{part}"
        client.secret_create(name, data, labels=dict(labels))
        made.append(name)
        return name

    try:
        labels = {**base, KIND_LABEL: where.kind, SHOWN_LABEL: where.shown}
        if where.volume:
            labels[VOLUME_LABEL] = where.volume
        companions = {
            "ssh-key": creds.ssh_key,
            "known-hosts": creds.known_hosts,
            "env": creds.env_file() if creds.env else None,
        }
        for part, data in companions.items():
            if data is not None:
                labels[PART_LABEL % part] = create(part, data, {**base, ROLE_LABEL: f"repository-{part}"})
        if creds.env:
            labels[ENV_KEYS_LABEL] = ",".join(sorted(creds.env))
        # Made last: until it exists the old generation stays the setting. For a URL it holds the URL
        # (credentials included); for a volume, where the volume is mounted.
        create("repository", (REPOSITORY_MOUNT if where.volume else where.url).encode(), labels)
    except BaseException:
        for name in made:  # a half-made generation is never the setting; remove it if we still can
            try:
                _remove(client, name)
            except CoopError:
                pass
        raise
    kept = tuple(s.name for s in old if not _remove(client, s.id))
    return SetResult(repository(client, setting), kept)


def remove_setting(client: Engine, server: str, setting: str = DEFAULT_SETTING) -> SettingRemoved:
    """Forget a setting, all or nothing: when a running job mounts any of its secrets (of any generation),
    nothing is removed (`Conflict`, exit 10); else every secret goes, the repository's first, so the
    setting is gone even if a job's container ending just now still holds one (returned: the next change
    removes it). `default` then means the default volume again. Snapshots stay in the repository."""
    check_setting_name(server, setting)
    found = _setting_secrets(client, setting)
    if not found and setting != DEFAULT_SETTING:
        raise NotFound(
            f"server {server} has no backup repository setting {setting!r}",
            hint=f"see: coop server backup-repo {server} --name {setting}",
        )
    mounted = mounted_secrets(client, {s.id for s in found})
    if mounted:
        raise Conflict(
            f"server {server}: backup setting {setting} is mounted by a running backup job "
            f"({len(mounted)} secret(s)); nothing was removed",
            hint="run the command again once the job has ended",
        )
    found.sort(key=lambda s: s.labels.get(ROLE_LABEL) != "repository")
    return SettingRemoved(server, setting, tuple(s.name for s in found if not _remove(client, s.id)))


def mounted_secrets(client: Engine, ids: set[str]) -> set[str]:
    """Which of these secrets a service of the swarm (a running backup job) mounts."""
    used: set[str] = set()
    for service in views.services(client):
        refs = (get_str(r, "SecretID") for r in service_spec.refs(service.spec, "Secrets"))
        used.update(r for r in refs if r in ids)
    return used


def _remove(client: Engine, secret: str) -> bool:
    """Remove a secret; False when a running job still mounts it (it stays until the next change)."""
    try:
        client.secret_remove(secret)
    except EngineNotFound:
        pass
    except EngineError:
        return False
    return True


KNOWN_PREFIX = "coop-backup-known-"  # + a hash of a URL repository coop has opened or created


def _known_name(repo: Repository) -> str:
    return KNOWN_PREFIX + hashlib.sha256(repo.shown.encode()).hexdigest()[:16]


def is_known(client: Engine, repo: Repository) -> bool:
    """Whether coop has opened or created this URL repository before (then a missing config is damage, and
    `restic init` never runs there). A volume is looked at directly by the job: never "known"."""
    return repo.kind == "url" and _find_secret(client, _known_name(repo)) is not None


def mark_known(client: Engine, repo: Repository) -> None:
    """Remember, on the server, that this URL repository exists (a small secret holding only its shown URL)."""
    if repo.kind != "url":
        return
    try:
        client.secret_create(
            _known_name(repo), repo.shown.encode(), labels={ROLE_LABEL: "known", SHOWN_LABEL: repo.shown}
        )
    except EngineConflict:
        pass  # known already


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
            secret_id = views.created_id(created)
        except EngineConflict:  # another operator made it a moment ago: theirs it is
            generated = None
            found = _find_secret(client, PASSWORD_SECRET)
            assert found is not None
            secret_id = found.id
    else:
        secret_id = found.id
    return SecretFile(secret_id, PASSWORD_SECRET, "restic-password"), generated
