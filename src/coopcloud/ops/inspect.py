"""Looking at a deployed app, and the small hands-on actions around it.

`ps`, `service_list`, `errors`, `logs`, `restart`, `run`, `cp`, `volumes`,
`remove_volumes`: each takes an engine client and an `AppRef`, talks to the
engine with as few requests as it can, and returns data (never prints).

An app's services are those labelled ``com.docker.stack.namespace=<stack>``;
their full names are ``<stack>_<service>`` and users name them by the short
part (``app``, ``db``). ``ps`` is three requests whatever the size of the app:
one services list (with task counts), one tasks list (by the stack label), one
nodes list.

    with engine.connect("unix:///var/run/docker.sock") as docker:
        for row in ps(docker, AppRef("default", "cloud.example.org")):
            print(row.service, row.image_display, f"{row.running}/{row.desired}")
"""

from __future__ import annotations

import copy
import io
import os
import queue
import re
import socket
import tarfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Iterable, Iterator

from coopcloud.errors import Conflict, DeployFailed, EngineError, EngineNotFound, NotFound, UsageError
from coopcloud.ops.apps import STACK_LABEL

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
FAILED_STATES = {"failed", "rejected", "orphaned"}
BAD_UPDATE_STATES = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
DEFAULT_RESTART_TIMEOUT = 300  # seconds; label coop-cloud.<stack>.timeout overrides it
MAX_RESTART_FAILURES = 3
_GO_DIR_BIT = 1 << 31  # os.ModeDir in the archive API's path stat


class NotDeployed(NotFound):
    """The app has an env file but no services on its server."""


# -- models -------------------------------------------------------------------


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


@dataclass(frozen=True)
class LogLine:
    service: str
    stream: str  # stdout | stderr
    text: str
    timestamp: str | None = None


@dataclass(frozen=True)
class Restarted:
    service: str
    before: tuple[str, ...]  # task ids running before
    after: tuple[str, ...]  # task ids running now


@dataclass(frozen=True)
class Copied:
    direction: str  # "from" (container → local) or "to" (local → container)
    service: str
    container: str
    container_path: str
    local_path: str
    bytes: int


@dataclass(frozen=True)
class Volume:
    name: str
    volume: str  # short name (without "<stack>_")
    driver: str
    mountpoint: str
    created: str
    labels: dict[str, str] = field(default_factory=dict)


# -- pure helpers ---------------------------------------------------------------


def strip_digest(image: str) -> str:
    """``repo:tag@sha256:…`` → ``repo:tag`` (for display; JSON keeps the digest)."""
    return image.split("@", 1)[0]


def short_name(stack: str, full: str) -> str:
    prefix = f"{stack}_"
    return full[len(prefix) :] if full.startswith(prefix) else full


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_since(value: str | None, now: float | None = None) -> str | None:
    """The engine's `since` (a UNIX timestamp) from what the docker CLI accepts.

    A Go duration (``10m``, ``1h30m``, ``45s``) counts back from now; an
    RFC 3339 date or a plain date is taken as UTC unless it has an offset; a
    number is already a timestamp.

    >>> parse_since("10m", now=1000.0)
    '400'
    >>> parse_since("1970-01-01T00:01:00Z")
    '60'
    """
    if value is None or value == "":
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    if re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(text))
        base = time.time() if now is None else now
        return _fmt_ts(base - seconds)
    iso = text.replace("Z", "+00:00").replace(" ", "T")
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither a duration nor a date",
            hint="use e.g. 10m, 2h, 2024-05-01 or 2024-05-01T10:00:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return _fmt_ts(when.timestamp())


def _fmt_ts(ts: float) -> str:
    whole = int(ts)
    frac = ts - whole
    return str(whole) if frac < 1e-9 else f"{ts:.9f}".rstrip("0")


def timestamp_key(ts: str | None) -> tuple[str, str]:
    """Sort key for RFC 3339 timestamps whose fraction may be trimmed (Go's RFC3339Nano)."""
    if not ts:
        return ("", "")
    head, _, rest = ts.partition(".")
    digits = re.match(r"\d*", rest).group(0) if rest else ""
    return (head.rstrip("Z"), digits.ljust(9, "0"))


