"""How a deploy plan and convergence progress read on a terminal or in a log."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coopcloud.output.console import Output

if TYPE_CHECKING:
    from rich.live import Live

    from coopcloud.ops.deploy.converge import ServiceProgress
    from coopcloud.ops.deploy.drift import Drift
    from coopcloud.ops.deploy.plan import ServicePlan
    from coopcloud.ops.deploy.planning import Prepared

_SYMBOL = {"create": "+", "update": "~", "bookkeeping": "=", "unchanged": "=", "remove": "-"}


def show_plan(
    out: Output, result: Prepared | Drift, *, title: str = "plan", nothing: str = "nothing to change"
) -> None:
    """The plan is a result: on stdout (so `deploy --dry-run > plan.txt` keeps it); under --json, stdout is
    the one JSON document, so it goes to stderr. `app diff` shows drift as a plan."""
    say = out.info if out.json else out.print
    plan = result.plan
    chaos = " (chaos)" if result.chaos else ""
    say(f"{title} for app {result.app} on {result.server}: version {result.version}{chaos}")
    for name in plan.networks:
        say(f"  + network {name}")
    for name in plan.configs:
        say(f"  + config {name}")
    for sp in plan.services:
        say(f"  {_SYMBOL.get(sp.action, '?')} service {sp.name}: {_action(sp)}")
        for c in sp.changes:
            if c.paths and out.debug_enabled:  # the engine's words, for who reads the spec
                say(f"      {c.what}: {c.after} ({', '.join(c.paths)})")
            elif c.before is None:
                say(f"      {c.what}: {c.after}")
            elif c.after is None:
                say(f"      {c.what}: {c.before} (removed)")
            else:
                say(f"      {c.what}: {c.before} -> {c.after}")
    for name in plan.orphans:
        say(f"  ! service {name}: no longer in the recipe; left running (remove it with: docker service rm {name})")
    for image, why in sorted(result.unpinned.items()):
        say(f"  note: {image} is deployed by tag, not digest ({why})")
    if not plan.changes_anything:
        say(f"  {nothing}")


def _action(sp: ServicePlan) -> str:
    if sp.action == "bookkeeping":
        return "bookkeeping: coop's own labels only (restarts nothing)"
    if sp.action == "update" and not sp.restarts:
        return "update (restarts nothing)"
    return str(sp.action)


class ProgressPrinter:
    """Convergence progress, per service.

    On a terminal: a table redrawn in place (rich, imported only then). Otherwise: a line whenever a
    service's state changes, readable in CI logs. Use as a context manager around the wait.
    """

    def __init__(self, out: Output):
        self.out = out
        self.last: dict[str, str] = {}
        self._live: Live | None = None  # once progress starts on a TTY

    def __enter__(self) -> ProgressPrinter:
        return self

    def _start_live(self) -> None:
        # Started at the first progress report, so the plan above it prints as plain lines.
        isatty = getattr(self.out.stderr, "isatty", None)
        if self._live is None and isatty and isatty() and not self.out.json:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.out.stderr), refresh_per_second=4, transient=False)
            self._live.start()

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, progress: Sequence[ServiceProgress]) -> None:
        self._start_live()
        if self._live is not None:
            from rich.table import Table

            table = Table(box=None, show_header=False, pad_edge=False)
            for p in progress:
                table.add_row(f"  {p.line()}")
            self._live.update(table)
            return
        for p in progress:
            line = _COUNTDOWN.sub("", p.line())  # a log gets a line per change of state, never a countdown
            if self.last.get(p.name) != line:
                self.last[p.name] = line
                self.out.info(f"  {line}")


_COUNTDOWN = re.compile(r" \(\d+ s\)$")
