"""The audit trail, kept on the server: who changed which app, when, from which version to which, and how it ended.

Each event is one small Docker config, ``coop-audit_<stack>_<time>_<random>``,
labelled ``coop.audit=<stack>``, holding the event as JSON. Creating a config
is atomic and needs no read-modify-write, so two operators recording at once
never lose an event. After each record the app's oldest events beyond `KEEP`
are removed, so the trail never grows without bound. It lives on the server,
so it survives the operator's machine; `coop app remove` keeps it.

Recording is one call::

    audit.record(client, stack, Event(...))

A change to an app is recorded twice over one config: "started" (written by
`TrackedChange.begin()`, before the first change is sent), then completed (ok, failed,
rolled back, refused, interrupted) when the block ends; the completion is a label
update (`coop.audit.end`), the only update Docker allows on a config. An event still
"started" whose command no longer holds the lock reads as "did not finish" (the
command was killed). A command refused before it changed anything is one completed event.

`tracked()` is that bracket (lock, start, complete, release); commands reach it through
`coopcloud.ops.app.context.AppContext.mutating()`. Every operation that changes a server
is decorated `@mutation` (`mutation.py`): it refuses to run outside a `tracked()` block, and its first call
takes the lock (if not yet held), re-checks the plan and writes "started".

Never put a secret value in an event: plan lines come from the plan, which
already hides them.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef
from coopcloud.engine.views import Config, configs
from coopcloud.errors import (
    Cancelled,
    Conflict,
    CoopError,
    EngineError,
    EngineNotFound,
    InvalidError,
    LockHeld,
    NotFound,
    RolledBack,
    UsageError,
    describe_interrupt,
)
from coopcloud.ops.trail.mutation import ACTIVE, TrackedChange
from coopcloud.rawdata import JSONDict, RawDataError, RawMap, get_float, get_list, get_opt_int, get_opt_str, get_str
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.ops.trail.lock import HeldLock, LockInfo

AUDIT_LABEL = "coop.audit"  # = the stack; not com.docker.stack.namespace: undeploy would remove it
KEEP = 100  # events kept per app; older ones are removed when a new one is recorded
NAME_LIMIT = 64

OK = "ok"
FAILED = "failed"
ROLLED_BACK = "rolled back"
REFUSED = "refused"
INTERRUPTED = "interrupted"
RESULTS = (OK, FAILED, ROLLED_BACK, REFUSED, INTERRUPTED)
STARTED = "started"  # written before acting; replaced by one of RESULTS when the command ends
RUNNING = "running"  # read back: started, and its command still holds the app's lock
DID_NOT_FINISH = "did not finish"  # read back: started, and its command is gone (killed, lost machine)
END_LABEL = f"{AUDIT_LABEL}.end"  # the completed event, as JSON (a config's data cannot change)


@dataclass(frozen=True)
class Event:
    """One change (or refused or interrupted attempt) to one app."""

    who: str
    command: str  # deploy, upgrade, rollback, undeploy, remove, restart, secret rotate, unlock, ...
    app: str
    server: str
    result: str  # one of RESULTS
    version_from: str | None = None
    version_to: str | None = None
    plan: tuple[str, ...] = ()  # summary lines, never a secret value
    duration: float = 0.0  # seconds
    detail: str | None = None  # why it failed or was refused; what unlock broke
    host: str | None = None
    pid: int | None = None  # of the command, so a started event can be matched to the lock it holds
    # A failed backup's restic run tag (run=…): a snapshot carrying it is from a failed run.
    failed_run: str | None = None
    # `backup create`'s run tag, written with its start: unless the event ends ok (killed: "did not finish"),
    # a snapshot carrying it is from a failed run too (`failed_runs`).
    run: str | None = None
    # start, UTC, ISO 8601 (``2026-11-29T22:41:07Z``); now when not given
    when: str = field(default_factory=lambda: utc_now(), kw_only=True)

    def to_json(self) -> JSONDict:
        doc: JSONDict = {"when": self.when, **asdict(self)}  # `when` first, as before it took a default
        doc["plan"] = list(self.plan)
        return doc

    @classmethod
    def from_json(cls, doc: RawMap) -> Event:
        """The event `to_json` wrote; keys it does not know are ignored. RawDataError (a ValueError) when
        `doc` is not an event."""
        missing = [k for k in ("when", "who", "command", "app", "server", "result") if k not in doc]
        if missing:
            raise RawDataError(f"not an event: no {', '.join(missing)}")
        return cls(
            when=get_str(doc, "when"),
            who=get_str(doc, "who"),
            command=get_str(doc, "command"),
            app=get_str(doc, "app"),
            server=get_str(doc, "server"),
            result=get_str(doc, "result"),
            version_from=get_opt_str(doc, "version_from"),
            version_to=get_opt_str(doc, "version_to"),
            plan=tuple(str(line) for line in get_list(doc, "plan")),
            duration=get_float(doc, "duration"),
            detail=get_opt_str(doc, "detail"),
            host=get_opt_str(doc, "host"),
            pid=get_opt_int(doc, "pid"),
            failed_run=get_opt_str(doc, "failed_run"),
            run=get_opt_str(doc, "run"),
        )

    @property
    def failed_runs(self) -> set[str]:
        """The run tags whose snapshots are from a failed run, by this event: the one it noted as failed, and
        the run of a `backup create` that did not end ok (still running: not yet known)."""
        runs = {self.failed_run} if self.failed_run else set()
        if self.run and self.result not in (OK, RUNNING, STARTED):
            runs.add(self.run)
        return runs


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config_name(stack: str, when: str) -> str:
    stamp = "".join(c for c in when if c.isdigit())[:14]  # YYYYMMDDHHMMSS
    suffix = f"_{stamp}_{_random.token_hex(3)}"
    return f"coop-audit_{stack[: NAME_LIMIT - len('coop-audit_') - len(suffix)]}{suffix}".replace("__", "_")


def record(client: Engine, stack: str, event: Event, *, keep: int = KEEP) -> str:
    """Append `event` to the app's trail on the server, then drop the oldest beyond `keep`; returns the
    config's name (for `finish()`)."""
    body = json.dumps(event.to_json(), sort_keys=True).encode()
    labels = {
        AUDIT_LABEL: stack,
        f"{AUDIT_LABEL}.when": event.when,
        f"{AUDIT_LABEL}.result": event.result,
        f"{AUDIT_LABEL}.command": event.command,  # lets a reader ask for one kind (the dashboard: backups)
    }
    name = _config_name(stack, event.when)
    client.config_create(name, body, labels=labels)
    found = sorted(configs(client, {"label": [f"{AUDIT_LABEL}={stack}"]}), key=_order)
    for old in found[: max(0, len(found) - keep)]:
        try:
            client.config_remove(old.id)
        except EngineNotFound:
            pass  # another operator pruned it first
    return name


