"""How a deploy plan and convergence progress read on a terminal or in a log."""

from __future__ import annotations

from typing import Any

from coopcloud.output.console import Output

_SYMBOL = {"create": "+", "update": "~", "bookkeeping": "=", "unchanged": "=", "remove": "-"}


def show_plan(out: Output, result: Any, *, title: str = "plan", nothing: str = "nothing to change") -> None:
    """Plan lines go to stderr, so `--json` stdout stays one document. `app diff` shows drift as a plan."""
    plan = result.plan
    chaos = " (chaos)" if result.chaos else ""
    out.info(f"{title} for app {result.app} on {result.server}: version {result.version}{chaos}")
    for name in plan.networks:
        out.info(f"  + network {name}")
    for name in plan.configs:
        out.info(f"  + config {name}")
    for sp in plan.services:
        out.info(f"  {_SYMBOL.get(sp.action, '?')} service {sp.name}: {_action(sp)}")
        for c in sp.changes:
            if c.before is None:
                out.info(f"      {c.what}: {c.after}")
            elif c.after is None:
                out.info(f"      {c.what}: {c.before} (removed)")
            else:
                out.info(f"      {c.what}: {c.before} -> {c.after}")
    for name in plan.orphans:
        out.info(
            f"  ! service {name}: no longer in the recipe; left running (remove it with: docker service rm {name})"
        )
    for image, why in sorted(result.unpinned.items()):
        out.info(f"  note: {image} is deployed by tag, not digest ({why})")
    if not plan.changes_anything:
        out.info(f"  {nothing}")


def _action(sp: Any) -> str:
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
        self._live: Any = None  # a rich Live display, once progress starts on a TTY

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

    def __call__(self, progress: list) -> None:
        self._start_live()
        if self._live is not None:
            from rich.table import Table

            table = Table(box=None, show_header=False, pad_edge=False)
            for p in progress:
                table.add_row(f"  {p.line()}")
            self._live.update(table)
            return
        for p in progress:
            line = p.line()
            if self.last.get(p.name) != line:
                self.last[p.name] = line
                self.out.info(f"  {line}")
