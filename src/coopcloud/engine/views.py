"""Typed, read-only views of the engine's objects, parsed from the Engine API's JSON.

The client (`EngineClient`) speaks the wire: it returns the engine's JSON as
dicts. Everything above `engine/` reads these views instead, so a field the
engine renames or drops shows up here, in one parser tested on recorded JSON
(``tests/data/engine/``), not as a ``None`` deep inside ops.

    from coopcloud.engine import views
    for svc in views.services(docker, {"label": [f"{STACK_LABEL}={stack}"]}, status=True):
        print(svc.name, svc.image, svc.running_tasks, svc.update_state)
    for task in views.tasks(docker, {"service": [svc.name]}):
        if task.failed:
            print(task.status.err, task.status.exit_code)

Timestamps are timezone-aware `datetime`s (UTC), or None where the engine sends
none or Go's zero time. Go sends nanoseconds; they are cut to microseconds.
Parsers never raise on a missing field: a view has the engine's own default.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict, TypeVar

from coopcloud.errors import EngineError, EngineNotFound
from coopcloud.rawdata import RawMap, as_list, as_map, get_int, get_list, get_map, get_str, str_map

if TYPE_CHECKING:
    from .protocol import Engine, Filters

# Task states swarm will not retry from: the task is over and did not do its job.
FAILED_TASK_STATES = frozenset({"failed", "rejected", "orphaned"})
# Update states in which swarm gave up on the new spec (paused it, or went back to the old one).
FAILED_UPDATE_STATES = frozenset({"paused", "rollback_started", "rollback_paused", "rollback_completed"})

_GO_ZERO_YEAR = 1  # "0001-01-01T00:00:00Z": Go's zero time, i.e. "never"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the engine as an aware datetime; None for "" or Go's zero time.

    >>> parse_time("2024-05-01T10:00:00.123456789Z")
    datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    >>> parse_time("0001-01-01T00:00:00Z") is None
    True
    """
    if not value:
        return None
    text = value.strip()
    head, dot, rest = text.partition(".")
    if dot:
        # Go trims trailing zeros and sends up to 9 digits; a datetime holds 6.
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:]
        text = f"{head}.{fraction[:6].ljust(6, '0')}{zone}" if fraction else head + zone
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.year == _GO_ZERO_YEAR:
        return None
    return when


def rfc3339(when: datetime | None) -> str:
    """An aware datetime as the engine writes it (RFC 3339, UTC, ``Z``, fraction trimmed); "" for None.

    >>> rfc3339(parse_time("2024-05-01T10:00:00.500Z"))
    '2024-05-01T10:00:00.5Z'
    """
    if when is None:
        return ""
    when = when.astimezone(UTC)
    fraction = f"{when.microsecond:06d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _labels(data: RawMap, key: str) -> dict[str, str]:
    return dict(sorted(str_map(data.get(key), key).items()))


def _version(data: RawMap) -> int:
    return get_int(get_map(data, "Version"), "Index")


def _int_or_none(data: RawMap, key: str) -> int | None:
    return None if data.get(key) is None else get_int(data, key)


def _map_or_none(data: RawMap, key: str) -> RawMap | None:
    """The object under `key`; None when the engine sent none (absent or null)."""
    return None if data.get(key) is None else get_map(data, key)


# -- the engine itself ------------------------------------------------------------------


@dataclass(frozen=True)
class Info:
    """What ops reads of ``GET /info``: the engine's clock and where it stands in a swarm."""

    system_time: str  # as the engine sent it (RFC 3339): passed back as a `since` as it is
    server_version: str = ""
    swarm_state: str = "inactive"  # Swarm.LocalNodeState: inactive | pending | active | error | locked
    control_available: bool = False  # a manager: it answers the swarm API
    node_id: str = ""  # Swarm.NodeID: "" outside a swarm
    cluster_id: str = ""  # Swarm.Cluster.ID, on a manager: which swarm this is

    @classmethod
    def from_json(cls, data: RawMap) -> Info:
        swarm = get_map(data, "Swarm")
        return cls(
            system_time=get_str(data, "SystemTime"),
            server_version=get_str(data, "ServerVersion"),
            swarm_state=get_str(swarm, "LocalNodeState") or "inactive",
            control_available=bool(swarm.get("ControlAvailable")),
            node_id=get_str(swarm, "NodeID"),
            cluster_id=get_str(get_map(swarm, "Cluster"), "ID"),
        )

    @property
    def is_manager(self) -> bool:
        """An active swarm member that can take service changes."""
        return self.swarm_state == "active" and self.control_available

    @property
    def now(self) -> datetime | None:
        return parse_time(self.system_time)


