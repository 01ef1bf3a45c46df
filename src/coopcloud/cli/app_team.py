"""Several operators, one server: `coop app lock`, `app unlock`, `app history` (and the history table
`server history` shares), and `app diff` (drift: what changed on the server behind coop's back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import Runtime, mutating, pass_runtime, yes_option

if TYPE_CHECKING:
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.trail.audit import Event


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(lock_status)
    group.add_command(unlock)
    group.add_command(app_history)
    group.add_command(diff)


@click.command("lock")
@click.argument("app_name", metavar="APP")
@pass_runtime
def lock_status(rt: Runtime, app_name: str) -> None:
    """Show who holds APP's lock.

    Show who holds APP's lock (read-only; every command that changes the app takes it).
    """
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.trail import lock as locks

    ref = find_app(rt.settings, app_name)
    client = rt.servers().client(ref.server)
    held = locks.status(client, app_name, ref.stack_name)
    found, expired = held.lock, held.expired
    if rt.out.json:
        rt.out.emit_json(held.to_json())
        return
    if found is None:
        rt.out.print(f"app {app_name}: not locked")
        return
    state = "expired, " if expired else ""
    rt.out.print(f"app {app_name}: locked by {found.describe()} ({state}lease until {locks.utc_text(found.expires)})")


@click.command("unlock")
@click.argument("app_name", metavar="APP")
@yes_option
@click.option("--force", "-f", is_flag=True, hidden=True)  # was "do not ask": say it is --yes now
@mutating("unlock", lock="none")
def unlock(rt: Runtime, app: AppContext, app_name: str, yes: bool, force: bool) -> None:
    """Break APP's lock, e.g. one left by a killed command.

    Asks first at a terminal; recorded in the history. Only break a lock whose
    holder no longer runs: the holder's command would otherwise go on changing
    the app while someone else does too.

    \b
    Examples:
      coop app lock git.example.org      # who holds it, running what, since when
      coop app unlock git.example.org
    """
    from coopcloud.ops.backup.job import remove_orphans
    from coopcloud.ops.trail import lock as locks

    if force:
        from coopcloud.errors import UsageError

        raise UsageError("--force does not answer questions in coop", hint="pass --yes to break it without asking")
    found = locks.read(app.engine, app.stack)
    if found is None:
        app.declined()
        if rt.out.json:
            rt.out.emit_json(locks.Broken(app_name, None).to_json())
        else:
            rt.out.print(f"app {app_name}: not locked, nothing to do")
        return
    rt.out.approve(f"app {app_name}", f"break the lock of {found.describe()}", yes=yes)
    app.changing().detail = f"broke the lock of {found.describe()}"
    broken = locks.break_lock(app.engine, app.stack)
    remove_orphans(app.engine, app=app.name)  # the killed command's restic jobs, if it was a backup or restore
    if rt.out.json:
        rt.out.emit_json(locks.Broken(app_name, broken).to_json())
        return
    rt.out.print(f"app {app_name}: lock of {found.describe()} broken")


@click.command("history")
@click.argument("app_name", metavar="APP")
@click.option("--limit", "-n", type=int, default=None, help="Only the last N events.")
@pass_runtime
def app_history(rt: Runtime, app_name: str, limit: int | None) -> None:
    """Show APP's audit trail: who changed what, and when.

    Show APP's audit trail, kept on its server: who changed it, when, from which version to which, and how it ended.
    """
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.trail import audit

    ref = find_app(rt.settings, app_name)
    events = audit.history(rt.servers().client(ref.server), ref.stack_name)
    show_history(rt, events[-limit:] if limit else events, with_app=False)


def show_history(rt: Runtime, events: list[Event], *, with_app: bool) -> None:
    if rt.out.json:
        rt.out.emit_json([e.to_json() for e in events])
        return
    if not events:
        rt.out.info("no events recorded")
        return
    headers = ["when", "who", "command"] + (["app"] if with_app else []) + ["versions", "result", "took", "detail"]
    from coopcloud.domain.words import human_time
    from coopcloud.engine.views import parse_time

    rows = []
    for e in events:
        versions = _versions(e.version_from, e.version_to)
        row = [human_time(parse_time(e.when)), e.who, e.command] + ([e.app] if with_app else [])
        rows.append(row + [versions, e.result, f"{e.duration:.1f}s", e.detail or ""])
    rt.out.table(headers, rows)


def _versions(before: str | None, after: str | None) -> str:
    if before and after and before != after:
        return f"{before} -> {after}"
    return after or before or ""


@click.command("diff")
@click.argument("app_name", metavar="APP")
@pass_runtime
def diff(rt: Runtime, app_name: str) -> None:
    """Show how APP differs from what a deploy would send.

    Compare what APP runs with what deploying its pinned version with the current env would send.

    Images (by digest), env, labels, mounts, secrets, configs, ports, replicas and
    placement, shown in the plan's format. Exit 0 when they match, 13 when they
    differ (a hand-made `docker service update`, an env edited since the last
    deploy...): `coop app deploy APP --force` puts the app back on its recipe and env.
    """
    from coopcloud.errors import Drifted
    from coopcloud.ops.deploy.drift import diff as compute
    from coopcloud.output.plan import show_plan

    found = compute(rt.settings, rt.servers(), app_name)
    if rt.out.json:
        rt.out.emit_json(found.to_json())
    else:
        show_plan(rt.out, found, title="drift", nothing="no drift: the server runs what the recipe and env say")
    if found.drifted:
        what = ", ".join(found.services) or "its networks or configs"
        raise Drifted(
            f"app {app_name} drifted: {what} differ from what {found.version} with the current env would deploy",
            hint=f"to undo that run: coop app deploy {app_name} --force; to keep it, put it in the recipe or the env",
        )
