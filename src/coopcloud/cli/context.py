"""What one command invocation carries: settings, output, and its engine connections.

Kept light on purpose: `coop --help` builds a Runtime, so settings (pathlib)
are made on first use.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

from coopcloud.cli.aliases import canonical
from coopcloud.output.console import Output

if TYPE_CHECKING:
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

    def servers(self) -> Any:
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

CHANGES = "coop_changes"  # the attribute a command's mark lives in: "changes" or "destroys"


def changes(*, destroys: bool = False):
    """Mark a command that changes or deletes something: it asks first at a terminal and takes --yes/-y
    (see `yes_option`). `destroys`: it can destroy or overwrite data, so without a terminal it is refused
    unless --yes. tests/cli/test_grammar.py walks the command tree and checks every marked command."""

    def mark(cmd: click.Command) -> click.Command:
        setattr(cmd, CHANGES, "destroys" if destroys else "changes")
        return cmd

    return mark


def yes_option(func):
    """`--yes/-y`: answer yes to the confirmation. It does nothing else (docs/grammar.md)."""
    return click.option("--yes", "-y", is_flag=True, help="Answer yes to the confirmation; do not ask.")(func)


NO_JSON = "coop_no_json"


def no_json(cmd: click.Command) -> click.Command:
    """Mark a command whose output has no JSON form (a stream, an editor, a command's own output):
    `--json` on it is a usage error (exit 2), never plain text where JSON was asked for."""
    inner = cmd.callback
    assert inner is not None

    def callback(*args: Any, **kwargs: Any) -> Any:
        rt = click.get_current_context().find_object(Runtime)
        if rt is not None and rt.out.json:
            from coopcloud.errors import UsageError

            path = click.get_current_context().command_path
            raise UsageError(f"{path} has no JSON output", hint="run it without --json")
        return inner(*args, **kwargs)

    cmd.callback = callback
    setattr(cmd, NO_JSON, True)
    return cmd