def created_id(answer: RawMap) -> str:
    """The ID in the engine's answer to a create (``POST /configs/create`` → ``{"ID": ...}``)."""
    return str(answer.get("ID") or answer.get("Id") or "")


# -- services ------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    """A published port of a service: ``8000:80/tcp`` (ingress) or ``8000:80/tcp (host)``."""

    target: int
    published: int | None = None
    protocol: str = "tcp"
    mode: str = "ingress"  # ingress | host

    @classmethod
    def from_json(cls, data: RawMap) -> Port:
        return cls(
            target=get_int(data, "TargetPort"),
            published=get_int(data, "PublishedPort") or None,
            protocol=get_str(data, "Protocol") or "tcp",
            mode=get_str(data, "PublishMode") or "ingress",
        )

    def __str__(self) -> str:
        host = f"{self.published}:" if self.published else ""
        mode = " (host)" if self.mode == "host" else ""
        return f"{host}{self.target}/{self.protocol}{mode}"


@dataclass(frozen=True)
class UpdateStatus:
    """Where swarm is with a service's last update (or rollback)."""

    state: str  # updating | paused | completed | rollback_started | rollback_paused | rollback_completed
    message: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> UpdateStatus:
        return cls(
            state=get_str(data, "State"),
            message=get_str(data, "Message"),
            started_at=parse_time(get_str(data, "StartedAt")),
            completed_at=parse_time(get_str(data, "CompletedAt")),
        )

    @property
    def failed(self) -> bool:
        """Swarm paused the update or rolled it back: the new spec did not take."""
        return self.state in FAILED_UPDATE_STATES


@dataclass(frozen=True)
class Service:
    """A swarm service: what ops reads of ``GET /services`` (with ``status=True`` for task counts)."""

    id: str
    name: str
    version: int  # Version.Index: pass it back to service_update
    labels: dict[str, str]
    image: str  # as in the spec, digest included
    mode: str  # replicated | global | replicated-job | global-job
    replicas: int | None  # None for global services
    spec: dict[str, object]  # the spec as the engine holds it (what service_update sends back, changed)
    ports: tuple[Port, ...] = ()  # live endpoint ports, else the spec's
    force_update: int = 0
    container_labels: dict[str, str] = field(default_factory=dict)
    networks: tuple[str, ...] = ()  # network ids or names the tasks attach to (spec order)
    update_status: UpdateStatus | None = None
    running_tasks: int | None = None  # None unless listed with status=True
    desired_tasks: int | None = None
    previous_spec: dict[str, object] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Service:
        spec = get_map(data, "Spec")
        template = get_map(spec, "TaskTemplate")
        container = get_map(template, "ContainerSpec")
        mode, replicas = _mode(get_map(spec, "Mode"))
        live_ports = get_list(get_map(data, "Endpoint"), "Ports")
        spec_ports = get_list(get_map(spec, "EndpointSpec"), "Ports")
        ports = sorted(
            (Port.from_json(as_map(p, "Ports")) for p in (live_ports or spec_ports)),
            key=lambda p: (p.target, p.protocol, p.published or 0, p.mode),
        )
        attached = get_list(template, "Networks") or get_list(spec, "Networks")
        status = _map_or_none(data, "ServiceStatus")
        update = get_map(data, "UpdateStatus")
        previous = _map_or_none(data, "PreviousSpec")
        return cls(
            id=get_str(data, "ID"),
            name=get_str(spec, "Name"),
            version=_version(data),
            labels=_labels(spec, "Labels"),
            image=get_str(container, "Image"),
            mode=mode,
            replicas=replicas,
            spec=dict(spec),
            ports=tuple(ports),
            force_update=get_int(template, "ForceUpdate"),
            container_labels=_labels(container, "Labels"),
            networks=tuple(get_str(as_map(n, "Networks"), "Target") for n in attached),
            update_status=UpdateStatus.from_json(update) if update.get("State") else None,
            running_tasks=get_int(status, "RunningTasks") if status is not None else None,
            desired_tasks=get_int(status, "DesiredTasks") if status is not None else None,
            previous_spec=dict(previous) if previous is not None else None,
            created_at=parse_time(get_str(data, "CreatedAt")),
            updated_at=parse_time(get_str(data, "UpdatedAt")),
        )

    @property
    def update_state(self) -> str | None:
        return self.update_status.state if self.update_status else None

    @property
    def is_global(self) -> bool:
        return self.mode in ("global", "global-job")