def split_timestamp(line: str) -> tuple[str | None, str]:
    """``"2024-…Z text"`` → (timestamp, text), as the engine sends lines with timestamps=1."""
    head, sep, rest = line.partition(" ")
    if sep and re.match(r"\d{4}-\d\d-\d\dT", head):
        return head, rest
    return None, line


@dataclass(frozen=True)
class CopySpec:
    service: str
    container_path: str
    local_path: str
    to_container: bool


def parse_copy(src: str, dst: str) -> CopySpec:
    """Which side of ``coop app cp`` is ``SERVICE:/path``. Exactly one must be.

    >>> parse_copy("app:/etc/hosts", "./hosts")
    CopySpec(service='app', container_path='/etc/hosts', local_path='./hosts', to_container=False)
    """
    remote = [_remote_part(src), _remote_part(dst)]
    if remote[0] and remote[1]:
        raise UsageError("both SRC and DST name a service; one side must be a local path",
                         hint="e.g. coop app cp APP app:/etc/hosts ./hosts")
    if not remote[0] and not remote[1]:
        raise UsageError("neither SRC nor DST names a service as SERVICE:/path",
                         hint="e.g. coop app cp APP ./file app:/tmp/")
    if remote[0]:
        service, path = remote[0]
        return CopySpec(service, path, dst, to_container=False)
    service, path = remote[1]  # type: ignore[misc]
    return CopySpec(service, path, src, to_container=True)


def _remote_part(arg: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*):(.*)", arg)
    if not match:
        return None
    path = match.group(2) or "/"
    if not path.startswith("/"):
        raise UsageError(f"{arg}: the path in a container must be absolute", hint=f"e.g. {match.group(1)}:/{path}")
    return match.group(1), path


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


# -- reading an app's services ---------------------------------------------------


def stack_filter(stack: str) -> dict[str, list[str]]:
    return {"label": [f"{STACK_LABEL}={stack}"]}


def _app_services(client: Any, ref: Any, *, status: bool = False) -> list[dict]:
    services = client.services(stack_filter(ref.stack_name), status=status)
    if not services:
        raise NotDeployed(
            f"app {ref.name} is not deployed on server {ref.server}", hint=f"run: coop app deploy {ref.name}"
        )
    return sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", ""))


def _pick(ref: Any, services: list[dict], wanted: Iterable[str]) -> list[dict]:
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
        desired=int(status.get("DesiredTasks", 0)) if with_status else _replicas(spec),
        ports=_ports(svc),
        labels=dict(sorted((spec.get("Labels") or {}).items())),
        update_state=(svc.get("UpdateStatus") or {}).get("State"),
        tasks=tasks,
    )


def _replicas(spec: dict) -> int | None:
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
    """The newest task of each slot (replicated) or node (global): what runs, or tries to, now."""
    newest: dict[tuple, dict] = {}
    for t in tasks:
        key = (t.get("ServiceID"), t.get("Slot") or t.get("NodeID"))
        best = newest.get(key)
        if best is None or _task_version(t) > _task_version(best):
            newest[key] = t
    return sorted(newest.values(), key=lambda t: (t.get("Slot") or 0, t.get("NodeID", ""), t.get("ID", "")))


def _task_version(task: dict) -> tuple[int, str]:
    return ((task.get("Version") or {}).get("Index", 0), task.get("CreatedAt", ""))


def ps(client: Any, ref: Any) -> list[Service]:
    """Services of the app with their current tasks: three requests (services, tasks, nodes)."""
    services = _app_services(client, ref, status=True)
    tasks = client.tasks(stack_filter(ref.stack_name))
    nodes = {n.get("ID", ""): (n.get("Description") or {}).get("Hostname", "") for n in client.nodes()}
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
    return [_service_row(ref, svc, with_status=False) for svc in _app_services(client, ref)]


def errors(client: Any, ref: Any, *, limit: int = 20) -> list[TaskError]:
    """Recent failures, newest first: failed/rejected tasks (exit code, OOM, unhealthy) and
    services whose swarm update paused or rolled back. Tasks swarm still remembers only
    (its task history, 5 per slot by default). Three requests: services, tasks, nodes.
    """
    services = _app_services(client, ref)
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


