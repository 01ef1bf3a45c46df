"""A stale env is refused as a downgrade; a change made by hand on the server is found and undone."""

from __future__ import annotations

import json
import subprocess

import pytest

from live_app import free_port, one_error_line, web_recipe
from recipe_factory import make_recipe_repo

pytestmark = pytest.mark.integration

TAGS = [("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", {"motd.txt": "release 1.1\n", "abra.sh": "export MOTD_VERSION=v2\n"})]


@pytest.fixture
def two_release_app(coop, tmp_path, stack_name, local_engine_socket, registry):
    assert coop("server", "add", "--local").code == 0
    repo = make_recipe_repo(tmp_path / "recipe", web_recipe(free_port()), TAGS)
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
        "--version",
        "1.0.0+1.0.0",
        "--secrets",
    )
    assert r.code == 0, r
    return stack_name, tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"


def live_env(service: str) -> list[str]:
    out = subprocess.run(
        ["docker", "service", "inspect", service, "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_stale_env_is_refused_as_a_downgrade(coop, two_release_app):
    app, env_file = two_release_app
    assert coop("app", "deploy", app, "1.1.0+1.0.0").code == 0
    stale = env_file.read_text().replace("1.1.0+1.0.0", "1.0.0+1.0.0")  # a copy one commit behind
    env_file.write_text(stale)
    r = coop("app", "deploy", app, "--force")
    assert r.code == 10, r
    line = one_error_line(r.err)
    assert "1.0.0+1.0.0" in line and "1.1.0+1.0.0" in line and f"coop app deploy {app} 1.0.0+1.0.0" in line
    assert env_file.read_text() == stale  # nothing written, nothing deployed
    r = coop("app", "deploy", app, "1.0.0+1.0.0")  # named: on purpose
    assert r.code == 0, r


def test_a_hand_made_env_change_shows_in_the_plan_and_a_redeploy_removes_it(coop, two_release_app):
    app, _ = two_release_app
    assert coop("app", "deploy", app).code == 0
    service = f"{app}_app"
    subprocess.run(
        ["docker", "service", "update", "--detach", "--env-add", "HAND=made", service], capture_output=True, check=True
    )
    r = coop("app", "deploy", app, "--force", "--dry-run", "--json")
    assert r.code == 0, r
    [svc] = [s for s in json.loads(r.out)["plan"]["services"] if s["name"] == service]
    assert svc["action"] == "update" and {"what": "env HAND", "before": "made", "after": None} in svc["changes"]
    r = coop("app", "deploy", app, "--force")
    assert r.code == 0, r
    assert not any(e.startswith("HAND=") for e in live_env(service))


def test_app_diff_finds_a_hand_made_change_and_a_redeploy_removes_it(coop, two_release_app):
    app, _ = two_release_app
    assert coop("app", "deploy", app).code == 0
    r = coop("app", "diff", app)
    assert r.code == 0 and "no drift" in r.out, r  # the diff is a result: stdout
    row = next(x for x in json.loads(coop("app", "ls", "--status", "--json").out) if x["app"] == app)
    assert row["drift"] is False

    service = f"{app}_app"
    subprocess.run(
        ["docker", "service", "update", "--detach", "--env-add", "HAND=made", service], capture_output=True, check=True
    )
    r = coop("app", "diff", app)
    assert r.code == 13, r
    assert "env HAND: made (removed)" in r.out and service in one_error_line(r.err)
    r = coop("app", "diff", app, "--json")
    assert r.code == 13 and json.loads(r.out)["services"] == [service]
    row = next(x for x in json.loads(coop("app", "ls", "--status", "--json").out) if x["app"] == app)
    assert row["drift"] is True
    assert "DRIFT" in coop("app", "ls", "--status").out

    assert coop("app", "deploy", app, "--force").code == 0
    r = coop("app", "diff", app)
    assert r.code == 0, r
    assert not any(e.startswith("HAND=") for e in live_env(service))
