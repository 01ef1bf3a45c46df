"""`coop autoupdate`: upgrade the apps that opted in to their newest release, safely, unattended.

An app opts in with ``ENABLE_AUTO_UPDATE=true`` in its env, which a deploy writes to its main
service as the label ``coop-cloud.<stack>.autoupdate=true`` (as abra does; kadabra reads the same).
For each deployed app on the chosen servers, from ONE request per server (services with their task
counts, the tasks of their current specs, networks, the server's clock and the locks, pipelined —
what `app ls --status` asks, plus the locks):

1. **survey** — an app is left alone, with the reason, when auto-update is off, its env file is
   missing, it runs a ``--chaos`` deployment, it is not converged now (or crash-looping), someone
   holds its lock, or it drifted from its pinned version (the env pins another release than the
   one that runs, or the live services differ from what that release and env render to: `app diff`);
2. **choose** — the newest release of its recipe above the deployed one, within the same major
   version unless ``major`` (`coopcloud.ops.releases`: the clone's tags, fetched first, else the
   catalogue), looked up once per recipe;
3. **upgrade** — through the one change pipeline, as `coop app upgrade` does: lock (a lock another
   run holds is a skip, never a wait), pre-upgrade snapshot (an app whose snapshot fails is not
   upgraded), apply, convergence, whole-app rollback on failure, env pinned, history recorded with
   the command ``autoupdate``.

Servers are surveyed and upgraded in parallel; the apps of one server one at a time. A dry run
stops after step 2: no lock, no change (a recipe clone still fetches its new tags).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef
from coopcloud.domain.version import Version
from coopcloud.errors import CoopError, UsageError
from coopcloud.fanout import fan_out
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import coop_label

if TYPE_CHECKING:
    from coopcloud.ops.app.status import ServerView
    from coopcloud.ops.releases import ReleaseLookup
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.ops.trail.lock import LockInfo

COMMAND = "autoupdate"  # the history's command

# results
UPGRADED = "upgraded"
WOULD_UPGRADE = "would upgrade"  # a dry run's
ROLLED_BACK = "rolled back"
FAILED = "failed"
SKIPPED = "skipped"
UP_TO_DATE = "up to date"
MAJOR_AVAILABLE = "major available"
NOTIFY_ON = (UPGRADED, ROLLED_BACK, FAILED)


@dataclass
class Outcome:
    """One row of the report: what happened to one app (or to a server that did not answer)."""

    app: str
    server: str
    result: str
    recipe: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    reason: str | None = None  # why it was skipped or failed
    major: str | None = None  # a newer major release, left alone without --major
    rollback_failed: bool = False  # a failed upgrade whose rollback failed too (exit 7)

    @property
    def shown(self) -> str:
        """The result column: ``skipped: locked by …``, ``major available: 2.0.0+2``."""
        extra = self.reason or (self.major if self.result == MAJOR_AVAILABLE else None)
        return f"{self.result}: {extra}" if extra else self.result

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "server": self.server,
            "recipe": self.recipe,
            "version_from": self.from_version,
            "version_to": self.to_version,
            "result": self.result,
            "reason": self.reason,
            "major_available": self.major,
        }


@dataclass(frozen=True)
class Options:
    servers: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    major: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Candidate:
    """An opted-in app with a newer release to take."""

    ref: AppRef
    recipe: str
    deployed: str  # its version label as the survey read it
    target: Version
    major: str | None  # a newer major release it does not take

    def outcome(self, result: str, reason: str | None = None, *, rollback_failed: bool = False) -> Outcome:
        if reason:  # the row names the app already
            reason = reason.removeprefix(f"app {self.ref.name}: ")
        return Outcome(
            self.ref.name,
            self.ref.server,
            result,
            self.recipe,
            self.deployed,
            self.target.tag,
            reason,
            self.major,
            rollback_failed,
        )


def exit_status(outcomes: Sequence[Outcome]) -> int:
    """0 when nothing failed; 7 when a rollback failed too; 8 when an upgrade was rolled back; else 1."""
    from coopcloud.errors import ExitStatus

    if any(o.rollback_failed for o in outcomes):
        return ExitStatus.DEPLOY_FAILED
    if any(o.result == ROLLED_BACK for o in outcomes):
        return ExitStatus.ROLLED_BACK
    if any(o.result == FAILED for o in outcomes):
        return ExitStatus.ERROR
    return ExitStatus.OK


# -- which servers, which apps --------------------------------------------------------------------


def targets(settings: Settings, options: Options) -> dict[str, set[str] | None]:
    """server -> the app names asked for there (None: every app). Unknown servers and apps are refused first."""
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.server.servers import list_servers, resolve

    named = [resolve(settings, s).name for s in options.servers]
    if not options.apps:
        every: dict[str, set[str] | None] = dict.fromkeys(named or [srv.name for srv in list_servers(settings)])
        return every
    chosen: dict[str, set[str] | None] = {}
    for app in options.apps:
        ref = find_app(settings, app)
        if named and ref.server not in named:
            raise UsageError(
                f"app {app} is on server {ref.server}, not on {', '.join(named)}",
                hint="drop --server, or name an app of that server",
            )
        apps = chosen.setdefault(ref.server, set())
        assert apps is not None
        apps.add(ref.name)
    return chosen


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Surveyed:
    """Every chosen server surveyed: per server, in order, decided rows and candidates to upgrade."""

    options: Options
    found: dict[str, list[Outcome | Candidate]]

    @property
    def candidates(self) -> list[Candidate]:
        return [item for items in self.found.values() for item in items if isinstance(item, Candidate)]


def survey_all(
    settings: Settings, pool: ServerPool, options: Options, *, warn: Callable[[str], None] | None = None
) -> Surveyed:
    """Steps 1–2 for every chosen server, in parallel: read-only, no lock. `warn` hears a recipe's
    warnings once (tags that could not be fetched). A server that does not answer is a failed row."""
    from coopcloud.ops.releases import ReleaseLookup

    chosen = targets(settings, options)
    lookup = ReleaseLookup(settings, warn=warn)

    def one(server: str) -> list[Outcome | Candidate]:
        try:
            return survey(settings, pool, server, chosen[server], lookup, major=options.major)
        except CoopError as exc:  # the others still go on
            return [Outcome("-", server, FAILED, reason=f"server {server}: {exc}")]

    servers = sorted(chosen)
    return Surveyed(options, dict(zip(servers, fan_out(one, servers), strict=True)))


def finish(
    settings: Settings,
    pool: ServerPool,
    surveyed: Surveyed,
    *,
    notify: Callable[[str], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Step 3: upgrade each server's candidates one at a time, servers in parallel (a dry run upgrades
    none). `notify` hears progress lines, `on_outcome` each row. Returns the rows, by server then app."""
    dry_run = surveyed.options.dry_run

    def one_server(server: str) -> list[Outcome]:
        rows: list[Outcome] = []
        for item in surveyed.found[server]:
            if isinstance(item, Outcome):
                row = item
            elif dry_run:
                row = item.outcome(WOULD_UPGRADE)
            elif stop.is_set():
                row = item.outcome(SKIPPED, "interrupted before its turn")
            else:
                row = upgrade_app(settings, pool, item, notify=notify)
            rows.append(row)
            if on_outcome:
                on_outcome(row)
        return rows

    def interrupted() -> None:
        """Ctrl-C stops every server before its next upgrade; the upgrades under way finish first
        (each holds its app's lock and ends converged or rolled back)."""
        stop.set()
        if notify:
            notify("interrupted: the upgrades under way finish first (each converged or rolled back); no other starts")

    servers = sorted(surveyed.found)
    stop = threading.Event()
    if dry_run:  # in this thread: nothing to wait for
        per_server = [one_server(s) for s in servers]
    else:  # servers in parallel; one server runs in this thread, where Ctrl-C reaches the upgrade itself
        per_server = fan_out(one_server, servers, on_interrupt=interrupted)
    return sorted((row for rows in per_server for row in rows), key=lambda o: (o.server, o.app))


