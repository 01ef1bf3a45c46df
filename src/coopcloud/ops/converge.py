"""Waiting for services to converge: the one engine deploy, upgrade, rollback and restart use.

A service has converged when, after this change started, as many tasks of its
*current* spec run as it wants, swarm is not in the middle of an update, and it
stays so for a stability window. The rules, as docker/cli's service progress
(`cli/command/service/progress`) keeps them, made stricter where a false "ok" hides:

* only tasks of the current spec count: the engine's ``_up-to-date`` task filter
  (a task of the previous spec still running is not progress);
* nothing is done before there is evidence that this change started: the service
  was created by it, or swarm reports an update state (the update call clears the
  last one), or no task of the service is left to replace (a change swarm rolls
  out without replacing tasks: labels, replicas);
* the stability window is the service's ``UpdateConfig.Monitor`` (docker's 5 s when
  unset): a task that fails inside it restarts the window, as in docker's progress;
* a swarm rollback (``rollback_*``), a paused update, tasks that keep failing, a task
  swarm cannot place, and the timeout are failures, never successes;
* engine timestamps are parsed as times (they carry a zone), never compared as text.

Tests (and impatient recipes) shorten the window the documented way: a shorter
``deploy.update_config.monitor`` in the recipe.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

FAILED_TASK_STATES = frozenset({"failed", "rejected", "orphaned"})
BAD_UPDATE_STATES = frozenset({"paused", "rollback_started", "rollback_paused", "rollback_completed"})
# A service whose tasks of the current spec failed this many times since the change began will
# not converge by waiting.
MAX_TASK_FAILURES = 3
DEFAULT_TIMEOUT = 300  # seconds; a recipe may set label coop-cloud.<stack>.timeout
# docker/cli waits this long after convergence when the service sets no UpdateConfig.Monitor.
DEFAULT_MONITOR = 5.0
# A task swarm cannot place ("no suitable node (host-mode port already in use...)") stays pending
# for ever; after this long (or half the timeout, if shorter) that is reported as the failure.
UNSCHEDULABLE_AFTER = 30.0
_ACTIVE_DESIRED = frozenset({"running", "ready"})  # a new task is "ready" until its predecessor stopped


# -- times ----------------------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_engine_time(value: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds, any zone) as an aware UTC time; None if unreadable.

    >>> parse_engine_time("2026-11-29T23:40:02.088959253+01:00").isoformat()
    '2026-11-29T22:40:02.088959+00:00'
    >>> parse_engine_time("0001-01-01T00:00:00Z").year
    1
    """
    if not value:
        return None
    m = _TIME.match(value.strip())
    if not m:
        return None
    base, frac, zone = m.groups()
    micro = (frac or "0")[:6].ljust(6, "0")
    if zone in (None, "Z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{base}.{micro}{zone}").astimezone(timezone.utc)
    except ValueError:
        return None


# -- what is watched ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """One service to wait for, and how it was changed.

    `created`: this change created it (its tasks are all new). `changed`: this change
    wrote its spec; a service only checked (unchanged by this command) has converged
    already if it looks converged now.
    """

    name: str
    changed: bool = True
    created: bool = False


@dataclass
class ServiceProgress:
    name: str
    want: int | None  # None: global service
    running: int = 0
    update_state: str | None = None
    failures: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    unschedulable: str | None = None  # why swarm cannot place a task, while it keeps trying
    started: bool = False  # evidence seen that this change began
    ready: bool = False  # converged at this look; `done` once it stayed so for the window
    settling: float | None = None  # seconds of the stability window left

    def line(self) -> str:
        want = "all nodes" if self.want is None else str(self.want)
        state = f", update {self.update_state}" if self.update_state else ""
        if self.done:
            status = "ok"
        elif self.error:
            status = "FAILED"
        elif self.ready and self.settling is not None:
            status = f"checking it stays up ({self.settling:.0f} s)"
        else:
            status = "waiting"
        return f"{self.name}: {self.running}/{want} running{state} — {status}"


@dataclass
class ConvergeResult:
    ok: bool
    services: list[ServiceProgress]
    timed_out: bool = False
    logs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[ServiceProgress]:
        return [s for s in self.services if not s.done]

    @property
    def first_failure(self) -> ServiceProgress | None:
        errors = [s for s in self.services if s.error]
        return errors[0] if errors else (self.failed[0] if self.failed else None)


# -- one look at one service (pure) ---------------------------------------------------------------


def _want(spec: Mapping[str, Any]) -> int | None:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return None
    return int((mode.get("Replicated") or {}).get("Replicas", 1))


def monitor_of(spec: Mapping[str, Any]) -> float:
    """The stability window of a service, in seconds: its UpdateConfig.Monitor, else docker's 5 s."""
    nanos = (spec.get("UpdateConfig") or {}).get("Monitor") or 0
    return nanos / 1e9 if nanos > 0 else DEFAULT_MONITOR


