"""mkdocs hook: fills the reference pages from the code, so they cannot drift from it.

A page holds a marker such as `<!-- generated: exit-codes -->`; at build time the marker is replaced by
a table read from coop's own modules (the exit codes from coopcloud.errors, the lint rules from the
rule registry, the labels from swarm/labels.py, the global flags from the CLI's entry point).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def exit_codes() -> str:
    from coopcloud.errors import ExitStatus

    source = inspect.getsource(ExitStatus)
    meaning = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+([A-Z_]+) = \d+\s*#\s*(.*)$", source, re.M)}
    meaning.setdefault("OK", "what was asked is true on the server")
    rows = [[f"`{s.value}`", s.name.lower().replace("_", " "), meaning.get(s.name, "")] for s in ExitStatus]
    return _table(["code", "name", "meaning"], rows)


def lint_rules() -> str:
    from coopcloud.lint.registry import all_rules

    rows = [[f"`{r.id}`", str(r.level), r.summary, r.fix] for r in all_rules()]
    return _table(["rule", "level", "a passing recipe has", "how to fix a failure"], rows)


def labels() -> str:
    from coopcloud.swarm.labels import KNOWN_LABELS

    rows = [[f"`{label}`", where, who, meaning] for label, where, who, meaning in KNOWN_LABELS]
    return _table(["label", "on", "set by", "meaning"], rows)


def global_flags() -> str:
    from coopcloud.cli.main import cli

    rows = []
    for param in cli.params:
        opts = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        rows.append([opts, getattr(param, "help", "") or ""])
    return _table(["flag", "effect"], rows)


def commands() -> str:
    """Every command of the tree, each with its help page exactly as `coop … --help` prints it."""
    import click

    from coopcloud.cli.main import cli

    out: list[str] = []

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(
            cmd,
            info_name=path[-1],
            parent=parent,
            max_content_width=80,
            terminal_width=80,
            help_option_names=["-h", "--help"],
        )
        level = "#" * min(len(path) + 1, 6)
        out.append(f"{level} {' '.join(path)} {{#{'-'.join(path)}}}\n")
        short = cmd.get_short_help_str(limit=200).replace("<", "&lt;").replace(">", "&gt;")
        out.append(f"{short}\n\n```text\n{cmd.get_help(ctx)}\n```\n")
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden and sub.name == name:  # aliases are listed under their command
                    walk(sub, [*path, name], ctx)

    walk(cli, ["coop"], None)
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "commands": commands,
    "exit-codes": exit_codes,
    "lint-rules": lint_rules,
    "labels": labels,
    "global-flags": global_flags,
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: unknown generated section {name!r}")
        return GENERATORS[name]()

    return MARKER.sub(fill, markdown)
