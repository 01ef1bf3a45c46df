"""`coop recipe fetch`: new versions come from the recipe's origin; --offline never fetches."""

from __future__ import annotations

import json
import subprocess

from recipe_factory import commit, git, make_recipe_repo, recipe_files, tag


def clone(origin, dest):
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True, capture_output=True)


def tags_of(path) -> list[str]:
    return sorted(git(path, "tag").split())


def test_fetch_brings_new_tags_and_offline_refuses(coop, tmp_path):
    origin = make_recipe_repo(tmp_path / "origin" / "nice", recipe_files("nice"), [("0.1.0+1.27.2", {})])
    local = tmp_path / "abra" / "recipes" / "nice"
    local.parent.mkdir(parents=True)
    clone(origin, local)
    commit(origin, {"README.md": "# nice, better\n"}, "docs")
    tag(origin, "0.1.1+1.27.2")

    r = coop("--offline", "recipe", "fetch", "nice")
    assert r.code == 3 and "--offline" in r.err
    assert tags_of(local) == ["0.1.0+1.27.2"]

    r = coop("recipe", "fetch", "nice", "--json")
    assert r.code == 0, r
    assert json.loads(r.out) == [{"recipe": "nice", "path": str(local), "result": "fetched"}]
    assert tags_of(local) == ["0.1.0+1.27.2", "0.1.1+1.27.2"]
    assert not (local / "README.md").read_text().endswith("better\n")  # the working tree did not move


def test_fetch_all_skips_recipes_without_a_remote(coop, tmp_path):
    make_recipe_repo(tmp_path / "abra" / "recipes" / "mine", recipe_files("mine"), [])
    r = coop("recipe", "fetch", "--all")
    assert r.code == 0 and "recipe mine: local" in r.out


def test_fetch_needs_names_or_all(coop):
    r = coop("recipe", "fetch")
    assert r.code == 2 and "--all" in r.err
