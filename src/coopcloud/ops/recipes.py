"""Where a recipe named on the command line is: one rule for every `coop recipe ...` command."""

from __future__ import annotations

from pathlib import Path

from coopcloud.errors import NotFound
from coopcloud.settings import Settings


def local_recipe(settings: Settings, recipe: str) -> tuple[str, Path]:
    """(name, folder) of RECIPE.

    A path (it has a '/' or starts with '.' or '~') must be a folder. A bare name is a folder
    under $ABRA_DIR/recipes, or else a folder of that name in the current directory.
    """
    local = Path(recipe).expanduser()
    if "/" in recipe or recipe.startswith((".", "~")):
        if not local.is_dir():
            raise NotFound(f"recipe directory {local}: no such directory")
        return local.resolve().name, local
    path = settings.recipes_dir / recipe
    if path.is_dir():
        return recipe, path
    if local.is_dir():
        return recipe, local
    raise NotFound(
        f"recipe {recipe} is not in {settings.recipes_dir}",
        hint=f"clone it there (git clone <url> {path}), or give the recipe's path (e.g. ./{recipe})",
    )


def refresh(path: Path, name: str, *, offline: bool, warn) -> bool:
    """Fetch new tags of the recipe at `path` from its origin, as abra does before an upgrade.

    Skipped under --offline or without an origin; a failed fetch is a warning, and the tags
    already here are used. Returns whether a fetch happened.
    """
    from coopcloud.errors import RecipeError
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if offline or not repo.is_repo() or not repo.remote_url():
        return False
    try:
        repo.fetch()
    except RecipeError as exc:
        warn(f"recipe {name}: could not fetch new versions ({exc}); using the versions already here")
        return False
    return True


def fetch(settings: Settings, recipe: str, *, offline: bool) -> tuple[str, Path, str]:
    """`coop recipe fetch`: clone a recipe the catalogue names, or fetch an existing clone.

    Returns (name, folder, what happened: "cloned" | "fetched" | "local").
    """
    from coopcloud.gitops import GitRepo

    path = settings.recipes_dir / recipe
    if not path.is_dir():
        from coopcloud.ops.lifecycle import locate_recipe

        name, path = locate_recipe(settings, recipe, offline=offline)
        return name, path, "cloned"
    repo = GitRepo(path)
    if not repo.is_repo() or not repo.remote_url():
        return recipe, path, "local"
    if offline:
        raise NotFound(f"recipe {recipe}: --offline forbids fetching it")
    repo.fetch()
    return recipe, path, "fetched"