# -- logs -------------------------------------------------------------------------


def logs(
    client: Any,
    ref: Any,
    service: str | None = None,
    *,
    tail: int | str | None = None,
    since: str | None = None,
    follow: bool = False,
    now: float | None = None,
) -> Iterator[LogLine]:
    """Log lines of one service or of all the app's services.

    Without `follow`, the lines of several services are merged in time order.
    With `follow`, each service streams on its own connection (`client.clone()`)
    and lines come as they arrive; closing the iterator (or Ctrl-C in the
    caller) ends every stream and closes those connections.
    """
    services = _app_services(client, ref)
    chosen = _pick(ref, services, [service]) if service else services
    names = [(short_name(ref.stack_name, s["Spec"]["Name"]), s["Spec"]["Name"]) for s in chosen]
    since_ts = parse_since(since, now)
    if follow:
        return _follow(client, names, tail=tail, since=since_ts)
    return _collect(client, names, tail=tail, since=since_ts)


def _to_line(short: str, frame: Any) -> LogLine:
    text = frame.data.decode("utf-8", "replace").rstrip("\r")
    ts, text = split_timestamp(text)
    return LogLine(short, frame.stream, text, ts)


def _collect(client: Any, names: list[tuple[str, str]], *, tail: Any, since: str | None) -> Iterator[LogLine]:
    lines: list[LogLine] = []
    for short, full in names:
        frames = client.service_logs(full, tail=tail, since=since, timestamps=True, lines=True)
        lines.extend(_to_line(short, f) for f in frames)
    if len(names) > 1:
        lines.sort(key=lambda l: timestamp_key(l.timestamp))  # stable: one service's order is kept
    return iter(lines)


_DONE = object()


def _follow(client: Any, names: list[tuple[str, str]], *, tail: Any, since: str | None) -> Iterator[LogLine]:
    items: queue.Queue = queue.Queue()
    stop = threading.Event()
    streams = [client.clone() for _ in names]

    def pump(short: str, full: str, stream: Any) -> None:
        try:
            for frame in stream.service_logs(full, follow=True, tail=tail, since=since, timestamps=True, lines=True):
                if stop.is_set():
                    break
                items.put(_to_line(short, frame))
        except BaseException as exc:  # handed to the reader, which raises it in the caller's thread
            if not stop.is_set():
                items.put(exc)
        finally:
            items.put(_DONE)

    threads = [
        threading.Thread(target=pump, args=(short, full, stream), daemon=True, name=f"logs-{short}")
        for (short, full), stream in zip(names, streams)
    ]
    for t in threads:
        t.start()
    try:
        remaining = len(threads)
        while remaining:
            try:
                item = items.get(timeout=0.25)  # short waits keep Ctrl-C responsive
            except queue.Empty:
                continue
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for stream in streams:
            _hang_up(stream)
        for t in threads:
            t.join(timeout=5)
        for stream in streams:
            stream.close()