def survey(
    settings: Settings,
    pool: ServerPool,
    server: str,
    apps: set[str] | None,
    lookup: ReleaseLookup,
    *,
    major: bool = False,
) -> list[Outcome | Candidate]:
    """Each deployed app of `server` (those in `apps`, or all): a decided row, or a candidate to upgrade. Read-only.

    One request to the server; the drift check renders locally; releases are looked up once per recipe.
    """
    from coopcloud.ops.app.apps import all_apps

    view, locks, now = _read_server(pool, server)
    refs = {r.stack_name: r for r in all_apps(settings) if r.server == server}
    out: list[Outcome | Candidate] = []
    for stack in sorted(view.services):
        ref = refs.get(stack)
        if apps is not None and (ref is None or ref.name not in apps):
            continue
        lock = locks.get(stack)
        held = lock if lock is not None and not lock.expired(now) else None
        out.append(_assess(settings, server, stack, ref, view, held, lookup, major=major))
    for name in sorted(apps or ()):
        if not any(ref.name == name for ref in refs.values() if ref.stack_name in view.services):
            out.append(Outcome(name, server, SKIPPED, reason="not deployed"))
    return out


def _read_server(pool: ServerPool, server: str) -> tuple[ServerView, dict[str, LockInfo], datetime]:
    """The server's stacks, the apps' locks (stack -> lock) and its clock: one round trip."""
    from datetime import UTC

    from coopcloud.engine import views
    from coopcloud.engine.stream import encode_filters
    from coopcloud.ops.app.status import server_view
    from coopcloud.ops.trail.lock import LOCK_LABEL, LockInfo

    view = server_view(
        pool.client(server),
        with_networks=True,
        also=[("/configs", {"filters": encode_filters({"label": [LOCK_LABEL]})})],
    )
    [configs] = view.extra
    locks = {lock.stack: lock for lock in map(LockInfo.from_config, views.each(views.Config.from_json, configs))}
    return view, locks, view.now or datetime.now(UTC)