def _mode(mode: RawMap) -> tuple[str, int | None]:
    if "Global" in mode:
        return "global", None
    if "GlobalJob" in mode:
        return "global-job", None
    if "ReplicatedJob" in mode:
        job = get_map(mode, "ReplicatedJob")
        return "replicated-job", get_int(job, "TotalCompletions") or get_int(job, "MaxConcurrent") or 1
    return "replicated", get_int(get_map(mode, "Replicated"), "Replicas", 1)


# -- tasks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerStatus:
    container_id: str = ""
    exit_code: int | None = None
    pid: int = 0

    @classmethod
    def from_json(cls, data: RawMap) -> ContainerStatus:
        return cls(
            container_id=get_str(data, "ContainerID"),
            exit_code=_int_or_none(data, "ExitCode"),
            pid=get_int(data, "PID"),
        )


@dataclass(frozen=True)
class TaskStatus:
    state: str  # new | pending | assigned | accepted | preparing | starting | running | complete | failed | shutdown | rejected | orphaned | remove
    message: str = ""
    err: str | None = None  # why it failed, or why swarm cannot place it (while pending)
    timestamp: datetime | None = None  # when it entered `state`
    container: ContainerStatus | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> TaskStatus:
        container = _map_or_none(data, "ContainerStatus")
        return cls(
            state=get_str(data, "State"),
            message=get_str(data, "Message"),
            err=get_str(data, "Err").strip() or None,
            timestamp=parse_time(get_str(data, "Timestamp")),
            container=ContainerStatus.from_json(container) if container is not None else None,
        )

    @property
    def exit_code(self) -> int | None:
        return self.container.exit_code if self.container else None


@dataclass(frozen=True)
class Task:
    """One attempt of swarm to run a slot of a service (or the service on a node, when global)."""

    id: str
    service_id: str
    node_id: str  # "" while not yet assigned
    slot: int | None  # None for global services
    desired_state: str
    version: int
    status: TaskStatus
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Task:
        container = get_map(get_map(data, "Spec"), "ContainerSpec")
        return cls(
            id=get_str(data, "ID"),
            service_id=get_str(data, "ServiceID"),
            node_id=get_str(data, "NodeID"),
            slot=get_int(data, "Slot") or None,
            desired_state=get_str(data, "DesiredState"),
            version=_version(data),
            status=TaskStatus.from_json(get_map(data, "Status")),
            image=get_str(container, "Image"),
            labels=_labels(data, "Labels"),
            created_at=parse_time(get_str(data, "CreatedAt")),
            updated_at=parse_time(get_str(data, "UpdatedAt")),
        )

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def running(self) -> bool:
        """Running and meant to: a task swarm is shutting down does not count."""
        return self.desired_state == "running" and self.status.state == "running"

    @property
    def failed(self) -> bool:
        return self.status.state in FAILED_TASK_STATES

    @property
    def unschedulable(self) -> str | None:
        """Why swarm cannot place this task ("no suitable node …"), while it keeps trying."""
        if self.desired_state == "running" and self.status.state == "pending":
            return self.status.err
        return None