def task_failure(task: Mapping[str, Any]) -> str:
    status = task.get("Status") or {}
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    err = status.get("Err") or status.get("Message") or status.get("State", "")
    detail = f"exit code {code}" if code not in (None, 0) else ""
    return "; ".join(x for x in (err, detail) if x)


def _state(task: Mapping[str, Any]) -> str:
    return (task.get("Status") or {}).get("State", "")


def _is_running(task: Mapping[str, Any]) -> bool:
    return task.get("DesiredState") == "running" and _state(task) == "running"


def assess(
    name: str,
    service: Mapping[str, Any],
    current_tasks: Sequence[Mapping[str, Any]],
    since: datetime | None,
) -> ServiceProgress:
    """What one look says about one service. Pure.

    `current_tasks` are the tasks of its current spec (the ``_up-to-date`` filter);
    `since` is when this change began (engine time): older failures are not its own.
    """
    spec = service.get("Spec") or {}
    update = service.get("UpdateStatus") or {}
    progress = ServiceProgress(name=name, want=_want(spec), update_state=update.get("State") or None)
    active = [t for t in current_tasks if t.get("DesiredState") == "running"]
    progress.running = sum(1 for t in active if _state(t) == "running")
    failed = []
    for t in current_tasks:
        if _state(t) not in FAILED_TASK_STATES:
            continue
        when = parse_engine_time((t.get("Status") or {}).get("Timestamp"))
        if since is None or (when is not None and when >= since):
            failed.append((when or since or datetime.min.replace(tzinfo=timezone.utc), t))
    failed.sort(key=lambda pair: pair[0])
    progress.failures = [task_failure(t) for _, t in failed]
    waiting = [t for t in active if _state(t) == "pending" and (t.get("Status") or {}).get("Err")]
    if waiting:
        progress.unschedulable = waiting[0]["Status"]["Err"]
    if progress.update_state in BAD_UPDATE_STATES:
        message = update.get("Message") or progress.update_state
        progress.error = f"swarm update {progress.update_state}: {message}"
    elif len(failed) >= MAX_TASK_FAILURES:
        progress.error = f"tasks keep failing ({len(failed)} since the change began): {progress.failures[-1]}"
    else:
        if progress.want is None:
            enough = bool(active) and progress.running == len(active)
        else:
            enough = progress.running >= progress.want
        # During a rolling update swarm still watches its new tasks: wait for it to say it is over.
        progress.ready = enough and progress.update_state != "updating"
    return progress


def nothing_to_replace(all_tasks: Sequence[Mapping[str, Any]], current_ids: set[str]) -> bool:
    """No task of an older spec is still meant to run: swarm has no rolling update to do."""
    return not any(t.get("DesiredState") in _ACTIVE_DESIRED and t.get("ID") not in current_ids for t in all_tasks)


# -- the wait -------------------------------------------------------------------------------------


@dataclass
class _Tracker:
    watch: Watch
    started: bool
    stable_since: float | None = None
    stuck_since: float | None = None
    done: bool = False
    last: ServiceProgress | None = None


