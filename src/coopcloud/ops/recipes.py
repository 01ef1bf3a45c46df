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