# -- containers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """A container as ``GET /containers/json`` lists it (on the one engine asked)."""

    id: str
    name: str  # without the leading "/"
    state: str = ""  # created | running | paused | restarting | removing | exited | dead
    image: str = ""
    created: int = 0  # unix seconds
    labels: dict[str, str] = field(default_factory=dict)
    status: str = ""  # the engine's words: "Up 5 seconds (healthy)", "Exited (137) 2 seconds ago"

    @classmethod
    def from_json(cls, data: RawMap) -> Container:
        names = get_list(data, "Names")
        return cls(
            id=get_str(data, "Id") or get_str(data, "ID"),
            name=str(names[0]).lstrip("/") if names else "",
            state=get_str(data, "State"),
            image=get_str(data, "Image"),
            created=get_int(data, "Created"),
            labels=_labels(data, "Labels"),
            status=get_str(data, "Status"),
        )

    @property
    def health(self) -> str | None:
        """healthy | unhealthy | starting, or None when it has no healthcheck (or is not running).

        API 1.41's list has no health field: the engine writes it into Status, as `docker ps` shows
        it: ``(healthy)``, ``(unhealthy)`` or ``(health: starting)``.
        """
        for mark, health in (
            ("(unhealthy)", "unhealthy"),
            ("(healthy)", "healthy"),
            ("(health: starting)", "starting"),
        ):
            if self.status.endswith(mark):
                return health
        return None


@dataclass(frozen=True)
class HealthCheck:
    """One run of a container's healthcheck, as ``GET /containers/{id}/json`` keeps it (the last five)."""

    exit_code: int | None
    output: str
    end: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> HealthCheck:
        return cls(
            exit_code=_int_or_none(data, "ExitCode"),
            output=get_str(data, "Output").strip(),
            end=parse_time(get_str(data, "End")),
        )


def health_log(engine: Engine, container_id: str) -> tuple[HealthCheck, ...]:
    """The last runs of a container's healthcheck, oldest first (``State.Health.Log``); () without one."""
    state = get_map(engine.container(container_id), "State")
    return tuple(HealthCheck.from_json(as_map(h, "Log")) for h in get_list(get_map(state, "Health"), "Log"))


@dataclass(frozen=True)
class ExecStatus:
    """``GET /exec/{id}/json``: whether the command still runs, and how it ended."""

    running: bool
    exit_code: int | None = None  # None while it runs, or when the engine does not know

    @classmethod
    def from_json(cls, data: RawMap) -> ExecStatus:
        return cls(running=bool(data.get("Running")), exit_code=_int_or_none(data, "ExitCode"))


# -- nodes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: str  # manager | worker
    availability: str  # active | pause | drain
    state: str  # ready | down | unknown | disconnected
    addr: str  # the node's address as the swarm sees it
    version: int
    labels: dict[str, str] = field(default_factory=dict)  # Spec.Labels: what placement constraints read
    leader: bool = False
    manager_addr: str | None = None  # host:port of the manager API, for managers
    engine_version: str = ""
    os: str = ""
    architecture: str = ""

    @classmethod
    def from_json(cls, data: RawMap) -> Node:
        spec = get_map(data, "Spec")
        desc = get_map(data, "Description")
        status = get_map(data, "Status")
        manager = get_map(data, "ManagerStatus")
        platform = get_map(desc, "Platform")
        return cls(
            id=get_str(data, "ID"),
            hostname=get_str(desc, "Hostname"),
            role=get_str(spec, "Role"),
            availability=get_str(spec, "Availability"),
            state=get_str(status, "State"),
            addr=get_str(status, "Addr"),
            version=_version(data),
            labels=_labels(spec, "Labels"),
            leader=bool(manager.get("Leader")),
            manager_addr=get_str(manager, "Addr") or None,
            engine_version=get_str(get_map(desc, "Engine"), "EngineVersion"),
            os=get_str(platform, "OS"),
            architecture=get_str(platform, "Architecture"),
        )


# -- secrets, configs ------------------------------------------------------------------


class _SwarmObject(TypedDict):
    id: str
    name: str
    version: int
    labels: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None


def _swarm_object(data: RawMap) -> _SwarmObject:
    """What a secret and a config share: ID, Spec.Name, Version.Index, Spec.Labels, CreatedAt, UpdatedAt."""
    spec = get_map(data, "Spec")
    return {
        "id": get_str(data, "ID"),
        "name": get_str(spec, "Name"),
        "version": _version(data),
        "labels": _labels(spec, "Labels"),
        "created_at": parse_time(get_str(data, "CreatedAt")),
        "updated_at": parse_time(get_str(data, "UpdatedAt")),
    }


@dataclass(frozen=True)
class Secret:
    """A swarm secret. The engine never returns its value, and neither does this view."""

    id: str
    name: str
    version: int
    labels: dict[str, str] = field(default_factory=dict)
    driver: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Secret:
        return cls(**_swarm_object(data), driver=get_str(get_map(get_map(data, "Spec"), "Driver"), "Name") or None)


