"""How a deploy plan and convergence progress read on a terminal or in a log."""

from __future__ import annotations

from typing import Any

from coopcloud.output.console import Output

_SYMBOL = {"create": "+", "update": "~", "unchanged": "=", "remove": "-"}


def show_plan(out: Output, result: Any) -> None:
    """Plan lines go to stderr, so `--json` stdout stays one document."""
    plan = result.plan
    chaos = " (chaos)" if result.chaos else ""
    out.info(f"plan for app {result.app} on {result.server}: version {result.version}{chaos}")
    for name in plan.networks:
        out.info(f"  + network {name}")
    for name in plan.configs:
        out.info(f"  + config {name}")
    for sp in plan.services:
        out.info(f"  {_SYMBOL.get(sp.action, '?')} service {sp.name}: {sp.action}")
        for c in sp.changes:
            if c.before is None:
                out.info(f"      {c.what}: {c.after}")
            elif c.after is None:
                out.info(f"      {c.what}: {c.before} (removed)")
            else:
                out.info(f"      {c.what}: {c.before} -> {c.after}")
    for image, why in sorted(result.unpinned.items()):
        out.info(f"  note: {image} is deployed by tag, not digest ({why})")
    if not plan.changes_anything:
        out.info("  nothing to change")


class ProgressPrinter:
    """Prints a service's progress line whenever it changes: readable live and in CI logs alike."""

    def __init__(self, out: Output):
        self.out = out
        self.last: dict[str, str] = {}

    def __call__(self, progress: list) -> None:
        for p in progress:
            line = p.line()
            if self.last.get(p.name) != line:
                self.last[p.name] = line
                self.out.info(f"  {line}")