def _assess(
    settings: Settings,
    server: str,
    stack: str,
    ref: AppRef | None,
    view: ServerView,
    lock: LockInfo | None,
    lookup: ReleaseLookup,
    *,
    major: bool,
) -> Outcome | Candidate:
    """The skip rules, in order, then the choice of release. Pure but for the release look-up."""
    from coopcloud.domain.app import AppConfig
    from coopcloud.ops.deploy.drift import drifted_offline
    from coopcloud.ops.releases import available

    labels = view.labels(stack) or {}
    name = ref.name if ref else stack
    deployed = labels.get(coop_label(stack, "version")) or None
    recipe = labels.get(coop_label(stack, "recipe")) or None

    def skip(reason: str) -> Outcome:
        return Outcome(name, server, SKIPPED, recipe, deployed, reason=reason)

    if labels.get(coop_label(stack, "autoupdate")) != "true":
        return skip("auto-update is off")
    if ref is None:
        return skip(f"env file missing: no {server}/<app>.env in {settings.servers_dir} runs stack {stack}")
    if labels.get(coop_label(stack, "chaos")) == "true":
        return skip(f"chaos deployment ({labels.get(coop_label(stack, 'chaos-version')) or deployed})")
    stuck = view.crash_loops(stack) or view.not_converged(stack)
    if stuck:
        return skip(f"{view.status(stack)} ({', '.join(stuck)}; see: coop app ps {name})")
    if lock is not None:
        return skip(f"locked by {lock.describe()}")
    try:
        cfg = AppConfig.load(ref, settings.servers_dir)
        recipe = cfg.recipe
        if cfg.pinned_version and cfg.pinned_version != deployed:
            return skip(f"drifted: the env pins {cfg.pinned_version}, the server runs {deployed}")
        if drifted_offline(settings, cfg, view.services[stack], view.network_names):
            return skip(f"drifted from {deployed} (see: coop app diff {name})")
    except CoopError as exc:
        return skip(f"cannot be checked: {exc}")
    try:
        releases = lookup.get(recipe)
    except CoopError as exc:
        return skip(f"the releases of {recipe} cannot be read: {exc}")
    found = available(releases.versions, deployed, major=major)
    major_tag = found.major.tag if found.major else None
    if found.deployed is None:
        return skip(f"runs {deployed or 'no version label'}, which is not a release of {recipe}")
    if found.upgrade is None:
        result = MAJOR_AVAILABLE if major_tag else UP_TO_DATE
        reason = "; ".join(releases.warnings[:1]) if not releases.versions else None
        return Outcome(name, server, result, recipe, deployed, reason=reason, major=major_tag)
    return Candidate(ref, recipe, deployed or found.deployed.tag, found.upgrade, major_tag)


# -- one upgrade ----------------------------------------------------------------------------------


def upgrade_app(
    settings: Settings, pool: ServerPool, candidate: Candidate, *, notify: Callable[[str], None] | None = None
) -> Outcome:
    """Move one candidate to its target through the deploy pipeline; the outcome, never an exception
    (but Ctrl-C). A lock someone else holds by now is a skip."""
    from coopcloud.errors import Conflict, DeployFailed, LockHeld, RolledBack

    say = notify or (lambda _line: None)
    c = candidate
    say(f"app {c.ref.name} on {c.ref.server}: upgrading {c.deployed} -> {c.target.tag}")
    try:
        _upgrade(settings, pool, candidate, say)
    except LockHeld as exc:
        return candidate.outcome(SKIPPED, f"locked: {exc.message}")
    except RolledBack as exc:
        return candidate.outcome(ROLLED_BACK, exc.message)
    except DeployFailed as exc:
        return candidate.outcome(FAILED, exc.message, rollback_failed=True)
    except Conflict as exc:  # changed by someone else since the survey
        return candidate.outcome(SKIPPED, exc.message)
    except CoopError as exc:
        return candidate.outcome(FAILED, f"not upgraded: {exc.message}")
    return candidate.outcome(UPGRADED)


def _password_not_shown(say: Callable[[str], None], server: str) -> Callable[[str], None]:
    """A backup repository password generated by a pre-upgrade snapshot: an unattended run's output
    ends up in logs and mail, so it is not printed (coop reads it from the server's Docker secret)."""
    return lambda _value: say(
        f"server {server}: the first backup generated the repository's password; it is kept as the Docker "
        "secret coop-backup-password and not printed here (a log is no place for it)"
    )


def _upgrade(settings: Settings, pool: ServerPool, candidate: Candidate, say: Callable[[str], None]) -> None:
    """Through the one change pipeline, as `coop app upgrade` moves an app: `mutating(lock="at begin")`
    refuses at once while someone holds the app's lock (LockHeld: a skip), and `ops.deploy.execute`
    takes it, snapshots, applies, converges, rolls the whole app back on failure, pins and records."""
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.deploy import DeployOptions, execute, prepare

    c = candidate
    app = AppContext(settings, pool, c.ref, warn=lambda line: say(f"warning: {line}"))
    with app.mutating(COMMAND, lock="at begin"):
        prepared = prepare(settings, pool, c.ref.name, version=c.target.tag, expect_version=c.deployed)
        options = DeployOptions(snapshot="pre-upgrade", notify=say, on_password=_password_not_shown(say, c.ref.server))
        execute(prepared, app, options)
