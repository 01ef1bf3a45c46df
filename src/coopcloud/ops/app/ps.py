"""What an app runs: `ps`, `service_list`, `errors`, and the reading every app command shares.

An app's services are those labelled ``com.docker.stack.namespace=<stack>``;
their full names are ``<stack>_<service>`` and users name them by the short
part (``app``, ``db``). ``ps`` is three requests whatever the size of the app:
one services list (with task counts), one tasks list (by the stack label), one
nodes list. Each function takes an engine client and an `AppRef` and returns
data (never prints).

    with engine.connect("unix:///var/run/docker.sock") as docker:
        for row in ps(docker, AppRef("default", "cloud.example.org")):
            print(row.service, row.image_display, f"{row.running}/{row.desired}")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from coopcloud.engine import views
from coopcloud.engine.views import Port, rfc3339
from coopcloud.errors import NotFound
from coopcloud.rawdata import JSONDict
from coopcloud.swarm.labels import STACK_LABEL, main_service_name

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine


class NotDeployed(NotFound):
    """The app has an env file but no services on its server."""


@dataclass(frozen=True)
class TaskRow:
    id: str
    slot: int | None
    node: str  # hostname, or the node id when the node is gone
    state: str  # current state: running, starting, failed, shutdown...
    desired: str
    timestamp: str  # when it entered `state`
    error: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class ServiceRow:
    service: str  # short name: app, db
    name: str  # full name: <stack>_<service>
    id: str
    image: str  # as in the spec, digest included
    mode: str  # replicated | global
    running: int | None  # None when not asked for (services without status)
    desired: int | None
    ports: tuple[Port, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    update_state: str | None = None
    tasks: tuple[TaskRow, ...] = ()
    # tasks of its current spec that ended in the last few minutes (swarm replaced them), and why the
    # last did; a crash loop when they are several (`converge.CRASH_LOOP_ENDED`)
    restarts: int = 0
    last_failure: str | None = None
    crash_loop: bool = False

    @property
    def image_display(self) -> str:
        return strip_digest(self.image)

    @property
    def replicas_display(self) -> str:
        """``1/1``, or ``1/1, crash loop (3 restarts in 5 min)`` / ``1/1, 1 restart in 5 min``."""
        text = f"{self.running}/{self.desired if self.desired is not None else '?'}"
        if not self.restarts:
            return text
        from coopcloud.ops.deploy.converge import CRASH_LOOP_PERIOD

        within = f"{self.restarts} restart{'s' if self.restarts > 1 else ''} in {CRASH_LOOP_PERIOD / 60:.0f} min"
        return f"{text}, crash loop ({within})" if self.crash_loop else f"{text}, {within}"

    def to_json(self) -> JSONDict:
        data = asdict(self)
        data["image_display"] = self.image_display
        data["replicas_display"] = self.replicas_display
        data["ports"] = [dict(asdict(p), text=str(p)) for p in self.ports]
        return data


@dataclass(frozen=True)
class TaskError:
    service: str
    task: str
    slot: int | None
    node: str
    state: str
    timestamp: str
    kind: str  # exit | oom | unhealthy | rejected | update | other
    message: str
    exit_code: int | None = None

    def to_json(self) -> JSONDict:
        """Its fields, `timestamp` as `when` in RFC 3339 (docs/grammar.md)."""
        from coopcloud.domain.words import json_time
        from coopcloud.engine.views import parse_time

        doc: JSONDict = asdict(self)
        doc["when"] = json_time(parse_time(str(doc.pop("timestamp"))))
        return doc


def strip_digest(image: str) -> str:
    """``repo:tag@sha256:…`` → ``repo:tag`` (for display; JSON keeps the digest)."""
    return image.split("@", 1)[0]


def short_name(stack: str, full: str) -> str:
    prefix = f"{stack}_"
    return full[len(prefix) :] if full.startswith(prefix) else full


def classify_failure(task: views.Task) -> tuple[str, str, int | None]:
    """(kind, message, exit code) for a task that did not run as it should."""
    status = task.status
    code = status.exit_code
    err = status.err or ""
    message = err or status.message.strip() or status.state
    lowered = err.lower()
    if "oom" in lowered or "out of memory" in lowered:
        kind = "oom"
    elif "unhealthy" in lowered or "health" in lowered:
        kind = "unhealthy"
    elif status.state == "rejected":
        kind = "rejected"
    elif code not in (None, 0):
        kind = "oom" if code == 137 and "oom" in lowered else "exit"
    else:
        kind = "other"
    if code not in (None, 0) and f"({code})" not in message and f"exit code {code}" not in message:
        message = f"{message} (exit code {code})" if message else f"exit code {code}"
    return kind, message, code


def stack_filter(stack: str) -> dict[str, list[str]]:
    return {"label": [f"{STACK_LABEL}={stack}"]}


def _not_deployed(ref: AppRef) -> NotDeployed:
    return NotDeployed(
        f"app {ref.name} is not deployed on server {ref.server}", hint=f"run: coop app deploy {ref.name}"
    )


def app_services(client: Engine, ref: AppRef, *, status: bool = False) -> list[views.Service]:
    """The app's services, sorted by name; NotDeployed when there are none."""
    return _sorted_services(ref, client.services(stack_filter(ref.stack_name), status=status))


