"""Shell completion: `coop autocomplete bash|zsh|fish`, and arguments that complete to real names.

click completes commands and options itself; `attach` (run only when the shell asks, see
`cli.main`) teaches each argument and option that names an app, server, recipe, service or version
where to find them: local state only (`ops.completion`), never a server or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import Runtime, no_json, pass_runtime

if TYPE_CHECKING:
    from coopcloud.settings import Settings

COMPLETE_VAR = "_COOP_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def _settings(ctx: click.Context) -> Settings:
    rt = ctx.find_object(Runtime)
    if rt is not None:
        return rt.settings
    from coopcloud.settings import Settings

    return Settings.from_environ()


def _matching(names: list[str], incomplete: str) -> list[str]:
    return [n for n in names if n.startswith(incomplete)]


def apps(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    from coopcloud.ops.completion import app_names

    return _matching(app_names(_settings(ctx)), incomplete)


def servers(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    from coopcloud.ops.completion import server_names

    return _matching(server_names(_settings(ctx)), incomplete)


def recipes(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    from coopcloud.ops.completion import recipe_names

    return _matching(recipe_names(_settings(ctx)), incomplete)


def services(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    from coopcloud.ops.completion import app_services

    app = ctx.params.get("app_name")
    return _matching(app_services(_settings(ctx), app), incomplete) if app else []


def versions(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Versions of the app's recipe (`app deploy APP <TAB>`), or of the RECIPE before it."""
    from coopcloud.ops.completion import app_recipe, recipe_versions

    settings = _settings(ctx)
    app = ctx.params.get("app_name")
    recipe = app_recipe(settings, app) if app else ctx.params.get("recipe")
    return _matching(recipe_versions(settings, recipe), incomplete) if recipe else []


Completer = Callable[[click.Context, click.Parameter, str], list[str]]


def completer_for(path: str, param: click.Parameter) -> Completer | None:
    """Which names `param` of the command at `path` ("server rm", "app deploy") takes, if any."""
    name = param.name or ""
    if isinstance(param, click.Option):
        return {"--server": servers, "--recipe": recipes}.get(param.opts[0])
    if name == "app_name":
        return apps
    if name == "service":
        return services
    if name in ("version", "version_arg"):
        return versions
    if name == "recipe" and not path.startswith("recipe render"):
        return recipes
    if name == "name" and path.startswith("server ") and path != "server add":
        return servers
    return None


def attach(cmd: click.Command, path: str = "") -> None:
    """Give every argument and option of the tree under `cmd` its completer (imports every command)."""
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                attach(sub, f"{path} {name}".strip())
        return
    for param in cmd.params:
        found = completer_for(path, param)
        if found is not None and param._custom_shell_complete is None:
            param._custom_shell_complete = found


@no_json
@click.command("autocomplete")
@click.argument("shell", type=click.Choice(SHELLS))
@pass_runtime
def autocomplete(rt: Runtime, shell: str) -> None:
    """Print the shell completion script for SHELL.

    Commands, options and arguments complete: app, server, recipe and service names and a
    recipe's versions, from local state only.

    \b
    Examples:
      coop autocomplete bash > ~/.local/share/bash-completion/completions/coop
      coop autocomplete zsh > "${fpath[1]}/_coop"
      coop autocomplete fish > ~/.config/fish/completions/coop.fish
    """
    from click.shell_completion import get_completion_class

    from coopcloud.cli.main import cli

    cls = get_completion_class(shell)
    assert cls is not None  # every SHELLS entry is one of click's
    rt.out.print(cls(cli, {}, "coop", COMPLETE_VAR).source().rstrip("\n"))
