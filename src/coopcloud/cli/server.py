"""`coop server ...`: add, ls, rm, init, history."""

from __future__ import annotations

import click

from coopcloud.cli.backup import register_server as register_backup
from coopcloud.cli.context import Runtime, pass_runtime


@click.group()
def server() -> None:
    """Manage servers: Docker Swarm managers reached over SSH, or the local engine (`default`)."""


@server.command("add")
@click.argument("destination", required=False)
@click.option("--local", is_flag=True, help="Register the local engine as the server `default`.")
@pass_runtime
def add(rt: Runtime, destination: str | None, local: bool) -> None:
    """Register a server: an ~/.ssh/config alias, host, user@host or user@host:port.

    The connection is checked first (ssh, docker, swarm); nothing is stored if it fails.

    \b
    Example:
      coop server add cloud.example.org
      coop server add root@203.0.113.7:2222
      coop server add --local
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops import servers

    if local == bool(destination):
        raise UsageError("give either a DESTINATION or --local", hint="see: coop server add --help")
    status = servers.add(rt.settings, rt.servers(), destination, local=local)
    if rt.out.json:
        rt.out.emit_json(status.__dict__)
        return
    rt.out.print(f"server {status.name} added ({status.endpoint}, engine {status.engine_version})")
    if not status.manager:
        rt.out.warn(f"server {status.name} is not a swarm manager yet — run: coop server init {status.name}")
    elif not status.proxy_network:
        rt.out.warn(f"server {status.name} has no proxy network yet — run: coop server init {status.name}")


@server.command("ls")
@click.option("--status", "with_status", is_flag=True, help="Connect to each server (in parallel) and report it.")
@pass_runtime
def ls(rt: Runtime, with_status: bool) -> None:
    """List registered servers."""
    from coopcloud.ops import servers

    known = servers.list_servers(rt.settings)
    rows = [{"name": s.name, "endpoint": s.endpoint} for s in known]
    if with_status:
        from concurrent.futures import ThreadPoolExecutor

        pool = rt.servers()

        def check(s):
            try:
                st = servers.probe(pool.client_for(s), s)
                return {"swarm": st.swarm, "manager": st.manager, "engine": st.engine_version, "error": None}
            except Exception as exc:  # one unreachable server must not hide the others
                return {"swarm": "unknown", "manager": False, "engine": "", "error": str(exc)}

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(known)))) as ex:
            for row, extra in zip(rows, ex.map(check, known)):
                row.update(extra)
    if rt.out.json:
        rt.out.emit_json(rows)
        return
    headers = ["name", "endpoint"] + (["swarm", "manager", "engine", "error"] if with_status else [])
    rt.out.table(headers, [[r.get(h) for h in headers] for r in rows])


@server.command("rm")
@click.argument("name")
@click.option("--force", is_flag=True, help="Forget the server even though app env files remain.")
@pass_runtime
def rm(rt: Runtime, name: str, force: bool) -> None:
    """Forget a server (its folder under $ABRA_DIR and its docker context). Touches nothing on it."""
    from coopcloud.ops import servers

    apps = servers.remove(rt.settings, name, force=force)
    if rt.out.json:
        rt.out.emit_json({"server": name, "removed": True, "app_env_files": apps})
        return
    rt.out.print(f"server {name} removed" + (f" with {len(apps)} app env file(s)" if apps else ""))


@server.command("init")
@click.argument("name")
@click.option("--listen-addr", help="Swarm listen address when swarm mode is started (default 0.0.0.0:2377).")
@click.option("--advertise-addr", help="Swarm advertise address (default: the engine picks; 127.0.0.1 locally).")
@pass_runtime
def init(rt: Runtime, name: str, listen_addr: str | None, advertise_addr: str | None) -> None:
    """Prepare a server for apps: swarm mode and the `proxy` overlay network (idempotent)."""
    from coopcloud.ops import servers

    pool = rt.servers()
    done = servers.init(pool, pool.server(name), listen_addr=listen_addr, advertise_addr=advertise_addr)
    if rt.out.json:
        rt.out.emit_json({"server": name, "done": done})
        return
    rt.out.print(f"server {name}: " + (", ".join(done) if done else "already initialised, nothing to do"))


@server.command("history")
@click.argument("name")
@click.option("--limit", "-n", type=int, default=None, help="Only the last N events.")
@pass_runtime
def history(rt: Runtime, name: str, limit: int | None) -> None:
    """Show the audit trail of every app on server NAME (kept on the server), oldest first."""
    from coopcloud.cli.app_team import show_history
    from coopcloud.ops import audit

    events = audit.history(rt.servers().client(name))
    show_history(rt, events[-limit:] if limit else events, with_app=True)


register_backup(server)
