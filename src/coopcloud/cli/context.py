"""What one command invocation carries: settings, output, and its engine connections.

Kept light on purpose: `coop --help` builds a Runtime, so settings (pathlib)
are made on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Concatenate, Literal, ParamSpec, TypeVar

import click

from coopcloud.cli.aliases import canonical
from coopcloud.output.console import Output

if TYPE_CHECKING:
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.settings import Settings


class Runtime:
    def __init__(self, *, environ: dict[str, str] | None, out: Output, flags: dict[str, bool]):
        self._environ = environ
        self._flags = flags
        self._settings: Settings | None = None
        self._pool: ServerPool | None = None
        self.out = out

    @classmethod
    def create(
        cls,
        *,
        environ: dict[str, str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        **flags: bool,
    ) -> Runtime:
        out = Output(
            stdout,
            stderr,
            stdin,
            json=flags.get("json", False),
            no_input=flags.get("no_input", False),
            debug=flags.get("debug", False),
            wide=flags.get("wide", False),
        )
        return cls(environ=environ, out=out, flags=flags)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from coopcloud.settings import Settings

            self._settings = Settings.from_environ(self._environ, **self._flags)
        return self._settings

    def servers(self) -> ServerPool:
        """The per-invocation server pool: one engine connection per server, reused, closed at exit."""
        if self._pool is None:
            from coopcloud.ops.server.servers import ServerPool

            self._pool = ServerPool(self.settings)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


pass_runtime = click.make_pass_decorator(Runtime)

R = TypeVar("R")
P = ParamSpec("P")  # a click callback's parameters


class AliasGroup(click.Group):
    """A group that also answers to abra's aliases of its commands (`cli.aliases`): `coop a d APP`."""

    def group_path(self, ctx: click.Context) -> str:
        names = []
        while ctx.parent is not None:
            names.append(ctx.command.name or "")
            ctx = ctx.parent
        return " ".join(reversed(names))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, canonical(self.group_path(ctx), name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        self.format_aliases(ctx, formatter)

    def format_aliases(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """abra's aliases of this group's commands, one line: `d deploy, up upgrade…`."""
        from coopcloud.cli.aliases import ALIASES

        names = set(self.list_commands(ctx))
        pairs = [f"{a} {t}" for a, t in sorted(ALIASES.get(self.group_path(ctx), {}).items()) if t in names]
        if pairs:
            with formatter.section("Aliases (abra's)"):
                formatter.write_text(", ".join(pairs))


# Groups made with `@group.group()` are alias groups too.
AliasGroup.group_class = AliasGroup


# -- the command-line grammar (docs/grammar.md) -------------------------------------------------------

# How a command stands to the confirmation rules: it "changes" or "destroys" something (it asks first
# at a terminal and takes --yes/-y), or it only "adds" something new (it does not ask).
Confirm = Literal["changes", "destroys", "adds"]
CHANGES = "coop_changes"  # the attribute `@changes` sets on a command that changes no app


def _confirm(destroys: bool, adds: bool) -> Confirm:
    if destroys and adds:
        raise TypeError("a command that destroys data does not only add")
    return "destroys" if destroys else "adds" if adds else "changes"


def changes(*, destroys: bool = False) -> Callable[[click.Command], click.Command]:
    """Mark a command that changes or deletes something without an app's lock (server add, recipe reset):
    it asks first at a terminal and takes --yes/-y (see `yes_option`). `destroys`: it can destroy or
    overwrite data, so without a terminal it is refused unless --yes. A command that changes an app says
    all this in its `@mutating(...)` instead. tests/cli/test_grammar.py walks the command tree and checks
    every marked command."""

    def mark(cmd: click.Command) -> click.Command:
        if declared_mutating(cmd) is not None:
            raise TypeError(f"{cmd.name}: @mutating already declares how it asks (one declaration per command)")
        setattr(cmd, CHANGES, _confirm(destroys, False))
        return cmd

    return mark


def confirmation(cmd: click.Command) -> Confirm | None:
    """How `cmd` stands to the confirmation rules, from its one declaration (`@mutating`,
    `@mutating_apps` or `@changes`); None for a command that reads, or adds without an app's lock."""
    declared = declared_mutating(cmd)
    if declared is not None:
        return declared.confirm
    found: Confirm | None = getattr(cmd, CHANGES, None)
    return found


def yes_option(func: Callable[P, R]) -> Callable[P, R]:
    """`--yes/-y`: answer yes to the confirmation. It does nothing else (docs/grammar.md)."""
    return click.option("--yes", "-y", is_flag=True, help="Answer yes to the confirmation; do not ask.")(func)


NO_JSON = "coop_no_json"


def no_json(cmd: click.Command) -> click.Command:
    """Mark a command whose output has no JSON form (a stream, an editor, a command's own output):
    `--json` on it is a usage error (exit 2), never plain text where JSON was asked for."""
    inner = cmd.callback
    assert inner is not None

    def callback(*args: object, **kwargs: object) -> object:
        rt = click.get_current_context().find_object(Runtime)
        if rt is not None and rt.out.json:
            from coopcloud.errors import UsageError

            path = click.get_current_context().command_path
            raise UsageError(f"{path} has no JSON output", hint="run it without --json")
        return inner(*args, **kwargs)

    cmd.callback = callback
    setattr(cmd, NO_JSON, True)
    return cmd


# -- the one declaration on commands that change an app ------------------------------------------

LockWhen = Literal["now", "at begin", "none"]
MUTATING = "__coop_mutating__"  # the attribute the declaration lives in, on the command's callback


@dataclass(frozen=True)
class Mutating:
    """What `@mutating` / `@mutating_apps` declare on a command (read by tests/unit/test_mutating.py
    and tests/cli/test_grammar.py)."""

    command: str  # as the history shows it: "deploy", "secret rm", ...
    lock: LockWhen  # "now", "at begin" (after the plan was approved) or "none" (unlock)
    per_app: bool = False  # the command opens each app's mutating() itself (app new, server backup)
    confirm: Confirm = "changes"  # how it stands to the confirmation rules (docs/grammar.md)


def declared_mutating(cmd: click.Command) -> Mutating | None:
    """The `@mutating` / `@mutating_apps` declaration on a command, if it has one."""
    found = getattr(cmd.callback, MUTATING, None)
    return found if isinstance(found, Mutating) else None


def mutating(
    command: str,
    *,
    lock: LockWhen = "now",
    destroys: bool = False,
    adds: bool = False,
    app_param: str = "app_name",
    unless: str | None = None,
) -> Callable[[Callable[Concatenate[Runtime, AppContext, P], R]], Callable[P, R]]:
    """The one declaration on a click command that changes an app on its server; the runner it adds
    takes the app's lock and records the command in the app's history around the whole command.

    It also says how the command stands to the confirmation rules (docs/grammar.md): by default it
    changes something, so it asks first at a terminal and takes --yes/-y; `destroys=True` when it can
    destroy or overwrite data (without a terminal it is refused unless --yes); `adds=True` when it only
    adds something new (a backup, a secret) and does not ask.

    The callback is called as ``func(rt, app, **params)`` with `app` an `ops.context.AppContext`
    built once from the APP argument (`app_param`), inside ``app.mutating(command, lock=lock)``.
    `unless` names a flag (``dry_run``) under which the command changes nothing: then `app` is
    built but nothing is locked or recorded. Operations that change a server refuse to run outside
    ``mutating()``, and tests/unit/test_mutating.py fails on a command that reaches one unmarked.

        @app.command("remove")
        @click.argument("app_name", metavar="APP")
        @yes_option
        @mutating("remove", destroys=True, lock="at begin")
        def remove(rt: Runtime, app: AppContext, app_name: str, yes: bool) -> None: ...
    """
    declared = Mutating(command, lock, confirm=_confirm(destroys, adds))

    def mark(func: Callable[Concatenate[Runtime, AppContext, P], R]) -> Callable[P, R]:
        @functools.wraps(func)
        def run(*args: P.args, **params: P.kwargs) -> R:
            from coopcloud.ops.app.context import AppContext

            rt = click.get_current_context().find_object(Runtime)
            assert rt is not None  # main() puts it there
            name = params[app_param]
            assert isinstance(name, str)  # a click argument
            app = AppContext.open(rt.settings, rt.servers(), name, warn=rt.out.warn)
            if unless and params.get(unless):
                return func(rt, app, *args, **params)
            with app.mutating(command, lock=lock):
                return func(rt, app, *args, **params)

        setattr(run, MUTATING, declared)
        return run

    return mark


def mutating_apps(
    command: str, *, destroys: bool = False, adds: bool = False
) -> Callable[[Callable[Concatenate[Runtime, P], R]], Callable[P, R]]:
    """The declaration on a command that changes apps it finds as it goes (`app new --secrets`, `server
    backup`, autoupdate): it opens ``AppContext.mutating(command)`` for each app itself. Called as
    ``func(rt, **params)``. `destroys` / `adds`: as for `mutating`."""
    declared = Mutating(command, "now", per_app=True, confirm=_confirm(destroys, adds))

    def mark(func: Callable[Concatenate[Runtime, P], R]) -> Callable[P, R]:
        @functools.wraps(func)
        def run(*args: P.args, **params: P.kwargs) -> R:
            rt = click.get_current_context().find_object(Runtime)
            assert rt is not None
            return func(rt, *args, **params)

        setattr(run, MUTATING, declared)
        return run

    return mark
