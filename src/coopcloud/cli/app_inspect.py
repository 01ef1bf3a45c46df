"""`coop app ps|logs|errors|services|restart|run|cp|volume`: look at a deployed app and act on it by hand.

The commands are plain click commands; `register(app)` adds them to the `app`
group. Logic lives in `coopcloud.ops` (ps, logs, restart, container, volumes); this module parses, calls and
renders. `--json` is the global flag (accepted anywhere on the line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import AliasGroup, Runtime, mutating, no_json, pass_runtime, yes_option
from coopcloud.cli.watch import shown, watch_options
from coopcloud.domain.results import AppItem, app_items

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.app.container import FdInput
    from coopcloud.ops.app.context import AppContext


def _connect(rt: Runtime, name: str) -> tuple[AppRef, Engine]:
    from coopcloud.ops.app.apps import find_app

    ref = find_app(rt.settings, name)
    return ref, rt.servers().client(ref.server)


def _connect_to_task(rt: Runtime, name: str, service: str) -> tuple[AppRef, Engine]:
    """The app, and the engine of the node running `service` (its own server entry on a multi-node swarm)."""
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.server.nodes import engine_for_service

    ref = find_app(rt.settings, name)
    return ref, engine_for_service(rt.settings, rt.servers(), ref, service)


@click.command("ps")
@click.argument("app_name", metavar="APP")
@watch_options
@pass_runtime
def ps(rt: Runtime, app_name: str, watch: bool, interval: float) -> None:
    """Show the app's services, replicas, tasks and ports.

    Show the app's services: image, replicas, task states, nodes, ports (--json for all details).
    --watch shows them again every interval (in place at a terminal) until Ctrl-C.

    \b
    Examples:
      coop app ps git.example.org
      coop app ps git.example.org --watch
    """
    ref, client = _connect(rt, app_name)
    shown(rt.out, lambda: _show_ps(rt, ref, client), watch=watch, interval=interval)


def _show_ps(rt: Runtime, ref: AppRef, client: Engine) -> None:
    from coopcloud.ops.app import ps as ops_ps

    rows = ops_ps.ps(client, ref)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, rows)])
        return
    table = []
    for r in rows:
        states = ", ".join(sorted({t.state for t in r.tasks})) or "-"
        nodes = ", ".join(sorted({t.node for t in r.tasks if t.node})) or "-"
        table.append([r.service, r.image_display, r.replicas_display, states, nodes, " ".join(map(str, r.ports))])
    rt.out.table(["service", "image", "replicas", "tasks", "node", "ports"], table)
    for r in rows:
        if r.crash_loop:
            rt.out.warn(f"service {r.service}: crash loop, last: {r.last_failure} — see: coop app errors {ref.name}")


@click.command("services")
@click.argument("app_name", metavar="APP")
@pass_runtime
def services(rt: Runtime, app_name: str) -> None:
    """List the app's services as deployed.

    List the app's services as deployed: full name, image, mode, labels (--json for all details).
    """
    from coopcloud.ops.app import ps as ops_ps

    ref, client = _connect(rt, app_name)
    rows = ops_ps.service_list(client, ref)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, rows)])
        return
    table = []
    for r in rows:
        mode = "global" if r.mode == "global" else f"replicated ({r.desired})"
        table.append([r.service, r.name, r.image_display, mode, len(r.labels)])
    rt.out.table(["service", "name", "image", "mode", "labels"], table)


@click.command("errors")
@click.argument("app_name", metavar="APP")
@click.option("--limit", type=int, default=20, show_default=True, help="At most this many, newest first.")
@watch_options
@pass_runtime
def errors(rt: Runtime, app_name: str, limit: int, watch: bool, interval: float) -> None:
    """Show the app's recent failures.

    Show recent failures of the app: failed tasks with exit codes, OOM kills, failing healthchecks,
    paused or rolled-back updates. Swarm remembers a few tasks per replica only. --watch shows
    them again every interval (in place at a terminal) until Ctrl-C.
    """
    ref, client = _connect(rt, app_name)
    shown(rt.out, lambda: _show_errors(rt, ref, client, limit), watch=watch, interval=interval)


def _show_errors(rt: Runtime, ref: AppRef, client: Engine, limit: int) -> None:
    from coopcloud.domain.words import human_time
    from coopcloud.engine.views import parse_time
    from coopcloud.ops.app import ps as ops_ps

    found = ops_ps.errors(client, ref, limit=limit)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, found)])
        return
    if not found:
        rt.out.print(f"app {ref.name}: no recent errors")
        return
    rt.out.table(
        ["service", "when", "kind", "exit", "node", "task", "message"],
        [
            [e.service, human_time(parse_time(e.timestamp)), e.kind, e.exit_code, e.node, e.task[:12], e.message]
            for e in found
        ],
    )


@no_json
@click.command("logs")
@click.argument("app_name", metavar="APP")
@click.argument("service", required=False)
@click.option("--tail", "-n", help="Lines to show from the end of each service's log (a number or 'all').")
@click.option("--since", help="Only lines since a time: a duration (10m, 2h) or a date (2024-05-01T10:00:00Z).")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new lines; Ctrl-C ends.")
@click.option("--timestamps", "-t", is_flag=True, help="Show each line's timestamp.")
@pass_runtime
def logs(
    rt: Runtime, app_name: str, service: str | None, tail: str | None, since: str | None, follow: bool, timestamps: bool
) -> None:
    """Show the logs of one service, or of all of them.

    Show the logs of one service, or of all the app's services (each line prefixed with its service).

    \b
    Examples:
      coop app logs git.example.org app --tail 50 -f
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import logs as ops_logs

    if tail is not None and tail != "all" and not tail.isdigit():
        raise UsageError(f"--tail {tail!r} is not a number of lines", hint="e.g. --tail 100, or --tail all")
    ref, client = _connect(rt, app_name)
    lines = ops_logs.logs(client, ref, service, tail=tail, since=since, follow=follow)
    prefix = service is None
    try:
        for line in lines:
            parts = []
            if timestamps and line.timestamp:
                parts.append(line.timestamp)
            if prefix:
                parts.append(f"{line.service} |")
            parts.append(line.text)
            text = " ".join(parts)
            if line.stream == "stderr":
                rt.out.stderr.write(text + "\n")
                rt.out.stderr.flush()
            else:
                rt.out.print(text)
    except KeyboardInterrupt:
        if not follow:
            raise
        # Ctrl-C is how a follow ends: leave quietly, connections closed below.
    finally:
        close = getattr(lines, "close", None)
        if close:
            close()


