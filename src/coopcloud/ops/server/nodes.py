"""The nodes of a server's swarm: list them, drain or activate one, and reach the engine of a node.

A coop server is a swarm manager. Its workers run tasks too, but the manager's engine can only
exec into, copy from or back up containers on its own node. To reach a task on another node coop
needs that node's engine: a registered server whose entry names the node, matched by

1. the server's name: the node's hostname or address (``coop server add coop-w1``);
2. the host of the server's address (``root@10.0.0.12``, ``ssh://coop-w1:2222``);
3. for an ssh alias, the HostName ssh resolves it to (``ssh -G``).

A match is confirmed by the engine itself (its ``/info`` names the swarm node id), so a wrong
entry is never used for another node's containers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from coopcloud.domain.server import Server
from coopcloud.errors import EngineUnreachable, NotFound
from coopcloud.fanout import fan_out
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.engine.views import Node
    from coopcloud.ops.server.servers import ServerPool

AVAILABILITIES = ("active", "pause", "drain")


def nodes(client: Engine) -> list[Node]:
    """The swarm's nodes, managers first, then by hostname: one request."""
    from coopcloud.engine.views import Node

    found = [Node.from_json(raw) for raw in client.nodes()]
    return sorted(found, key=lambda n: (n.role != "manager", n.hostname, n.id))


def find_node(client: Engine, server: str, name: str) -> Node:
    """A node by hostname, id or unique id prefix; NotFound names the nodes there are."""
    known = nodes(client)
    exact = [n for n in known if name in (n.hostname, n.id)]
    if not exact:
        exact = [n for n in known if len(name) >= 3 and n.id.startswith(name)]
    if len(exact) == 1:
        return exact[0]
    names = ", ".join(n.hostname for n in known) or "none"
    if not exact:
        raise NotFound(
            f"server {server} has no node {name} (its nodes: {names})", hint=f"see: coop server nodes {server}"
        )
    raise NotFound(f"server {server}: {name} names several nodes", hint="give the node's id instead")


@dataclass(frozen=True)
class AvailabilitySet:
    """`server drain|activate`: the node as it is now, and whether it changed."""

    server: str
    node: Node
    changed: bool

    def to_json(self) -> JSONDict:
        n = self.node
        return {
            "server": self.server,
            "node": n.hostname,
            "id": n.id,
            "availability": n.availability,
            "changed": self.changed,
        }


def set_availability(client: Engine, server: str, name: str, availability: str) -> AvailabilitySet:
    """Drain, pause or activate a node."""
    if availability not in AVAILABILITIES:
        raise ValueError(availability)
    node = find_node(client, server, name)
    if node.availability == availability:
        return AvailabilitySet(server, node, False)
    from coopcloud.engine import views

    views.set_node_availability(client, node.id, availability)
    return AvailabilitySet(server, find_node(client, server, node.id), True)


# -- a node's own engine ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeReach:
    """How coop reaches one node's engine: the server entry that names it, and whether it answered."""

    node: Node
    server: str | None  # the registered server that names this node, if any
    reachable: bool | None  # None: no entry, so not tried
    error: str | None = None

    def to_json(self) -> JSONDict:
        n = self.node
        return {
            "node": n.hostname,
            "id": n.id,
            "addr": n.addr,
            "role": n.role,
            "leader": n.leader,
            "availability": n.availability,
            "state": n.state,
            "engine": n.engine_version,
            "labels": dict(n.labels),
            "server": self.server,
            "reachable": self.reachable,
            "error": self.error,
        }


def _ssh_hostname(server: Server, environ: Mapping[str, str]) -> str | None:
    """The host ssh would connect to for this server (its alias resolved), or None."""
    from coopcloud.engine.endpoint import ssh_hostname

    return ssh_hostname(server.endpoint, environ)


def _endpoint_host(server: Server, environ: Mapping[str, str]) -> str | None:
    from coopcloud.engine.endpoint import parse_endpoint

    try:
        return parse_endpoint(server.endpoint, environ).host
    except Exception:
        return None


def server_for_node(settings: Settings, node: Node, *, exclude: str | None = None) -> Server | None:
    """The registered server whose entry names this node (see the module docstring), or None."""
    from coopcloud.ops.server.servers import list_servers

    names = {node.hostname, node.addr} - {""}
    candidates = [s for s in list_servers(settings) if s.name != exclude]
    for s in candidates:
        if s.name in names:
            return s
    for s in candidates:
        if _endpoint_host(s, settings.environ) in names:
            return s
    for s in candidates:
        if not s.is_local and _ssh_hostname(s, settings.environ) in names:
            return s
    return None


def _confirm(client: Engine, node: Node, server: Server) -> None:
    """The engine behind `server` must BE this node (its swarm node id), else we would act elsewhere."""
    from coopcloud.engine import views

    node_id = views.info(client).node_id
    if node_id != node.id:
        raise EngineUnreachable(
            f"server {server.name} is not node {node.hostname} of this swarm (its engine is node "
            f"{node_id or 'outside any swarm'})",
            hint=f"check the address of server {server.name}: coop server ls",
        )


