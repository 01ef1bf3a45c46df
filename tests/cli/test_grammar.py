"""The command-line grammar (docs/grammar.md), checked on every command of the click tree.

Every command says how it stands to the confirmation rules in one declaration: `@mutating(...)` /
`@mutating_apps(...)` for a command that changes an app (it "changes", `destroys=True`, or `adds=True`),
`@changes()` for one that changes something without an app's lock; the rest are named below as only
reading or only adding. A marked command has `--yes/-y`, an `Examples:` block, and goes through the one
confirmation step (`Output.approve`). Summaries fit the command list; `--json` on a command without
a JSON form is an error; `coop --help` lists every group's commands. The prompts themselves (N is
"cancelled", exit 14; no terminal refuses data-destroying commands) are exercised on the real engine
in tests/integration/test_grammar_live.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import textwrap

import click
import pytest

from coopcloud.cli.context import CHANGES, NO_JSON, confirmation, declared_mutating
from coopcloud.cli.main import GROUP_COMMANDS, cli, main
from coopcloud.errors import ExitStatus

# Commands without a declaration: they change nothing, or only add something new without an app's lock
# (docs/grammar.md: they do not ask). Those that add under an app's lock say `adds=True` in `@mutating`.
READ_OR_ADD = {
    "autocomplete",
    "app backup download",
    "app backup ls",
    "app backup verify",
    "app check",
    "app cmd",  # runs the recipe's own function, as `app run` runs a command: the operator's own act
    "app config",  # the editor is the confirmation
    "app cp",
    "app diff",
    "app env",
    "app errors",
    "app history",
    "app labels",
    "app lock",
    "app logs",
    "app ls",
    "app ps",
    "app run",
    "app secret ls",
    "app services",
    "app volume ls",
    "catalogue generate",
    "catalogue search",
    "catalogue sync",
    "dashboard",  # read-only
    "recipe diff",
    "recipe fetch",
    "recipe lint",
    "recipe ls",
    "recipe new",
    "recipe release",
    "recipe render",
    "recipe show",
    "recipe sync",
    "recipe upgrade",
    "recipe versions",
    "server add",
    "server backup-repo",
    "server history",
    "server ls",
    "server nodes",
}
SUMMARY_MAX = 60


def _tree() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        found.append((" ".join(path), cmd))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])

    walk(cli, [])
    return found


TREE = _tree()
LEAVES = [(path, cmd) for path, cmd in TREE if not isinstance(cmd, click.Group)]
CHANGING = [(path, cmd) for path, cmd in LEAVES if confirmation(cmd) in ("changes", "destroys")]


def test_every_command_is_classified():
    unclassified = [path for path, cmd in LEAVES if confirmation(cmd) is None and path not in READ_OR_ADD]
    assert unclassified == [], "declare it (@mutating, or @changes() without an app lock) or add it to READ_OR_ADD"
    both = [path for path, cmd in LEAVES if confirmation(cmd) is not None and path in READ_OR_ADD]
    assert both == []
    assert not READ_OR_ADD - {path for path, _ in LEAVES}, "READ_OR_ADD names a command that is gone"


def test_the_data_destroying_commands():
    destroying = sorted(path for path, cmd in CHANGING if confirmation(cmd) == "destroys")
    assert destroying == ["app remove", "app restore", "app secret rm", "app volume rm", "recipe reset", "server prune"]


def test_the_commands_that_add_under_an_apps_lock():
    adding = sorted(path for path, cmd in LEAVES if confirmation(cmd) == "adds")
    assert adding == ["app backup create", "app new", "app secret generate", "app secret insert", "server backup"]


def test_one_declaration_per_command():
    """A command that changes an app says everything in `@mutating`; `@changes` is only for the others."""
    both = [path for path, cmd in LEAVES if getattr(cmd, CHANGES, None) and declared_mutating(cmd)]
    assert both == []
    with_changes = sorted(path for path, cmd in LEAVES if getattr(cmd, CHANGES, None))
    assert with_changes == [
        "app backup unlock",
        "recipe reset",
        "server activate",
        "server drain",
        "server init",
        "server prune",
        "server rm",
    ]


def test_changes_refuses_a_command_that_mutating_already_declares():
    from coopcloud.cli.context import changes, mutating

    @click.command("twice")
    @click.argument("app_name")
    @mutating("twice")
    def twice(rt, app, app_name: str) -> None: ...

    with pytest.raises(TypeError, match="one declaration per command"):
        changes()(twice)
    with pytest.raises(TypeError, match="does not only add"):
        mutating("both", destroys=True, adds=True)


@pytest.mark.parametrize("path,cmd", CHANGING, ids=[p for p, _ in CHANGING])
def test_a_changing_command_has_yes_examples_and_asks(path, cmd):
    yes = [p for p in cmd.params if isinstance(p, click.Option) and "--yes" in p.opts]
    assert yes and "-y" in yes[0].opts and yes[0].is_flag, f"{path}: --yes/-y"
    help_text = cmd.help or ""
    assert re.search(r"^\s*Examples:\n", help_text, re.M), f"{path}: an Examples: block"
    examples = help_text.split("Examples:", 1)[1]
    assert f"coop {path} " in examples, f"{path}: its examples run it"
    assert ".approve(" in _reachable_source(cmd.callback), f"{path}: asks through Output.approve"


def _reachable_source(callback) -> str:
    """The callback's source and that of the functions of its module (and of cli modules) it calls, transitively."""
    func = inspect.unwrap(callback)
    module = inspect.getmodule(func)
    seen: set[str] = set()
    sources: list[str] = []
    todo = [func]
    while todo:
        fn = todo.pop()
        if fn.__qualname__ in seen:
            continue
        seen.add(fn.__qualname__)
        src = textwrap.dedent(inspect.getsource(fn))
        sources.append(src)
        tree = ast.parse(src)
        lazy = {  # names imported inside the function: `from coopcloud.cli.x import show`
            alias.asname or alias.name: (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coopcloud.cli")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                target = getattr(module, node.func.id, None)
                if node.func.id in lazy:
                    name, attr = lazy[node.func.id]
                    target = getattr(importlib.import_module(name), attr, None)
                if inspect.isfunction(target) and target.__module__.startswith("coopcloud.cli"):
                    todo.append(target)
    return "\n".join(sources)


@pytest.mark.parametrize("path,cmd", TREE[1:], ids=[p for p, _ in TREE[1:]])
def test_the_summary_fits_the_command_list(path, cmd):
    summary = cmd.get_short_help_str(limit=1000)
    assert summary and len(summary) <= SUMMARY_MAX and not summary.endswith("..."), f"{path}: {summary!r}"
    assert summary.endswith("."), f"{path}: one sentence: {summary!r}"


SERVER_AS_APP = re.compile(r"coop app (?:[a-z]+ )+cloud\.example\.org")


def test_no_help_uses_the_server_name_as_an_app():
    for path, cmd in TREE:
        assert not SERVER_AS_APP.search(cmd.help or ""), f"{path}: cloud.example.org is a server"


def test_no_example_in_the_docs_uses_the_server_name_as_an_app():
    from pathlib import Path

    root = Path(__file__).parents[2]
    for page in [root / "README.md", *sorted((root / "docs").rglob("*.md")), root / "src/coopcloud/errors.py"]:
        assert not SERVER_AS_APP.search(page.read_text()), f"{page}: cloud.example.org is a server"


def test_group_help_shows_every_summary_whole(capsys):
    for path, cmd in TREE:
        if isinstance(cmd, click.Group) and path:
            assert main([*path.split(), "--help"]) == 0
            assert "..." not in capsys.readouterr().out.split("Commands:")[1], path


def test_top_level_help_lists_every_groups_commands(capsys):
    ctx = click.Context(cli)
    for group, listed in GROUP_COMMANDS.items():
        real = cli.get_command(ctx, group)
        assert isinstance(real, click.Group)
        assert listed.split(", ") == real.list_commands(ctx), f"main.GROUP_COMMANDS[{group!r}]"
    assert main(["--help"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    for group, listed in GROUP_COMMANDS.items():
        assert f"{group} {listed}" in flat


NO_JSON_COMMANDS = [(path, cmd) for path, cmd in LEAVES if getattr(cmd, NO_JSON, False)]


def test_the_commands_without_json():
    assert sorted(path for path, _ in NO_JSON_COMMANDS) == [
        "app cmd",
        "app config",
        "app logs",
        "app run",
        "autocomplete",
        "dashboard",
    ]


@pytest.mark.parametrize("path,cmd", LEAVES, ids=[p for p, _ in LEAVES])
def test_every_other_command_has_a_json_form(path, cmd):
    if getattr(cmd, NO_JSON, False):
        return
    assert "emit_json(" in _reachable_source(cmd.callback), f"{path}: --json output, or mark it @no_json"


@pytest.mark.parametrize("path", [p for p, _ in NO_JSON_COMMANDS])
def test_json_on_a_command_without_it_is_an_error(path, tmp_path):
    argv = {
        "app config": ["git.example.org"],
        "app logs": ["git.example.org"],
        "autocomplete": ["bash"],
        "dashboard": [],
    }.get(path, ["git.example.org", "app", "true"])
    argv = [*path.split(), *argv]
    out, err = io.StringIO(), io.StringIO()
    env = {"ABRA_DIR": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}
    code = main(["--json", *argv], environ=env, stdout=out, stderr=err)
    assert code == ExitStatus.USAGE and out.getvalue() == ""
    assert err.getvalue() == f"error: coop {path} has no JSON output — run it without --json\n"


def test_every_changing_command_is_answered_no_on_the_real_engine():
    """tests/integration/test_grammar_live.py runs each of them at a terminal and answers N (or says where
    that is done): a new command that changes something gets its line there, checked here at landing."""
    from pathlib import Path

    live = (Path(__file__).parents[1] / "integration" / "test_grammar_live.py").read_text()
    covered = set(re.findall(r'refused_at_no\([^)]*command="([^"]+)"\)', live))
    elsewhere = ast.literal_eval(re.search(r"^ELSEWHERE = (\{.*?^\})", live, re.M | re.S).group(1))
    assert {path for path, _ in CHANGING} == covered | set(elsewhere)
