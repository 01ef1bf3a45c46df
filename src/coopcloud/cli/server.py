"""`coop server ...`: add, ls, rm, init, history, nodes, drain, activate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.backup import register_server as register_backup
from coopcloud.cli.context import AliasGroup, Runtime, changes, pass_runtime, yes_option

if TYPE_CHECKING:
    from coopcloud.ops.server.nodes import NodeReach


@click.group(cls=AliasGroup)
def server() -> None:
    """Manage servers: swarm managers reached over SSH.

    A server is a Docker Swarm manager reached over SSH, or the local engine (`default`).
    """


@server.command("add")
@click.argument("destination", required=False)
@click.option("--local", is_flag=True, help="Register the local engine as the server `default`.")
@pass_runtime
def add(rt: Runtime, destination: str | None, local: bool) -> None:
    """Register a server reached over SSH, or the local engine.

    Register a server: an ~/.ssh/config alias, host, user@host or user@host:port.

    The connection is checked first (ssh, docker, swarm); nothing is stored if it fails.

    \b
    Examples:
      coop server add cloud.example.org
      coop server add root@203.0.113.7:2222
      coop server add --local
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.server import servers

    if local == bool(destination):
        raise UsageError("give either a DESTINATION or --local", hint="see: coop server add --help")
    status = servers.add(rt.settings, rt.servers(), destination, local=local)
    reach = _node_reach(rt, status.name) if status.manager else []
    if rt.out.json:
        rt.out.emit_json(servers.ServerAdded(status, reach).to_json())
        return
    rt.out.print(f"server {status.name} added ({status.endpoint}, engine {status.engine_version})")
    if not status.manager:
        if status.swarm == "active":
            rt.out.warn(
                f"server {status.name} is a swarm worker: coop deploys through a manager; this entry lets "
                "coop reach the tasks on this node (run, cp, cmd)"
            )
        else:
            rt.out.warn(f"server {status.name} is not a swarm manager yet — run: coop server init {status.name}")
    elif not status.proxy_network:
        rt.out.warn(f"server {status.name} has no proxy network yet — run: coop server init {status.name}")
    if len(reach) > 1:
        rt.out.print(f"its swarm has {len(reach)} nodes:")
        _print_nodes(rt, reach)
        unreachable = [r for r in reach if not r.reachable]
        for r in unreachable:
            from coopcloud.ops.server.nodes import how_to_reach

            if r.server is None:
                rt.out.info(
                    f"node {r.node.hostname}: coop cannot reach its tasks (run, cp, cmd) — {how_to_reach(r.node)}"
                )
            else:
                rt.out.warn(f"node {r.node.hostname}: server {r.server} does not answer ({r.error})")


def _node_reach(rt: Runtime, name: str) -> list[NodeReach]:
    from coopcloud.ops.server import nodes

    pool = rt.servers()
    return nodes.reach(rt.settings, pool, name, nodes.nodes(pool.client(name)))


def _print_nodes(rt: Runtime, reach: list[NodeReach]) -> None:
    rows = []
    for r in reach:
        n = r.node
        role = n.role + (" (leader)" if n.leader else "")
        how = "-" if r.server is None else (r.server + ("" if r.reachable else " (no answer)"))
        rows.append([n.hostname, role, n.availability, n.state, n.engine_version, n.addr, how])
    rt.out.table(["node", "role", "availability", "state", "engine", "address", "server entry"], rows)


@server.command("ls")
@click.option("--status", "with_status", is_flag=True, help="Connect to each server (in parallel) and report it.")
@pass_runtime
def ls(rt: Runtime, with_status: bool) -> None:
    """List registered servers."""
    from coopcloud.ops.server import servers

    rows = servers.listing(rt.settings, rt.servers() if with_status else None)
    if rt.out.json:
        rt.out.emit_json([r.to_json() for r in rows])
        return
    headers = ["server", "endpoint"] + (["swarm", "manager", "engine", "error"] if with_status else [])
    docs = [r.to_json() for r in rows]
    rt.out.table(headers, [[d.get(h) for h in headers] for d in docs])


@changes()
@server.command("rm")
@click.argument("name", metavar="SERVER")
@click.option("--force", is_flag=True, help="Forget the server even though app env files remain (they go too).")
@yes_option
@pass_runtime
def rm(rt: Runtime, name: str, force: bool, yes: bool) -> None:
    """Forget a server; nothing on it changes.

    Removes its folder under $ABRA_DIR and its docker context. Refused while app
    env files remain, unless --force (they are removed with it).

    \b
    Examples:
      coop server rm cloud.example.org
      coop server rm cloud.example.org --force --yes
    """
    from coopcloud.domain.words import plural
    from coopcloud.ops.server import servers

    envs = servers.app_env_files(rt.settings, name, force=force)
    extra = f" and {plural(len(envs), 'app env file')} ({', '.join(envs)})" if envs else ""
    rt.out.approve(f"server {name}", f"forget it: its folder{extra} and docker context", yes=yes)
    removed = servers.remove(rt.settings, name, force=force)
    apps = removed.app_env_files
    if rt.out.json:
        rt.out.emit_json(removed.to_json())
        return
    rt.out.print(f"server {name} removed" + (f" with {plural(len(apps), 'app env file')}" if apps else ""))


