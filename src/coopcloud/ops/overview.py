"""What `coop dashboard` shows — the overview, an app, a server — read with the ops the CLI commands use.

Nothing here asks the engine anything the CLI does not, nor reads it another way:

- apps and their status, deployed version, drift, upgrade and auto-update: `list_apps` + `deployed_status` +
  `fill_upgrades` (`app ls --status`);
- an app's services: `ps` (`app ps`); history: the audit trail (`app history`, `server history`);
- locks: the lock configs, read by `LockInfo` as `app lock` reads them; nodes as `server nodes` lists them;
- env values: the env file (`app env`), secret-looking values hidden as a plan hides them;
- the last backup: the newest successful `backup create` in the audit trail (snapshots themselves need a
  restic job on the server: `backup ls`, which the app page asks for on demand).

Per server the overview costs what `app ls --status` costs plus ONE round trip (info, nodes, locks and
the trail's backup events, pipelined), servers in parallel. Nothing here changes anything on a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from coopcloud.domain.app import stack_name
from coopcloud.errors import CoopError, NotFound
from coopcloud.fanout import fan_out
from coopcloud.ops.app.status import AppStatus, app_rows, deployed_status, fill_upgrades
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.engine.protocol import Engine
    from coopcloud.engine.views import Node
    from coopcloud.ops.app.ps import ServiceRow
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.ops.trail.audit import Event
    from coopcloud.ops.trail.lock import LockInfo

BACKUP_COMMAND = "backup create"  # as `app backup create` and `server backup` record it


@dataclass(frozen=True)
class ServerLine:
    """One server in the overview: reachable, and its nodes ready."""

    name: str
    reachable: bool
    nodes_ready: int = 0
    nodes_total: int = 0
    error: str | None = None


@dataclass(frozen=True)
class AppLine:
    """One app as `app ls --status` reports it, with its lock and last backup."""

    server: str
    name: str
    recipe: str
    pinned: str | None  # the version the env pins
    status: str  # deployed | not converged | undeployed | unknown (server unreachable), as `app ls --status`
    deployed: str | None = None  # the version the server runs
    chaos: bool | None = None
    drift: bool | None = None
    upgrade: str | None = None  # the newest release above the deployed one, "latest", or None (not known)
    autoupdate: bool | None = None
    lock: LockInfo | None = None
    lock_expired: bool = False
    last_backup: str | None = None  # when (UTC, ISO 8601)
    error: str | None = None


@dataclass(frozen=True)
class Overview:
    servers: tuple[ServerLine, ...]
    apps: tuple[AppLine, ...]


@dataclass(frozen=True)
class AppDetail:
    line: AppLine
    services: tuple[ServiceRow, ...]
    history: tuple[Event, ...]  # oldest first
    env: tuple[tuple[str, str], ...]  # shown values: secrets hidden
    errors: tuple[str, ...] = ()  # what could not be read, one line each


@dataclass(frozen=True)
class ServerDetail:
    line: ServerLine
    nodes: tuple[Node, ...]
    apps: tuple[AppLine, ...]
    history: tuple[Event, ...]  # oldest first


@dataclass(frozen=True)
class _Facts:
    """What the overview adds to `app ls --status` for one server, from one round trip."""

    nodes: tuple[Node, ...] = ()
    locks: dict[str, LockInfo] = field(default_factory=dict)  # stack -> lock
    events: tuple[Event, ...] = ()
    now: datetime | None = None
    error: str | None = None


def _facts(client: Engine, trail: list[str]) -> _Facts:
    """Info, nodes, locks and the audit events labelled `trail` (a label filter), in one round trip."""
    from coopcloud.engine.stream import encode_filters
    from coopcloud.engine.views import Config, Info, Node, each, one
    from coopcloud.ops.trail.audit import events_of, resolve_started
    from coopcloud.ops.trail.lock import LOCK_LABEL, LockInfo

    info, nodes, locks, events = client.get_many(
        [
            ("/info", {}),
            ("/nodes", {}),
            ("/configs", {"filters": encode_filters({"label": [LOCK_LABEL]})}),
            ("/configs", {"filters": encode_filters({"label": trail})}),
        ]
    )
    held = [LockInfo.from_config(c) for c in each(Config.from_json, locks)]
    return _Facts(
        nodes=tuple(sorted(each(Node.from_json, nodes), key=lambda n: (n.role != "manager", n.hostname, n.id))),
        locks={lock.stack: lock for lock in held},
        events=tuple(
            resolve_started(events_of(each(Config.from_json, events)), held)
        ),  # started: running or did not finish
        now=one(Info.from_json, info).now,
    )


def _trail(stack: str | None = None, *, backups: bool = False) -> list[str]:
    """The audit label filter: one app's events (`stack`), every app's, or only `backup create` events
    (`backups`: the overview's last backups without fetching the whole trail at every refresh; events
    recorded before coop labelled their command are not among them)."""
    from coopcloud.ops.trail.audit import AUDIT_LABEL

    if backups:
        return [AUDIT_LABEL, f"{AUDIT_LABEL}.command={BACKUP_COMMAND}"]
    return [f"{AUDIT_LABEL}={stack}"] if stack else [AUDIT_LABEL]


def _all_facts(pool: ServerPool, servers: list[str], trail: list[str]) -> dict[str, _Facts]:
    def ask(server: str) -> tuple[str, _Facts]:
        try:
            return server, _facts(pool.client(server), trail)
        except Exception as exc:  # one unreachable server is shown as such; the others still are
            return server, _Facts(error=str(exc))

    return dict(fan_out(ask, servers))


def _last_backups(events: tuple[Event, ...]) -> dict[str, str]:
    from coopcloud.ops.trail.audit import OK

    return {e.app: e.when for e in events if e.command == BACKUP_COMMAND and e.result == OK}


def _line(row: AppStatus, facts: _Facts | None, backups: dict[str, str]) -> AppLine:
    lock = facts.locks.get(stack_name(row.app)) if facts else None
    now = facts.now if facts else None
    return AppLine(
        server=row.server,
        name=row.app,
        recipe=row.recipe,
        pinned=row.version,
        status=row.status or "unknown",
        deployed=row.deployed,
        chaos=row.chaos,
        drift=row.drift,
        upgrade=row.upgrade,
        autoupdate=row.autoupdate,
        lock=lock,
        lock_expired=bool(lock and now and lock.expired(now)),
        last_backup=backups.get(row.app),
        error=row.error,
    )


def _server_line(name: str, facts: _Facts) -> ServerLine:
    if facts.error is not None:
        return ServerLine(name, reachable=False, error=facts.error)
    ready = sum(1 for n in facts.nodes if n.state == "ready")
    return ServerLine(name, reachable=True, nodes_ready=ready, nodes_total=len(facts.nodes))


def _gather(
    settings: Settings, pool: ServerPool, servers: list[str], rows: list[AppStatus], trail: list[str]
) -> tuple[list[AppLine], dict[str, _Facts]]:
    deployed_status(pool, rows, settings)
    fill_upgrades(settings, rows)
    facts = _all_facts(pool, sorted(set(servers) | {r.server for r in rows}), trail)
    lines = []
    for row in rows:
        found = facts.get(row.server)
        lines.append(_line(row, found, _last_backups(found.events) if found else {}))
    return lines, facts


def overview(settings: Settings, pool: ServerPool) -> Overview:
    """Every registered server and every app, as `app ls --status` sees them, with nodes, locks and last backups."""
    from coopcloud.ops.server.servers import list_servers

    servers = [s.name for s in list_servers(settings)]
    lines, facts = _gather(settings, pool, servers, app_rows(settings), _trail(backups=True))
    return Overview(tuple(_server_line(s, facts[s]) for s in sorted(facts)), tuple(lines))


def app_detail(settings: Settings, pool: ServerPool, name: str) -> AppDetail:
    """One app: its line of the overview, its services (`app ps`), its history and its env (secrets hidden)."""
    from coopcloud.ops.app.apps import find_app, load_app
    from coopcloud.ops.app.ps import NotDeployed, ps
    from coopcloud.ops.deploy.plan import shown_env

    ref = find_app(settings, name)
    rows = app_rows(settings, server=ref.server, app=name)
    lines, facts = _gather(settings, pool, [ref.server], rows, _trail(ref.stack_name))
    found = facts[ref.server]
    errors = []
    services: list[ServiceRow] = []
    if found.error is None:
        try:
            services = ps(pool.client(ref.server), ref)
        except NotDeployed:
            pass
        except CoopError as exc:
            errors.append(f"services: {exc}")
    else:
        errors.append(f"server {ref.server}: {found.error}")
    try:
        env = tuple(shown_env(load_app(settings, name).values()).items())
    except CoopError as exc:
        env = ()
        errors.append(f"env: {exc}")
    if not lines:  # its env file went away meanwhile
        raise NotFound(f"app {name} not found in {settings.servers_dir}", hint="see: coop app ls")
    history = tuple(e for e in found.events if e.app == name)
    return AppDetail(lines[0], tuple(services), history, env, tuple(errors))


def server_detail(settings: Settings, pool: ServerPool, name: str) -> ServerDetail:
    """One server: its nodes, its apps (as in the overview) and every app's history there."""
    from coopcloud.ops.server.servers import resolve

    server = resolve(settings, name)  # NotFound for a server that is not registered
    lines, facts = _gather(settings, pool, [server.name], app_rows(settings, server=server.name), _trail())
    found = facts[server.name]
    return ServerDetail(_server_line(server.name, found), found.nodes, tuple(lines), found.events)
