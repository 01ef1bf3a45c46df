"""The audit trail, kept on the server: who changed which app, when, from which version to which, and how it ended.

Each event is one small Docker config, ``coop-audit_<stack>_<time>_<random>``,
labelled ``coop.audit=<stack>``, holding the event as JSON. Creating a config
is atomic and needs no read-modify-write, so two operators recording at once
never lose an event. After each record the app's oldest events beyond `KEEP`
are removed, so the trail never grows without bound. It lives on the server,
so it survives the operator's machine; `coop app remove` keeps it.

Recording is one call::

    audit.record(client, stack, Event.now(...))

and a command that changes an app wraps its work in `tracked()`, which takes
the app's lock, times the work and records the outcome (ok, failed, rolled
back, refused, interrupted) whatever happens::

    with audit.tracked(settings, client, ref, "undeploy") as change:
        change.version_from = running_version
        ...

Never put a secret value in an event: plan lines come from the plan, which
already hides them.
"""

from __future__ import annotations

import json
import secrets as _random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.ops.trail.lock import HeldLock

AUDIT_LABEL = "coop.audit"  # = the stack; not com.docker.stack.namespace: undeploy would remove it
KEEP = 100  # events kept per app; older ones are removed when a new one is recorded
NAME_LIMIT = 64

OK = "ok"
FAILED = "failed"
ROLLED_BACK = "rolled back"
REFUSED = "refused"
INTERRUPTED = "interrupted"
RESULTS = (OK, FAILED, ROLLED_BACK, REFUSED, INTERRUPTED)


@dataclass(frozen=True)
class Event:
    """One change (or refused or interrupted attempt) to one app."""

    when: str  # start, UTC, ISO 8601 (``2026-11-29T22:41:07Z``)
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

    @classmethod
    def now(cls, **fields: Any) -> Event:
        fields.setdefault("when", utc_now())
        return cls(**fields)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["plan"] = list(self.plan)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> Event:
        known: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__ if k in doc}
        known["plan"] = tuple(known.get("plan") or ())
        known["duration"] = float(known.get("duration") or 0.0)
        return cls(**known)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config_name(stack: str, when: str) -> str:
    stamp = "".join(c for c in when if c.isdigit())[:14]  # YYYYMMDDHHMMSS
    suffix = f"_{stamp}_{_random.token_hex(3)}"
    return f"coop-audit_{stack[: NAME_LIMIT - len('coop-audit_') - len(suffix)]}{suffix}".replace("__", "_")


def record(client: Engine, stack: str, event: Event, *, keep: int = KEEP) -> None:
    """Append `event` to the app's trail on the server, then drop the oldest beyond `keep`."""
    body = json.dumps(event.to_json(), sort_keys=True).encode()
    labels = {
        AUDIT_LABEL: stack,
        f"{AUDIT_LABEL}.when": event.when,
        f"{AUDIT_LABEL}.result": event.result,
        f"{AUDIT_LABEL}.command": event.command,  # lets a reader ask for one kind (the dashboard: backups)
    }
    client.config_create(_config_name(stack, event.when), body, labels=labels)
    found = sorted(configs(client, {"label": [f"{AUDIT_LABEL}={stack}"]}), key=_order)
    for old in found[: max(0, len(found) - keep)]:
        try:
            client.config_remove(old.id)
        except EngineNotFound:
            pass  # another operator pruned it first


def _order(config: Config) -> tuple[str, str]:
    return config.labels.get(f"{AUDIT_LABEL}.when", ""), config.created_at.isoformat() if config.created_at else ""


def history(client: Engine, stack: str | None = None) -> list[Event]:
    """Events on the server, oldest first: one app's (`stack`), or every app's. One request."""
    label = f"{AUDIT_LABEL}={stack}" if stack else AUDIT_LABEL
    return events_of(configs(client, {"label": [label]}))


def events_of(found: Iterable[Config]) -> list[Event]:
    """The events held by audit configs (as listed with the ``coop.audit`` label), oldest first."""
    events = []
    for config in sorted(found, key=_order):
        try:
            events.append(Event.from_json(json.loads(config.data)))
        except (ValueError, TypeError):
            continue  # not one of ours after all; the rest of the trail still reads
    return events


