"""Where a recipe is: the one locator every command uses to turn a recipe name into a folder.

A recipe *name* (``TYPE=`` in an app env, a catalogue name, a bare argument) is a plain name — no
``/``, no ``..``, no leading ``.`` or ``-`` (`coopcloud.domain.names.check_recipe_name`) — and
names the folder ``$ABRA_DIR/recipes/<name>``, which may be a symlink. Only what the operator typed
may also be a *path* (it has a ``/`` or starts with ``.`` or ``~``) or, for `app new`, a git URL.

- `recipe_folder`: a name → its folder (deploy, upgrade, `app cmd`: the recipe an app names);
- `local_recipe`: a name or a path → (name, folder) (the `coop recipe ...` commands);
- `locate_recipe`: a name, a URL or a path → (name, folder), cloning or linking it into the
  recipes folder when needed (`app new`, `recipe fetch`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from coopcloud.domain.names import check_recipe_name
from coopcloud.errors import Conflict, NotFound, RecipeError, UsageError
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_COMPOSE = re.compile(r"compose(\.[^/]+)?\.ya?ml")


def is_url(recipe: str) -> bool:
    """Whether what was typed is a git URL (https, ssh, git, file, or scp-like user@host:path)."""
    return bool(_URL.match(recipe))


def is_path(recipe: str) -> bool:
    """Whether what was typed is a path to a recipe folder rather than a recipe name."""
    return "/" in recipe or recipe.startswith((".", "~"))


def recipe_folder(settings: Settings, name: str) -> Path:
    """The folder of the recipe called `name` in $ABRA_DIR/recipes; NotFound when it is not there."""
    check_recipe_name(name)
    path = settings.recipes_dir / name
    if not path.is_dir():
        raise NotFound(
            f"recipe {name} is not in {settings.recipes_dir}",
            hint=f"clone it there (git clone <url> {path}) or create the app with: coop app new <recipe-url-or-path>",
        )
    return path


def local_recipe(settings: Settings, recipe: str) -> tuple[str, Path]:
    """(name, folder) of RECIPE.

    A path (it has a '/' or starts with '.' or '~') must be a folder. A bare name is a folder
    under $ABRA_DIR/recipes, or else a folder of that name in the current directory.
    """
    local = Path(recipe).expanduser()
    if is_path(recipe):
        if not local.is_dir():
            raise NotFound(f"recipe directory {local}: no such directory")
        return local.resolve().name, local
    check_recipe_name(recipe)
    path = settings.recipes_dir / recipe
    if path.is_dir():
        return recipe, path
    if local.is_dir():
        return recipe, local
    raise NotFound(
        f"recipe {recipe} is not in {settings.recipes_dir}",
        hint=f"clone it there (git clone <url> {path}), or give the recipe's path (e.g. ./{recipe})",
    )


def _folder_name(source: str) -> str:
    """A recipe name for a recipe cloned from a URL or linked from a path: its last part, without .git."""
    base = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if base.endswith(".git"):
        base = base[:-4]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-")
    if not base or ".." in base:
        raise UsageError(
            f"cannot name a recipe folder after {source!r}", hint="clone it into $ABRA_DIR/recipes yourself"
        )
    return check_recipe_name(base)


def _check_recipe_dir(path: Path) -> None:
    """A local folder given to `app new` must look like a recipe before anything is linked to it."""
    try:
        has_compose = any(_COMPOSE.fullmatch(p.name) and p.is_file() for p in path.iterdir())
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the folder ({exc.strerror})") from None
    if not has_compose:
        raise RecipeError(f"{path} is not a recipe: it has no compose.yml", hint="give the path of a recipe folder")


def locate_recipe(settings: Settings, recipe: str, *, offline: bool = False) -> tuple[str, Path]:
    """(recipe name, folder) for a recipe name, a git URL (cloned), or a local path (linked)."""
    from coopcloud.gitops.repo import run_git

    recipes = settings.recipes_dir
    if _URL.match(recipe):
        name = _folder_name(recipe)
        target = recipes / name
        if not target.exists():
            if offline:
                raise NotFound(f"recipe {name} is not cloned yet and --offline forbids fetching it")
            recipes.mkdir(parents=True, exist_ok=True)
            run_git(["clone", "--quiet", "--", recipe, str(target)])
        return name, target
    if is_path(recipe):
        local = Path(recipe).expanduser()
        if not local.is_dir():
            raise NotFound(f"recipe directory {local}: no such directory")
        _check_recipe_dir(local)
        name = _folder_name(str(local.resolve()))
        target = recipes / name
        if target.exists() or target.is_symlink():
            if target.resolve() != local.resolve():
                raise Conflict(
                    f"recipe {name} already exists at {target} and is not {local}",
                    hint="rename one of them",
                )
        else:
            recipes.mkdir(parents=True, exist_ok=True)
            os.symlink(local.resolve(), target)  # DESIGN §3.1: recipe folders may be symlinks
        return name, target
    check_recipe_name(recipe)
    target = recipes / recipe
    if not target.is_dir():
        from coopcloud.ops.recipe.catalogue import clone_url

        url = clone_url(settings, recipe)
        if url is None:
            raise NotFound(
                f"recipe {recipe} is neither in {recipes} nor in the catalogue",
                hint="run: coop catalogue sync, or give its git URL or a local path",
            )
        if not _URL.match(url):
            # The catalogue comes from the network: clone only from plain git URLs (no ext:: etc.).
            raise RecipeError(
                f"recipe {recipe}: the catalogue's repository {url!r} is not an https, ssh, git or file URL",
                hint="fix that catalogue entry, or clone the recipe into the recipes folder yourself",
            )
        if offline:
            raise NotFound(f"recipe {recipe} is not cloned yet and --offline forbids fetching it from {url}")
        recipes.mkdir(parents=True, exist_ok=True)
        run_git(["clone", "--quiet", "--", url, str(target)])
    return recipe, target


def refresh(path: Path, name: str, *, offline: bool, warn: Callable[[str], None]) -> bool:
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


class Fetched(NamedTuple):
    """`recipe fetch`, one recipe: its name, its folder, and what happened."""

    recipe: str
    path: Path
    result: str  # "cloned" | "fetched" | "local"

    def to_json(self) -> JSONDict:
        return {"recipe": self.recipe, "path": str(self.path), "result": self.result}


def fetch(settings: Settings, recipe: str, *, offline: bool) -> Fetched:
    """`coop recipe fetch`: clone a recipe the catalogue names, or fetch an existing clone."""
    from coopcloud.gitops import GitRepo

    if _URL.match(recipe) or is_path(recipe):
        name, path = locate_recipe(settings, recipe, offline=offline)
        return Fetched(name, path, "cloned")
    path = settings.recipes_dir / check_recipe_name(recipe)
    if not path.is_dir():
        name, path = locate_recipe(settings, recipe, offline=offline)
        return Fetched(name, path, "cloned")
    repo = GitRepo(path)
    if not repo.is_repo() or not repo.remote_url():
        return Fetched(recipe, path, "local")
    if offline:
        raise NotFound(f"recipe {recipe}: --offline forbids fetching it")
    repo.fetch()
    return Fetched(recipe, path, "fetched")