def finish(client: Engine, name: str, event: Event) -> None:
    """Complete a started event in place: its result and the whole event go into labels."""
    import base64

    found = Config.from_json(client.config(name))
    labels = dict(found.labels)
    labels[f"{AUDIT_LABEL}.result"] = event.result
    labels[END_LABEL] = json.dumps(event.to_json(), sort_keys=True)
    spec = {"Name": found.name, "Labels": labels, "Data": base64.b64encode(found.data).decode()}
    client.config_update(found.id, found.version, spec)


def _order(config: Config) -> tuple[str, str]:
    return config.labels.get(f"{AUDIT_LABEL}.when", ""), config.created_at.isoformat() if config.created_at else ""


def history(client: Engine, stack: str | None = None) -> list[Event]:
    """Events on the server, oldest first: one app's (`stack`), or every app's. One request (two when
    a started event is found: the locks say whether its command still runs)."""
    from coopcloud.ops.trail.lock import LOCK_LABEL, LockInfo

    label = f"{AUDIT_LABEL}={stack}" if stack else AUDIT_LABEL
    events = events_of(configs(client, {"label": [label]}))
    if any(e.result == STARTED for e in events):
        events = resolve_started(events, [LockInfo.from_config(c) for c in configs(client, {"label": [LOCK_LABEL]})])
    return events


def events_of(found: Iterable[Config]) -> list[Event]:
    """The events held by audit configs (as listed with the ``coop.audit`` label), oldest first; a
    started event stays "started" (`resolve_started` tells running from did not finish)."""
    events = []
    for config in sorted(found, key=_order):
        try:
            events.append(Event.from_json(json.loads(config.labels.get(END_LABEL) or config.data)))
        except (ValueError, TypeError):
            continue  # not one of ours after all; the rest of the trail still reads
    return events


def resolve_started(events: list[Event], locks: Iterable[LockInfo]) -> list[Event]:
    """A started event reads as "running" while its command holds the app's lock (and, run from this
    machine, its process lives), else "did not finish"."""
    holders = {(info.app, info.holder, info.host, info.pid) for info in locks}
    return [_unfinished(e, holders) if e.result == STARTED else e for e in events]


