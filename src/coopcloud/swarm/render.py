"""Recipe + app env -> compose model -> Swarm specs. Pure apart from reading the recipe's files.

This is the one path every command that needs "what would be deployed" takes:
`recipe render`, `app deploy`, `app check`, lint.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from coopcloud.domain.app import AppRef, compose_env, compose_files
from coopcloud.domain.envfile import EnvFile
from coopcloud.domain.recipe import Recipe
from coopcloud.errors import NotFound, RecipeError
from coopcloud.rawdata import as_map, get_map
from coopcloud.swarm.spec import StackSpec

# The working directory of a recipe that has no folder on this machine (none of ours so far).
WORKDIR = "/recipe"


def working_dir(recipe: Recipe) -> str:
    """What compose paths are relative to: the recipe's folder on this machine, as for `docker stack
    deploy` (and abra), which makes them absolute against the first compose file's folder.

    Renders of a release (from git objects) and of the working tree agree, both being the folder.
    Config and secret files are read back from the recipe itself; the one place the folder shows is
    a relative bind-mount source, which docker makes a path on the operator's machine too (lint R109).
    """
    folder = getattr(recipe.source, "folder", None)
    return os.path.abspath(folder) if folder is not None else WORKDIR


@dataclass(frozen=True)
class Rendered:
    recipe: Recipe
    stack: str
    env: dict[str, str]  # the interpolation environment
    files: list[str]  # compose files used, in order
    model: dict[str, object]  # the loaded compose model (docker stack config's shape)
    spec: StackSpec


def recipe_reader(recipe: Recipe, workdir: str = WORKDIR) -> Callable[[str], bytes]:
    """Read a path the compose loader made absolute under `workdir`, from the recipe."""

    def read(path: str) -> bytes:
        rel = posixpath.relpath(posixpath.normpath(path), workdir)
        if rel.startswith(".."):
            raise RecipeError(
                f"recipe {recipe.name}: {path} is outside the recipe; configs and secrets must use files inside it"
            )
        return recipe.read(rel)

    return read


def render(
    recipe: Recipe,
    app: AppRef,
    env_file: EnvFile,
    *,
    warn: Callable[[str], None] | None = None,
    extra_env: Mapping[str, str] | None = None,
    deployable: bool = True,
) -> Rendered:
    """Render an app of `recipe` with its env file, as `docker stack deploy` would see it.

    `deployable` also refuses what only deploying would refuse (`compose.deployable`); lint and image
    listings turn it off, to report such recipes in their own words.
    """
    from coopcloud.compose import ComposeFile, load
    from coopcloud.compose.deployable import check_deployable
    from coopcloud.swarm.convert import convert

    abra = recipe.abra_sh_versions()
    values = env_file.values(base=abra)
    env = compose_env(app, values, abra)
    if extra_env:
        env.update(extra_env)
    names = compose_files(values)
    files = []
    for name in names:
        try:
            files.append(ComposeFile(name, recipe.read_text(name)))
        except NotFound:
            raise RecipeError(
                f"app {app.name}: COMPOSE_FILE names {name}, which recipe {recipe.name} "
                f"({recipe.source.description}) does not have",
                hint=f"fix COMPOSE_FILE in the app env (run: coop app config {app.name})",
            ) from None
    workdir = working_dir(recipe)
    read = recipe_reader(recipe, workdir)
    model = load(files, env, working_dir=workdir, warn=warn, read_file=lambda p: read(p).decode("utf-8"))
    expose_all_env(model, env_file.keys(), env)
    if deployable:
        check_deployable(model, workdir, names)
    spec = convert(model, app.stack_name, read_file=read)
    return Rendered(recipe, app.stack_name, env, names, model, spec)


def expose_all_env(model: dict[str, object], keys: list[str], env: Mapping[str, str]) -> None:
    """abra's ExposeAllEnv: every key of the app's env file that the `app` service's `environment`
    does not set is added to it, with the value it was interpolated with. No other service gets
    them; secrets are not in env files. Recipes' abra.sh functions (`app cmd`) read them there."""
    services = model.get("services")
    app = services.get("app") if isinstance(services, dict) else None
    if not isinstance(app, dict):
        return
    environment = app.get("environment")
    if isinstance(environment, list):
        environment = {k: (v if sep else None) for k, sep, v in (str(e).partition("=") for e in environment)}
    if not isinstance(environment, dict):  # none yet
        environment = {}
    app["environment"] = environment
    for key in keys:
        if key not in environment and key in env:
            environment[key] = env[key]


def sample_images(recipe: Recipe) -> dict[str, str | None]:
    """Each service's image as an app made from the recipe's own .env.sample would run it.

    The app is named <recipe>.example.com (DOMAIN, and so STACK_NAME, follow); the sample's
    COMPOSE_FILE picks the compose files. Used to list a release's images (`recipe versions`,
    `catalogue generate`). RecipeError when the recipe has no .env.sample.
    """
    sample = recipe.env_sample()
    if sample is None:
        raise RecipeError(f"recipe {recipe.name} ({recipe.source.description}) has no .env.sample to render it with")
    env_file = EnvFile.parse(sample, name=f"{recipe.name}/.env.sample")
    domain = f"{recipe.name}.example.com"
    env_file.set("DOMAIN", domain)
    rendered = render(recipe, AppRef("default", domain), env_file, warn=lambda _: None, deployable=False)
    return {
        service: (str(image) if (image := as_map(body).get("image")) else None)
        for service, body in sorted(get_map(rendered.model, "services").items())
    }
