"""Every corpus recipe renders to Swarm specs: with its .env.sample, and with each overlay alone.

Real recipes nobody here wrote (../shared/corpus). A recipe that cannot render must fail with a
precise error a maintainer can act on; none of them is expected to.
"""

from __future__ import annotations

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import EnvFile
from coopcloud.domain.recipe import Recipe
from coopcloud.sources import recipe_from_dir
from coopcloud.swarm.render import render
from shared_data import CORPUS, PLACEHOLDER, corpus_recipes

pytestmark = pytest.mark.corpus  # the whole module reads ../shared

APP = AppRef("default", "example.org")

# Real mistakes in the corpus, which `docker stack deploy` refuses too: coop must say what is wrong.
# bonfire's compose.auth.github.yml uses secret github_client_secret but declares oauth_client_secret.
BROKEN = {("bonfire", "compose.auth.github.yml"): "service app: undefined secret 'github_client_secret'"}


def cases():
    if not CORPUS.is_dir():
        yield pytest.param(PLACEHOLDER, None, id=PLACEHOLDER)
        return
    for name in corpus_recipes():
        recipe = recipe_from_dir(CORPUS / name)
        yield pytest.param(name, None, id=f"{name}")
        for overlay in recipe.compose_files():
            if overlay not in ("compose.yml", "compose.yaml"):
                yield pytest.param(name, overlay, id=f"{name}+{overlay}")


def sample_env(recipe: Recipe, overlay: str | None) -> EnvFile:
    env = EnvFile.parse(recipe.env_sample() or "", name=".env.sample")
    env.set("DOMAIN", "example.org")
    if overlay is not None:
        env.set("COMPOSE_FILE", f"compose.yml:{overlay}")
    return env


@pytest.mark.parametrize("name, overlay", list(cases()))
def test_corpus_recipe_renders(name, overlay):
    recipe = recipe_from_dir(CORPUS / name)
    warnings: list[str] = []
    if (name, overlay) in BROKEN:
        from coopcloud.errors import ConvertError

        with pytest.raises(ConvertError) as err:
            render(recipe, APP, sample_env(recipe, overlay), warn=warnings.append)
        assert BROKEN[name, overlay] in str(err.value) and "declare it under the top-level" in str(err.value)
        return
    rendered = render(recipe, APP, sample_env(recipe, overlay), warn=warnings.append)
    spec = rendered.spec
    assert spec.services, f"{name}: no services rendered"
    for full, body in spec.services.items():
        assert full.startswith("example_org_")
        assert body["Labels"]["com.docker.stack.namespace"] == "example_org"
        assert body["TaskTemplate"]["ContainerSpec"]["Image"], f"{full} has no image"
    if overlay is not None:
        assert overlay in rendered.files


def test_all_overlays_of_the_largest_recipe_render_together():
    recipe = recipe_from_dir(CORPUS / "bonfire")
    env = sample_env(recipe, None)
    files = [f for f in recipe.compose_files() if ("bonfire", f) not in BROKEN]
    env.set("COMPOSE_FILE", ":".join(files))
    rendered = render(recipe, APP, env, warn=lambda _: None)
    assert rendered.files == files and len(files) >= 17
    assert rendered.spec.services
