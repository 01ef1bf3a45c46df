"""An app move's plan: everything checked, read-only, before the first change on either server.

What it checks:
- the target is reachable, a swarm manager, and another swarm than the source;
- the app runs on the source, converged, and nothing of its stack (services, secrets, volumes) is on
  the target yet;
- the networks the app joins from outside its stack (`proxy`) exist on the target;
- every node its volumes live on is reachable;
- each service that mounts volumes has exactly one home on the target. A node-local volume on a
  multi-node swarm holds its data only where its task runs, so the service's placement constraints
  must pin it to one node there (`node.role == manager` on a swarm of one manager, `node.hostname ==
  …`). Otherwise the move is refused: swarm could start it on an empty volume elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.engine import views
from coopcloud.errors import Conflict, InvalidError, NotFound, UsageError
from coopcloud.rawdata import JSONDict, RawMap, as_map, get_list, get_map, get_str, str_list
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, running_version, timeout_seconds

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.server.servers import ServerPool

_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class VolumePlan:
    name: str  # the Docker volume, <stack>_<volume>
    service: str  # a service that mounts it
    source_node: views.Node
    target_node: views.Node
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # bytes, when the source engine says

    def to_json(self) -> JSONDict:
        return {
            "volume": self.name,
            "service": self.service,
            "source_node": self.source_node.hostname,
            "target_node": self.target_node.hostname,
            "size": self.size,
        }


@dataclass(frozen=True)
class SecretPlan:
    name: str
    id: str  # on the source
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MovePlan:
    ref: AppRef
    stack: str
    source: str
    target: str
    version: str | None
    services: tuple[str, ...]
    secrets: tuple[SecretPlan, ...]
    volumes: tuple[VolumePlan, ...]
    source_manager: views.Node
    target_manager: views.Node
    timeout: int = 300  # the app's deploy timeout: the longest the deploy on the target waits

    @property
    def downtime_bound(self) -> str:
        return f"the second pass, then the deploy on {self.target} (at most {self.timeout} s)"

    @property
    def total_bytes(self) -> int:
        return sum(v.size or 0 for v in self.volumes)

    def to_json(self) -> JSONDict:
        return {
            "app": self.ref.name,
            "stack": self.stack,
            "server": self.source,
            "target": self.target,
            "version": self.version,
            "services": list(self.services),
            "secrets": [s.name for s in self.secrets],
            "volumes": [v.to_json() for v in self.volumes],
            "bytes": self.total_bytes,
            "timeout_seconds": self.timeout,
        }


def _manager(client: Engine, server: str) -> views.Node:
    node_id = views.info(client).node_id
    return next((n for n in views.nodes(client) if n.id == node_id), None) or _no_node(server, node_id)


def _no_node(server: str, node_id: str) -> views.Node:
    raise NotFound(f"server {server}: its engine names node {node_id}, which its swarm does not list")


def _attribute(node: views.Node, key: str) -> str | None:
    if key.startswith("node.labels."):
        return node.labels.get(key[len("node.labels.") :])
    return {
        "node.id": node.id,
        "node.hostname": node.hostname,
        "node.role": node.role,
        "node.platform.os": node.os,
        "node.platform.arch": node.architecture,
    }.get(key)


def placeable(node: views.Node, constraints: Sequence[str]) -> bool:
    """Whether swarm may place a task with these constraints on `node` (an unknown key: no)."""
    if node.availability != "active" or node.state != "ready":
        return False
    for constraint in constraints:
        m = _CONSTRAINT.match(constraint)
        if not m:
            return False
        value = _attribute(node, m.group(1))
        equal = value is not None and value.lower() == m.group(3).strip("\"'").lower()
        if equal != (m.group(2) == "=="):
            return False
    return True


def _template(spec: RawMap) -> RawMap:
    return get_map(spec, "TaskTemplate")


def _constraints(spec: RawMap) -> list[str]:
    return str_list(get_map(_template(spec), "Placement").get("Constraints"), "Constraints")


def _volume_mounts(spec: RawMap) -> list[str]:
    mounts = [as_map(m, "Mounts") for m in get_list(get_map(_template(spec), "ContainerSpec"), "Mounts")]
    return [get_str(m, "Source") for m in mounts if m.get("Type") == "volume" and get_str(m, "Source")]


def _secret_refs(spec: RawMap) -> dict[str, str]:
    refs = [as_map(r, "Secrets") for r in get_list(get_map(_template(spec), "ContainerSpec"), "Secrets")]
    return {get_str(r, "SecretName"): get_str(r, "SecretID") for r in refs if get_str(r, "SecretName")}


def _target_node(service: str, constraints: list[str], nodes: list[views.Node], target: str) -> views.Node:
    fits = [n for n in nodes if placeable(n, constraints)]
    if len(fits) == 1:
        return fits[0]
    names = ", ".join(n.hostname for n in fits) or "none"
    if not fits:
        raise InvalidError(
            f"service {service} fits no node of server {target} (constraints: {', '.join(constraints) or 'none'})",
            hint=f"see: coop server nodes {target}",
        )
    raise InvalidError(
        f"service {service} keeps data in volumes, and on server {target} it may run on any of {len(fits)} nodes "
        f"({names}): its data would have no one home",
        hint="pin it with a placement constraint in the recipe (e.g. node.role == manager, or node.hostname == …)",
    )


def _check_target_empty(dst: Engine, stack: str, target: str, secrets: Sequence[str]) -> None:
    label = {"label": [f"{STACK_LABEL}={stack}"]}
    if views.services(dst, label):
        raise Conflict(f"server {target} already runs a stack {stack}", hint=f"see: coop app ls --server {target}")
    there = {s.name for s in views.secrets(dst)} & set(secrets)
    if there:
        raise Conflict(
            f"server {target} already holds secret {sorted(there)[0]} of {stack}",
            hint="remove it there first (docker secret rm), or move the app to another server",
        )


def _check_networks(src: Engine, dst: Engine, stack: str, specs: Sequence[RawMap], target: str) -> None:
    ids = {get_str(as_map(n, "Networks"), "Target") for s in specs for n in get_list(_template(s), "Networks")}
    outside = [n.name for n in views.networks(src) if n.id in ids and n.labels.get(STACK_LABEL) != stack]
    missing = sorted(set(outside) - {n.name for n in views.networks(dst)})
    if missing:
        raise NotFound(
            f"server {target} has no network {missing[0]}, which app {stack} joins",
            hint=f"run: coop server init {target}",
        )


def _by_digest(image: str) -> str:
    """`repo:tag@sha256:…` as `repo@sha256:…`: exactly the manifest the app runs."""
    if "@" not in image:
        return image
    name, digest = image.split("@", 1)
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repo}@{digest}"


def _check_images(dst: Engine, live: Sequence[views.Service], target: str) -> None:
    """Each image the app runs, as the target's registry access sees it: one its registry does not have
    (and the target does not hold) is refused now, before the app stops on the source. A registry that
    does not answer, or asks for credentials, proves nothing (as for a deploy)."""
    from coopcloud.errors import EngineError, EngineNotFound

    for image in sorted({s.image for s in live if s.image}):
        try:
            dst.distribution(_by_digest(image))
        except EngineNotFound as exc:
            if "manifest unknown" not in str(exc):
                continue
            try:
                dst.image(image)
            except EngineNotFound:
                raise NotFound(
                    f"server {target} cannot pull image {image} (its registry does not have it); nothing was changed",
                    hint="push the image where the target can pull it",
                ) from None
        except EngineError:
            continue


def plan_move(settings: Settings, pool: ServerPool, app_name: str, target: str) -> MovePlan:
    """Read-only: check both servers and say what a move of `app_name` to `target` would do."""
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.server.nodes import engine_for_node
    from coopcloud.ops.server.servers import resolve

    ref = find_app(settings, app_name)
    if target == ref.server:
        raise UsageError(f"app {ref.name} is on server {target} already", hint="name another server")
    resolve(settings, target)  # NotFound: coop server add
    src, dst = pool.client(ref.server), pool.client(target)
    src.require_manager()
    dst.require_manager()
    source_manager, target_manager = _manager(src, ref.server), _manager(dst, target)
    if views.info(src).cluster_id and views.info(src).cluster_id == views.info(dst).cluster_id:
        raise Conflict(f"servers {ref.server} and {target} are the same swarm", hint="nothing to move")
    stack = ref.stack_name
    live = views.services(src, {"label": [f"{STACK_LABEL}={stack}"]}, status=True)
    if not live:
        raise NotFound(f"app {ref.name} runs nothing on server {ref.server}", hint=f"run: coop app deploy {ref.name}")
    stuck = [s.name for s in live if s.desired_tasks is not None and s.running_tasks != s.desired_tasks]
    if stuck:
        raise Conflict(
            f"app {ref.name} is not converged on {ref.server} ({stuck[0]}: {live[0].running_tasks} running)",
            hint=f"see: coop app ps {ref.name}; move a running app",
        )
    secret_ids = {name: sid for s in live for name, sid in _secret_refs(s.spec).items()}
    _check_target_empty(dst, stack, target, list(secret_ids))
    _check_networks(src, dst, stack, [s.spec for s in live], target)
    _check_images(dst, live, target)
    on_source = {v.name: v for v in (views.Volume.from_json(raw) for raw in src.volumes())}
    target_nodes = views.nodes(dst)
    source_nodes = {n.id: n for n in views.nodes(src)}
    volumes: list[VolumePlan] = []
    for service in live:
        names = _volume_mounts(service.spec)
        if not names:
            continue
        home = _target_node(service.name, _constraints(service.spec), target_nodes, target)
        running = [t for t in views.tasks(src, {"service": [service.name]}) if t.state == "running"]
        node = source_nodes.get(running[0].node_id if running else source_manager.id, source_manager)
        node_engine = engine_for_node(settings, pool, ref.server, node.id, why=f"to copy the volumes of {service.name}")
        sizes = views.volume_sizes(node_engine)
        known = on_source if node.id == source_manager.id else {v.name: v for v in views.volumes(node_engine)}
        for name in names:
            if any(v.name == name for v in volumes):
                continue
            vol = known.get(name)
            volumes.append(
                VolumePlan(
                    name,
                    service.name,
                    node,
                    home,
                    vol.driver if vol else "local",
                    vol.labels if vol else {},
                    sizes.get(name),
                )
            )
    _check_volumes_free(settings, pool, target, target_nodes, volumes)
    labels = {s.name: s.labels for s in views.secrets(src) if s.name in secret_ids}
    return MovePlan(
        ref=ref,
        stack=stack,
        source=ref.server,
        target=target,
        version=running_version(stack, {s.name: s.labels for s in live}),
        services=tuple(s.name for s in live),
        secrets=tuple(SecretPlan(n, secret_ids[n], labels.get(n, {})) for n in sorted(secret_ids)),
        volumes=tuple(volumes),
        source_manager=source_manager,
        target_manager=target_manager,
        timeout=timeout_seconds(stack, next((s.labels for s in live if s.name == f"{stack}_app"), live[0].labels)),
    )


def _check_volumes_free(
    settings: Settings, pool: ServerPool, target: str, nodes: list[views.Node], volumes: Sequence[VolumePlan]
) -> None:
    from coopcloud.ops.server.nodes import engine_for_node

    for node in {v.target_node.id: v.target_node for v in volumes}.values():
        engine = engine_for_node(settings, pool, target, node.id, why="to receive the app's volumes")
        there = {v.name for v in views.volumes(engine)} & {v.name for v in volumes if v.target_node.id == node.id}
        if there:
            raise Conflict(
                f"node {node.hostname} of server {target} already holds volume {sorted(there)[0]}",
                hint="remove it there first (docker volume rm), or move the app to another server",
            )