def _hang_up(client: Any) -> None:
    """Wake a thread blocked reading `client`'s stream: shut the socket down (close alone does not)."""
    sock = getattr(getattr(client, "_conn", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# -- restart ------------------------------------------------------------------------


def restart(
    client: Any,
    ref: Any,
    services: list[str] | None = None,
    *,
    timeout: float | None = None,
    interval: float = 0.5,
    report: Callable[[str], None] | None = None,
) -> list[Restarted]:
    """Force-update the given services (all when None) and wait until their tasks run again.

    Like ``docker service update --force``: TaskTemplate.ForceUpdate is
    incremented at the service's current version, so swarm replaces every
    task. Done when each service runs as many *new* tasks as it wants and no
    old one runs. Raises DeployFailed on timeout, a paused or rolled-back
    update, or new tasks that keep failing.
    """
    all_services = _app_services(client, ref)
    chosen = _pick(ref, all_services, services) if services else all_services
    if timeout is None:
        timeout = _timeout_label(ref, all_services)
    before = client.tasks(stack_filter(ref.stack_name))
    old_ids = {t.get("ID") for t in before}
    running_before: dict[str, list[str]] = {}
    for t in before:
        if _running(t):
            running_before.setdefault(t.get("ServiceID", ""), []).append(t.get("ID", ""))
    for svc in chosen:
        spec = copy.deepcopy(svc.get("Spec") or {})
        template = spec.setdefault("TaskTemplate", {})
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        client.service_update(svc["ID"], svc["Version"]["Index"], spec, registry_auth_from="spec")
        if report:
            report(f"restarting {short_name(ref.stack_name, spec.get('Name', ''))}")
    want = {}
    for svc in chosen:
        replicas = _replicas(svc.get("Spec") or {})
        want[svc["ID"]] = max(1, len(running_before.get(svc["ID"], []))) if replicas is None else replicas
    ids = [svc["ID"] for svc in chosen]
    short = {svc["ID"]: short_name(ref.stack_name, svc["Spec"]["Name"]) for svc in chosen}
    deadline = time.monotonic() + timeout
    while True:
        tasks = client.tasks({"service": ids})
        pending = []
        for sid in ids:
            mine = [t for t in tasks if t.get("ServiceID") == sid]
            new = [t for t in mine if t.get("ID") not in old_ids]
            new_running = [t for t in new if _running(t)]
            old_running = [t for t in mine if t.get("ID") in old_ids and _running(t)]
            failed = [t for t in new if (t.get("Status") or {}).get("State") in FAILED_STATES]
            if len(failed) >= MAX_RESTART_FAILURES:
                _, message, _ = classify_failure(failed[-1])
                raise DeployFailed(
                    f"app {ref.name}: service {short[sid]} fails to start again ({len(failed)} failed tasks: {message})",
                    hint=f"see: coop app errors {ref.name}",
                )
            if len(new_running) < want[sid] or old_running:
                pending.append((sid, len(new_running)))
        if pending:
            for svc in client.services({"id": [sid for sid, _ in pending]}):
                update = svc.get("UpdateStatus") or {}
                if update.get("State") in BAD_UPDATE_STATES:
                    raise DeployFailed(
                        f"app {ref.name}: service {short.get(svc.get('ID'), svc.get('ID'))} update "
                        f"{update['State']}: {update.get('Message', '')}".rstrip(": "),
                        hint=f"see: coop app errors {ref.name}",
                    )
        if not pending:
            break
        if time.monotonic() >= deadline:
            detail = ", ".join(f"{short[sid]} {n}/{want[sid]} running" for sid, n in pending)
            raise DeployFailed(
                f"app {ref.name}: not running again after {timeout:g}s ({detail})",
                hint=f"see: coop app ps {ref.name} and coop app errors {ref.name}",
            )
        time.sleep(interval)
    result = []
    for sid in ids:
        after = sorted(t.get("ID", "") for t in tasks if t.get("ServiceID") == sid and _running(t))
        result.append(Restarted(short[sid], tuple(sorted(running_before.get(sid, []))), tuple(after)))
    return result


def _running(task: dict) -> bool:
    return task.get("DesiredState") == "running" and (task.get("Status") or {}).get("State") == "running"


def _timeout_label(ref: Any, services: list[dict]) -> float:
    key = f"coop-cloud.{ref.stack_name}.timeout"
    for svc in services:
        value = ((svc.get("Spec") or {}).get("Labels") or {}).get(key)
        if value:
            try:
                return float(value)
            except ValueError:
                pass
    return DEFAULT_RESTART_TIMEOUT


# -- run (exec) and cp ------------------------------------------------------------


def find_container(client: Any, ref: Any, service: str) -> str:
    """The id of a running container of `service` on the engine `client` talks to.

    Only containers on that engine are found (a multi-node swarm would need a
    connection to the node running the task).
    """
    full = f"{ref.stack_name}_{short_name(ref.stack_name, service)}"
    containers = client.containers({"label": [f"{SERVICE_NAME_LABEL}={full}"], "status": ["running"]})
    if containers:
        return sorted(containers, key=lambda c: c.get("Created", 0), reverse=True)[0]["Id"]
    # Say why: no such service, or no running container of it here.
    _pick(ref, _app_services(client, ref), [service])
    raise NotFound(
        f"app {ref.name}: service {short_name(ref.stack_name, service)} has no running container on server {ref.server}",
        hint=f"see: coop app ps {ref.name}",
    )


def run(
    client: Any,
    ref: Any,
    service: str,
    cmd: list[str],
    *,
    on_output: Callable[[str, bytes], None],
    user: str | None = None,
    tty: bool = False,
    stdin: bytes | IO[bytes] | None = None,
    workdir: str | None = None,
    env: list[str] | None = None,
) -> int:
    """Run `cmd` in a running container of `service`; stream its output to `on_output(stream, data)`.

    Returns the command's exit code (-1 when the engine does not know it).
    """
    if not cmd:
        raise UsageError(f"app {ref.name}: no command to run", hint=f"e.g. coop app run {ref.name} {service} -- sh")
    container = find_container(client, ref, service)
    exec_id = client.exec_create(
        container, list(cmd), stdin=stdin is not None, tty=tty, env=env, workdir=workdir, user=user
    )
    watcher = None
    if isinstance(stdin, FdInput):
        # A terminal or an open pipe may never reach EOF: stop reading it once the command ended.
        watcher = client.clone(timeout=30)
        stdin.ended = lambda: _exec_ended(watcher, exec_id)
    try:
        for frame in client.exec_start(exec_id, stdin=stdin, tty=tty):
            on_output(frame.stream, frame.data)
    finally:
        if watcher is not None:
            stdin.ended = lambda: True
            watcher.close()
    info = client.exec_inspect(exec_id)
    code = info.get("ExitCode")
    return -1 if code is None else int(code)


def _exec_ended(client: Any, exec_id: str) -> bool:
    try:
        return not client.exec_inspect(exec_id).get("Running", False)
    except Exception:  # cannot tell: stop feeding rather than hang
        return True


class FdInput:
    """An exec's stdin from a file descriptor (a terminal, a pipe): bytes as they come.

    Returns b"" (EOF) at the end of the input, or once `ended()` says the
    command is over, checked each second of silence, so a terminal that
    never reaches EOF does not keep coop waiting.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.ended: Callable[[], bool] = lambda: False

    def read(self, n: int = 65536) -> bytes:
        import select

        while True:
            ready, _, _ = select.select([self.fd], [], [], 1.0)
            if ready:
                try:
                    return os.read(self.fd, n)
                except OSError:
                    return b""
            if self.ended():
                return b""


def cp(client: Any, ref: Any, src: str, dst: str) -> Copied:
    """Copy between the local machine and a running container of a service (archive API).

    ``SERVICE:/path`` on exactly one side. As ``docker cp``: when the target
    is an existing directory the source goes inside it, otherwise it takes the
    target's name.
    """
    spec = parse_copy(src, dst)
    container = find_container(client, ref, spec.service)
    if spec.to_container:
        return _copy_in(client, ref, spec, container)
    return _copy_out(client, ref, spec, container)


def _copy_out(client: Any, ref: Any, spec: CopySpec, container: str) -> Copied:
    try:
        stat, data = client.archive_get(container, spec.container_path)
    except EngineNotFound:
        raise NotFound(
            f"app {ref.name}: {spec.service}:{spec.container_path} does not exist in the container",
            hint=f"check the path with: coop app run {ref.name} {spec.service} -- ls -la {PurePosixPath(spec.container_path).parent}",
        ) from None
    local = Path(spec.local_path)
    source_name = stat.get("name") or PurePosixPath(spec.container_path).name or "root"
    if local.is_dir():
        parent, name = local, source_name
    else:
        parent, name = local.parent, local.name
        if not parent.is_dir():
            raise NotFound(f"local directory {parent} does not exist", hint="create it first")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = []
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not parts:
                continue
            member.name = str(PurePosixPath(name, *parts[1:]))
            members.append(member)
        tar.extractall(parent, members=members, filter="data")
    return Copied("from", spec.service, container, spec.container_path, str(parent / name), len(data))


def _copy_in(client: Any, ref: Any, spec: CopySpec, container: str) -> Copied:
    local = Path(spec.local_path)
    if not local.exists():
        raise NotFound(f"local path {local} does not exist", hint="check the path to copy")
    target = PurePosixPath(spec.container_path)
    try:
        stat = client.archive_stat(container, str(target))
        is_dir = bool(int(stat.get("mode", 0)) & _GO_DIR_BIT)
    except EngineNotFound:
        stat, is_dir = {}, False
    if is_dir:
        into, name = str(target), local.name
    else:
        into, name = str(target.parent), target.name
        if spec.container_path.endswith("/"):
            raise NotFound(
                f"app {ref.name}: directory {spec.service}:{spec.container_path} does not exist in the container",
                hint="create it first, or name a file path",
            )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        tar.add(str(local), arcname=name)
    data = buf.getvalue()
    try:
        client.archive_put(container, into, data)
    except EngineNotFound:
        raise NotFound(
            f"app {ref.name}: directory {spec.service}:{into} does not exist in the container",
            hint="create it first with: coop app run " + f"{ref.name} {spec.service} -- mkdir -p {into}",
        ) from None
    return Copied("to", spec.service, container, str(PurePosixPath(into, name)), str(local), len(data))


# -- volumes --------------------------------------------------------------------------


def volumes(client: Any, ref: Any) -> list[Volume]:
    """Volumes labelled with the app's stack (as `docker stack deploy` labels them): one request."""
    rows = []
    for v in client.volumes(stack_filter(ref.stack_name)):
        rows.append(
            Volume(
                name=v.get("Name", ""),
                volume=short_name(ref.stack_name, v.get("Name", "")),
                driver=v.get("Driver", ""),
                mountpoint=v.get("Mountpoint", ""),
                created=v.get("CreatedAt", ""),
                labels=dict(sorted((v.get("Labels") or {}).items())),
            )
        )
    return sorted(rows, key=lambda v: v.name)


def volumes_to_remove(client: Any, ref: Any, names: list[str], *, all_: bool = False) -> list[Volume]:
    """The volumes `volume rm` would remove. Refuses while the app is deployed; checks every name."""
    if bool(names) == all_:
        raise UsageError("name the volumes to remove, or pass --all", hint=f"see: coop app volume ls {ref.name}")
    if client.services(stack_filter(ref.stack_name)):
        raise Conflict(
            f"app {ref.name} is deployed on server {ref.server}; its volumes are in use",
            hint=f"run: coop app undeploy {ref.name} first",
        )
    known = volumes(client, ref)
    if all_:
        if not known:
            raise NotFound(f"app {ref.name} has no volumes on server {ref.server}")
        return known
    by_name = {v.volume: v for v in known} | {v.name: v for v in known}
    missing = [n for n in names if n not in by_name]
    if missing:
        have = ", ".join(v.volume for v in known) or "none"
        raise NotFound(
            f"app {ref.name} has no volume {', '.join(missing)} on server {ref.server}", hint=f"its volumes: {have}"
        )
    chosen: dict[str, Volume] = {}
    for n in names:
        chosen[by_name[n].name] = by_name[n]
    return list(chosen.values())


def remove_volumes(client: Any, ref: Any, chosen: list[Volume], *, wait: float = 10.0) -> list[str]:
    """Remove the volumes; a volume still held by a stopping container is retried for `wait` seconds."""
    removed = []
    for v in chosen:
        deadline = time.monotonic() + wait
        while True:
            try:
                client.volume_remove(v.name)
                removed.append(v.volume)
                break
            except EngineNotFound:
                removed.append(v.volume)  # gone already: what was asked
                break
            except EngineError as exc:
                if getattr(exc, "status", None) != 409 or time.monotonic() >= deadline:
                    raise Conflict(
                        f"app {ref.name}: volume {v.volume} could not be removed ({exc.message})",
                        hint=f"removed so far: {', '.join(removed) or 'none'}; wait for the app's containers to stop, then retry",
                    ) from None
                time.sleep(0.5)
    return removed
