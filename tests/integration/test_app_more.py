"""More of issue 4 on the real swarm: secrets by hand, chaos deploys, a swarm-side rollback."""

from __future__ import annotations

import json
import subprocess

import pytest

from live_app import free_port, new_app, one_error_line, secret_names, web_recipe
from recipe_factory import commit, make_recipe_repo

pytestmark = pytest.mark.integration


def service_labels(stack: str) -> dict:
    out = subprocess.run(
        ["docker", "service", "inspect", f"{stack}_app", "--format", "{{json .Spec.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_secrets_by_hand(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port())
    files[".env.sample"] += "SECRET_SMTP_PASSWORD_VERSION=v1 # generate=false\nSECRET_TOKEN_VERSION=v2\n"
    repo = make_recipe_repo(tmp_path / "recipe", files, [("1.0.0+1.0.0", {})])
    r = coop(
        "app", "new", str(repo), "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name
    )
    assert r.code == 0, r

    r = coop("app", "secret", "generate", stack_name, "--all", "--json")
    assert r.code == 0, r
    rows = {x["name"]: x for x in json.loads(r.out)}
    assert len(rows["api_key"]["value"]) == 24
    assert rows["smtp_password"]["value"] is None and rows["smtp_password"]["generate"] is False
    assert len(rows["token"]["value"].split("-")) == 6  # no length hint: a passphrase of words
    assert secret_names(stack_name) == sorted([f"{stack_name}_api_key_v1", f"{stack_name}_token_v2"])

    # Generating again keeps what is there and shows no value.
    r = coop("app", "secret", "generate", stack_name, "api_key", "v1")
    assert r.code == 0 and rows["api_key"]["value"] not in r.out + r.err and "kept" in r.err

    r = coop("app", "secret", "insert", stack_name, "smtp_password", "v1", "s3cret-value")
    assert r.code == 0, r
    assert "s3cret-value" not in r.out + r.err
    r = coop("app", "secret", "insert", stack_name, "smtp_password", "v1", "again")
    assert r.code == 10 and "already exists" in one_error_line(r.err)

    r = coop("app", "secret", "ls", stack_name, "--json")
    assert {x["name"]: x["present"] for x in json.loads(r.out)} == {
        "api_key": True,
        "smtp_password": True,
        "token": True,
    }

    r = coop("app", "secret", "rm", stack_name, "token")  # no terminal: destroys a value, so refused
    assert r.code == 2 and "pass --yes" in r.err and f"{stack_name}_token_v2" in secret_names(stack_name), r
    r = coop("app", "secret", "rm", stack_name, "token", "--yes")
    assert r.code == 0 and f"{stack_name}_token_v2" in r.out
    assert f"{stack_name}_token_v2" not in secret_names(stack_name)

    r = coop("app", "secret", "generate", stack_name, "nosuch", "v1")
    assert r.code == 3 and "declares no secret nosuch" in one_error_line(r.err)


def test_secret_name_over_dockers_limit_is_refused_before_anything(coop, tmp_path, local_server):
    name = "n" * 60  # + "_api_key_v1": 71 characters
    new_repo = make_recipe_repo(tmp_path / "recipe", web_recipe(free_port()), [("1.0.0+1.0.0", {})])
    assert coop("app", "new", str(new_repo), "--server", "default", "--domain", "x.org", "--name", name).code == 0
    r = coop("app", "secret", "generate", name, "--all")
    assert r.code == 4 and "over Docker's limit of 64" in one_error_line(r.err)
    assert secret_names(name) == []


def test_chaos_deploy_of_a_dirty_tree_and_unreleased_recipe(coop, tmp_path, stack_name, local_server):
    port = free_port()
    repo = make_recipe_repo(tmp_path / "recipe", web_recipe(port), [])  # no release at all
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
    )
    assert r.code == 0, r
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout[:8]
    r = coop("app", "deploy", stack_name)  # no releases: the latest commit, labelled chaos
    assert r.code == 0, r
    labels = service_labels(stack_name)
    assert labels[f"coop-cloud.{stack_name}.chaos"] == "true"
    assert labels[f"coop-cloud.{stack_name}.chaos-version"] == head

    (repo / "motd.txt").write_text("uncommitted\n")  # dirty tree, and an untracked file
    (repo / "notes.txt").write_text("scratch\n")
    env = tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"
    env.write_text(env.read_text().replace("MOTD_VERSION", "X") + "MOTD_VERSION=v2\n")
    r = coop("app", "deploy", stack_name, "--chaos", "--force")
    assert r.code == 0, r
    assert service_labels(stack_name)[f"coop-cloud.{stack_name}.chaos-version"] == f"{head}+U"
    r = coop("app", "ls", "--status", "--json")
    row = next(x for x in json.loads(r.out) if x["app"] == stack_name)
    assert row["chaos"] is True


def test_swarm_side_rollback_is_a_failure(coop, tmp_path, stack_name, local_server):
    port = free_port()
    good = web_recipe(port)
    bad_compose = (
        good["compose.yml"]
        .replace("        monitor: 1s", "        failure_action: rollback\n        monitor: 5s")
        .replace('"echo | nc -w 1 127.0.0.1 8080"', '"exit 1"')
    )
    assert "failure_action: rollback" in bad_compose
    tags = [("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", {"compose.yml": bad_compose})]
    new_app(coop, tmp_path, stack_name, "default", good, tags=tags)
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    r = coop("app", "deploy", stack_name, "1.1.0+1.0.0")
    assert r.code == 8, r  # swarm rolled the service back; coop rolled the whole app back and says so
    line = one_error_line(r.err)
    assert "rollback" in line and "rolled back to 1.0.0+1.0.0" in line
    assert service_labels(stack_name)[f"coop-cloud.{stack_name}.version"] == "1.0.0+1.0.0"
    env = (tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env").read_text()
    assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env  # a failed deploy does not record the new version


def test_a_service_dropped_by_the_recipe_is_named_in_the_plan_and_left_running(
    coop, tmp_path, stack_name, local_server
):
    base = web_recipe(free_port())
    with_extra = base["compose.yml"].replace(
        "networks:\n  proxy:",
        "  extra:\n    image: 127.0.0.1:5000/coop-test/db:10.5\n    stop_grace_period: 1s\nnetworks:\n  proxy:",
        1,
    )
    tags = [("1.0.0+1.0.0", {"compose.yml": with_extra}), ("1.1.0+1.0.0", {"compose.yml": base["compose.yml"]})]
    new_app(coop, tmp_path, stack_name, "default", base, tags=tags)
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    r = coop("app", "deploy", stack_name, "1.1.0+1.0.0", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["plan"]["orphans"] == [f"{stack_name}_extra"]
    assert "no longer in the recipe" in r.err  # under --json the plan is on stderr
    out = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"name={stack_name}_extra"], capture_output=True, text=True
    ).stdout
    assert out.strip()


def test_remove_asks_and_no_deletes_nothing(coop, coop_env, tmp_path, stack_name, local_server):
    import io

    from coopcloud.cli.main import main

    new_app(coop, tmp_path, stack_name, "default", web_recipe(free_port()))  # with --secrets
    assert secret_names(stack_name) == [f"{stack_name}_api_key_v1"]
    env_file = tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def at_terminal(*argv, answers):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), environ=coop_env, stdout=out, stderr=err, stdin=Terminal(answers))
        return code, out.getvalue(), err.getvalue()

    # Without --purge, an app with a secret left is refused (the secret would outlive the env file).
    code, out, err = at_terminal("app", "remove", stack_name, answers="y\n")
    assert code == 10 and f"coop app remove {stack_name} --purge" in err and "[y/N]" not in err
    # N at the prompt: cancelled (exit 14), nothing at all removed.
    code, out, err = at_terminal("app", "remove", stack_name, "--purge", answers="n\n")
    assert code == 14, err
    assert f"app {stack_name}: remove it with 1 secret ({stack_name}_api_key_v1) on default" in err
    assert "their data is lost for good? [y/N]" in err
    assert err.endswith(f"app {stack_name}: cancelled, nothing changed\n") and out == ""
    assert env_file.exists() and secret_names(stack_name) == [f"{stack_name}_api_key_v1"]
    # y: the env file and the secret go.
    code, out, err = at_terminal("app", "remove", stack_name, "--purge", answers="y\n")
    assert code == 0, err
    assert out == f"app {stack_name}: removed with 1 secret ({stack_name}_api_key_v1)\n"
    assert not env_file.exists() and secret_names(stack_name) == []


