"""Shell completion as the shell asks for it (the bash protocol click speaks), from local state only:
app, server, recipe and service names, a recipe's versions; and `coop autocomplete SHELL`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_factory import make_recipe_repo

COMPOSE = """\
version: "3.8"
services:
  app:
    image: nginx:1.25
  db:
    image: postgres:15
"""


@pytest.fixture
def state(tmp_path) -> dict[str, str]:
    """An $ABRA_DIR with two servers, three apps and a cloned recipe with two releases."""
    abra = tmp_path / "abra"
    for server, app in (
        ("cloud.example.org", "git.example.org"),
        ("cloud.example.org", "wiki.example.org"),
        ("other.example.net", "blog.example.net"),
    ):
        (abra / "servers" / server).mkdir(parents=True, exist_ok=True)
        (abra / "servers" / server / f"{app}.env").write_text(f"TYPE=gitea:1.0.0+1.25\nDOMAIN={app}\n")
    files = {"compose.yml": COMPOSE, ".env.sample": "TYPE=gitea\n", "README.md": "# gitea\n"}
    make_recipe_repo(abra / "recipes" / "gitea", files, [("1.0.0+1.25", {}), ("1.1.0+1.26", {})])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABRA_", "DOCKER_", "COOP_", "_COOP"))}
    return {**env, "ABRA_DIR": str(abra), "DOCKER_CONFIG": str(tmp_path / "docker"), "HOME": str(tmp_path)}


def complete(env: dict[str, str], line: str) -> list[str]:
    """What bash gets for `line` (a trailing space asks for the next word)."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    proc = subprocess.run(
        [sys.executable, "-m", "coopcloud"],
        env={
            **env,
            "_COOP_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [l.split(",", 1)[1] for l in proc.stdout.splitlines()]


def test_app_deploy_completes_app_names(state):
    assert complete(state, "coop app deploy ") == ["blog.example.net", "git.example.org", "wiki.example.org"]
    assert complete(state, "coop a d w") == ["wiki.example.org"]  # through abra's aliases too


def test_versions_services_servers_and_recipes(state):
    assert complete(state, "coop app deploy git.example.org ") == ["1.1.0+1.26", "1.0.0+1.25"]
    assert complete(state, "coop app logs git.example.org ") == ["app", "db"]
    assert complete(state, "coop server prune ") == ["cloud.example.org", "other.example.net"]
    assert complete(state, "coop app ls --server o") == ["other.example.net"]
    assert complete(state, "coop app new g") == ["gitea"]
    assert complete(state, "coop recipe versions ") == ["gitea"]


def test_autocomplete_prints_the_script_click_generates(coop, capsys):
    for shell in ("bash", "zsh", "fish"):
        r = coop("autocomplete", shell)
        assert r.code == 0 and "_COOP_COMPLETE" in r.out, r
    assert coop("autocomplete", "tcsh").code == 2


def test_nothing_is_asked_of_a_server(state):
    # A server entry whose engine cannot be reached: completion still answers at once, from files.
    (Path(state["ABRA_DIR"]) / "servers" / "unreachable.invalid").mkdir()
    assert "unreachable.invalid" in complete(state, "coop server nodes ")
