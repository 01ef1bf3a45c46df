"""No function body in src/ over 100 lines unless a comment just above it says why it is one unit.

The comment starts with ``# One unit`` (e.g. "# One unit on purpose: a literal mirror of
docker/cli's convert.Service"). Read with ast: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "coopcloud"
# 80 hand-formatted lines became ~100 under `ruff format`, which puts each argument of a long call on its own line.
MAX_LINES = 100


def _long_functions() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            # The body is what is measured: click's option decorators are declarations, one a line.
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if node.end_lineno - node.lineno + 1 <= MAX_LINES:
                continue
            above = start - 2  # index of the line above the def (0-based)
            while (
                above >= 0
                and lines[above].lstrip().startswith("#")
                and not lines[above].lstrip().startswith("# One unit")
            ):
                above -= 1
            if above < 0 or not lines[above].lstrip().startswith("# One unit"):
                found.append(
                    f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                )
    return found


def test_long_functions_say_why_they_are_one_unit():
    assert _long_functions() == []
