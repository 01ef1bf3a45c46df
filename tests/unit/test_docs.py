"""The documentation site: it builds with no warning, its command reference holds every command of the
real tree, and every `coop …` command line in the guides (and the README) names commands and flags that
exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from coopcloud.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"```(?:sh|bash|console)?\n(.*?)```", re.S)


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden or cmd.name != name:  # an alias names a command listed under its own name
            continue
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


def _command_lines(text: str) -> Iterator[str]:
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("coop ") or re.match(r"^[A-Z_]+=\S* coop ", line):
                yield line[line.index("coop ") :]


def _check(line: str) -> str | None:
    """None when every command and flag of `line` exists; else what does not."""
    words = shlex.split(line.split(" #")[0])[1:]
    globals_ = {o for p in cli.params for o in (*p.opts, *p.secondary_opts)}
    cmd: click.Command = cli
    while words and isinstance(cmd, click.Group) and not words[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), words[0])
        if sub is None:
            return f"no command {words[0]!r} under {cmd.name!r}"
        cmd, words = sub, words[1:]
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | globals_ | {"--help", "-h"}
    for word in words:
        if word == "--":
            break
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and flag != "-" and flag not in known:
            return f"{cmd.name}: no option {flag}"
    return None


def _doc_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_line_in_the_docs_exists(path):
    bad = [f"{line}: {why}" for line in _command_lines(path.read_text()) if (why := _check(line))]
    assert bad == []


def test_the_checker_sees_a_wrong_flag_and_a_wrong_command():
    assert _check("coop app deploy x --dry-run") is None
    assert _check("coop app deploy x --no-such-flag") is not None
    assert _check("coop app nosuch x") is not None


def test_the_site_builds_with_no_warning_and_lists_every_command(tmp_path):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("the docs extra is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "WARNING" not in run.stderr, run.stderr[-2000:]
    page = (site / "reference" / "commands" / "index.html").read_text()
    missing = [" ".join(p) for p, _ in _commands(cli) if f'id="coop-{"-".join(p)}"' not in page]
    assert missing == []
    assert "Exit codes" in (site / "reference" / "exit-codes" / "index.html").read_text()
    assert "R009" in (site / "reference" / "lint-rules" / "index.html").read_text()
    assert "coop.spec-hash" in (site / "reference" / "labels" / "index.html").read_text()
