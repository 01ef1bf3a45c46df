"""`app cmd`: run a function of the recipe's abra.sh inside a running container, as abra does.

abra.sh is read from the version the app runs (the git tag of its version label; the working
tree for a chaos deploy), so the function matches the deployed code. The script travels inside
the command line (`bash -c '<abra.sh>; FUNC "$@"'`), so nothing is written into the container,
and the container's stdin stays free for the function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from coopcloud.errors import CoopError, InvalidError, NotFound, RecipeError
from coopcloud.settings import Settings
from coopcloud.swarm.labels import coop_label

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.server.servers import ServerPool

_FUNC = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*\)\s*\{?", re.M)
_FUNC_KEYWORD = re.compile(r"^\s*function\s+([A-Za-z_][A-Za-z0-9_]*)\b", re.M)


def functions(script: str) -> list[str]:
    """Names of the shell functions abra.sh defines, in order."""
    names = _FUNC.findall(script) + _FUNC_KEYWORD.findall(script)
    return list(dict.fromkeys(names))


def deployed_script(settings: Settings, client: Engine, ref: AppRef) -> tuple[str, str]:
    """(abra.sh text, the version it comes from) for the app as deployed."""
    from coopcloud.gitops import GitRepo
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.app.ps import main_labels
    from coopcloud.ops.recipe.recipes import recipe_folder
    from coopcloud.sources import recipe_from_dir, recipe_from_git

    cfg = load_app(settings, ref.name)
    path = recipe_folder(settings, cfg.recipe)
    labels = main_labels(client, ref)
    version = labels.get(coop_label(ref.stack_name, "version")) or cfg.pinned_version
    chaos = labels.get(coop_label(ref.stack_name, "chaos")) == "true"
    repo = GitRepo(path)
    if chaos or not version or not repo.is_repo():
        recipe, where = recipe_from_dir(path, cfg.recipe), "the recipe's working tree"
    else:
        try:
            recipe, where = recipe_from_git(repo, version, cfg.recipe), version
        except (NotFound, RecipeError):
            raise NotFound(
                f"app {ref.name} runs {version}, which recipe {cfg.recipe} has no tag for",
                hint=f"run: coop recipe fetch {cfg.recipe}",
            ) from None
    try:
        return recipe.read_text("abra.sh"), where
    except NotFound:
        raise NotFound(f"recipe {cfg.recipe} ({where}) has no abra.sh, so no commands") from None


def command_line(script: str, function: str, args: list[str]) -> list[str]:
    """The exec argv: bash when the image has it (abra.sh files use bash), else sh."""
    body = f'{script}\n{function} "$@"\n'
    launcher = (
        'if command -v bash >/dev/null 2>&1; then exec bash -c "$0" abra.sh "$@"; else exec sh -c "$0" abra.sh "$@"; fi'
    )
    return ["sh", "-c", launcher, body, *args]


def run(
    settings: Settings,
    client: Engine,
    ref: AppRef,
    service: str,
    function: str,
    args: list[str],
    *,
    on_output: Callable[[str, bytes], None],
    user: str | None = None,
    node: Engine | None = None,
) -> int:
    """`node`: the engine of the node running the service's task, when it is not the manager's."""
    from coopcloud.ops.app import container as ops_container

    script, where = deployed_script(settings, client, ref)
    known = functions(script)
    if function not in known:
        raise NotFound(
            f"app {ref.name}: abra.sh ({where}) has no function {function}",
            hint=f"its functions: {', '.join(known) or 'none'}",
        )
    return ops_container.run(
        node or client, ref, service, command_line(script, function, args), on_output=on_output, user=user
    )


# -- POST_DEPLOY_CMDS -------------------------------------------------------------------------------

POST_DEPLOY_KEY = "POST_DEPLOY_CMDS"


def post_deploy_commands(values: Mapping[str, str], app_name: str) -> list[tuple[str, str, list[str]]]:
    """abra's `POST_DEPLOY_CMDS="<service> <function> <args>|…"` of an app env, as (service, function,
    args); InvalidError for an entry without a function, so a deploy refuses it before any change."""
    commands = []
    for entry in values.get(POST_DEPLOY_KEY, "").split("|"):
        words = entry.split()
        if not words:
            continue
        if len(words) < 2:
            raise InvalidError(
                f"app {app_name}: {POST_DEPLOY_KEY}: {entry.strip()!r} names no function",
                hint='write "<service> <function> [args]", commands separated by |',
            )
        commands.append((words[0], words[1], words[2:]))
    return commands


def run_post_deploy(
    settings: Settings,
    pool: ServerPool,
    ref: AppRef,
    commands: list[tuple[str, str, list[str]]],
    *,
    on_output: Callable[[str, bytes], None],
    notify: Callable[[str], None],
) -> None:
    """Run each command as `app cmd` does, in order; the first that fails stops them: CoopError naming it."""
    from coopcloud.ops.server.nodes import engine_for_service

    client = pool.client(ref.server)
    for service, function, args in commands:
        line = " ".join([service, function, *args])
        notify(f"app {ref.name}: post-deploy command: {line}")
        node = engine_for_service(settings, pool, ref, service)
        code = run(settings, client, ref, service, function, args, on_output=on_output, node=node)
        if code != 0:
            raise CoopError(
                f"app {ref.name}: deployed, but post-deploy command '{line}' failed (exit {code})",
                hint=f"run it again: coop app cmd {ref.name} {line}",
            )