def _sorted_services(ref: AppRef, found: object) -> list[views.Service]:
    services = sorted(views.each(views.Service.from_json, found), key=lambda s: s.name)
    if not services:
        raise _not_deployed(ref)
    return services


def main_labels(client: Engine, ref: AppRef) -> dict[str, str]:
    """The labels of the deployed app's main service (``coop-cloud.<stack>.version``, ``.chaos``…): one request.

    NotDeployed, naming ``coop app deploy``, when the app runs nothing on its server.
    """
    services = {s.name: s for s in app_services(client, ref)}
    return dict(services[main_service_name(ref.stack_name, services)].labels)


def pick_services(ref: AppRef, services: list[views.Service], wanted: Iterable[str]) -> list[views.Service]:
    by_short = {short_name(ref.stack_name, s.name): s for s in services}
    chosen = []
    for name in wanted:
        svc = by_short.get(name) or by_short.get(short_name(ref.stack_name, name))
        if svc is None:
            from coopcloud.domain.words import did_you_mean

            raise NotFound(
                f"app {ref.name} has no service {name}",
                hint=did_you_mean(name, by_short) or f"its services: {', '.join(sorted(by_short)) or 'none'}",
            )
        chosen.append(svc)
    return chosen


def _service_row(ref: AppRef, svc: views.Service, tasks: tuple[TaskRow, ...] = (), *, with_status: bool) -> ServiceRow:
    return ServiceRow(
        service=short_name(ref.stack_name, svc.name),
        name=svc.name,
        id=svc.id,
        image=svc.image,
        mode="global" if svc.is_global else "replicated",
        running=(svc.running_tasks or 0) if with_status else None,
        desired=(svc.desired_tasks or 0) if with_status else svc.replicas,
        ports=svc.ports,
        labels=dict(svc.labels),
        update_state=svc.update_state,
        tasks=tasks,
    )


def _task(task: views.Task, nodes: dict[str, str]) -> TaskRow:
    return TaskRow(
        id=task.id,
        slot=task.slot,
        node=nodes.get(task.node_id, task.node_id),
        state=task.state,
        desired=task.desired_state,
        timestamp=rfc3339(task.status.timestamp),
        error=task.status.err,
        exit_code=task.status.exit_code,
    )


def _current_tasks(tasks: list[views.Task]) -> list[views.Task]:
    """The newest task of each slot (replicated) or node (global): what runs, or tries to, now.

    A task swarm wants running beats newer ones it told to stop: a node that comes back reports
    on its old tasks, which bumps their version though they are history.
    """
    newest: dict[tuple[str, int | str], views.Task] = {}
    for t in tasks:
        key = (t.service_id, t.slot or t.node_id)
        best = newest.get(key)
        if best is None or _task_rank(t) > _task_rank(best):
            newest[key] = t
    return sorted(newest.values(), key=lambda t: (t.slot or 0, t.node_id, t.id))


def _task_rank(task: views.Task) -> tuple[bool, int, float]:
    return (task.desired_state == "running", *_task_version(task))