def test_upgrade_fetches_a_release_published_upstream(coop, tmp_path, stack_name, local_server):
    from recipe_factory import tag

    port = free_port()
    origin = make_recipe_repo(tmp_path / "origin" / "webapp", web_recipe(port), [("1.0.0+1.0.0", {})])
    r = coop(
        "app",
        "new",
        f"file://{origin}",
        "--server",
        "default",
        "--domain",
        f"{stack_name}.example.org",
        "--name",
        stack_name,
        "--secrets",
    )
    assert r.code == 0, r
    assert coop("app", "deploy", stack_name).code == 0
    # The maintainer publishes 1.1.0 upstream; the operator's clone does not have it yet.
    commit(origin, {"compose.yml": web_recipe(port, image_tag="1.1.0")["compose.yml"]}, "chore: publish 1.1.0+1.1.0")
    tag(origin, "1.1.0+1.1.0")

    r = coop("--offline", "app", "upgrade", stack_name, "--no-input")
    assert r.code == 0 and "no newer release" in r.out + r.err, r
    r = coop("app", "upgrade", stack_name, "--no-input")
    assert r.code == 0, r
    image = subprocess.run(
        ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"],
        capture_output=True,
        text=True,
    ).stdout
    assert "coop-test/web:1.1.0@sha256:" in image


