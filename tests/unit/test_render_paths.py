"""Paths in a rendered recipe are what `docker stack deploy` makes of them, run from the recipe's folder."""

from __future__ import annotations

import os

from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import EnvFile
from coopcloud.sources import recipe_from_dir, recipe_from_git
from coopcloud.swarm.render import render
from recipe_factory import make_recipe_repo

COMPOSE = """\
version: "3.8"
services:
  app:
    image: web:1
    volumes:
      - ./data:/data
      - ../shared:/shared:ro
      - /srv/abs:/abs
      - {type: bind, source: conf, target: /conf}
    configs:
      - source: motd
        target: /motd
configs:
  motd:
    name: ${STACK_NAME}_motd_v1
    file: ./files/motd.txt
"""


def _mounts(rendered) -> dict[str, str]:
    body = rendered.spec.services["a_example_org_app"]
    return {m["Target"]: m["Source"] for m in body["TaskTemplate"]["ContainerSpec"]["Mounts"]}


def test_relative_bind_sources_are_under_the_recipes_folder_from_git_or_the_working_tree(tmp_path):
    repo = make_recipe_repo(
        tmp_path / "recipes" / "demo", {"compose.yml": COMPOSE, "files/motd.txt": "hi\n"}, [("1.0.0+1", {})]
    )
    env = EnvFile.parse("TYPE=demo\n", name="a.example.org.env")
    folder = os.path.abspath(repo)
    want = {
        "/data": f"{folder}/data",
        "/shared": f"{os.path.dirname(folder)}/shared",
        "/abs": "/srv/abs",
        "/conf": f"{folder}/conf",
    }
    for recipe in (recipe_from_git(repo, "1.0.0+1"), recipe_from_dir(repo)):
        rendered = render(recipe, AppRef("default", "a.example.org"), env)
        assert _mounts(rendered) == want
        # config files are still read from the recipe (git objects for a release)
        assert rendered.spec.configs["a_example_org_motd_v1"]["Data"]
