"""`coop recipe ...`: inspect and render recipes."""

from __future__ import annotations

import click

from coopcloud.cli.context import Runtime, pass_runtime


@click.group()
def recipe() -> None:
    """Inspect and render recipes (git repos with compose.yml, .env.sample and abra.sh)."""


@recipe.command("render")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--env", "env_path", required=True, type=click.Path(dir_okay=False), help="The app env file to render with.")
@click.option("--stack", required=True, help="Stack name (an app name such as cloud.example.org works too).")
@pass_runtime
def render(rt: Runtime, directory: str, env_path: str, stack: str) -> None:
    """Print what deploying the recipe in DIRECTORY with an env file would send to the engine.

    The env file's COMPOSE_FILE selects the compose files. With --json: one JSON object
    {"services", "networks", "configs", "secrets"}, keyed by Docker object name; external
    objects are not included (they are not created).

    \b
    Example:
      coop recipe render ~/.abra/recipes/gitea --env ~/.abra/servers/s1/git.example.org.env \\
        --stack git.example.org --json
    """
    from coopcloud.domain.app import AppRef
    from coopcloud.domain.envfile import load
    from coopcloud.domain.recipe import Recipe
    from coopcloud.ops.render import render as do_render

    app = AppRef("default", stack)
    rendered = do_render(Recipe.from_dir(directory), app, load(env_path), warn=rt.out.warn)
    doc = rendered.spec.to_json()
    if rt.out.json:
        rt.out.emit_json(doc)
        return
    import yaml

    rt.out.print(yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, width=100).rstrip())


# Commands built in their own modules, each adding itself to this group.
from coopcloud.cli import recipe_catalogue, recipe_lint, recipe_maint, recipe_versions  # noqa: E402

for _module in (recipe_versions, recipe_catalogue, recipe_lint, recipe_maint):
    _module.register(recipe)