@click.command("restart")
@click.argument("app_name", metavar="APP")
@click.argument("service", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Restart every service of the app.")
@click.option(
    "--timeout",
    type=float,
    help="Seconds to wait for the tasks to run again (default: the app's coop-cloud.<stack>.timeout label, else 300).",
)
@yes_option
@mutating("restart", lock="at begin")
def restart(
    rt: Runtime, app: AppContext, app_name: str, service: str | None, all_: bool, timeout: float | None, yes: bool
) -> None:
    """Restart a service (or --all) and wait until it runs again.

    Its tasks are replaced, as `docker service update --force` does, and coop waits
    until they run (and are healthy) again.

    \b
    Examples:
      coop app restart git.example.org app
      coop app restart git.example.org --all --yes
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import restart as ops_restart
    from coopcloud.ops.server.nodes import node_engines

    if bool(service) == all_:
        raise UsageError("name a SERVICE or pass --all", hint=f"see: coop app services {app_name}")
    ref = app.ref
    rt.out.approve(f"app {ref.name}", f"restart {f'service {service}' if service else 'every service'}", yes=yes)
    change = app.changing()
    change.plan = [f"~ service {service or 'all'}: restart"]
    done = ops_restart.restart(
        app.engine,
        ref,
        [service] if service else None,
        timeout=timeout,
        report=rt.out.info,
        nodes=node_engines(rt.settings, app.pool, ref.server),
    )
    change.plan = [f"~ service {r.service}: restart" for r in done]
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, done)])
        return
    from coopcloud.domain.words import plural

    for r in done:
        rt.out.print(f"app {ref.name}: service {r.service} restarted ({plural(len(r.after), 'task')} running)")


@no_json
@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("app_name", metavar="APP")
@click.argument("service")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--user", "-u", help="Run as this user (name or uid[:gid]).")
@click.option("--workdir", "-w", help="Working directory inside the container.")
@click.option("--env", "-e", "env", multiple=True, help="Set a variable, KEY=VALUE (repeatable).")
@click.option(
    "--no-tty", is_flag=True, help="Never allocate a TTY (the default when stdin or stdout is not a terminal)."
)
@click.pass_context
def run(
    ctx: click.Context,
    app_name: str,
    service: str,
    cmd: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    env: tuple[str, ...],
    no_tty: bool,
) -> None:
    """Run a command in a running container of SERVICE.

    Run a command in a running container of SERVICE; exit with the command's exit code.

    Put options for coop before `--`, the command after it. Piped stdin is
    passed to the command.

    \b
    Examples:
      coop app run git.example.org app -- ls -la /var/www
      coop app run git.example.org db --user postgres -- psql < dump.sql
    """
    from coopcloud.ops.app import container as ops_container

    rt = ctx.find_object(Runtime)
    assert rt is not None  # main() puts it there
    ref, client = _connect_to_task(rt, app_name, service)
    tty = not no_tty and rt.out.is_tty and _isatty(rt.out.stdin)
    stdin, restore = _stdin_for(rt, tty)
    try:
        code = ops_container.run(
            client,
            ref,
            service,
            list(cmd),
            on_output=_writer(rt),
            user=user,
            tty=tty,
            stdin=stdin,
            workdir=workdir,
            env=list(env) or None,
        )
    finally:
        restore()
    ctx.exit(code & 0xFF if code >= 0 else 1)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _writer(rt: Runtime) -> Callable[[str, bytes], None]:
    def write(stream: str, data: bytes) -> None:
        target = rt.out.stderr if stream == "stderr" else rt.out.stdout
        binary = getattr(target, "buffer", None)
        if binary is not None:
            target.flush()
            binary.write(data)
            binary.flush()
        else:
            target.write(data.decode("utf-8", "replace"))
            target.flush()

    return write


def _stdin_for(rt: Runtime, tty: bool) -> tuple[bytes | FdInput | None, Callable[[], object]]:
    """What to send as the command's stdin, and how to restore the terminal afterwards.

    A terminal is put in raw mode (with a TTY) or not sent at all; piped
    input is sent; in-process text streams (tests) are sent when they hold data.
    """
    from coopcloud.ops.app.container import FdInput

    stream = rt.out.stdin
    fileno = None
    try:
        fileno = stream.fileno()
    except (AttributeError, OSError, ValueError):
        pass
    if fileno is None:
        text = stream.read() if hasattr(stream, "read") else ""
        return (text.encode() if text else None), lambda: None
    if _isatty(stream):
        if not tty:
            return None, lambda: None
        import termios
        import tty as ttymod

        saved = termios.tcgetattr(fileno)
        ttymod.setraw(fileno)
        return FdInput(fileno), lambda: termios.tcsetattr(fileno, termios.TCSADRAIN, saved)
    return FdInput(fileno), lambda: None


@click.command("cp")
@click.argument("app_name", metavar="APP")
@click.argument("src")
@click.argument("dst")
@pass_runtime
def cp(rt: Runtime, app_name: str, src: str, dst: str) -> None:
    """Copy files between this machine and a container.

    Copy files between this machine and a running container: SERVICE:/path on exactly one side.

    \b
    Examples:
      coop app cp git.example.org app:/var/www/config.php ./config.php
      coop app cp git.example.org ./theme app:/var/www/themes/
    """
    from coopcloud.ops.app import container as ops_container

    ref, client = _connect_to_task(rt, app_name, ops_container.parse_copy(src, dst).service)
    done = ops_container.cp(client, ref, src, dst)
    if rt.out.json:
        rt.out.emit_json(AppItem(ref, done).to_json())
        return
    if done.direction == "to":
        rt.out.print(f"copied {done.local_path} to {done.service}:{done.container_path}")
    else:
        rt.out.print(f"copied {done.service}:{done.container_path} to {done.local_path}")


@click.group("volume", cls=AliasGroup)
def volume() -> None:
    """List and remove the app's volumes."""


@volume.command("ls")
@click.argument("app_name", metavar="APP")
@pass_runtime
def volume_ls(rt: Runtime, app_name: str) -> None:
    """List the app's volumes on its server.

    List the app's volumes (labelled with its stack) on its server (--json for all details).
    """
    from coopcloud.ops.app import volumes as ops_volumes

    ref, client = _connect(rt, app_name)
    rows = ops_volumes.volumes(client, ref)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, rows)])
        return
    if not rows:
        rt.out.info(f"app {ref.name} has no volumes on server {ref.server}")
        return
    rt.out.table(["volume", "name", "driver", "created"], [[v.volume, v.name, v.driver, v.created] for v in rows])