@dataclass(frozen=True)
class Config:
    id: str
    name: str
    version: int
    data: bytes  # the config's content, decoded
    labels: dict[str, str] = field(default_factory=dict)
    templating: str | None = None  # template driver name ("golang"), if any
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Config:
        spec = get_map(data, "Spec")
        return cls(
            **_swarm_object(data),
            data=base64.b64decode(get_str(spec, "Data")),
            templating=get_str(get_map(spec, "Templating"), "Name") or None,
        )


# -- networks, volumes -----------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str
    scope: str  # swarm | local
    labels: dict[str, str] = field(default_factory=dict)
    attachable: bool = False
    internal: bool = False
    ingress: bool = False
    options: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Network:
        return cls(
            id=get_str(data, "Id") or get_str(data, "ID"),
            name=get_str(data, "Name"),
            driver=get_str(data, "Driver"),
            scope=get_str(data, "Scope"),
            labels=_labels(data, "Labels"),
            attachable=bool(data.get("Attachable")),
            internal=bool(data.get("Internal")),
            ingress=bool(data.get("Ingress")),
            options=_labels(data, "Options"),
            created_at=parse_time(get_str(data, "Created")),
        )


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    mountpoint: str = ""
    scope: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: RawMap) -> Volume:
        return cls(
            name=get_str(data, "Name"),
            driver=get_str(data, "Driver"),
            mountpoint=get_str(data, "Mountpoint"),
            scope=get_str(data, "Scope") or "local",
            labels=_labels(data, "Labels"),
            options=_labels(data, "Options"),
            created_at=parse_time(get_str(data, "CreatedAt")),
        )


# -- typed reads over any Engine -------------------------------------------------------

V = TypeVar("V")


def each(view: Callable[[RawMap], V], answer: object) -> list[V]:
    """Every object of a decoded list answer (one of `get_many`'s) as a view, e.g.
    ``each(Config.from_json, answer)``; None (an empty answer) is an empty list."""
    return [view(as_map(item, "answer")) for item in as_list(answer, "answer")]


def one(view: Callable[[RawMap], V], answer: object) -> V:
    """A decoded object answer (one of `get_many`'s) as a view, e.g. ``one(Info.from_json, answer)``."""
    return view(as_map(answer, "answer"))


def info(engine: Engine) -> Info:
    """``GET /info``."""
    return Info.from_json(engine.info())


def services(engine: Engine, filters: Filters = None, *, status: bool = False) -> list[Service]:
    """``GET /services``, sorted by name; `status=True` fills running_tasks/desired_tasks."""
    return sorted((Service.from_json(s) for s in engine.services(filters, status=status)), key=lambda s: s.name)


def service(engine: Engine, id_or_name: str) -> Service:
    """``GET /services/{id}``; EngineNotFound when there is none."""
    return Service.from_json(engine.service(id_or_name))


def tasks(engine: Engine, filters: Filters = None) -> list[Task]:
    """``GET /tasks``, e.g. ``{"service": [name]}`` or ``{"label": [...]}``; in the engine's order."""
    return [Task.from_json(t) for t in engine.tasks(filters)]


def containers(engine: Engine, filters: Filters = None, *, all: bool = False) -> list[Container]:
    """``GET /containers/json``, newest first; `all=True` lists stopped ones too."""
    return sorted((Container.from_json(c) for c in engine.containers(filters, all=all)), key=lambda c: -c.created)


def containers_by_id(engine: Engine, ids: Sequence[str]) -> dict[str, Container]:
    """The containers with these full ids, stopped ones too, in ONE request: id -> container (an id
    the engine does not know is absent)."""
    if not ids:
        return {}
    wanted = set(ids)
    found = (Container.from_json(c) for c in engine.containers({"id": sorted(wanted)}, all=True))
    return {c.id: c for c in found if c.id in wanted}


def exec_status(engine: Engine, exec_id: str) -> ExecStatus:
    return ExecStatus.from_json(engine.exec_inspect(exec_id))


def nodes(engine: Engine, filters: Filters = None) -> list[Node]:
    return [Node.from_json(n) for n in engine.nodes(filters)]


