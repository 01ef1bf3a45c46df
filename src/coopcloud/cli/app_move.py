"""`coop app move APP SERVER`: the app, its data, secrets and env file onto another swarm (ops/move)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import Runtime, mutating_apps, yes_option

if TYPE_CHECKING:
    from collections.abc import Callable

    from coopcloud.ops.move.plan import MovePlan


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(move)


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


@click.command("move")
@click.argument("app_name", metavar="APP")
@click.argument("server", metavar="SERVER")
@click.option("--dry-run", is_flag=True, help="Check both servers and show the plan; change nothing.")
@yes_option
@mutating_apps("move")  # ops.move tracks the change on both servers (lock and history on each)
def move(rt: Runtime, app_name: str, server: str, dry_run: bool, yes: bool) -> None:
    """Move APP to another SERVER: data, secrets, env file.

    Everything is checked first, read-only. Then the secrets are copied, each volume is copied node
    to node while the app still runs, the app stops, a short second pass copies what changed (every
    file is then checked by sha256), and the app deploys on SERVER at the same version, waiting until
    it is converged and healthy. If it is not, it is removed there and started again where it was
    (exit 8). The source keeps its volumes and secrets until you remove them. Ctrl-C at any step
    leaves the app running on exactly one of the two servers, and says which.

    \b
    Examples:
      coop app move wiki.example.org cloud2.example.org --dry-run
      coop app move wiki.example.org cloud2.example.org
    """
    from coopcloud.ops import move as moving
    from coopcloud.ops.trail.operator import operator

    plan = moving.plan_move(rt.settings, rt.servers(), app_name, server)
    if rt.out.json and dry_run:
        rt.out.emit_json(plan.to_json())
        return
    _show_plan(rt, plan)
    if dry_run:
        rt.out.info("dry run: nothing changed")
        return
    rt.out.approve(f"app {plan.ref.name}", f"move it from {plan.source} to {plan.target} (down meanwhile)", yes=yes)
    result = moving.move(
        rt.settings, rt.servers(), plan, operator=operator(rt.settings), say=rt.out.info, progress=_progress(rt, plan)
    )
    if rt.out.json:
        rt.out.emit_json(result.to_json())
        return
    rt.out.print(
        f"app {result.app}: moved from {result.source} to {result.target} at {result.version}; "
        f"down for {result.downtime:.1f} s"
    )
    rt.out.info(
        f"the app's volumes and secrets are still on {result.source}: remove them there once you are sure "
        f"(docker volume rm / docker secret rm on {result.source})"
    )


def _show_plan(rt: Runtime, plan: MovePlan) -> None:
    rt.out.print(f"move app {plan.ref.name} ({plan.version or 'unknown version'}) from {plan.source} to {plan.target}:")
    n = len(plan.secrets)
    rt.out.print(f"  {n} secret{'s' if n != 1 else ''} to create on {plan.target}, same names and values")
    for vol in plan.volumes:
        rt.out.print(
            f"  volume {vol.name} ({_size(vol.size)}): node {vol.source_node.hostname} of {plan.source} "
            f"-> node {vol.target_node.hostname} of {plan.target}"
        )
    rt.out.print(f"  then: stop on {plan.source}; the app is down during {plan.downtime_bound}")
    rt.out.print(f"  {plan.source} keeps the app's volumes and secrets until you remove them")


def _progress(rt: Runtime, plan: MovePlan) -> Callable[[str, int], None]:
    """A line per 10% of each volume (a terminal or not: never a flood)."""
    sizes = {v.name: v.size for v in plan.volumes}
    done: dict[str, int] = {}
    shown: dict[str, int] = {}

    def step(volume: str, n: int) -> None:
        done[volume] = done.get(volume, 0) + n
        total = sizes.get(volume)
        if not total:
            return
        tenth = min(10, done[volume] * 10 // total)
        if tenth > shown.get(volume, 0):
            shown[volume] = tenth
            rt.out.info(f"{volume}: {tenth * 10}% ({_size(done[volume])} of {_size(total)})")

    return step
