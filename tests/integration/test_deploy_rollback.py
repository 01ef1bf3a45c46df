"""Deploys you can trust, on the real swarm: whole-app rollback (exit 8), --no-rollback (exit 7),
retries of a broken app that are never "nothing changed", and a good upgrade that is only "ok"
once its new tasks run and stay up.

The recipe is two services, both changed by the release under test: `app` (busybox httpd on a
host port, serving its image's version) and `db` (a long sleep standing in for a database).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from live_app import REG, free_port, get, image_tag, new_app, one_error_line, web_recipe, with_db

pytestmark = pytest.mark.integration

# Healthy for ~4 s, then unhealthy for good (the file the healthcheck tests is removed).
FLAKY = "sh -c 'touch /tmp/ok; (sleep 4; rm /tmp/ok) & exec httpd -f -p 8080 -h /www'"


def two_services(
    port: int,
    *,
    web: str,
    db: str,
    healthcheck: str = "echo | nc -w 1 127.0.0.1 8080",
    command: str | None = None,
    update_config: str = "monitor: 1s",
) -> dict[str, str]:
    files = web_recipe(port, image_tag=web, healthcheck=healthcheck, command=command)
    quick = "      update_config:\n        monitor: 1s\n"  # from live_app.QUICK_UPDATES
    assert files["compose.yml"].count(quick) == 1
    compose = files["compose.yml"].replace(
        quick,
        "      update_config:\n" + "".join(f"        {line}\n" for line in update_config.split("; ")),
    )
    files["compose.yml"] = with_db(compose, db)
    return files


def update_state(stack: str, service: str) -> str:
    out = subprocess.run(
        [
            "docker",
            "service",
            "inspect",
            f"{stack}_{service}",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def env_text(tmp_path: Path, stack: str) -> str:
    return (tmp_path / "abra" / "servers" / "default" / f"{stack}.env").read_text()


def lock_version(tmp_path: Path, stack: str) -> str:
    return json.loads((tmp_path / "abra" / "servers" / "default" / f"{stack}.lock.json").read_text())["version"]


def flaky_release(tmp_path: Path, stack: str, coop) -> int:
    """An app at 1.0.0 (web 1.0.0, db 10.5) whose release 1.1.0 (web 1.1.0, db 10.6) is healthy a few
    seconds, then fails for good; swarm watches it 15 s and rolls back on failure."""
    port = free_port()
    good = two_services(port, web="1.0.0", db="10.5")
    bad = two_services(
        port,
        web="1.1.0",
        db="10.6",
        command=FLAKY,
        healthcheck="test -f /tmp/ok",
        update_config="failure_action: rollback; monitor: 15s",
    )
    new_app(
        coop,
        tmp_path,
        stack,
        "default",
        good,
        tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": bad["compose.yml"]})],
    )
    r = coop("app", "deploy", stack, "1.0.0+1.0.0")
    assert r.code == 0, r
    return port


def test_a_release_that_fails_after_a_few_seconds_is_rolled_back_whole_on_every_try(
    coop, tmp_path, stack_name, local_server
):
    port = flaky_release(tmp_path, stack_name, coop)
    assert "coop-test/web:1.0.0" in get(port)
    for attempt in (1, 2):
        r = coop("app", "deploy", stack_name, "1.1.0+1.1.0")
        assert r.code == 8, (attempt, r)
        line = one_error_line(r.err)
        assert f"release 1.1.0+1.1.0 failed (service {stack_name}_app: " in line, line
        assert "every service was rolled back to 1.0.0+1.0.0" in line
        assert "rolling every service back to 1.0.0+1.0.0" in r.err
        # both services back on the previous release, and serving it
        assert (image_tag(stack_name, "app"), image_tag(stack_name, "db")) == ("1.0.0", "10.5")
        assert "coop-test/web:1.0.0" in get(port)
        assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env_text(tmp_path, stack_name)
        assert lock_version(tmp_path, stack_name) == "1.0.0+1.0.0"
    # converged: a redeploy of what runs changes nothing
    r = coop("app", "deploy", stack_name, "1.0.0+1.0.0", "--force")
    assert r.code == 0 and "nothing changed" in r.out, r
    # the app's history, kept on the server, has each result with its versions
    r = coop("app", "history", stack_name, "--json")
    assert r.code == 0, r
    deploys = [(e["result"], e["version_from"], e["version_to"]) for e in json.loads(r.out) if e["command"] == "deploy"]
    assert sorted(deploys, key=repr) == sorted(
        [
            ("ok", None, "1.0.0+1.0.0"),
            ("rolled back", "1.0.0+1.0.0", "1.1.0+1.1.0"),
            ("rolled back", "1.0.0+1.0.0", "1.1.0+1.1.0"),
            ("ok", "1.0.0+1.0.0", "1.0.0+1.0.0"),
        ],
        key=repr,
    ), deploys


def test_no_rollback_exits_7_and_a_retry_is_not_nothing_changed(coop, tmp_path, stack_name, local_server):
    flaky_release(tmp_path, stack_name, coop)
    r = coop("app", "deploy", stack_name, "1.1.0+1.1.0", "--no-rollback")
    assert r.code == 7, r
    assert "rollback" in one_error_line(r.err) and "rolling every service back" not in r.err
    assert image_tag(stack_name, "db") == "10.6"  # as swarm left it: only the failing service rolled back
    assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env_text(tmp_path, stack_name)
    # coop saw the container unhealthy and stopped watching; swarm, still monitoring, rolls app back
    deadline = time.monotonic() + 60
    while update_state(stack_name, "app") != "rollback_completed" and time.monotonic() < deadline:
        time.sleep(0.5)
    # the retry redeploys (swarm put app back on 1.0.0) and fails again; rolled back this time, to
    # what ran before the retry (db stays on 10.6)
    r = coop("app", "deploy", stack_name, "1.1.0+1.1.0")
    assert r.code == 8, r
    assert (image_tag(stack_name, "app"), image_tag(stack_name, "db")) == ("1.0.0", "10.6")


def test_a_paused_update_is_converged_or_failed_on_retry_never_up_to_date(coop, tmp_path, stack_name, local_server):
    port = free_port()
    good = two_services(port, web="1.0.0", db="10.5")
    broken = two_services(port, web="1.1.0", db="10.5", healthcheck="exit 1")  # swarm's default: pause on failure
    new_app(
        coop,
        tmp_path,
        stack_name,
        "default",
        good,
        tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": broken["compose.yml"]})],
    )
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    r = coop("app", "deploy", stack_name, "1.1.0+1.1.0", "--no-rollback")
    assert r.code == 7, r
    deadline = time.time() + 30
    while update_state(stack_name, "app") != "paused" and time.time() < deadline:
        time.sleep(0.5)
    assert update_state(stack_name, "app") == "paused"
    r = coop("app", "ls", "--status", "--json")
    row = next(x for x in json.loads(r.out) if x["app"] == stack_name)
    assert row["status"] == "not converged", row
    # same version again: not "already deployed", not "nothing changed": converge it, or fail
    r = coop("app", "deploy", stack_name, "1.1.0+1.1.0", "--no-rollback")
    assert r.code == 7, r
    assert "state: " in r.out and "converged" in r.out  # the plan names why the service is updated
    assert "nothing changed" not in r.out
    # the way out: deploy the release that worked
    r = coop("app", "deploy", stack_name, "1.0.0+1.0.0", "--force")
    assert r.code == 0, r
    assert image_tag(stack_name, "app") == "1.0.0"


def test_a_good_upgrade_is_ok_only_once_its_new_tasks_run_and_stay_up(coop, tmp_path, stack_name, local_server):
    port = free_port()
    v1 = two_services(port, web="1.0.0", db="10.5")
    v2 = two_services(port, web="1.1.0", db="10.6", update_config="monitor: 3s")
    new_app(
        coop,
        tmp_path,
        stack_name,
        "default",
        v1,
        tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": v2["compose.yml"]})],
    )
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    start = time.monotonic()
    r = coop("app", "upgrade", stack_name, "--no-input")
    took = time.monotonic() - start
    assert r.code == 0, r
    assert took >= 3  # the stability window of the new spec (its update_config.monitor)
    out = subprocess.run(
        [
            "docker",
            "service",
            "ps",
            f"{stack_name}_app",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Image}} {{.CurrentState}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [line] = out.splitlines()
    assert line.startswith(f"{REG}/coop-test/web:1.1.0") and line.split()[1] == "Running", out
    assert "coop-test/web:1.1.0" in get(port)
    assert f"TYPE=recipe-{stack_name}:1.1.0+1.1.0" in env_text(tmp_path, stack_name)


def labelled(kind: str, stack: str) -> list[str]:
    out = subprocess.run(
        ["docker", kind, "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_a_deploy_the_engine_refuses_leaves_nothing_behind(coop, tmp_path, stack_name, local_server):
    port = free_port()
    # another service holds the port as an ingress port: the engine refuses ours at create
    blocker = subprocess.run(
        [
            "docker",
            "service",
            "create",
            "-d",
            "--name",
            f"{stack_name}_blocker",
            "--label",
            f"com.docker.stack.namespace={stack_name}",
            "--publish",
            f"{port}:8080",
            f"{REG}/coop-test/web:1.0.0",
        ],
        capture_output=True,
        text=True,
    )
    assert blocker.returncode == 0, blocker.stderr
    files = web_recipe(port)
    files["compose.yml"] = files["compose.yml"].replace("        mode: host\n", "")
    new_app(coop, tmp_path, stack_name, "default", files)
    r = coop("app", "deploy", stack_name)
    assert r.code == 11, r
    line = one_error_line(r.err)
    assert "already in use" in line and "was undone" in line
    assert labelled("config", stack_name) == [] and labelled("network", stack_name) == []
    assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env_text(tmp_path, stack_name)
    assert not (tmp_path / "abra" / "servers" / "default" / f"{stack_name}.lock.json").exists()


def test_remove_force_right_after_the_services_went_waits_for_their_containers(
    coop, tmp_path, stack_name, local_server
):
    files = web_recipe(free_port())
    files["compose.yml"] = (
        files["compose.yml"].replace(
            "    configs:\n      - source: motd",
            "    volumes:\n      - data:/data\n    configs:\n      - source: motd",
            1,
        )
        + "volumes:\n  data:\n"
    )
    new_app(coop, tmp_path, stack_name, "default", files)
    assert coop("app", "deploy", stack_name).code == 0
    assert len(labelled("volume", stack_name)) == 1
    # as `docker stack rm` leaves it: services gone, their containers still stopping
    subprocess.run(["docker", "service", "rm", f"{stack_name}_app"], capture_output=True, check=True)
    r = coop("app", "remove", stack_name, "--purge", "--yes")
    assert r.code == 0, r
    assert labelled("volume", stack_name) == []


def test_at_a_terminal_the_plan_is_shown_and_asked_about_before_anything_changes(
    coop, coop_env, tmp_path, stack_name, local_server
):
    from test_upgrade_live import interactive

    new_app(coop, tmp_path, stack_name, "default", web_recipe(free_port()))
    r = interactive(coop_env, "app", "deploy", stack_name, answers="n\n")
    assert r.code == 14, r  # cancelled: the one exit code of a "no"
    assert f"plan for app {stack_name}" in r.out  # the plan is a result: stdout
    assert f"app {stack_name}: deploy 1.0.0+1.0.0 to default? [y/N]" in r.err
    assert r.err.endswith(f"app {stack_name}: cancelled, nothing changed\n")
    assert labelled("service", stack_name) == [] and labelled("network", stack_name) == []
    r = interactive(coop_env, "app", "deploy", stack_name, "--yes", answers="")
    assert r.code == 0 and "[y/N]" not in r.err and "deployed 1.0.0+1.0.0" in r.out, r


def test_a_release_whose_image_tag_is_not_in_the_registry_is_refused_with_nothing_changed(
    coop, tmp_path, stack_name, local_server
):
    # A mistyped tag: swarm would stop the running task, fail to pull, and the app would be down until
    # the rollback. The registry says it has no such manifest, so it is refused before anything changes.
    port = free_port()
    files = web_recipe(port)
    typo = {"compose.yml": files["compose.yml"].replace("coop-test/web:1.0.0", "coop-test/web:1.0.0-typo")}
    new_app(coop, tmp_path, stack_name, "default", files, tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.0.0-typo", typo)])
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    before = subprocess.run(
        ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{.Version.Index}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    r = coop("app", "upgrade", stack_name, "--no-input")
    assert r.code == 3, r
    line = one_error_line(r.err)
    assert "image 127.0.0.1:5000/coop-test/web:1.0.0-typo" in line and "not in its registry" in line, line
    after = subprocess.run(
        ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{.Version.Index}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert after == before  # not even touched
    assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env_text(tmp_path, stack_name)


def test_a_new_service_whose_failed_tasks_swarm_gives_up_on_rolls_back_at_once(
    coop, tmp_path, stack_name, local_server
):
    # restart_policy max_attempts: 1 — two failures and swarm starts no more tasks; waiting the whole
    # timeout (here 60 s) for a task that cannot come would only delay the rollback.
    port = free_port()
    files = web_recipe(port)
    broken = (
        files["compose.yml"]
        .replace(
            "networks:\n  proxy:",
            f"""  worker:
    image: {REG}/coop-test/web:1.0.0
    command: ["sh", "-c", "exit 1"]
    stop_grace_period: 1s
    configs: [extra]
    deploy:
      restart_policy:
        delay: 1s
        max_attempts: 1
networks:
  proxy:""",
            1,
        )
        .replace(
            "configs:\n  motd:", "configs:\n  extra:\n    name: ${STACK_NAME}_extra_v1\n    file: motd.txt\n  motd:"
        )
    )
    new_app(
        coop,
        tmp_path,
        stack_name,
        "default",
        files,
        tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", {"compose.yml": broken})],
    )
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    started = time.monotonic()
    r = coop("app", "deploy", stack_name, "1.1.0+1.0.0", "--no-input")
    assert r.code == 8, r
    assert time.monotonic() - started < 40, r
    assert "swarm will not restart them" in one_error_line(r.err)
    names = subprocess.run(
        ["docker", "service", "ls", "--format", "{{.Name}}"], capture_output=True, text=True
    ).stdout.split()
    assert f"{stack_name}_worker" not in names and f"{stack_name}_app" in names
    configs = subprocess.run(
        ["docker", "config", "ls", "--format", "{{.Name}}"], capture_output=True, text=True
    ).stdout.split()
    assert f"{stack_name}_extra_v1" not in configs  # what the release created went with it
