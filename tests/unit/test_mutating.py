"""Every command that changes a server is declared so, by construction.

Operations that change a server are decorated ``@mutation`` (ops/trail/mutation.py): they refuse to run outside
``AppContext.mutating()`` (the lock, the "started" line, its completion). The CLI's runner opens
that bracket for every command marked ``@mutating`` (or ``@mutating_apps``). This test walks the
whole click tree and, from each command's callback, every function of coopcloud it calls (read
from the source, imports resolved), and fails on a command that reaches a mutation unmarked.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import click
import pytest

from coopcloud.cli.context import Mutating, declared_mutating
from coopcloud.cli.main import cli

# Commands that must be marked whatever the walker finds (issue 18: trust, round 2).
MUST_BE_MARKED = {
    "app deploy",
    "app upgrade",
    "app rollback",
    "app undeploy",
    "app remove",
    "app restart",
    "app secret generate",
    "app secret insert",
    "app secret rm",
    "app secret rotate",
    "app volume rm",
    "app backup create",
    "app restore",
    "app unlock",
}


def commands(group: click.Group = cli, path: str = "") -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        full = f"{path} {name}".strip()
        if isinstance(cmd, click.Group):
            yield from commands(cmd, full)
        else:
            yield full, cmd


def _imports(tree: ast.AST) -> dict[str, Any]:
    """Names bound by the import statements inside a function (coop imports lazily)."""
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = importlib.import_module(node.module)
            for alias in node.names:
                try:
                    found[alias.asname or alias.name] = getattr(module, alias.name)
                except AttributeError:
                    found[alias.asname or alias.name] = importlib.import_module(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = importlib.import_module(alias.name)
    return found


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _reaches_mutation(func: Callable[..., Any]) -> str | None:
    """The first server-changing operation `func` calls, directly or through coopcloud functions."""
    if getattr(func, "__coop_mutation__", False):
        return f"{func.__module__}.{func.__qualname__}"
    return _first_mutation_called(inspect.unwrap(func))


_WALKING: set[Callable[..., Any]] = set()  # functions being read: a call back into one is a cycle, not news


@functools.cache
def _first_mutation_called(func: Callable[..., Any]) -> str | None:
    if func in _WALKING:
        return None
    _WALKING.add(func)
    try:
        return _first_mutation_in(func)
    finally:
        _WALKING.discard(func)


def _first_mutation_in(func: Callable[..., Any]) -> str | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return None
    names = {**getattr(func, "__globals__", {}), **_imports(tree)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = _resolve(node.func, names)
        if getattr(callee, "__coop_mutation__", False):
            return f"{callee.__module__}.{callee.__qualname__}"
        if inspect.isfunction(callee) and callee is not func and callee.__module__.startswith("coopcloud."):
            found = _first_mutation_called(inspect.unwrap(callee))
            if found:
                return found
    return None


def marked(cmd: click.Command) -> Mutating | None:
    return declared_mutating(cmd)


def test_every_command_that_changes_a_server_is_marked():
    unmarked = []
    for path, cmd in commands():
        assert cmd.callback is not None
        op = _reaches_mutation(cmd.callback)
        if op and not marked(cmd):
            unmarked.append(f"coop {path} calls {op}")
    assert unmarked == [], "mark these commands @mutating (cli/context.py):\n" + "\n".join(unmarked)


def test_the_commands_of_issue_18_are_marked_and_reach_a_mutation():
    found = dict(commands())
    for path in sorted(MUST_BE_MARKED):
        assert marked(found[path]), f"coop {path} is not marked @mutating"
        assert _reaches_mutation(found[path].callback), f"coop {path} is marked but the walker finds no mutation"


def test_the_walker_finds_an_unmarked_command_that_changes_a_server():
    """The test above can fail: a new command that removes secrets without the mark is caught."""

    @click.command("forgetful")
    @click.argument("app_name")
    def forgetful(app_name: str) -> None:
        from coopcloud.ops.app import secrets as sec

        sec.remove(None, app_name, app_name, [], all_versions=True)  # type: ignore[arg-type]

    assert _reaches_mutation(forgetful.callback) == "coopcloud.ops.app.secrets.remove"
    assert not marked(forgetful)


def test_a_mutation_outside_mutating_is_refused_before_it_touches_anything():
    from coopcloud.ops.app import secrets as sec
    from coopcloud.ops.trail.mutation import OutsideMutating

    with pytest.raises(OutsideMutating, match=r"coopcloud.ops.app.secrets.remove changes a server"):
        sec.remove(None, "a.org", "a_org", [], all_versions=True)  # type: ignore[arg-type]


def _ping(n: int) -> int:
    return _pong(n - 1) if n else 0


def _pong(n: int) -> int:
    return _ping(n - 1) if n else 0


def test_the_walker_follows_functions_that_call_each_other():
    """Two functions calling each other (mutual recursion) end the walk, with no mutation found."""
    _ping.__module__ = _pong.__module__ = "coopcloud.test_walker"  # the walker follows coopcloud's functions
    assert _first_mutation_called(_ping) is None