def _may_run(event: Event) -> bool:
    """False when the event's command ran on this machine and its process is gone (its lock outlives it)."""
    from coopcloud.ops.trail.operator import hostname

    if event.host != hostname() or not event.pid:
        return True
    try:
        os.kill(event.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unfinished(event: Event, holders: set[tuple[str, str, str, int | None]]) -> Event:
    from dataclasses import replace

    if (event.app, event.who, event.host, event.pid) in holders and _may_run(event):
        return replace(event, result=RUNNING)
    return replace(
        event, result=DID_NOT_FINISH, detail=event.detail or "the command stopped before it recorded how it ended"
    )


# -- one bracket around a change: lock, started, completed, released -----------------------------

_REFUSALS = (LockHeld, Conflict, InvalidError, NotFound, UsageError, Cancelled)

LOCK_NOW = "now"  # take the lock when the block starts (most commands)
LOCK_AT_BEGIN = "at begin"  # refuse at once if held, take it at begin(): after a plan was shown and approved
NO_LOCK = "none"  # never (unlock: it breaks the lock)
LOCK_MODES = (LOCK_NOW, LOCK_AT_BEGIN, NO_LOCK)


def result_of(exc: BaseException | None) -> str:
    if exc is None:
        return OK
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, RolledBack):
        return ROLLED_BACK
    if isinstance(exc, _REFUSALS):
        return REFUSED
    return FAILED


@contextmanager
def tracked(
    settings: Settings,
    client: Engine,
    ref: AppRef,
    command: str,
    *,
    lock: str = LOCK_NOW,
    warn: Callable[[str], None] | None = None,
) -> Iterator[TrackedChange]:
    """The bracket around one change to an app: lock, "started", completed, released — on every exit path.

    `lock`: LOCK_NOW takes the app's lock as the block starts; LOCK_AT_BEGIN refuses at once
    (read-only) if someone else holds it, and takes it at `change.begin()` (after a plan was shown
    and approved); NO_LOCK never takes it. A lock held by someone else is recorded as refused and
    re-raised (exit 9). A block that never began a change and ends without an error is recorded
    only while `change.record` stays True. Recording never hides the command's own error: a failure
    to record is a warning.
    """
    from coopcloud.ops.trail import lock as locks
    from coopcloud.ops.trail.operator import hostname, operator

    if lock not in LOCK_MODES:
        raise ValueError(lock)
    who = operator(settings)
    when = utc_now()
    started_at = time.monotonic()

    def take() -> HeldLock:
        held = locks.acquire(
            client,
            app=ref.name,
            stack=ref.stack_name,
            command=command,
            operator=who,
            lease=locks.lease_seconds(settings),
        )
        if held.took_over is not None and warn:
            warn(f"app {ref.name}: took over an expired lock of {held.took_over.describe()}")
        return held

    def event(change: TrackedChange, result: str, detail: str | None) -> Event:
        return Event(
            when=when,
            who=who,
            command=command,
            app=ref.name,
            server=ref.server,
            result=result,
            version_from=change.version_from,
            version_to=change.version_to,
            plan=tuple(change.plan),
            duration=round(time.monotonic() - started_at, 2),
            detail=detail,
            host=hostname(),
            pid=os.getpid(),
            failed_run=change.failed_run,
            run=change.run,
        )

    change = TrackedChange(_take=None if lock == NO_LOCK else take)
    change._start = lambda c: record(client, ref.stack_name, event(c, STARTED, c.detail))
    token = ACTIVE.set(change)
    outcome: BaseException | None = None
    try:
        if lock == LOCK_NOW:
            change.take_lock()
        elif lock == LOCK_AT_BEGIN:
            locks.check_free(client, ref.name, ref.stack_name)
        yield change
    except BaseException as exc:
        outcome = exc
        raise
    finally:
        ACTIVE.reset(token)
        if change.lock is not None:
            change.lock.release()
            for line in change.lock.warnings:
                if warn:
                    warn(line)
        if isinstance(outcome, Cancelled) and change.started is None:
            pass  # answered no before anything began: nothing happened, nothing to record
        elif change.record or change.started is not None:
            done = event(change, change.result or result_of(outcome), _detail(change, outcome))
            try:
                if change.started is not None:
                    finish(client, change.started, done)
                else:
                    record(client, ref.stack_name, done)
            except (EngineError, OSError) as exc:
                if warn:
                    warn(f"app {ref.name}: the audit trail could not be written ({exc})")


def _detail(change: TrackedChange, outcome: BaseException | None) -> str | None:
    if change.detail is not None or outcome is None:
        return change.detail
    return describe_interrupt(outcome) if isinstance(outcome, KeyboardInterrupt) else _one_line(outcome)


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CoopError) else f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__
