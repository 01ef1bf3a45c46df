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
  unset): a task that fails inside it restarts the window, as in docker's progress; it runs
  alongside swarm's own monitoring of the new tasks, but nothing is done while swarm still
  reports the update as ``updating``;
* a task counts only while its container runs *and* is healthy (when it has a healthcheck),
  read where the task runs: that node's engine, one containers request per node per poll;
  an ``unhealthy`` container, or a task swarm stopped for its health, fails the wait at once
  (swarm stops such a container with the stop grace period, 10 s by default, and its task
  reads ``running`` all that time: swarm's own monitor and a window of task states miss it);
* a swarm rollback (``rollback_*``), a paused update, tasks that keep failing, a task
  swarm cannot place, and the timeout are failures, never successes;
* a crash loop is never converged: tasks of the current spec that ended (failed, or exited
  and were replaced) twice within `CRASH_LOOP_PERIOD` before the command looked fail it at
  once, even when nothing was changed;
* engine timestamps are parsed as times (they carry a zone), never compared as text;
* a service this command did not change (`Watch(changed=False)`) is converged at once
  when its tasks have run a whole window already, else it must stay up one.

Tests (and impatient recipes) shorten the window the documented way: a shorter
``deploy.update_config.monitor`` in the recipe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.engine.views import Container, Service, Task, parse_time
from coopcloud.errors import CoopError, DeployFailed
from coopcloud.rawdata import RawMap, get_int, get_map, get_str
from coopcloud.swarm import service_spec
from coopcloud.swarm.labels import DEFAULT_TIMEOUT

# A service whose tasks of the current spec failed this many times since the change began will
# not converge by waiting.
MAX_TASK_FAILURES = 3
# docker/cli waits this long after convergence when the service sets no UpdateConfig.Monitor.
DEFAULT_MONITOR = 5.0
# A task swarm cannot place ("no suitable node (host-mode port already in use...)") stays pending
# for ever; after this long (or half the timeout, if shorter) that is reported as the failure.
UNSCHEDULABLE_AFTER = 30.0
# Tasks of a service's current spec that ended this often within this period (seconds) before a command
# looked: swarm keeps replacing them (a crash loop). Not converged, whatever runs at that moment.
CRASH_LOOP_ENDED = 2
CRASH_LOOP_PERIOD = 300.0
# How swarm's executor words a task it stopped because its container turned unhealthy.
UNHEALTHY_TASK = "unhealthy container"
# docker's stop grace period when a service sets none (seconds).
DEFAULT_STOP_GRACE = 10.0
# How many of the last healthcheck runs a failure shows.
HEALTH_LINES = 3
_ACTIVE_DESIRED = frozenset({"running", "ready"})  # a new task is "ready" until its predecessor stopped
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


# -- what is watched ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """One service to wait for, and how it was changed.

    `created`: this change created it (its tasks are all new). `changed`: this change
    wrote its spec; a service only checked (unchanged by this command) has converged
    already if it looks converged now. `resent`: this change sent its spec again unchanged
    (to converge it): its tasks of that spec ran before, and a crash loop among them counts.
    """

    name: str
    changed: bool = True
    created: bool = False
    resent: bool = False

    @property
    def lookback(self) -> bool:
        """Its current spec ran before this change: tasks of it that ended just before count."""
        return self.resent or not self.changed


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
    unhealthy: tuple[str, str] | None = None  # (node id, container id) that failed its healthcheck
    stop_grace: float = DEFAULT_STOP_GRACE  # how long swarm may take to stop that container
    health: list[str] = field(default_factory=list)  # its last healthcheck runs, when it failed on them
    unread: tuple[str, ...] = ()  # nodes running its tasks whose engine coop cannot reach: health not read

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
        if self.unread and not self.error:
            nodes = ", ".join(n[:12] for n in self.unread)
            status += f" (health not read on node {nodes}: no server entry reaches it — see: coop server nodes)"
        return f"{self.name}: {self.running}/{want} running{state} — {status}"


@dataclass
class ConvergeResult:
    ok: bool
    services: list[ServiceProgress]
    timed_out: bool = False
    logs: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0  # how long the wait took
    # of which, the stability window: from when every service first looked converged (and stayed
    # so) to the end; what docker's 5 s check costs over stopping at the first good look
    stability_seconds: float = 0.0
    nodes: NodeEngines | None = field(default=None, repr=False, compare=False)  # where health was read

    def wait_stopped(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Wait until the containers that failed their healthcheck have stopped: at most their stop grace
        period, and 5 s more. Swarm stops such a container with that grace period, but once the service
        is updated its task reads failed at once; a replacement started meanwhile (a rollback's) finds
        its host ports still taken and fails, and swarm pauses that update."""
        for p in self.services:
            engine = self.nodes(p.unhealthy[0]) if p.unhealthy and self.nodes else None
            if engine is None or not p.unhealthy:
                continue
            cid, deadline = p.unhealthy[1], clock() + p.stop_grace + 5
            while clock() < deadline:
                try:
                    c = views.containers_by_id(engine, [cid]).get(cid)
                except CoopError:
                    break
                if c is None or c.state != "running":
                    break
                sleep(0.5)

    @property
    def failed(self) -> list[ServiceProgress]:
        return [s for s in self.services if not s.done]

    @property
    def first_failure(self) -> ServiceProgress | None:
        errors = [s for s in self.services if s.error]
        return errors[0] if errors else (self.failed[0] if self.failed else None)

    def details(self) -> list[str]:
        """What a failure shows above its one line: each failed service, its task errors, its last
        healthcheck runs and log lines."""
        out = []
        for p in self.failed:
            out.append(p.line())
            out += [f"  task: {f}" for f in p.failures[-3:]]
            out += [f"  health: {line}" for line in p.health]
            out += [f"  log: {line}" for line in self.logs.get(p.name, [])]
        return out


_FAILURE_WORDS = {  # verb -> (a service failed, or: not every service runs)
    "deploy": ("failed", "did not converge"),
    "restart": ("did not start again", "not running again"),
}


def converge_failure(
    app: str, result: ConvergeResult, *, timeout: float, verb: str = "deploy", name: Callable[[str], str] | None = None
) -> DeployFailed:
    """The one line of a deploy or restart (`verb`) that did not converge; `result.details()` ride along
    for the CLI to show above it. `name`: how the line names a service (default: its full name)."""
    failed, not_running = _FAILURE_WORDS[verb]
    said = name or (lambda n: n)
    bad = result.first_failure
    if result.timed_out or bad is None or not bad.error:
        waiting = ", ".join(
            f"{said(p.name)} {p.running}/{'all nodes' if p.want is None else p.want} running" for p in result.failed
        )
        after = f" after {timeout:g}s" if result.timed_out else ""
        return DeployFailed(
            f"app {app}: {not_running}{after} ({waiting})",
            hint=f"see: coop app ps {app}; coop app errors {app}",
            details=result.details(),
        )
    return DeployFailed(
        f"app {app}: service {said(bad.name)} {failed}: {bad.error}",
        hint=f"see: coop app errors {app}; coop app logs {app}",
        details=result.details(),
    )


# -- one look at one service (pure) ---------------------------------------------------------------


def monitor_of(spec: RawMap) -> float:
    """The stability window of a service, in seconds: its UpdateConfig.Monitor, else docker's 5 s."""
    nanos = service_spec.update_monitor_nanos(spec)
    return nanos / 1e9 if nanos > 0 else DEFAULT_MONITOR


def task_failure(task: Task) -> str:
    """Why a task failed, in the engine's words, with its exit code."""
    code = task.status.exit_code
    err = task.status.err or task.status.message or task.state
    detail = f"exit code {code}" if code not in (None, 0) else ""
    return "; ".join(x for x in (err, detail) if x)


def assess(
    name: str,
    service: Service,
    current_tasks: Sequence[Task],
    since: datetime | None,
    containers: Mapping[str, Container | None] | None = None,
    *,
    lookback: bool = False,
) -> ServiceProgress:
    """What one look says about one service. Pure.

    `current_tasks` are the tasks of its current spec (the ``_up-to-date`` filter);
    `since` is when this change began (engine time): older failures are not its own. With
    `lookback` (a service whose spec this change did not write, so its current spec ran before),
    tasks of it that ended in the `CRASH_LOOP_PERIOD` before `since` count too: a crash loop.
    `containers` are the containers of its running tasks, read on their nodes (container id ->
    container, None when the node's engine no longer has it); a task whose container is not
    in it (its node is out of reach) is taken at its word.
    """
    progress = ServiceProgress(
        name=name, want=None if service.is_global else service.replicas, update_state=service.update_state
    )
    seen = containers or {}
    active = [t for t in current_tasks if t.desired_state == "running"]
    state = {t.id: _container_state(t, seen) for t in active if t.running}
    up = [t for t in active if state.get(t.id) in ("running", "unknown")]
    # A container that stopped while its task still says running: swarm is about to record the failure.
    stopped = [t for t in active if state.get(t.id) == "stopped"]
    progress.running = len(up)
    progress.unread = tuple(sorted({t.node_id for t in up if t.node_id and _container_id(t) not in seen}))
    failed = [t for t in current_tasks if t.failed and _after(t, since)] + stopped
    failed.sort(key=lambda t: t.status.timestamp or _FAR_FUTURE)
    exited = [t for t in current_tasks if t.state == "complete" and _after(t, since)]
    progress.failures = [task_failure(t) for t in failed]
    progress.unschedulable = next((t.unschedulable for t in active if t.unschedulable), None)
    earlier: list[Task] = []
    if since is not None and lookback:
        earlier = ended_between(service, current_tasks, _loop_start(service, since), since)
    unhealthy = [t for t in active if state.get(t.id) == "unhealthy"]
    progress.error = _unhealthy(progress, unhealthy, failed) or _failure(
        progress, service, current_tasks, failed, exited, earlier
    )
    if progress.error is None:
        if progress.want is None:
            enough = bool(active) and progress.running == len(active)
        else:
            enough = progress.running >= progress.want
        # While swarm still rolls out (`updating`) the window may already run, as in docker's progress;
        # `wait` ends it only once swarm says the update is over.
        progress.ready = enough
    return progress


def _failure(
    progress: ServiceProgress,
    service: Service,
    current_tasks: Sequence[Task],
    failed: Sequence[Task],
    exited: Sequence[Task],
    earlier: Sequence[Task],
) -> str | None:
    """Why the service will not converge by waiting (besides its health), or None."""
    update = service.update_status
    if update is not None and update.failed:
        return f"swarm update {update.state}: {update.message or update.state}"
    if earlier and len(earlier) + len(failed) >= CRASH_LOOP_ENDED:
        last = progress.failures[-1] if failed else task_failure(earlier[-1])
        return (
            f"crash loop: {len(earlier) + len(failed)} of its tasks ended within {CRASH_LOOP_PERIOD:.0f} s "
            f"and swarm keeps replacing them (last: {last})"
        )
    if len(failed) >= MAX_TASK_FAILURES:
        return f"tasks keep failing ({len(failed)} since the change began): {progress.failures[-1]}"
    if (
        (failed or exited)
        and progress.want != 0
        and not any(t.desired_state in _ACTIVE_DESIRED for t in current_tasks)
        and _restarts_exhausted(service.spec, len(failed), exited=bool(exited))
    ):
        # swarm replaces a task in the step that stops it: none left to run means none will come
        why = progress.failures[-1] if failed else "exit code 0"
        return f"tasks ended and swarm will not restart them (restart_policy): {why}"
    return None


def _after(task: Task, since: datetime | None) -> bool:
    return since is None or (task.status.timestamp is not None and task.status.timestamp >= since)


def _container_id(task: Task) -> str:
    return task.status.container.container_id if task.status.container else ""


def _container_state(task: Task, containers: Mapping[str, Container | None]) -> str:
    """running (and healthy, when it has a healthcheck) | unhealthy | starting (its first healthcheck has
    not passed yet; paused) | stopped | unknown (not read: its node is out of reach)."""
    cid = _container_id(task)
    if not cid or cid not in containers:
        return "unknown"
    c = containers[cid]
    if c is None or c.state in ("exited", "dead", "removing"):
        return "stopped"
    if c.state == "running" and c.health == "unhealthy":
        return "unhealthy"
    return "running" if c.state == "running" and c.health != "starting" else "starting"


def _unhealthy(progress: ServiceProgress, unhealthy: Sequence[Task], failed: Sequence[Task]) -> str | None:
    """The error for a container that failed its healthcheck: running and `unhealthy` (swarm is stopping it,
    its task still says running), or a task swarm stopped for it. Notes which container, for its health log."""
    if unhealthy:
        t = unhealthy[0]
        progress.unhealthy = (t.node_id, _container_id(t))
        return (
            f"unhealthy: container {_container_id(t)[:12]} (task {t.id[:12]}) fails its healthcheck and swarm stops it"
        )
    for t in failed:
        if UNHEALTHY_TASK in (t.status.err or ""):
            progress.unhealthy = (t.node_id, _container_id(t)) if _container_id(t) else None
            return f"unhealthy: swarm stopped task {t.id[:12]} for failing its healthcheck ({task_failure(t)})"
    return None


def ended(service: Service, task: Task) -> bool:
    """A task that ended and that swarm replaces: failed, rejected, orphaned, or (for a service that is no
    job) exited on its own."""
    return task.failed or (task.state == "complete" and not service.mode.endswith("job"))


@dataclass(frozen=True)
class Restarts:
    """Tasks of a service's current spec that ended within `CRASH_LOOP_PERIOD` (swarm replaced them),
    and why the last one did: what `app ps` and `app ls --status` show of a crash loop."""

    count: int = 0
    last: str | None = None

    @property
    def crash_loop(self) -> bool:
        return self.count >= CRASH_LOOP_ENDED


def restarts(service: Service, current_tasks: Sequence[Task], now: datetime | None) -> Restarts:
    """The `Restarts` of a service at `now` (engine time), from the tasks of its current spec. Pure."""
    if now is None:
        return Restarts()
    found = ended_between(service, current_tasks, _loop_start(service, now), _FAR_FUTURE)
    return Restarts(len(found), task_failure(found[-1]) if found else None)


def _loop_start(service: Service, at: datetime) -> datetime:
    """Where a crash loop is looked for, before `at`: `CRASH_LOOP_PERIOD`, and only since swarm's last update
    or rollback of the service ended (a task that failed while swarm rolled it out, a rollback's task
    that found its port still taken, is that rollout's, not a loop of the service at rest)."""
    start = at - timedelta(seconds=CRASH_LOOP_PERIOD)
    update = service.update_status
    rollout = (update.completed_at or update.started_at) if update is not None else None
    return max(start, rollout) if rollout is not None else start


def ended_between(service: Service, tasks: Sequence[Task], start: datetime, end: datetime) -> list[Task]:
    """The tasks of `tasks` that ended in [start, end), oldest first."""
    found = [
        t for t in tasks if ended(service, t) and t.status.timestamp is not None and start <= t.status.timestamp < end
    ]
    return sorted(found, key=lambda t: t.status.timestamp or _FAR_FUTURE)


def _restarts_exhausted(spec: RawMap, failures: int, *, exited: bool = False) -> bool:
    """The service's restart policy lets swarm give up on an ended task: condition none, on-failure for a
    task that exited 0, or max_attempts restarts already made."""
    policy = get_map(get_map(spec, "TaskTemplate"), "RestartPolicy")
    condition = get_str(policy, "Condition")
    if condition == "none" or (exited and condition == "on-failure"):
        return True
    attempts = get_int(policy, "MaxAttempts")
    return attempts > 0 and failures > attempts


def nothing_to_replace(all_tasks: Sequence[Task], current_ids: set[str]) -> bool:
    """No task of an older spec is still meant to run: swarm has no rolling update to do."""
    return not any(t.desired_state in _ACTIVE_DESIRED and t.id not in current_ids for t in all_tasks)


# -- the wait -------------------------------------------------------------------------------------


@dataclass
class _Tracker:
    watch: Watch
    started: bool
    stable_since: float | None = None  # the window counts from here (earlier for an untouched service)
    ready_at: float | None = None  # when we first saw it converged, in the stretch that lasted
    stuck_since: float | None = None
    done: bool = False
    last: ServiceProgress | None = None


def wait(
    client: Engine,
    services: Sequence[Watch | str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    since: str | datetime | None = None,
    interval: float = 1.0,
    report: Callable[[list[ServiceProgress]], None] | None = None,
    log_lines: int = 10,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    nodes: NodeEngines | None = None,
) -> ConvergeResult:
    """Poll until every service converged and stayed so, one failed, or the timeout passed.

    `services` are `Watch`es (a bare name means a service this change updated).
    `since` is the engine's time before the change (its ``SystemTime``).
    `nodes` gives the engine of a swarm node (None when coop cannot reach it), where the health of
    the containers there is read; without it, the manager's own node only (`ops.server.nodes.node_engines`
    reaches the others through their server entries).
    """
    engine_of = nodes or own_node(client)
    watches = [Watch(s) if isinstance(s, str) else s for s in services]
    since_at = parse_time(since) if isinstance(since, str) else since
    trackers = [_Tracker(w, started=w.created) for w in watches]
    start = clock()
    deadline = start + timeout
    grace = min(UNSCHEDULABLE_AFTER, timeout / 2)
    while True:
        now = clock()
        pending = [tr for tr in trackers if not tr.done]
        # Every pending service in one round trip; all its tasks only while it is not known to have started.
        looks = views.look_at_services(client, [(tr.watch.name, not tr.started and tr.watch.changed) for tr in pending])
        containers = read_containers(engine_of, [t for look in looks for t in look.current])
        for tr, look in zip(pending, looks):
            tr.last = _look(tr, look, since_at, now, grace, containers)
        progress = [tr.last for tr in trackers if tr.last is not None]
        if any(p.error for p in progress):
            _health_of(engine_of, progress)
        if report:
            report(progress)
        if any(p.error for p in progress):
            break
        if all(tr.done for tr in trackers):
            break
        if clock() >= deadline:
            result = ConvergeResult(
                ok=False, services=progress, timed_out=True, seconds=clock() - start, nodes=engine_of
            )
            result.logs = _last_logs(client, result.failed, log_lines)
            return result
        sleep(interval)
    ok = all(tr.done for tr in trackers)
    end = clock()
    result = ConvergeResult(ok=ok, services=progress, seconds=end - start, nodes=engine_of)
    if ok and trackers:
        settled = max(tr.ready_at if tr.ready_at is not None else end for tr in trackers)
        result.stability_seconds = max(0.0, end - max(settled, start))
    if not ok:
        result.logs = _last_logs(client, [p for p in result.failed if p.error] or result.failed, log_lines)
    return result


def _look(
    tr: _Tracker,
    look: views.ServiceLook,
    since: datetime | None,
    now: float,
    grace: float,
    containers: Mapping[str, Container | None],
) -> ServiceProgress:
    name = tr.watch.name
    service, current = look.service, look.current
    if service is None:
        p = ServiceProgress(name=name, want=None)
        p.error = "the service was removed while coop waited for it"
        return p
    p = assess(name, service, current, since, containers, lookback=tr.watch.lookback)
    if p.unhealthy:
        p.stop_grace = service_spec.stop_grace_nanos(service.spec) / 1e9 or DEFAULT_STOP_GRACE
    if not tr.started:
        if p.update_state is not None:
            tr.started = True  # the update call cleared the last state: this one is ours
        elif not tr.watch.changed:
            tr.started = True
        else:
            tr.started = nothing_to_replace(look.every or (), {t.id for t in current})
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
        tr.stable_since = tr.ready_at = None
        return p
    window = monitor_of(service.spec)
    if tr.stable_since is None:
        tr.stable_since = tr.ready_at = now
        if not tr.watch.changed and since is not None and _running_since(current) <= since - timedelta(seconds=window):
            tr.stable_since = now - window  # untouched, and its tasks ran the whole window before we looked
    left = window - (now - tr.stable_since)
    if left > 0:
        p.settling = left
    elif p.update_state == "updating":
        p.settling = 0.0  # stable, but swarm still watches its new tasks: never "ok" before swarm is done
    else:
        p.done = tr.done = True
    return p


# -- container health, read where the tasks run ---------------------------------------------------

NodeEngines = Callable[[str], "Engine | None"]  # swarm node id -> that node's engine; None: out of reach


def own_node(client: Engine) -> NodeEngines:
    """The manager's engine for its own node (its node id read once, when first needed); None for others."""
    mine: list[str] = []

    def engine_of(node_id: str) -> Engine | None:
        if not mine:
            mine.append(views.info(client).node_id)
        return client if node_id == mine[0] else None

    return engine_of


def read_containers(engine_of: NodeEngines, tasks: Sequence[Task]) -> dict[str, Container | None]:
    """The containers of these tasks that run (or say so), read on their nodes: ONE request per node,
    nodes in parallel. Container id -> container, None when its node no longer has it; containers of a
    node out of reach (no engine, or it did not answer) are left out."""
    by_node: dict[str, list[str]] = {}
    for t in tasks:
        if t.running and t.node_id and _container_id(t):
            by_node.setdefault(t.node_id, []).append(_container_id(t))
    # Engines are found here, in this thread: finding one asks the manager, and an engine is one
    # connection, never shared between threads. Then one thread per engine.
    by_engine: dict[int, tuple[Engine, list[str]]] = {}
    for node in sorted(by_node):
        engine = engine_of(node)
        if engine is not None:
            by_engine.setdefault(id(engine), (engine, []))[1].extend(by_node[node])

    def read(job: tuple[Engine, list[str]]) -> dict[str, Container | None]:
        engine, ids = job
        try:
            found = views.containers_by_id(engine, ids)
        except CoopError:  # the node's engine is gone for now: its tasks are taken at their word
            return {}
        return {cid: found.get(cid) for cid in ids}

    from coopcloud.fanout import fan_out

    out: dict[str, Container | None] = {}
    for part in fan_out(read, by_engine.values()):
        out.update(part)
    return out


def _health_of(engine_of: NodeEngines, progress: Sequence[ServiceProgress]) -> None:
    """For each service that failed on a healthcheck: its container's last runs (and the last output
    in its error line)."""
    for p in progress:
        if not p.unhealthy or p.health:
            continue
        node, cid = p.unhealthy
        engine = engine_of(node)
        try:
            runs = views.health_log(engine, cid) if engine is not None else ()
        except CoopError:  # the log is a courtesy in an error report
            runs = ()
        p.health = [f"exit {r.exit_code}: {r.output or '(no output)'}" for r in runs[-HEALTH_LINES:]]
        if runs and p.error:
            p.error += f"; last check: {_one_line(runs[-1].output) or f'exit code {runs[-1].exit_code}'}"


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _running_since(tasks: Sequence[Task]) -> datetime:
    """When the youngest running task began running (its last status change); the far future if unknown."""
    latest = datetime.min.replace(tzinfo=UTC)
    for t in tasks:
        if t.running:
            if t.status.timestamp is None:
                return _FAR_FUTURE
            latest = max(latest, t.status.timestamp)
    return latest


def _last_logs(client: Engine, failed: list[ServiceProgress], n: int) -> dict[str, list[str]]:
    logs: dict[str, list[str]] = {}
    for p in failed:
        try:
            frames = client.service_logs(p.name, tail=n, lines=True)
            logs[p.name] = [f.data.decode("utf-8", "replace").rstrip("\n") for f in frames][-n:]
        except Exception:  # logs are a courtesy in an error report; never hide the real error
            logs[p.name] = []
    return logs
