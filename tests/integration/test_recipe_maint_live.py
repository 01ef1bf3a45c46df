"""The maintainer's tools against the real registry and swarm: upgrade → release → app upgrade deploys it.

(Named *_live so its module name differs from tests/unit/test_recipe_maint.py.)
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from live_app import free_port, get, web_recipe
from recipe_factory import git, git_env, make_recipe_repo

pytestmark = pytest.mark.integration

REG = "127.0.0.1:5000"
TAGS = ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest", "1.0.0-rootless", "1.1.0-rootless"]


@pytest.fixture(scope="module")
def pushed(registry) -> str:
    """A repository unique to this run holding TAGS (all the same busybox image: tags are what matter)."""
    repo = f"{REG}/coop-maint-{uuid.uuid4().hex[:8]}/app"
    for tag in TAGS:
        subprocess.run(
            ["docker", "tag", f"{REG}/coop-test/web:1.0.0", f"{repo}:{tag}"], check=True, capture_output=True
        )
        subprocess.run(["docker", "push", "-q", f"{repo}:{tag}"], check=True, capture_output=True)
        subprocess.run(["docker", "rmi", f"{repo}:{tag}"], capture_output=True)
    return repo


@pytest.fixture
def genv(coop_env):
    env = dict(coop_env)
    env.update({k: v for k, v in git_env().items() if k.startswith("GIT_")})
    return env


def compose(repo: str, app: str, worker: str, db: str) -> str:
    return f"""\
version: "3.8"   # compose file of a test recipe
services:
  app:
    # the main service
    image: {repo}:{app}   # bumped by coop recipe upgrade
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+1.0.0"
  worker:
    image: '{repo}:{worker}'
  db:
    image: "{REG}/coop-test/db:{db}"
  pinned:
    image: {repo}:latest
  interpolated:
    image: {repo}:${{APP_TAG:-1.0.0}}