def set_node_availability(engine: Engine, id_or_name: str, availability: str) -> None:
    """Send the node's spec back with `availability` (active | pause | drain), at the version just read."""
    raw = engine.node(id_or_name)
    spec = dict(get_map(raw, "Spec"))
    spec["Availability"] = availability
    engine.node_update(id_or_name, _version(raw), spec)


def secret(engine: Engine, id_or_name: str) -> Secret:
    """``GET /secrets/{id}``; EngineNotFound when there is none."""
    return Secret.from_json(engine.secret(id_or_name))


def secrets(engine: Engine, filters: Filters = None) -> list[Secret]:
    return sorted((Secret.from_json(s) for s in engine.secrets(filters)), key=lambda s: s.name)


def configs(engine: Engine, filters: Filters = None) -> list[Config]:
    return sorted((Config.from_json(c) for c in engine.configs(filters)), key=lambda c: c.name)


def networks(engine: Engine, filters: Filters = None) -> list[Network]:
    return sorted((Network.from_json(n) for n in engine.networks(filters)), key=lambda n: n.name)


def volume_sizes(engine: Engine) -> dict[str, int]:
    """Each local volume's size in bytes, as the engine measures it (``GET /system/df``); a volume it
    did not measure is absent."""
    return {name: size for name, size in engine.volume_sizes().items() if name and size >= 0}


def volumes(engine: Engine, filters: Filters = None) -> list[Volume]:
    return sorted((Volume.from_json(v) for v in engine.volumes(filters)), key=lambda v: v.name)


@dataclass(frozen=True)
class ServiceLook:
    """One look at a service during a wait: the service (None once removed), the tasks of its
    current spec (the ``_up-to-date`` filter), and, when asked for, all of its tasks."""

    service: Service | None
    current: tuple[Task, ...]
    every: tuple[Task, ...] | None


def look_at_services(engine: Engine, wanted: Sequence[tuple[str, bool]]) -> list[ServiceLook]:
    """For each ``(name, with_every_task)``, its `ServiceLook`; all of them in one ``get_many``, so a
    wait costs one round trip per poll however many services the app has."""
    from urllib.parse import quote

    from .stream import encode_filters

    requests: list[tuple[str, Mapping[str, object]]] = []
    for name, every in wanted:
        requests.append((f"/services/{quote(name, safe='')}", {}))
        requests.append(("/tasks", {"filters": encode_filters({"service": [name], "_up-to-date": ["true"]})}))
        if every:
            requests.append(("/tasks", {"filters": encode_filters({"service": [name]})}))
    answers = iter(engine.get_many(requests, return_errors=True))
    looks = []
    for _name, every in wanted:
        found, current, all_tasks = next(answers), next(answers), next(answers) if every else None
        for answer in (current, all_tasks, None if isinstance(found, EngineNotFound) else found):
            if isinstance(answer, EngineError):
                raise answer
        looks.append(
            ServiceLook(
                service=None if isinstance(found, EngineNotFound) else one(Service.from_json, found),
                current=tuple(each(Task.from_json, current)),
                every=None if all_tasks is None else tuple(each(Task.from_json, all_tasks)),
            )
        )
    return looks


@dataclass(frozen=True)
class SwarmState:
    """The engine, its networks, secrets, configs and some services, read in one round trip."""

    info: Info
    networks: tuple[Network, ...]
    secrets: tuple[Secret, ...]
    configs: tuple[Config, ...]
    services: tuple[Service, ...]


def swarm_state(engine: Engine, service_filters: Filters = None) -> SwarmState:
    """Five independent reads as one ``get_many`` (a slow link pays the round trip once); services
    are those `service_filters` select (e.g. one stack's label)."""
    from .stream import encode_filters

    params = {"filters": encode_filters(service_filters)} if service_filters else {}
    info, networks, secrets, configs, services = engine.get_many(
        [("/info", {}), ("/networks", {}), ("/secrets", {}), ("/configs", {}), ("/services", params)]
    )
    return SwarmState(
        info=one(Info.from_json, info),
        networks=tuple(sorted(each(Network.from_json, networks), key=lambda n: n.name)),
        secrets=tuple(sorted(each(Secret.from_json, secrets), key=lambda s: s.name)),
        configs=tuple(sorted(each(Config.from_json, configs), key=lambda c: c.name)),
        services=tuple(sorted(each(Service.from_json, services), key=lambda s: s.name)),
    )