def _task_version(task: views.Task) -> tuple[int, float]:
    return (task.version, task.created_at.timestamp() if task.created_at else 0.0)


def _hostnames(nodes: object) -> dict[str, str]:
    return {n.id: n.hostname for n in views.each(views.Node.from_json, nodes)}


def ps(client: Engine, ref: AppRef) -> list[ServiceRow]:
    """Services of the app with their current tasks and recent restarts: services, tasks (all, and
    those of each service's current spec), nodes and the engine's clock in one round trip."""
    from dataclasses import replace

    from coopcloud.engine.stream import encode_filters
    from coopcloud.ops.deploy.converge import restarts

    stack = encode_filters(stack_filter(ref.stack_name))
    found, raw_tasks, raw_current, all_nodes, info = client.get_many(
        [
            ("/services", {"filters": stack, "status": True}),
            ("/tasks", {"filters": stack}),
            ("/tasks", {"filters": encode_filters({**stack_filter(ref.stack_name), "_up-to-date": ["true"]})}),
            ("/nodes", {}),
            ("/info", {}),
        ]
    )
    services = _sorted_services(ref, found)
    nodes = _hostnames(all_nodes)
    by_service = _by_service(raw_tasks)
    current_spec = _by_service(raw_current)
    now = views.one(views.Info.from_json, info).now
    rows = []
    for svc in services:
        current = _current_tasks(by_service.get(svc.id, []))
        row = _service_row(ref, svc, tuple(_task(t, nodes) for t in current), with_status=True)
        ended = restarts(svc, current_spec.get(svc.id, []), now)
        rows.append(replace(row, restarts=ended.count, last_failure=ended.last, crash_loop=ended.crash_loop))
    return rows


def _by_service(raw_tasks: object) -> dict[str, list[views.Task]]:
    out: dict[str, list[views.Task]] = {}
    for t in views.each(views.Task.from_json, raw_tasks):
        out.setdefault(t.service_id, []).append(t)
    return out


def service_list(client: Engine, ref: AppRef) -> list[ServiceRow]:
    """The app's services as specified (image, mode, replicas, labels, ports): one request."""
    return [_service_row(ref, svc, with_status=False) for svc in app_services(client, ref)]


def errors(client: Engine, ref: AppRef, *, limit: int = 20) -> list[TaskError]:
    """Recent failures, newest first: failed/rejected tasks (exit code, OOM, unhealthy) and
    services whose swarm update paused or rolled back. Tasks swarm still remembers only
    (its task history, 5 per slot by default). Three requests: services, tasks, nodes.
    """
    services = app_services(client, ref)
    names = {s.id: short_name(ref.stack_name, s.name) for s in services}
    found: list[tuple[float, TaskError]] = []
    for svc in services:
        update = svc.update_status
        if update is not None and update.failed:
            when = update.completed_at or update.started_at
            error = TaskError(
                service=names[svc.id],
                task="",
                slot=None,
                node="",
                state=update.state,
                timestamp=rfc3339(when),
                kind="update",
                message=update.message or f"update {update.state}",
            )
            found.append((when.timestamp() if when else 0.0, error))
    bad = [t for t in views.tasks(client, stack_filter(ref.stack_name)) if _is_failure(t)]
    if bad:
        nodes = _hostnames(client.nodes())
        for t in bad:
            kind, message, code = classify_failure(t)
            error = TaskError(
                service=names.get(t.service_id, t.service_id),
                task=t.id,
                slot=t.slot,
                node=nodes.get(t.node_id, t.node_id),
                state=t.state,
                timestamp=rfc3339(t.status.timestamp),
                kind=kind,
                message=message,
                exit_code=code,
            )
            found.append((t.status.timestamp.timestamp() if t.status.timestamp else 0.0, error))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [error for _, error in found[:limit]]


def _is_failure(task: views.Task) -> bool:
    if task.failed:
        return True
    # A task that exited non-zero on its own (not stopped by swarm for an update or scale-down).
    return task.state in ("complete", "shutdown") and task.status.exit_code not in (None, 0) and bool(task.status.err)
