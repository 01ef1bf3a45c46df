"""`coop recipe ...`: inspect and render recipes."""

from __future__ import annotations

import click

from coopcloud.cli.context import AliasGroup, Runtime, pass_runtime


@click.group(cls=AliasGroup)
def recipe() -> None:
    """Create, check, render and release recipes.

    Inspect and render recipes (git repos with compose.yml, .env.sample and abra.sh).
    """


@recipe.command("render")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--env", "env_path", required=True, type=click.Path(dir_okay=False), help="The app env file to render with."
)
@click.option("--stack", required=True, help="Stack name (an app name such as cloud.example.org works too).")
@pass_runtime
def render(rt: Runtime, directory: str, env_path: str, stack: str) -> None:
    """Print what deploying a recipe would send to the engine.

    Print what deploying the recipe in DIRECTORY with an env file would send to the engine.

    The env file's COMPOSE_FILE selects the compose files. With --json: one JSON object
    {"services", "networks", "configs", "secrets"}, keyed by Docker object name; external
    objects are not included (they are not created).

    \b
    Examples:
      coop recipe render ~/.abra/recipes/gitea --env ~/.abra/servers/s1/git.example.org.env \\
        --stack git.example.org --json
    """
    from coopcloud.domain.app import AppRef
    from coopcloud.domain.envfile import load
    from coopcloud.sources import recipe_from_dir
    from coopcloud.swarm.render import render as do_render

    app = AppRef("default", stack)
    rendered = do_render(recipe_from_dir(directory), app, load(env_path), warn=rt.out.warn)
    if rt.out.json:
        rt.out.emit_json(rendered.spec.to_json())
        return
    doc = rendered.spec.to_json()
    import yaml

    rt.out.print(yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, width=100).rstrip())


@recipe.command("fetch")
@click.argument("names", nargs=-1, metavar="[RECIPE]...")
@click.option("--all", "-a", "all_", is_flag=True, help="Every recipe clone under $ABRA_DIR/recipes.")
@pass_runtime
def fetch(rt: Runtime, names: tuple[str, ...], all_: bool) -> None:
    """Clone recipes, or fetch new versions of your clones.

    Clone recipes the catalogue names, or fetch new versions of the clones you have.

    `coop app upgrade` fetches its recipe by itself (unless --offline).
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.recipe.recipes import fetch as do_fetch

    if all_ == bool(names):
        raise UsageError("give RECIPE names or --all", hint="see: coop recipe fetch --help")
    if all_:
        dirs = rt.settings.recipes_dir
        names = tuple(sorted(p.name for p in dirs.iterdir() if (p / ".git").exists())) if dirs.is_dir() else ()
    rows = []
    for name in names:
        done = do_fetch(rt.settings, name, offline=rt.settings.offline)
        rows.append(done)
        if not rt.out.json:
            what = done.result
            rt.out.print(
                f"recipe {done.recipe}: {what}" + (" (no remote: nothing to fetch)" if what == "local" else "")
            )
    if rt.out.json:
        rt.out.emit_json([r.to_json() for r in rows])


# Commands built in their own modules, each adding itself to this group.
from coopcloud.cli import recipe_catalogue, recipe_lint, recipe_maint, recipe_versions  # noqa: E402

for _module in (recipe_versions, recipe_catalogue, recipe_lint, recipe_maint):
    _module.register(recipe)