def test_a_task_swarm_cannot_place_fails_early_with_the_reason(coop, tmp_path, stack_name, local_server, request):
    from conftest import remove_stack

    port = free_port()
    other = f"{stack_name}_other"  # unique per run: engineers share the rig
    request.addfinalizer(lambda: remove_stack(other))
    new_app(coop, tmp_path, other, "default", web_recipe(port))
    assert coop("app", "deploy", other).code == 0  # holds the host port
    new_app(coop, tmp_path / "second", stack_name, "default", web_recipe(port))
    env = tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"
    env.write_text(env.read_text() + "TIMEOUT=12\n")  # the recipe's timeout label reads it
    r = coop("app", "deploy", stack_name)
    assert r.code == 7, r
    line = one_error_line(r.err)
    assert "cannot place" in line and "port" in line


def test_app_cmd_runs_a_function_of_the_deployed_abra_sh(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port())
    files["abra.sh"] += 'greet() {\n  echo "hello $1 from $(cat /www/motd.txt)"\n}\nfail_with() {\n  return "$1"\n}\n'
    new_app(coop, tmp_path, stack_name, "default", files)
    assert coop("app", "deploy", stack_name).code == 0

    r = coop("app", "cmd", stack_name, "app", "greet", "world")
    assert r.code == 0, r
    assert r.out == "hello world from message of the day\n"
    r = coop("app", "cmd", stack_name, "app", "fail_with", "5")
    assert r.code == 5
    r = coop("app", "cmd", stack_name, "app", "--list")
    assert r.out.split() == ["greet", "fail_with"]
    r = coop("app", "cmd", stack_name, "app", "nosuch")
    assert r.code == 3 and "its functions: greet, fail_with" in one_error_line(r.err)
