"""`FakeEngine`: the one in-memory engine the unit tests share. It satisfies `coopcloud.engine.protocol.Engine`.

It holds objects as the Engine API's JSON (seed it with dicts, or with the
recordings in ``tests/data/engine/`` via `FakeEngine.recorded()`), answers
list calls with the engine's filters (``label``, ``name``, ``id``, ``service``,
``desired-state``, ``node``), and applies writes the way the engine does:
versions must match on update (else "update out of sequence"), names are
unique (409), unknown names are 404. Every call is appended to `calls` as
``(method, args...)`` so a test can assert how many requests an op made.

It is a fake for pure logic: it does not schedule tasks, pull images or run
containers. Whatever needs those is proved on the real rig (tests/integration).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from coopcloud.engine.client import ExecResult
from coopcloud.engine.protocol import Filters
from coopcloud.engine.stream import Frame
from coopcloud.errors import EngineConflict, EngineError, EngineNotFound, ServerNotReady

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "engine"


def recording(name: str) -> Any:
    """The recorded JSON ``tests/data/engine/<name>.json`` (see tests/tools/record_engine.py)."""
    return json.loads((RECORDINGS / f"{name}.json").read_text())


class FakeEngine:
    def __init__(
        self,
        *,
        name: str = "fake",
        services: Iterable[dict] = (),
        tasks: Iterable[dict] = (),
        nodes: Iterable[dict] = (),
        secrets: Iterable[dict] = (),
        configs: Iterable[dict] = (),
        networks: Iterable[dict] = (),
        volumes: Iterable[dict] = (),
        containers: Iterable[dict] = (),
        info: dict | None = None,
        manager: bool = True,
    ):
        self.name = name
        self._services = [copy.deepcopy(s) for s in services]
        self._tasks = [copy.deepcopy(t) for t in tasks]
        self._nodes = [copy.deepcopy(n) for n in nodes]
        self._secrets = [copy.deepcopy(s) for s in secrets]
        self._configs = [copy.deepcopy(c) for c in configs]
        self._networks = [copy.deepcopy(n) for n in networks]
        self._volumes = [copy.deepcopy(v) for v in volumes]
        self._containers = [copy.deepcopy(c) for c in containers]
        self._info = info or {
            "Name": name,
            "Swarm": {"LocalNodeState": "active" if manager else "inactive", "ControlAvailable": manager},
        }
        self.secret_values: dict[str, bytes] = {}  # name -> value, for tests to check (never listed)
        self.logs: dict[str, list[Frame]] = {}  # service name -> frames service_logs yields
        self.exec_results: dict[tuple[str, ...], ExecResult] = {}  # cmd -> what exec returns
        self.files: dict[tuple[str, str], tuple[dict, bytes]] = {}  # (container, path) -> (stat, tar)
        self.calls: list[tuple] = []
        self.closed = False
        self._ids = (f"fake{n:021d}" for n in itertools.count(1))
        self._execs: dict[str, tuple[str, ...]] = {}
        self._index = 1000

    @classmethod
    def recorded(cls, **kwargs: Any) -> FakeEngine:
        """A fake seeded with everything recorded on the rig (services in several update states, tasks…)."""
        return cls(
            services=recording("services"),
            tasks=recording("tasks"),
            nodes=recording("nodes"),
            secrets=recording("secrets"),
            configs=recording("configs"),
            networks=recording("networks"),
            volumes=recording("volumes"),
            containers=recording("containers"),
            info=recording("info"),
            **kwargs,
        )

    # -- helpers ------------------------------------------------------------------

    def _call(self, *entry: Any) -> None:
        self.calls.append(entry)

    def _next_version(self) -> int:
        self._index += 1
        return self._index

    def _find(self, items: list[dict], id_or_name: str, kind: str) -> dict:
        for item in items:
            if id_or_name in (item.get("ID"), item.get("Id"), _name(item)):
                return item
        raise EngineNotFound(f"server {self.name}: {kind} {id_or_name} not found", status=404)

    def _unique(self, items: list[dict], name: str, kind: str) -> None:
        if any(_name(i) == name for i in items):
            raise EngineConflict(f"server {self.name}: {kind} {name} already exists", status=409)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        self.closed = True

    def clone(self, *, timeout: float | None = None) -> FakeEngine:
        self._call("clone")
        return self  # one in-memory state: a second "connection" sees the same objects

    def hang_up(self) -> None:
        self._call("hang_up")

    # -- system, swarm ------------------------------------------------------------

    def ping(self) -> str:
        return "OK"

    def version(self) -> dict:
        return {"ApiVersion": "1.41", "Version": "20.10.24"}

    def info(self) -> dict:
        self._call("info")
        return copy.deepcopy(self._info)

    def require_manager(self) -> dict:
        info = self.info()
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise ServerNotReady(
                f"server {self.name} is not a swarm manager", hint=f"run: coop server init {self.name}"
            )
        return info

    def swarm_inspect(self) -> dict:
        return {"ID": "fakeswarm", "Spec": {"Name": "default"}}

    def swarm_init(self, spec: Mapping[str, Any]) -> str:
        self._call("swarm_init", dict(spec))
        self._info["Swarm"] = {"LocalNodeState": "active", "ControlAvailable": True}
        return "fakenode"

    def nodes(self, filters: Filters = None) -> list[dict]:
        self._call("nodes", filters)
        return _filtered(self._nodes, filters)

    def node(self, id_or_name: str) -> dict:
        return copy.deepcopy(self._find(self._nodes, id_or_name, "node"))

    def node_update(self, id_or_name: str, version: int, spec: Mapping[str, Any]) -> None:
        self._call("node_update", id_or_name, version, dict(spec))
        node = self._find(self._nodes, id_or_name, "node")
        node["Spec"] = copy.deepcopy(dict(spec))

    def get_many(self, requests: Iterable[tuple[str, Mapping[str, Any]]], *, return_errors: bool = False) -> list[Any]:
        """The real client pipelines these GETs; here each is the list call its path names."""
        requests = list(requests)
        self._call("get_many", [path for path, _ in requests])
        return answer_gets(self, requests, return_errors=return_errors)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        self._call("request", method, path, params, body)
        raise EngineNotFound(f"server {self.name}: the fake engine has no route {method} {path}", status=404)

    # -- networks -----------------------------------------------------------------

    def networks(self, filters: Filters = None) -> list[dict]:
        self._call("networks", filters)
        return _filtered(self._networks, filters)

    def network(self, id_or_name: str) -> dict:
        return copy.deepcopy(self._find(self._networks, id_or_name, "network"))

    def network_create(self, spec: Mapping[str, Any]) -> dict:
        self._call("network_create", dict(spec))
        self._unique(self._networks, spec["Name"], "network")
        net = {"Id": next(self._ids), "Scope": "swarm", "Driver": "overlay", "Labels": {}, **copy.deepcopy(dict(spec))}
        self._networks.append(net)
        return {"Id": net["Id"]}

    def network_remove(self, id_or_name: str) -> None:
        self._call("network_remove", id_or_name)
        self._networks.remove(self._find(self._networks, id_or_name, "network"))

    # -- secrets, configs ---------------------------------------------------------

    def secrets(self, filters: Filters = None) -> list[dict]:
        self._call("secrets", filters)
        return _filtered(self._secrets, filters)

    def secret(self, id_or_name: str) -> dict:
        return copy.deepcopy(self._find(self._secrets, id_or_name, "secret"))

    def secret_create(self, name: str, data: bytes, *, labels: Mapping[str, str] | None = None) -> dict:
        self._call("secret_create", name)  # never the value
        self._unique(self._secrets, name, "secret")
        sid = next(self._ids)
        self._secrets.append(
            {
                "ID": sid,
                "Version": {"Index": self._next_version()},
                "Spec": {"Name": name, "Labels": dict(labels or {})},
            }
        )
        self.secret_values[name] = bytes(data)
        return {"ID": sid}

    def secret_remove(self, id_or_name: str) -> None:
        self._call("secret_remove", id_or_name)
        secret = self._find(self._secrets, id_or_name, "secret")
        self._secrets.remove(secret)
        self.secret_values.pop(_name(secret), None)

    def configs(self, filters: Filters = None) -> list[dict]:
        self._call("configs", filters)
        return _filtered(self._configs, filters)

    def config(self, id_or_name: str) -> dict:
        return copy.deepcopy(self._find(self._configs, id_or_name, "config"))

    def config_create(
        self, name: str, data: bytes, *, labels: Mapping[str, str] | None = None, templating: Mapping | None = None
    ) -> dict:
        self._call("config_create", name)
        self._unique(self._configs, name, "config")
        spec: dict[str, Any] = {"Name": name, "Labels": dict(labels or {}), "Data": base64.b64encode(data).decode()}
        if templating:
            spec["Templating"] = dict(templating)
        cid = next(self._ids)
        self._configs.append({"ID": cid, "Version": {"Index": self._next_version()}, "Spec": spec})
        return {"ID": cid}

    def config_update(self, id_or_name: str, version: int, spec: Mapping[str, Any]) -> None:
        self._call("config_update", id_or_name, version)
        config = self._find(self._configs, id_or_name, "config")
        _check_version(config, version, self.name)
        config["Spec"]["Labels"] = dict(spec.get("Labels") or {})
        config["Version"] = {"Index": self._next_version()}

    def config_remove(self, id_or_name: str) -> None:
        self._call("config_remove", id_or_name)
        self._configs.remove(self._find(self._configs, id_or_name, "config"))

    # -- services, tasks ----------------------------------------------------------

    def services(self, filters: Filters = None, *, status: bool = False) -> list[dict]:
        self._call("services", filters, status)
        found = _filtered(self._services, filters)
        if not status:
            for svc in found:
                svc.pop("ServiceStatus", None)
        return found

    def service(self, id_or_name: str, *, insert_defaults: bool = False) -> dict:
        self._call("service", id_or_name)
        svc = copy.deepcopy(self._find(self._services, id_or_name, "service"))
        svc.pop("ServiceStatus", None)
        return svc

    def service_create(self, spec: Mapping[str, Any], *, registry_auth: str | Mapping | None = None) -> dict:
        self._call("service_create", copy.deepcopy(dict(spec)))
        self._unique(self._services, spec["Name"], "service")
        sid = next(self._ids)
        self._services.append(
            {"ID": sid, "Version": {"Index": self._next_version()}, "Spec": copy.deepcopy(dict(spec))}
        )
        return {"ID": sid, "Warnings": None}

    def service_update(
        self,
        id_or_name: str,
        version: int,
        spec: Mapping[str, Any],
        *,
        registry_auth_from: str | None = None,
        registry_auth: str | Mapping | None = None,
        rollback: str | None = None,
    ) -> dict:
        self._call(
            "service_update",
            id_or_name,
            version,
            copy.deepcopy(dict(spec)),
            {"registry_auth_from": registry_auth_from, "rollback": rollback},
        )
        svc = self._find(self._services, id_or_name, "service")
        _check_version(svc, version, self.name)
        if rollback == "previous":
            if not svc.get("PreviousSpec"):
                raise EngineError(f"server {self.name}: service {id_or_name} has no previous spec", status=500)
            svc["Spec"], svc["PreviousSpec"] = svc["PreviousSpec"], svc["Spec"]
        else:
            svc["PreviousSpec"], svc["Spec"] = svc.get("Spec"), copy.deepcopy(dict(spec))
        svc["Version"] = {"Index": self._next_version()}
        return {"Warnings": None}

    def service_remove(self, id_or_name: str) -> None:
        self._call("service_remove", id_or_name)
        svc = self._find(self._services, id_or_name, "service")
        self._services.remove(svc)
        self._tasks = [t for t in self._tasks if t.get("ServiceID") != svc.get("ID")]

    def service_logs(
        self,
        id_or_name: str,
        *,
        follow: bool = False,
        tail: int | str | None = None,
        since: int | float | str | None = None,
        timestamps: bool = False,
        details: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        tty: bool | None = None,
        lines: bool = False,
    ) -> Iterator[Frame]:
        self._call("service_logs", id_or_name, {"follow": follow, "tail": tail, "since": since})
        svc = self._find(self._services, id_or_name, "service")
        frames = list(self.logs.get(_name(svc), []))
        if tail not in (None, "all"):
            frames = frames[-int(tail) :] if int(tail) else []  # type: ignore[arg-type]
        return iter(frames)

    def tasks(self, filters: Filters = None) -> list[dict]:
        self._call("tasks", filters)
        return _filtered(self._tasks, filters, services=self._services)

    def add_task(self, task: dict) -> None:
        """Swarm's side of the story: a task appears (tests drive states by hand)."""
        self._tasks.append(copy.deepcopy(task))

    def set_service(self, id_or_name: str, **fields: Any) -> None:
        """Change what the engine reports of a service (UpdateStatus, ServiceStatus…)."""
        self._find(self._services, id_or_name, "service").update(copy.deepcopy(fields))

    def distribution(self, image: str, *, registry_auth: str | Mapping | None = None) -> dict:
        self._call("distribution", image)
        raise EngineNotFound(f"server {self.name}: image {image} not found in the fake registry", status=404)

    def image(self, name: str) -> dict:
        raise EngineNotFound(f"server {self.name}: no such image: {name}", status=404)

    # -- containers ---------------------------------------------------------------

    def containers(self, filters: Filters = None, *, all: bool = False) -> list[dict]:
        self._call("containers", filters)
        return _filtered(self._containers, filters)

    def container(self, id_or_name: str) -> dict:
        return copy.deepcopy(self._find(self._containers, id_or_name, "container"))

    def exec_create(
        self,
        container: str,
        cmd: list[str],
        *,
        stdin: bool = False,
        tty: bool = False,
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> str:
        self._call("exec_create", container, list(cmd))
        exec_id = next(self._ids)
        self._execs[exec_id] = tuple(cmd)
        return exec_id

    def exec_start(
        self, exec_id: str, *, stdin: bytes | IO[bytes] | None = None, tty: bool = False, timeout: float | None = None
    ) -> Iterator[Frame]:
        result = self.exec_results.get(self._execs[exec_id], ExecResult(0, b"", b""))
        if result.stdout:
            yield Frame("stdout", result.stdout)
        if result.stderr:
            yield Frame("stderr", result.stderr)

    def exec_inspect(self, exec_id: str) -> dict:
        result = self.exec_results.get(self._execs[exec_id], ExecResult(0, b"", b""))
        return {"ID": exec_id, "Running": False, "ExitCode": result.exit_code}

    def exec_run(
        self,
        container: str,
        cmd: list[str],
        *,
        stdin: bytes | IO[bytes] | None = None,
        env: list[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        self._call("exec_run", container, list(cmd))
        return self.exec_results.get(tuple(cmd), ExecResult(0, b"", b""))

    def container_create(self, spec: Mapping[str, Any], *, name: str | None = None) -> str:
        self._call("container_create", copy.deepcopy(dict(spec)))
        cid = next(self._ids)
        self._containers.append(
            {
                "Id": cid,
                "Names": [f"/{name or cid}"],
                "State": "created",
                "Labels": dict(spec.get("Labels") or {}),
                "Image": spec.get("Image", ""),
            }
        )
        return cid

    def container_remove(self, id_or_name: str, *, force: bool = False, volumes: bool = False) -> None:
        self._call("container_remove", id_or_name)
        self._containers.remove(self._find(self._containers, id_or_name, "container"))

    def archive_get(self, container: str, path: str, into: IO[bytes] | None = None) -> tuple[dict, bytes]:
        self._call("archive_get", container, path)
        if (container, path) not in self.files:
            raise EngineNotFound(f"server {self.name}: no such file {path} in {container}", status=404)
        stat, data = self.files[(container, path)]
        if into is not None:
            into.write(data)
            return dict(stat), b""
        return dict(stat), data

    def archive_open(self, container: str, path: str) -> tuple[dict, IO[bytes]]:
        import io

        stat, data = self.archive_get(container, path)
        return stat, io.BytesIO(data)

    def archive_stat(self, container: str, path: str) -> dict:
        if (container, path) not in self.files:
            raise EngineNotFound(f"server {self.name}: no such file {path} in {container}", status=404)
        return dict(self.files[(container, path)][0])

    def archive_put(
        self,
        container: str,
        path: str,
        tar: bytes | IO[bytes] | Iterable[bytes],
        *,
        no_overwrite_dir_non_dir: bool = False,
    ) -> None:
        self._call("archive_put", container, path)
        if isinstance(tar, (bytes, bytearray)):
            data = bytes(tar)
        elif hasattr(tar, "read"):
            data = tar.read()  # type: ignore[union-attr]
        else:
            data = b"".join(tar)  # type: ignore[arg-type]
        self.files[(container, path)] = ({"name": path.rsplit("/", 1)[-1], "mode": 0}, data)

    # -- volumes ------------------------------------------------------------------

    def volumes(self, filters: Filters = None) -> list[dict]:
        self._call("volumes", filters)
        return _filtered(self._volumes, filters)

    def volume(self, name: str) -> dict:
        return copy.deepcopy(self._find(self._volumes, name, "volume"))

    def volume_create(self, name: str, *, labels: Mapping[str, str] | None = None, driver: str = "local") -> dict:
        self._call("volume_create", name)
        for vol in self._volumes:
            if vol.get("Name") == name:
                return copy.deepcopy(vol)
        vol = {
            "Name": name,
            "Driver": driver,
            "Labels": dict(labels or {}),
            "Mountpoint": f"/var/lib/docker/volumes/{name}/_data",
        }
        self._volumes.append(vol)
        return copy.deepcopy(vol)

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        self._call("volume_remove", name)
        self._volumes.remove(self._find(self._volumes, name, "volume"))

    def volume_sizes(self) -> dict[str, int]:
        self._call("volume_sizes")
        return {_name(v): -1 for v in self._volumes}

    def containers_prune(self) -> dict:
        self._call("containers_prune")
        return {"ContainersDeleted": [], "SpaceReclaimed": 0}

    def images_prune(self, *, dangling_only: bool = True) -> dict:
        self._call("images_prune", dangling_only)
        return {"ImagesDeleted": [], "SpaceReclaimed": 0}


def _name(item: Mapping[str, Any]) -> str:
    spec = item.get("Spec") or {}
    return spec.get("Name") or item.get("Name") or ""


def _labels_of(item: Mapping[str, Any]) -> dict[str, str]:
    spec = item.get("Spec") or {}
    return {**(item.get("Labels") or {}), **(spec.get("Labels") or {})}


def _check_version(item: dict, version: int, server: str) -> None:
    if int((item.get("Version") or {}).get("Index", 0)) != int(version):
        raise EngineError(f"server {server}: rpc error: code = Unknown desc = update out of sequence", status=500)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [str(value)]
    if isinstance(value, Mapping):  # the engine's own form: {"value": true}
        return [k for k, on in value.items() if on]
    return [str(v) for v in value]


def _filtered(items: list[dict], filters: Filters, *, services: list[dict] | None = None) -> list[dict]:
    """The engine's filter semantics for the filters ops uses (each key ANDed, values of a key ORed)."""
    out = []
    for item in items:
        if all(_matches(item, key, _as_list(values), services) for key, values in (filters or {}).items()):
            out.append(copy.deepcopy(item))
    return out


def _matches(item: dict, key: str, values: list[str], services: list[dict] | None) -> bool:
    if not values:
        return True
    if key == "label":
        labels = _labels_of(item)
        # Every label filter must hold (the engine ANDs label filters).
        return all(
            (labels.get(k) == v) if sep else (k in labels) for k, sep, v in (value.partition("=") for value in values)
        )
    if key == "name":
        return any(_name(item).startswith(v) for v in values)
    if key == "id":
        ident = item.get("ID") or item.get("Id") or ""
        return any(ident.startswith(v) for v in values)
    if key == "service":
        wanted = set(values)
        for svc in services or []:
            if svc.get("ID") in wanted or _name(svc) in wanted:
                wanted.add(svc.get("ID", ""))
        return item.get("ServiceID") in wanted
    if key == "_up-to-date":  # swarmkit's IsTaskDirty, simplified: the task runs its service's task template
        svc = next((s for s in services or [] if s.get("ID") == item.get("ServiceID")), None)
        return svc is not None and item.get("Spec") == (svc.get("Spec") or {}).get("TaskTemplate")
    if key == "desired-state":
        return item.get("DesiredState") in values
    if key == "node":
        return item.get("NodeID") in values
    if key == "status":
        return item.get("State") in values
    raise NotImplementedError(f"FakeEngine: filter {key!r} (add it here, with the engine's semantics)")


def answer_gets(
    engine: Any, requests: Iterable[tuple[str, Mapping[str, Any]]], *, return_errors: bool = False
) -> list[Any]:
    """A `get_many` for fakes: each GET answered by the engine's own call its path names, in order;
    with `return_errors`, an EngineError takes its answer's place as the real client does."""
    out: list[Any] = []
    for path, params in requests:
        filters = json.loads(params["filters"]) if params.get("filters") else None
        filters = {k: sorted(v) for k, v in filters.items()} if filters else None
        name = path.strip("/")
        try:
            if name == "services":
                out.append(engine.services(filters, status=bool(params.get("status"))))
            elif name in ("info", "version"):
                out.append(getattr(engine, name)())
            elif name in ("tasks", "nodes", "networks", "secrets", "configs", "volumes"):
                out.append(getattr(engine, name)(filters))
            elif name == "containers/json":
                out.append(engine.containers(filters))
            elif name.startswith("nodes/"):
                out.append(engine.node(name.removeprefix("nodes/")))
            elif name.startswith("services/"):
                out.append(engine.service(unquote(name.removeprefix("services/"))))
            else:
                engine.request("GET", path, params=params)
        except EngineError as exc:
            if not return_errors:
                raise
            out.append(exc)
    return out
