"""Entry point: global flags, lazy command groups, and the one exception-to-exit-code funnel.

`main()` is what the console script runs and what tests call in-process with
their own argv, environment and streams.

Global flags (`--no-input`, `--json`, `--debug`, `--offline`) are accepted
anywhere before a literal `--`, as abra accepts them: `coop app deploy X
--no-input` and `coop --no-input app deploy X` mean the same.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import IO

import click

from coopcloud import __version__
from coopcloud.cli.aliases import GLOBAL_FLAGS, SHORT_GLOBAL_FLAGS, canonical
from coopcloud.cli.context import AliasGroup
from coopcloud.errors import Cancelled, CoopError, ExitStatus, describe_interrupt, exit_status_for

# name -> (module, attribute, short help). Modules are imported only when used,
# so `coop --help` costs little more than importing click.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "server": ("coopcloud.cli.server", "server", "Manage servers: swarm managers reached over SSH."),
    "app": ("coopcloud.cli.app", "app", "Create, deploy and inspect apps."),
    "recipe": ("coopcloud.cli.recipe", "recipe", "Create, check, render and release recipes."),
    "catalogue": ("coopcloud.cli.catalogue", "catalogue", "Sync, generate and search the recipe catalogue."),
    "dashboard": ("coopcloud.cli.dashboard", "dashboard", "Serve a read-only web dashboard."),
    "autocomplete": ("coopcloud.cli.complete", "autocomplete", "Print the shell completion script."),
    "autoupdate": ("coopcloud.cli.autoupdate", "autoupdate", "Upgrade the apps that opted in to auto-updates."),
}
# Every group's commands, for `coop --help` without importing them (tests/cli/test_grammar.py checks the list).
GROUP_COMMANDS: dict[str, str] = {
    "server": "activate, add, backup, backup-repo, drain, history, init, ls, nodes, prune, rm",
    "app": "backup, check, cmd, config, cp, deploy, diff, env, errors, history, labels, lock, logs, ls, move, new, ps, "
    "remove, restart, restore, rollback, run, secret, services, undeploy, unlock, upgrade, volume",
    "recipe": "diff, fetch, lint, ls, new, release, render, reset, show, sync, upgrade, versions",
    "catalogue": "generate, search, sync",
}


class LazyGroup(AliasGroup):
    """A group whose subcommands live in modules imported on first use (`SUBCOMMANDS`)."""

    lazy = SUBCOMMANDS  # name -> (module, attribute, one-line help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        name = canonical("", name)
        if name in self.lazy:
            module, attr, _ = self.lazy[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, self.lazy[name][2]))
            else:
                cmd = click.Group.get_command(self, ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        groups = [(name, GROUP_COMMANDS[name]) for name in self.list_commands(ctx) if name in GROUP_COMMANDS]
        if groups and ctx.parent is None:
            with formatter.section("Their commands (coop GROUP COMMAND --help)"):
                formatter.write_dl(groups)
        self.format_aliases(ctx, formatter)


def split_global_flags(argv: Sequence[str]) -> tuple[list[str], dict[str, bool]]:
    """Pull the global flags out of argv, wherever they are (but not after `--`).

    abra's short ones (`-n`, `-o`, `-d`, `-m`) too, alone or among the command's own short flags
    (`-nc` is `-n -c`), except where the command itself has that short option (`app logs -n 20` is
    its --tail), and except among the arguments a command passes on (`app run APP SERVICE echo -n hi`).
    """
    rest: list[str] = []
    flags: dict[str, bool] = {}
    before = argv[: argv.index("--") if "--" in argv else len(argv)]
    asked = any(_SHORTS.fullmatch(a) and set(a[1:]) & _GLOBAL_LETTERS for a in before)
    own, fixed = _leaf_options(argv) if asked else (set(), None)
    passthrough = False
    positionals = 0
    for arg in argv:
        if passthrough:
            rest.append(arg)
        elif arg == "--":
            passthrough = True
            rest.append(arg)
        elif arg in GLOBAL_FLAGS:
            flags[GLOBAL_FLAGS[arg]] = True
        elif asked and _SHORTS.fullmatch(arg) and (fixed is None or positionals < fixed):
            kept = _take_global_letters(arg, own, flags)
            if kept:
                rest.append(kept)
        else:
            positionals += not arg.startswith("-")
            rest.append(arg)
    return rest, flags


_SHORTS = re.compile(r"-[A-Za-z]+")
_GLOBAL_LETTERS = {flag[1] for flag in SHORT_GLOBAL_FLAGS}


def _take_global_letters(arg: str, own: set[str], flags: dict[str, bool]) -> str:
    """`-nc` → no_input into `flags`, "-c" back; an arg whose letters are not all known flags is kept whole."""
    letters = arg[1:]
    if len(letters) > 1 and not all(f"-{c}" in own or f"-{c}" in SHORT_GLOBAL_FLAGS for c in letters):
        return arg
    kept = ""
    for c in letters:
        if f"-{c}" in SHORT_GLOBAL_FLAGS and f"-{c}" not in own:
            flags[SHORT_GLOBAL_FLAGS[f"-{c}"]] = True
        else:
            kept += c
    return f"-{kept}" if kept else ""


def _leaf_options(argv: Sequence[str]) -> tuple[set[str], int | None]:
    """The short options of the command argv names, and, for a command that passes its last
    arguments on (`app run`, `app cmd`), how many words (command words included) come before them."""
    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="coop")
    words = 0
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("-") or not isinstance(cmd, click.Group):
            continue
        sub = cmd.get_command(ctx, arg)
        if sub is None:
            break
        ctx, cmd, words = click.Context(sub, parent=ctx, info_name=sub.name), sub, words + 1
    own = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if len(o) == 2}
    arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
    if arguments and arguments[-1].nargs == -1 and isinstance(arguments[-1].type, click.types.UnprocessedParamType):
        return own, words + len(arguments) - 1
    return own, None


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", "-v", prog_name="coop", message="%(prog)s %(version)s")
@click.option(
    "--no-input", "-n", is_flag=True, help="Never ask: routine changes go ahead; data-destroying ones need --yes."
)
@click.option(
    "--json",
    "--machine",
    "-m",
    "json_",
    is_flag=True,
    help="One JSON document on stdout (refused where a command has none).",
)
@click.option("--debug", "-d", is_flag=True, help="Show debug lines and full tracebacks.")
@click.option("--offline", "-o", is_flag=True, help="Never fetch from the network (recipes, catalogue).")
@click.option("--wide", is_flag=True, help="Show table cells whole (long ones are cut otherwise).")
def cli(no_input: bool, json_: bool, debug: bool, offline: bool, wide: bool) -> None:
    """Deploy free-software apps to your own Docker Swarm servers.

    coop is Co-op Cloud (abra) in Python.

    Global flags may be given anywhere on the command line. State lives in
    $ABRA_DIR (default ~/.abra), the same layout abra uses.

    Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 invalid input,
    5 engine unreachable, 6 lint failed, 7 deploy failed, 8 rolled back,
    9 lock held, 10 conflict, 11 engine error, 12 server not ready,
    13 drift (app diff), 14 cancelled (answered no; nothing changed),
    130 interrupted (Ctrl-C, SIGTERM, SIGHUP).
    """


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run coop; return the exit status. Nothing but `--debug` lets a traceback through."""
    from coopcloud.cli.context import Runtime

    if "_COOP_COMPLETE" in os.environ:  # the shell asks: arguments complete to real names
        from coopcloud.cli.complete import attach

        attach(cli)
    args, flags = split_global_flags(list(sys.argv[1:] if argv is None else argv))
    runtime = Runtime.create(environ=environ, stdout=stdout, stderr=stderr, stdin=stdin, **flags)
    err = runtime.out.stderr
    result = None
    try:
        try:
            # A command's ctx.exit(n) comes back as its return value (`app run` passes the exit code through).
            result = cli.main(args=args, prog_name="coop", standalone_mode=False, obj=runtime)
        finally:
            runtime.close()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort as exc:
        # click turns a KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP: errors.Terminated) into Abort.
        if flags.get("debug") and isinstance(exc.__context__, KeyboardInterrupt):
            raise exc.__context__
        cause = exc.__context__
        err.write(
            f"error: {describe_interrupt(cause)}\n" if isinstance(cause, KeyboardInterrupt) else "error: aborted\n"
        )
        return ExitStatus.INTERRUPTED
    except click.ClickException as exc:
        # Usage errors: click's own message, one line plus a pointer to --help.
        ctx_name = getattr(getattr(exc, "ctx", None), "command_path", "coop")
        err.write(f"error: {exc.format_message()} — see: {ctx_name} --help\n")
        return ExitStatus.USAGE
    except (CoopError, KeyboardInterrupt) as exc:
        if flags.get("debug"):
            raise
        if isinstance(exc, KeyboardInterrupt):
            err.write(f"error: {describe_interrupt(exc)}\n")
        elif isinstance(exc, Cancelled):  # an answer, not a failure: no "error:"
            err.write(f"{exc}\n")
        else:
            for line in getattr(exc, "details", ()):  # e.g. task errors and last log lines of a failed deploy
                err.write(f"  {line}\n")
            err.write(f"error: {exc}\n")
        return exit_status_for(exc)
    except BrokenPipeError:
        return ExitStatus.OK
    except Exception as exc:  # a bug: still one line unless --debug
        if flags.get("debug"):
            raise
        err.write(
            f"error: unexpected {type(exc).__name__}: {exc} — rerun with --debug for the traceback, "
            "and please report it\n"
        )
        return ExitStatus.ERROR
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return ExitStatus.OK


def run() -> None:
    sys.exit(main())
