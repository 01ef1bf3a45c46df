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

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from coopcloud.errors import NotFound
from coopcloud.ops.apps import STACK_LABEL

FAILED_STATES = {"failed", "rejected", "orphaned"}
BAD_UPDATE_STATES = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}


class NotDeployed(NotFound):
    """The app has an env file but no services on its server."""


@dataclass(frozen=True)
class Port:
    published: int | None
    target: int
    protocol: str = "tcp"
    mode: str = "ingress"

    def __str__(self) -> str:
        host = f"{self.published}:" if self.published else ""
        mode = " (host)" if self.mode == "host" else ""
        return f"{host}{self.target}/{self.protocol}{mode}"


@dataclass(frozen=True)
class Task:
    id: str
    slot: int | None
    node: str  # hostname, or the node id when the node is gone
    state: str  # current state: running, starting, failed, shutdown...
    desired: str
    timestamp: str  # when it entered `state`
    error: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Service:
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
    tasks: tuple[Task, ...] = ()

    @property
    def image_display(self) -> str:
        return strip_digest(self.image)

    def to_json(self) -> dict:
        data = asdict(self)
        data["image_display"] = self.image_display
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


def strip_digest(image: str) -> str:
    """``repo:tag@sha256:…`` → ``repo:tag`` (for display; JSON keeps the digest)."""
    return image.split("@", 1)[0]


def short_name(stack: str, full: str) -> str:
    prefix = f"{stack}_"
    return full[len(prefix) :] if full.startswith(prefix) else full


def timestamp_key(ts: str | None) -> tuple[str, str]:
    """Sort key for RFC 3339 timestamps whose fraction may be trimmed (Go's RFC3339Nano)."""
    if not ts:
        return ("", "")
    head, _, rest = ts.partition(".")
    digits = re.match(r"\d*", rest).group(0) if rest else ""
    return (head.rstrip("Z"), digits.ljust(9, "0"))


def classify_failure(task: dict) -> tuple[str, str, int | None]:
    """(kind, message, exit code) for a task that did not run as it should."""
    status = task.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    code = container.get("ExitCode")
    err = (status.get("Err") or "").strip()
    message = err or (status.get("Message") or "").strip() or status.get("State", "")
    lowered = err.lower()
    if "oom" in lowered or "out of memory" in lowered:
        kind = "oom"
    elif "unhealthy" in lowered or "health" in lowered:
        kind = "unhealthy"
    elif status.get("State") == "rejected":
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


def app_services(client: Any, ref: Any, *, status: bool = False) -> list[dict]:
    return _sorted_services(ref, client.services(stack_filter(ref.stack_name), status=status))


def _sorted_services(ref: Any, services: list[dict]) -> list[dict]:
    if not services:
        raise NotDeployed(
            f"app {ref.name} is not deployed on server {ref.server}", hint=f"run: coop app deploy {ref.name}"
        )
    return sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", ""))


def pick_services(ref: Any, services: list[dict], wanted: Iterable[str]) -> list[dict]:
    by_short = {short_name(ref.stack_name, (s.get("Spec") or {}).get("Name", "")): s for s in services}
    chosen = []
    for name in wanted:
        svc = by_short.get(name) or by_short.get(short_name(ref.stack_name, name))
        if svc is None:
            raise NotFound(
                f"app {ref.name} has no service {name}",
                hint=f"its services: {', '.join(sorted(by_short))}",
            )
        chosen.append(svc)
    return chosen


def _ports(service: dict) -> tuple[Port, ...]:
    spec_ports = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    live_ports = (service.get("Endpoint") or {}).get("Ports") or []
    ports = []
    for p in live_ports or spec_ports:
        ports.append(
            Port(
                published=p.get("PublishedPort") or None,
                target=int(p.get("TargetPort", 0)),
                protocol=p.get("Protocol", "tcp"),
                mode=p.get("PublishMode", "ingress"),
            )
        )
    return tuple(sorted(ports, key=lambda p: (p.target, p.protocol, p.published or 0)))


def _service_row(ref: Any, svc: dict, tasks: tuple[Task, ...] = (), *, with_status: bool) -> Service:
    spec = svc.get("Spec") or {}
    mode = spec.get("Mode") or {}
    status = svc.get("ServiceStatus") or {}
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return Service(
        service=short_name(ref.stack_name, spec.get("Name", "")),
        name=spec.get("Name", ""),
        id=svc.get("ID", ""),
        image=container.get("Image", ""),
        mode="global" if "Global" in mode else "replicated",
        running=int(status.get("RunningTasks", 0)) if with_status else None,
        desired=int(status.get("DesiredTasks", 0)) if with_status else spec_replicas(spec),
        ports=_ports(svc),
        labels=dict(sorted((spec.get("Labels") or {}).items())),
        update_state=(svc.get("UpdateStatus") or {}).get("State"),
        tasks=tasks,
    )