# -- one call around a change: lock, time, record -------------------------------------------------

_REFUSALS = (LockHeld, Conflict, InvalidError, NotFound, UsageError)


@dataclass
class Change:
    """What a tracked command fills in as it learns it; recorded when the block ends."""

    version_from: str | None = None
    version_to: str | None = None
    plan: list[str] = field(default_factory=list)
    detail: str | None = None
    result: str | None = None  # set to override what the outcome implies (e.g. ROLLED_BACK)
    lock: HeldLock | None = None  # when the command took the lock
    record: bool = True  # False: nothing happened worth a line (the operator answered no)
    _take: Callable[[], HeldLock] | None = field(default=None, repr=False)

    def take_lock(self) -> HeldLock:
        """Take the app's lock now (a deploy takes it after the plan, before the first change: DESIGN §6.5)."""
        if self.lock is None:
            if self._take is None:
                raise RuntimeError("take_lock() outside tracked()")
            self.lock = self._take()
        return self.lock


def summarize(plan: Any) -> list[str]:
    """A plan as audit lines: what changes, by name; never a value (a secret's may be among them)."""
    lines = [f"+ network {n}" for n in plan.networks] + [f"+ config {n}" for n in plan.configs]
    for sp in plan.services:
        if sp.action == "unchanged":
            continue
        what = sorted({c.what for c in sp.changes})
        lines.append(
            f"{_SYMBOLS.get(sp.action, '~')} service {sp.name}: {sp.action}" + (f" ({', '.join(what)})" if what else "")
        )
    return lines


_SYMBOLS = {"create": "+", "update": "~", "bookkeeping": "=", "remove": "-"}


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
    lock: bool = True,
    check_free: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Iterator[Change]:
    """Take the app's lock (unless `lock=False`: then `change.take_lock()` takes it when the block
    is ready to change something), run the block, release, and record the outcome.

    `check_free`: with `lock=False`, refuse at once if someone else holds the lock (read-only), so
    nobody reviews a plan they could not apply. A lock held by someone else is recorded as refused
    and re-raised (exit 9).
    Recording never hides the command's own error: a failure to record is a warning.
    """
    from coopcloud.ops.trail import lock as locks
    from coopcloud.ops.trail.operator import operator

    who = operator(settings)

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

    change = Change(_take=take)
    started = time.monotonic()
    when = utc_now()
    outcome: BaseException | None = None
    try:
        if lock:
            change.take_lock()
        elif check_free:
            locks.check_free(client, ref.name, ref.stack_name)
        yield change
    except BaseException as exc:
        outcome = exc
        raise
    finally:
        if change.lock is not None:
            change.lock.release()
            for line in change.lock.warnings:
                if warn:
                    warn(line)
        if isinstance(outcome, Cancelled):  # answered no: nothing happened, nothing to record
            pass
        elif change.record or outcome is not None:
            _record_outcome(
                client,
                ref,
                change,
                outcome,
                who=who,
                command=command,
                when=when,
                duration=time.monotonic() - started,
                warn=warn,
            )


def _record_outcome(
    client: Engine,
    ref: AppRef,
    change: Change,
    outcome: BaseException | None,
    *,
    who: str,
    command: str,
    when: str,
    duration: float,
    warn: Callable[[str], None] | None,
) -> None:
    from coopcloud.ops.trail.operator import hostname

    detail = change.detail
    if detail is None and outcome is not None:
        detail = describe_interrupt(outcome) if isinstance(outcome, KeyboardInterrupt) else _one_line(outcome)
    event = Event(
        when=when,
        who=who,
        command=command,
        app=ref.name,
        server=ref.server,
        result=change.result or result_of(outcome),
        version_from=change.version_from,
        version_to=change.version_to,
        plan=tuple(change.plan),
        duration=round(duration, 2),
        detail=detail,
        host=hostname(),
    )
    try:
        record(client, ref.stack_name, event)
    except (EngineError, OSError) as exc:
        if warn:
            warn(f"app {ref.name}: the audit trail could not be written ({exc})")


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, CoopError) else f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__