def wait(
    client: Any,
    services: Sequence[Watch | str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    since: str | datetime | None = None,
    interval: float = 1.0,
    report: Callable[[list[ServiceProgress]], None] | None = None,
    log_lines: int = 10,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ConvergeResult:
    """Poll until every service converged and stayed so, one failed, or the timeout passed.

    `services` are `Watch`es (a bare name means a service this change updated).
    `since` is the engine's time before the change (its ``SystemTime``).
    """
    watches = [Watch(s) if isinstance(s, str) else s for s in services]
    since_at = parse_engine_time(since) if isinstance(since, str) else since
    trackers = [_Tracker(w, started=w.created) for w in watches]
    start = clock()
    deadline = start + timeout
    grace = min(UNSCHEDULABLE_AFTER, timeout / 2)
    while True:
        now = clock()
        for tr in trackers:
            if tr.done:
                continue
            tr.last = _look(client, tr, since_at, now, grace)
        progress = [tr.last for tr in trackers if tr.last is not None]
        if report:
            report(progress)
        if any(p.error for p in progress):
            break
        if all(tr.done for tr in trackers):
            break
        if clock() >= deadline:
            result = ConvergeResult(ok=False, services=progress, timed_out=True)
            result.logs = _last_logs(client, result.failed, log_lines)
            return result
        sleep(interval)
    ok = all(tr.done for tr in trackers)
    result = ConvergeResult(ok=ok, services=progress)
    if not ok:
        result.logs = _last_logs(client, [p for p in result.failed if p.error] or result.failed, log_lines)
    return result


def _look(client: Any, tr: _Tracker, since: datetime | None, now: float, grace: float) -> ServiceProgress:
    from coopcloud.errors import NotFound

    name = tr.watch.name
    try:
        service = client.service(name)
    except NotFound:
        p = ServiceProgress(name=name, want=None)
        p.error = "the service was removed while coop waited for it"
        return p
    current = client.tasks(filters={"service": [name], "_up-to-date": ["true"]})
    p = assess(name, service, current, since)
    if not tr.started:
        if p.update_state is not None:
            tr.started = True  # the update call cleared the last state: this one is ours
        elif not tr.watch.changed:
            tr.started = True
        else:
            everything = client.tasks(filters={"service": [name]})
            tr.started = nothing_to_replace(everything, {t.get("ID", "") for t in current})
    p.started = tr.started
    if p.unschedulable and not p.error:
        tr.stuck_since = tr.stuck_since if tr.stuck_since is not None else now
        if now - tr.stuck_since >= grace:
            p.error = f"swarm cannot place its task for {now - tr.stuck_since:.0f} s: {p.unschedulable}"
    else:
        tr.stuck_since = None
    if p.error:
        return p
    p.ready = p.ready and tr.started
    if not p.ready:
        tr.stable_since = None
        return p
    window = monitor_of(service.get("Spec") or {})
    if tr.stable_since is None:
        tr.stable_since = now
        if not tr.watch.changed and since is not None and _running_since(current) <= since - timedelta(seconds=window):
            tr.stable_since = now - window  # untouched, and its tasks ran the whole window before we looked
    left = window - (now - tr.stable_since)
    if left <= 0:
        p.done = tr.done = True
    else:
        p.settling = left
    return p


def _running_since(tasks: Sequence[Mapping[str, Any]]) -> datetime:
    """When the youngest running task began running (its last status change); the far future if unknown."""
    latest = datetime.min.replace(tzinfo=timezone.utc)
    for t in tasks:
        if _is_running(t):
            when = parse_engine_time((t.get("Status") or {}).get("Timestamp"))
            if when is None:
                return datetime.max.replace(tzinfo=timezone.utc)
            latest = max(latest, when)
    return latest


def _last_logs(client: Any, failed: list[ServiceProgress], n: int) -> dict[str, list[str]]:
    logs = {}
    for p in failed:
        try:
            frames = client.service_logs(p.name, tail=n, lines=True)
            logs[p.name] = [f.data.decode("utf-8", "replace").rstrip("\n") for f in frames][-n:]
        except Exception:  # logs are a courtesy in an error report; never hide the real error
            logs[p.name] = []
    return logs