def spec_replicas(spec: dict) -> int | None:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return None
    return int((mode.get("Replicated") or {}).get("Replicas", 1))


def _task(raw: dict, nodes: dict[str, str]) -> Task:
    status = raw.get("Status") or {}
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    node_id = raw.get("NodeID", "")
    return Task(
        id=raw.get("ID", ""),
        slot=raw.get("Slot"),
        node=nodes.get(node_id, node_id),
        state=status.get("State", ""),
        desired=raw.get("DesiredState", ""),
        timestamp=status.get("Timestamp", ""),
        error=status.get("Err") or None,
        exit_code=code,
    )


def _current_tasks(tasks: list[dict]) -> list[dict]:
    """The newest task of each slot (replicated) or node (global): what runs, or tries to, now.

    A task swarm wants running beats newer ones it told to stop: a node that comes back reports
    on its old tasks, which bumps their version though they are history.
    """
    newest: dict[tuple, dict] = {}
    for t in tasks:
        key = (t.get("ServiceID"), t.get("Slot") or t.get("NodeID"))
        best = newest.get(key)
        if best is None or _task_rank(t) > _task_rank(best):
            newest[key] = t
    return sorted(newest.values(), key=lambda t: (t.get("Slot") or 0, t.get("NodeID", ""), t.get("ID", "")))


def _task_rank(task: dict) -> tuple[bool, int, str]:
    return (task.get("DesiredState") == "running", *_task_version(task))


def _task_version(task: dict) -> tuple[int, str]:
    return ((task.get("Version") or {}).get("Index", 0), task.get("CreatedAt", ""))


def ps(client: Any, ref: Any) -> list[Service]:
    """Services of the app with their current tasks: services, tasks and nodes in one round trip."""
    from coopcloud.engine.stream import encode_filters

    stack = encode_filters(stack_filter(ref.stack_name))
    found, tasks, all_nodes = client.get_many(
        [("/services", {"filters": stack, "status": True}), ("/tasks", {"filters": stack}), ("/nodes", {})]
    )
    services = _sorted_services(ref, found)
    nodes = {n.get("ID", ""): (n.get("Description") or {}).get("Hostname", "") for n in all_nodes}
    by_service: dict[str, list[dict]] = {}
    for t in tasks:
        by_service.setdefault(t.get("ServiceID", ""), []).append(t)
    rows = []
    for svc in services:
        current = _current_tasks(by_service.get(svc.get("ID", ""), []))
        rows.append(_service_row(ref, svc, tuple(_task(t, nodes) for t in current), with_status=True))
    return rows


def service_list(client: Any, ref: Any) -> list[Service]:
    """The app's services as specified (image, mode, replicas, labels, ports): one request."""
    return [_service_row(ref, svc, with_status=False) for svc in app_services(client, ref)]


def errors(client: Any, ref: Any, *, limit: int = 20) -> list[TaskError]:
    """Recent failures, newest first: failed/rejected tasks (exit code, OOM, unhealthy) and
    services whose swarm update paused or rolled back. Tasks swarm still remembers only
    (its task history, 5 per slot by default). Three requests: services, tasks, nodes.
    """
    services = app_services(client, ref)
    names = {s.get("ID", ""): short_name(ref.stack_name, (s.get("Spec") or {}).get("Name", "")) for s in services}
    found: list[TaskError] = []
    for svc in services:
        update = svc.get("UpdateStatus") or {}
        if update.get("State") in BAD_UPDATE_STATES:
            found.append(
                TaskError(
                    service=names[svc.get("ID", "")], task="", slot=None, node="",
                    state=update["State"], timestamp=update.get("CompletedAt") or update.get("StartedAt") or "",
                    kind="update", message=update.get("Message") or f"update {update['State']}",
                )
            )
    tasks = client.tasks(stack_filter(ref.stack_name))
    bad = [t for t in tasks if _is_failure(t)]
    if bad:
        nodes = {n.get("ID", ""): (n.get("Description") or {}).get("Hostname", "") for n in client.nodes()}
        for t in bad:
            status = t.get("Status") or {}
            kind, message, code = classify_failure(t)
            found.append(
                TaskError(
                    service=names.get(t.get("ServiceID", ""), t.get("ServiceID", "")),
                    task=t.get("ID", ""),
                    slot=t.get("Slot"),
                    node=nodes.get(t.get("NodeID", ""), t.get("NodeID", "")),
                    state=status.get("State", ""),
                    timestamp=status.get("Timestamp", ""),
                    kind=kind,
                    message=message,
                    exit_code=code,
                )
            )
    found.sort(key=lambda e: timestamp_key(e.timestamp), reverse=True)
    return found[:limit]


def _is_failure(task: dict) -> bool:
    status = task.get("Status") or {}
    if status.get("State") in FAILED_STATES:
        return True
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    # A task that exited non-zero on its own (not stopped by swarm for an update or scale-down).
    return status.get("State") in ("complete", "shutdown") and code not in (None, 0) and bool(status.get("Err"))
