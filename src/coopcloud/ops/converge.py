"""Waiting for a stack to converge: tasks running and healthy, swarm update states followed.

Swarm keeps a task with a healthcheck in `starting` until it is healthy, so a
task counts once it is `running`. A service has converged when as many tasks
of its current spec run as it wants, and its update (if any) is `completed`.
A swarm-side rollback, a paused update, or tasks that keep failing are
failures, never successes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

FAILED_TASK_STATES = {"failed", "rejected", "orphaned"}
BAD_UPDATE_STATES = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
# A service whose tasks failed this many times since the deploy started will not converge by waiting.
MAX_TASK_FAILURES = 3
DEFAULT_TIMEOUT = 300  # seconds; a recipe may set label coop-cloud.<stack>.timeout
# A task swarm cannot place ("no suitable node (host-mode port already in use...)") stays pending
# for ever; after this long (or half the timeout, if shorter) that is reported as the failure.
UNSCHEDULABLE_AFTER = 30.0


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

    def line(self) -> str:
        want = "all nodes" if self.want is None else str(self.want)
        state = f", update {self.update_state}" if self.update_state else ""
        status = "ok" if self.done else ("FAILED" if self.error else "waiting")
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


def _want(spec: dict) -> int | None:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return None
    return int((mode.get("Replicated") or {}).get("Replicas", 1))


def _task_failure(task: dict) -> str:
    status = task.get("Status") or {}
    code = ((status.get("ContainerStatus") or {}).get("ExitCode"))
    err = status.get("Err") or status.get("Message") or status.get("State", "")
    detail = f"exit code {code}" if code not in (None, 0) else ""
    return "; ".join(x for x in (err, detail) if x)


def check_service(client: Any, name: str, since: str) -> ServiceProgress:
    """One look at one service: read-only."""
    service = client.service(name)
    spec = service.get("Spec") or {}
    progress = ServiceProgress(name=name, want=_want(spec))
    update = service.get("UpdateStatus") or {}
    progress.update_state = update.get("State")
    tasks = client.tasks(filters={"service": [name]})
    running = [
        t for t in tasks if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"
    ]
    progress.running = len(running)
    recent_failures = [
        t for t in tasks
        if (t.get("Status") or {}).get("State") in FAILED_TASK_STATES
        and (t.get("Status") or {}).get("Timestamp", "") >= since
    ]
    progress.failures = [_task_failure(t) for t in sorted(recent_failures, key=lambda t: t.get("UpdatedAt", ""))]
    pending = [
        t for t in tasks
        if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "pending"
        and (t.get("Status") or {}).get("Err")
    ]
    if pending:
        progress.unschedulable = pending[0]["Status"]["Err"]
    if progress.update_state in BAD_UPDATE_STATES:
        msg = update.get("Message") or progress.update_state
        progress.error = f"swarm update {progress.update_state}: {msg}"
    elif len(recent_failures) >= MAX_TASK_FAILURES:
        progress.error = f"tasks keep failing ({len(recent_failures)} since the deploy): {progress.failures[-1]}"
    else:
        enough = progress.running >= 1 if progress.want is None else progress.running >= progress.want
        # During an update, old tasks may still run beside new ones: wait for swarm to say it is over.
        progress.done = enough and progress.update_state != "updating"
    return progress


def wait(
    client: Any,
    services: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    since: str = "",
    interval: float = 1.0,
    report: Callable[[list[ServiceProgress]], None] | None = None,
    log_lines: int = 10,
) -> ConvergeResult:
    """Poll until every service converged, one failed, or the timeout passed."""
    start = time.monotonic()
    deadline = start + timeout
    stuck_since: dict[str, float] = {}
    grace = min(UNSCHEDULABLE_AFTER, timeout / 2)
    while True:
        progress = [check_service(client, name, since) for name in services]
        now = time.monotonic()
        for p in progress:
            if p.unschedulable and not p.done:
                first = stuck_since.setdefault(p.name, now)
                if now - first >= grace and not p.error:
                    p.error = f"swarm cannot place its task for {now - first:.0f} s: {p.unschedulable}"
            else:
                stuck_since.pop(p.name, None)
        if report:
            report(progress)
        if any(p.error for p in progress) or all(p.done for p in progress):
            break
        if time.monotonic() >= deadline:
            result = ConvergeResult(ok=False, services=progress, timed_out=True)
            result.logs = _last_logs(client, result.failed, log_lines)
            return result
        time.sleep(interval)
    ok = all(p.done for p in progress)
    result = ConvergeResult(ok=ok, services=progress)
    if not ok:
        result.logs = _last_logs(client, result.failed, log_lines)
    return result


def _last_logs(client: Any, failed: list[ServiceProgress], n: int) -> dict[str, list[str]]:
    logs = {}
    for p in failed:
        try:
            frames = client.service_logs(p.name, tail=n, lines=True)
            logs[p.name] = [f.data.decode("utf-8", "replace").rstrip("\n") for f in frames][-n:]
        except Exception:  # logs are a courtesy in an error report; never hide the real error
            logs[p.name] = []
    return logs