"""


def images_by_service(out: str) -> dict:
    return {x["service"]: x for x in json.loads(out)["images"]}


def test_upgrade_against_the_registry(coop, tmp_path, genv, pushed):
    repo = make_recipe_repo(
        tmp_path / "recipe", {"compose.yml": compose(pushed, "1.0.0", "1.0.0-rootless", "10.5")}, [("1.0.0+1.0.0", {})]
    )
    path = repo / "compose.yml"

    r = coop("recipe", "upgrade", str(repo), "--patch", "--no-input", "--json", env=genv)
    assert r.code == 0, r
    got = images_by_service(r.out)
    assert got["app"]["candidates"] == ["1.0.1"] and got["app"]["chosen"] == "1.0.1" and got["app"]["change"] == "patch"
    assert got["app"]["newer_beyond_level"] == ["2.0.0", "1.1.0"]
    assert got["worker"]["candidates"] == [] and got["worker"]["chosen"] is None
    assert got["db"]["candidates"] == [] and "10.6" in got["db"]["note"]
    assert "floats" in got["pinned"]["note"] and "interpolated" in got["interpolated"]["note"]
    assert json.loads(r.out)["changed_files"] == ["compose.yml"]
    assert path.read_text() == compose(pushed, "1.0.1", "1.0.0-rootless", "10.5")

    r = coop("recipe", "upgrade", str(repo), "--minor", "--no-input", "--json", env=genv)
    got = images_by_service(r.out)
    assert got["app"]["candidates"] == ["1.1.0"] and got["worker"]["candidates"] == ["1.1.0-rootless"]
    assert got["db"]["chosen"] == "10.6"
    assert path.read_text() == compose(pushed, "1.1.0", "1.1.0-rootless", "10.6")

    r = coop("recipe", "upgrade", str(repo), "--no-input", env=genv)  # default: any change
    assert r.code == 0, r
    assert "2.0.0" in r.out and "major" in r.out
    assert path.read_text() == compose(pushed, "2.0.0", "1.1.0-rootless", "10.6")

    r = coop("recipe", "upgrade", str(repo), "--no-input", env=genv)
    assert r.code == 0 and "nothing changed" in r.err


def test_upgrade_asks_per_image_and_can_keep(coop, tmp_path, genv, pushed, monkeypatch):
    from coopcloud.output.console import Output

    repo = make_recipe_repo(tmp_path / "recipe", {"compose.yml": compose(pushed, "1.0.0", "1.0.0-rootless", "10.5")})
    monkeypatch.setattr(Output, "can_prompt", property(lambda self: not self.no_input))
    # app: 2.0.0, 1.1.0, 1.0.1, keep → pick "2" (1.1.0); worker: 1.1.0-rootless, keep → "keep 1.0.0-rootless"; db: 10.6, keep → 1
    r = coop("recipe", "upgrade", str(repo), stdin="2\nkeep 1.0.0-rootless\n1\n", env=genv)
    assert r.code == 0, r
    assert "app: upgrade to" in r.err
    assert (repo / "compose.yml").read_text() == compose(pushed, "1.1.0", "1.0.0-rootless", "10.6")


def test_unknown_repository_is_named_and_the_rest_still_upgrades(coop, tmp_path, genv, pushed):
    text = compose(pushed, "1.0.0", "1.0.0-rootless", "10.5").replace(
        f"{REG}/coop-test/db", f"{REG}/coop-maint-nosuch/db"
    )
    repo = make_recipe_repo(tmp_path / "recipe", {"compose.yml": text})
    r = coop("recipe", "upgrade", str(repo), "--no-input", env=genv)
    assert r.code == 3, r  # the registry's not-found status
    assert "could not read the tags of db" in r.err.strip().splitlines()[-1]
    assert f"{pushed}:2.0.0" in (repo / "compose.yml").read_text()


def test_recipe_upgrade_release_then_app_upgrade_deploys_it(
    coop, tmp_path, genv, stack_name, local_engine_socket, registry
):
    """The issue's proof: recipe upgrade + recipe release yields a tag that app upgrade deploys."""
    assert coop("server", "add", "--local", env=genv).code == 0
    port = free_port()
    files = web_recipe(port)  # app: 127.0.0.1:5000/coop-test/web:1.0.0, label 1.0.0+1.0.0, healthcheck, 1s grace
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, env=git_env())
    repo = make_recipe_repo(tmp_path / "webrecipe", files, [("1.0.0+1.0.0", {})], origin=str(origin))
    r = coop(
        "app",
        "new",
        str(repo),
        "--server",
        "default",
        "--domain",
        f"{stack_name}.example.org",
        "--name",
        stack_name,
        "--secrets",
        env=genv,
    )
    assert r.code == 0, r
    r = coop("app", "deploy", stack_name, "--no-input", env=genv)
    assert r.code == 0, r
    assert service_image(stack_name).startswith(f"{REG}/coop-test/web:1.0.0")

    r = coop("recipe", "upgrade", "webrecipe", "--no-input", "--minor", "--json", env=genv)
    assert r.code == 0, r
    assert images_by_service(r.out)["app"]["chosen"] == "1.1.0"

    r = coop(
        "recipe", "release", "webrecipe", "--no-input", "--notes", "Web 1.1.0: nothing to do.", "--publish", env=genv
    )
    assert r.code == 0, r
    tag = "1.1.0+1.1.0"
    assert git(repo, "cat-file", "-t", tag).strip() == "tag"
    assert git(repo, "tag", "-l", "--format=%(contents)", tag).strip() == f"chore: publish {tag} release"
    assert f'"coop-cloud.${{STACK_NAME}}.version={tag}"' in (repo / "compose.yml").read_text()
    assert (repo / "release" / tag).read_text() == "Web 1.1.0: nothing to do.\n"
    assert git(origin, "cat-file", "-t", tag).strip() == "tag"

    r = coop("app", "upgrade", stack_name, "--no-input", env=genv)
    assert r.code == 0, r
    assert "Web 1.1.0: nothing to do." in r.err  # the release notes are shown
    assert service_image(stack_name).startswith(f"{REG}/coop-test/web:1.1.0")
    labels = json.loads(
        subprocess.run(
            ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{json .Spec.Labels}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert labels[f"coop-cloud.{stack_name}.version"] == tag
    env_file = tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"
    assert f":{tag}" in env_file.read_text()
    assert get(port)  # it serves


def service_image(stack: str) -> str:
    return subprocess.run(
        ["docker", "service", "inspect", f"{stack}_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