@volume.command("rm")
@click.argument("app_name", metavar="APP")
@click.argument("volumes", nargs=-1)
@click.option("--all", "-a", "all_", is_flag=True, help="Remove every volume of the app.")
@yes_option
@click.option("--force", "-f", is_flag=True, hidden=True)  # was "do not ask": say it is --yes now
@mutating("volume rm", destroys=True, lock="at begin")
def volume_rm(
    rt: Runtime, app: AppContext, app_name: str, volumes: tuple[str, ...], all_: bool, yes: bool, force: bool
) -> None:
    """Remove volumes of an undeployed app; their data is lost.

    Refused while the app is deployed. Without a terminal, refused unless --yes.

    \b
    Examples:
      coop app volume rm git.example.org data
      coop app volume rm git.example.org --all --yes
    """
    from coopcloud.domain.words import plural
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import volumes as ops_volumes

    if force:
        raise UsageError("--force does not answer questions in coop", hint="pass --yes to remove without asking")
    ref, client = app.ref, app.engine
    chosen = ops_volumes.volumes_to_remove(client, ref, list(volumes), all_=all_)
    names = ", ".join(v.volume for v in chosen)
    rt.out.approve(
        f"app {ref.name}",
        f"remove {plural(len(chosen), 'volume')} ({names}) — their data is lost for good",
        yes=yes,
        destroys=True,
    )
    app.changing().plan = [f"- volume {v.volume}" for v in chosen]
    done = ops_volumes.remove_volumes(client, ref, chosen)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(f"app {ref.name}: removed {plural(len(done.removed), 'volume')} ({', '.join(done.removed)})")


COMMANDS = (ps, services, errors, logs, restart, run, cp, volume)


def register(group: click.Group) -> None:
    """Add the inspection commands (and the `volume` group) to the `app` group. Idempotent."""
    for command in COMMANDS:
        group.add_command(command)
