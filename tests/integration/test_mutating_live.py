"""Every change holds the lock and leaves a line in the history, on a real swarm.

While one operator holds an app's lock (as an upgrade does), each command that changes the app, run
by a second operator, exits 9 naming the holder, changes nothing, and is in `app history` as refused.
A command killed after swarm took its change reads "did not finish", and the next deploy says what
runs and how to pin it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live_app import free_port, new_app, one_error_line, web_recipe

pytestmark = pytest.mark.integration

HOLDER = """
import sys, time
from coopcloud.engine import connect
from coopcloud.ops.trail import lock
client = connect("unix:///var/run/docker.sock", name="default")
lock.acquire(client, app=sys.argv[1], stack=sys.argv[2], command="upgrade", operator="alice@coop.example")
print("locked", flush=True)
time.sleep(600)
"""

COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs

SECOND_OPERATOR = [
    ("deploy", ("app", "deploy", "{app}", "--force", "--no-input")),
    ("upgrade", ("app", "upgrade", "{app}", "--no-input")),
    ("rollback", ("app", "rollback", "{app}", "--no-input")),
    ("undeploy", ("app", "undeploy", "{app}")),
    ("remove", ("app", "remove", "{app}", "--force")),
    ("restart", ("app", "restart", "{app}", "--all")),
    ("secret generate", ("app", "secret", "generate", "{app}", "api_key", "v7")),
    ("secret insert", ("app", "secret", "insert", "{app}", "api_key", "v8", "a-value-of-mine")),
    ("secret rm", ("app", "secret", "rm", "{app}", "--all")),
    ("secret rotate", ("app", "secret", "rotate", "{app}", "api_key")),
    ("volume rm", ("app", "volume", "rm", "{app}", "--all", "--force")),
    ("backup create", ("app", "backup", "create", "{app}")),
    ("restore", ("app", "restore", "{app}")),
]


def server_state(stack: str) -> dict:
    """Everything of the app a change could touch: services (spec and version), secrets, configs, volumes."""

    def ls(*argv: str) -> list[str]:
        out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True).stdout
        return sorted(out.split())

    services = ls("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}")
    inspected = subprocess.run(
        ["docker", "service", "inspect", *services], capture_output=True, text=True, check=True
    ).stdout
    return {
        "services": [(s["ID"], s["Version"]["Index"], s["Spec"]) for s in json.loads(inspected)],
        "secrets": ls("secret", "ls", "-q", "--filter", f"name={stack}_"),
        "configs": ls("config", "ls", "-q", "--filter", f"name={stack}_"),
        "volumes": ls("volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}"),
    }


def deployed_at_1_0_0(coop, coop_env, tmp_path, stack_name, server, command: str | None = None) -> tuple[str, Path]:
    """The web app released as 1.0.0 and 1.1.0 (whose web server starts after `command`'s delay, given
    time by its health check), deployed at 1.0.0: (app, its env file)."""
    port = free_port()
    newer = web_recipe(port, command=command)["compose.yml"]
    newer = newer.replace("version=1.0.0+1.0.0", "version=1.1.0+1.0.0").replace("start_period: 1s", "start_period: 15s")
    app = new_app(
        coop,
        tmp_path,
        stack_name,
        server,
        web_recipe(port),
        tags=(("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", {"compose.yml": newer})),
    )
    assert coop("app", "deploy", app, "1.0.0+1.0.0", "--no-input").code == 0
    return app, Path(coop_env["ABRA_DIR"]) / "servers" / "default" / f"{app}.env"


def test_while_one_operator_holds_the_lock_every_change_of_another_is_refused_and_recorded(
    coop, coop_env, tmp_path, stack_name, local_server
):
    app, env_file = deployed_at_1_0_0(coop, coop_env, tmp_path, stack_name, local_server)
    bob = dict(coop_env, COOP_OPERATOR="bob@coop.example")

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, app, app], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before, env_before = server_state(app), env_file.read_text()
        for command, argv in SECOND_OPERATOR:
            r = coop(*(a.format(app=app) for a in argv), env=bob)
            assert r.code == 9, (command, r)
            line = one_error_line(r.err)
            assert "alice@coop.example: upgrade" in line and f"coop app unlock {app}" in line, (command, line)
        assert server_state(app) == before
        assert env_file.read_text() == env_before
    finally:
        holder.kill()
        holder.wait()

    events = json.loads(coop("app", "history", app, "--json").out)
    refused = [(e["command"], e["result"]) for e in events if e["who"] == "bob@coop.example"]
    assert refused == [(command, "refused") for command, _ in SECOND_OPERATOR]
    assert all("alice@coop.example: upgrade" in e["detail"] for e in events if e["who"] == "bob@coop.example")


def service_version(service: str) -> str:
    p = subprocess.run(
        ["docker", "service", "inspect", service, "--format", "{{json .Spec.Labels}}"], capture_output=True, text=True
    )
    return next((v for k, v in json.loads(p.stdout or "{}").items() if k.endswith(".version")), "")


def update_state(service: str) -> str:
    p = subprocess.run(
        ["docker", "service", "inspect", service, "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"],
        capture_output=True,
        text=True,
    )
    return p.stdout.strip()


def test_a_deploy_killed_after_swarm_took_it_did_not_finish_and_the_next_deploy_pins_what_runs(
    coop, coop_env, tmp_path, stack_name, local_server
):
    app, env_file = deployed_at_1_0_0(
        coop, coop_env, tmp_path, stack_name, local_server, command="sh -c 'sleep 3; exec httpd -f -p 8080 -h /www'"
    )

    killed = subprocess.Popen(
        [*COOP, "app", "deploy", app, "1.1.0+1.0.0", "--no-input"],
        env=coop_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while service_version(f"{app}_app") != "1.1.0+1.0.0":
            assert time.time() < deadline and killed.poll() is None, "the deploy never reached the swarm"
            time.sleep(0.1)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            killed.kill()
    assert "1.1.0" not in env_file.read_text()
    deadline = time.time() + 60  # swarm completes the change it took, watched or not
    while update_state(f"{app}_app") != "completed":
        assert time.time() < deadline, "swarm never completed the update"
        time.sleep(0.5)

    [event] = [e for e in json.loads(coop("app", "history", app, "--json").out) if e["version_to"] == "1.1.0+1.0.0"]
    assert (event["command"], event["result"]) == ("deploy", "did not finish")
    assert coop("app", "unlock", app, "--no-input").code == 0  # the killed holder's lock

    r = coop("app", "deploy", app, "--no-input")  # the env still pins 1.0.0
    assert r.code == 10, r
    line = one_error_line(r.err)
    assert "git pull" not in line and "did not finish" in line, line
    assert "runs 1.1.0+1.0.0" in line and f"coop app deploy {app} 1.1.0+1.0.0" in line, line
    assert service_version(f"{app}_app") == "1.1.0+1.0.0"  # nothing changed

    r = coop("app", "deploy", app, "1.1.0+1.0.0", "--no-input")  # the named fix: converge and pin
    assert r.code == 0, r
    assert "1.1.0+1.0.0" in env_file.read_text()
    assert json.loads(coop("app", "history", app, "--json").out)[-1]["result"] == "ok"