@changes()
@server.command("init")
@click.argument("name", metavar="SERVER")
@click.option("--listen-addr", help="Swarm listen address when swarm mode is started (default 0.0.0.0:2377).")
@click.option("--advertise-addr", help="Swarm advertise address (default: the engine picks; 127.0.0.1 locally).")
@yes_option
@pass_runtime
def init(rt: Runtime, name: str, listen_addr: str | None, advertise_addr: str | None, yes: bool) -> None:
    """Prepare a server for apps: swarm mode, proxy network.

    Starts swarm mode and creates the `proxy` overlay network where they are
    missing; a second run changes nothing.

    \b
    Examples:
      coop server init cloud.example.org
      coop server init cloud.example.org --advertise-addr 203.0.113.7 --yes
    """
    from coopcloud.ops.server import servers

    rt.out.approve(f"server {name}", "start swarm mode and create the proxy network, where missing", yes=yes)
    pool = rt.servers()
    done = servers.init(pool, pool.server(name), listen_addr=listen_addr, advertise_addr=advertise_addr)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(f"server {name}: " + (", ".join(done.done) if done.done else "already initialised, nothing to do"))


@server.command("history")
@click.argument("name")
@click.option("--limit", "-n", type=int, default=None, help="Only the last N events.")
@pass_runtime
def history(rt: Runtime, name: str, limit: int | None) -> None:
    """Show the audit trail of every app on SERVER.

    Show the audit trail of every app on server NAME (kept on the server), oldest first.
    """
    from coopcloud.cli.app_team import show_history
    from coopcloud.ops.trail import audit

    events = audit.history(rt.servers().client(name))
    show_history(rt, events[-limit:] if limit else events, with_app=True)


@server.command("nodes")
@click.argument("name")
@pass_runtime
def nodes_(rt: Runtime, name: str) -> None:
    """List the nodes of a server's swarm.

    List the nodes of a server's swarm: role, availability, state, engine version, address, and the
    server entry through which coop reaches each node's tasks (run, cp, cmd).

    \b
    Examples:
      coop server nodes cloud.example.org
    """
    reach = _node_reach(rt, name)
    if rt.out.json:
        rt.out.emit_json([r.to_json() for r in reach])
        return
    _print_nodes(rt, reach)


def _availability(rt: Runtime, name: str, node: str, availability: str, *, yes: bool) -> None:
    from coopcloud.ops.server import nodes

    what = "move its tasks to other nodes" if availability == "drain" else "let it take tasks again"
    rt.out.approve(
        f"server {name}", f"{'drain' if availability == 'drain' else 'activate'} node {node}: {what}", yes=yes
    )
    done = nodes.set_availability(rt.servers().client(name), name, node, availability)
    now, changed = done.node, done.changed
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(
        f"server {name}: node {now.hostname} "
        + (f"is now {availability}" if changed else f"was already {availability}")
    )


@changes()
@server.command("drain")
@click.argument("name", metavar="SERVER")
@click.argument("node")
@yes_option
@pass_runtime
def drain(rt: Runtime, name: str, node: str, yes: bool) -> None:
    """Drain a node: its tasks move to other nodes.

    Swarm moves the node's tasks to other nodes and places no new ones there.

    \b
    Examples:
      coop server drain cloud.example.org worker-2
    """
    _availability(rt, name, node, "drain", yes=yes)


@changes()
@server.command("activate")
@click.argument("name", metavar="SERVER")
@click.argument("node")
@yes_option
@pass_runtime
def activate(rt: Runtime, name: str, node: str, yes: bool) -> None:
    """Let a drained or paused node take tasks again.

    Running tasks are not moved back to it.

    \b
    Examples:
      coop server activate cloud.example.org worker-2
    """
    _availability(rt, name, node, "active", yes=yes)


register_backup(server)


@changes(destroys=True)
@server.command("prune")
@click.argument("name")
@click.option("--all", "-a", "all_images", is_flag=True, help="Every image no container uses, not only dangling ones.")
@click.option("--volumes", "-v", is_flag=True, help="Also unused volumes (never those of an app coop knows).")
@yes_option
@pass_runtime
def prune(rt: Runtime, name: str, all_images: bool, volumes: bool, yes: bool) -> None:
    """Remove what the server no longer uses.

    Stopped containers, unused networks, dangling images (--all: every unused image) and,
    with --volumes, unused volumes. Never the proxy network, a network an app's recipe
    declares external, a volume of an app coop knows (an undeployed app keeps its data),
    nor coop's own volumes (coop-…).

    \b
    Examples:
      coop server prune cloud.example.org
      coop server prune cloud.example.org --all --volumes --yes
    """
    from coopcloud.ops.prune import prune_server
    from coopcloud.ops.server.servers import resolve

    resolve(rt.settings, name)  # refuses unregistered servers
    what = "every unused image" if all_images else "dangling images"
    rt.out.approve(
        f"server {name}",
        f"remove stopped containers, unused networks, {what}" + (" and unused volumes (their data)" if volumes else ""),
        yes=yes,
        destroys=True,
    )
    done = prune_server(
        rt.settings, rt.servers().client(name), name, all_images=all_images, volumes=volumes, warn=rt.out.warn
    )
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    for kind, names in (
        ("container", done.containers),
        ("network", done.networks),
        ("image", done.images),
        ("volume", done.volumes),
    ):
        for item in names:
            rt.out.print(f"removed {kind} {item}")
    kept = [f"network {n}" for n in done.kept_networks] + [f"volume {v}" for v in done.kept_volumes]
    if kept:
        rt.out.info(f"kept (unused, but an app's or coop's): {', '.join(kept)}")
    rt.out.print(f"server {name}: reclaimed {_size(done.space_reclaimed)}")


def _size(n: int) -> str:
    """Bytes as docker prints them (decimal units)."""
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            return f"{n} B" if n < 1000 else f"{size:.1f} {unit}"
    return f"{n} B"