def reach(settings: Settings, pool: ServerPool, manager: str, found: list[Node]) -> list[NodeReach]:
    """For each node: the server entry that names it and whether its engine answers (in parallel)."""

    def check(node: Node) -> NodeReach:
        server = server_for_node(settings, node)
        if server is None:
            return NodeReach(node, None, None)
        if server.name == manager:
            return NodeReach(node, server.name, True)
        try:
            _confirm(pool.client_for(server), node, server)
        except Exception as exc:  # one unreachable node must not hide the others
            return NodeReach(node, server.name, False, str(exc))
        return NodeReach(node, server.name, True)

    return fan_out(check, found)


def how_to_reach(node: Node) -> str:
    """The command that makes a node reachable for coop."""
    target = node.hostname or node.addr
    return f"run: coop server add {target}" + (f" (an ssh alias for it, or user@{node.addr})" if node.addr else "")


def client_for_node(settings: Settings, pool: ServerPool, manager: str, node: Node, *, why: str) -> Engine:
    """The engine client of `node`, through the server entry that names it.

    `why` says what needs the node ("app X: service Y runs on it"); when no entry names the node
    the error is one line naming the node and the command that makes it reachable.
    """
    server = server_for_node(settings, node, exclude=manager)
    if server is None:
        raise EngineUnreachable(
            f"{why} on node {node.hostname}"
            + (f" ({node.addr})" if node.addr else "")
            + ", and no server entry reaches that node",
            hint=how_to_reach(node),
        )
    client = pool.client_for(server)
    _confirm(client, node, server)
    return client


def engine_for_service(settings: Settings, pool: ServerPool, ref: AppRef, service: str) -> Engine:
    """The engine to exec into or copy from a running container of `service` (run, cp, cmd).

    The manager's own engine when a container of the service runs there (one round trip asks both
    questions); else the engine of the node that runs the service's newest running task, through
    the server entry that names it. When nothing runs, the manager's engine: its lookup explains.
    """
    from datetime import datetime

    from coopcloud.engine.stream import encode_filters
    from coopcloud.engine.views import Info, Node, Task, each, one
    from coopcloud.ops.app.container import SERVICE_NAME_LABEL
    from coopcloud.ops.app.ps import short_name

    manager = pool.client(ref.server)
    short = short_name(ref.stack_name, service)
    full = f"{ref.stack_name}_{short}"
    here, tasks = manager.get_many(
        [
            (
                "/containers/json",
                {"filters": encode_filters({"label": [f"{SERVICE_NAME_LABEL}={full}"], "status": ["running"]})},
            ),
            ("/tasks", {"filters": encode_filters({"service": [full], "desired-state": ["running"]})}),
        ],
        return_errors=True,
    )
    if here and not isinstance(here, Exception):
        return manager
    if isinstance(tasks, Exception):  # no such service: the manager's lookup says so
        return manager
    found = each(Task.from_json, tasks)
    running = [t for t in found if t.status.state == "running" and t.node_id]
    if not running:
        return manager
    newest = max(running, key=lambda t: (t.status.timestamp or datetime.min.replace(tzinfo=UTC), t.id))
    raw_node, info = manager.get_many([(f"/nodes/{newest.node_id}", {}), ("/info", {})])
    if one(Info.from_json, info).node_id == newest.node_id:
        # The task runs on the manager's own node, but its container already stopped (the task's
        # state lags the container's): the manager's lookup says there is no running container.
        return manager
    node = one(Node.from_json, raw_node)
    return client_for_node(settings, pool, ref.server, node, why=f"app {ref.name}: service {short} runs")


def engine_for_node(settings: Settings, pool: ServerPool, server: str, node_id: str, *, why: str) -> Engine:
    """The engine of the swarm node `node_id` of `server`: the manager's own when it is that node,
    else the engine of the server entry that names the node (EngineUnreachable naming `coop server
    add` when none does). `why` says what needs the node, as for `client_for_node`."""
    from coopcloud.engine.views import Info, Node, one

    manager = pool.client(server)
    raw_node, info = manager.get_many([(f"/nodes/{node_id}", {}), ("/info", {})])
    if one(Info.from_json, info).node_id == node_id:
        return manager
    return client_for_node(settings, pool, server, one(Node.from_json, raw_node), why=why)


def node_engines(settings: Settings, pool: ServerPool, server: str) -> Callable[[str], Engine | None]:
    """Swarm node id -> the engine of that node of `server`'s swarm (the manager's own, or through the
    server entry that names it), None when no entry reaches it; each node looked up once. What a
    convergence wait reads container health with (`converge.wait(nodes=...)`)."""
    from coopcloud.errors import CoopError

    known: dict[str, Engine | None] = {}

    def engine_of(node_id: str) -> Engine | None:
        if node_id not in known:
            try:
                known[node_id] = engine_for_node(settings, pool, server, node_id, why="its health is read")
            except CoopError:
                known[node_id] = None
        return known[node_id]

    return engine_of
