"""Two operators, one server: the app lock and the audit trail on a real swarm (socket and ssh)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coopcloud.errors import LockHeld
from coopcloud.ops.trail import audit, lock

pytestmark = pytest.mark.integration


def test_one_lock_per_app_renewed_while_held_and_released(engine, stack_name):
    held = lock.acquire(engine, app="a.example.org", stack=stack_name, command="deploy", operator="alice", lease=2)
    try:
        with pytest.raises(LockHeld) as caught:
            lock.acquire(engine, app="a.example.org", stack=stack_name, command="undeploy", operator="bob", lease=2)
        assert "alice: deploy" in str(caught.value) and "coop app unlock a.example.org" in str(caught.value)
        time.sleep(3.5)  # longer than the lease: only renewals keep it
        with pytest.raises(LockHeld):
            lock.acquire(engine, app="a.example.org", stack=stack_name, command="undeploy", operator="bob", lease=2)
    finally:
        held.release()
    assert held.warnings == [] and lock.read(engine, stack_name) is None
    with lock.hold(engine, app="a.example.org", stack=stack_name, command="undeploy", operator="bob") as mine:
        assert lock.read(engine, stack_name).holder == "bob" and mine.took_over is None
    assert lock.read(engine, stack_name) is None


def test_a_lock_whose_holder_stopped_renewing_expires_and_is_taken_over(engine, stack_name):
    dead = lock.acquire(engine, app="a.example.org", stack=stack_name, command="deploy", operator="alice", lease=1)
    dead._stop.set()  # the holder dies: no more renewals
    dead._thread.join()
    time.sleep(1.5)
    taker = lock.acquire(engine, app="a.example.org", stack=stack_name, command="deploy", operator="bob", lease=60)
    try:
        assert taker.took_over is not None and taker.took_over.holder == "alice"
        dead.release()  # the old holder coming back must not remove bob's lock
        assert any("broken by someone else" in w for w in dead.warnings)
        assert lock.read(engine, stack_name).holder == "bob"
    finally:
        taker.release()


def test_the_trail_keeps_the_last_events_per_app_oldest_first(engine, stack_name):
    other = f"{stack_name}_o"
    try:
        for i in range(5):
            event = audit.Event(
                when=f"2026-11-29T22:4{i}:00Z",
                who=f"op{i}",
                command="deploy",
                app="a",
                server="s",
                result=audit.OK,
                version_to=f"1.{i}.0+1",
            )
            audit.record(engine, stack_name, event, keep=3)
        audit.record(engine, other, audit.Event(who="x", command="undeploy", app="o", server="s", result=audit.FAILED))
        assert [e.who for e in audit.history(engine, stack_name)] == ["op2", "op3", "op4"]
        everything = audit.history(engine)
        assert {"op4", "x"} <= {e.who for e in everything}
        assert [e.when for e in everything] == sorted(e.when for e in everything)
    finally:
        out = subprocess.run(
            ["docker", "config", "ls", "-q", "--filter", f"label=coop.audit={other}"], capture_output=True, text=True
        ).stdout.split()
        if out:
            subprocess.run(["docker", "config", "rm", *out], capture_output=True)


HOLDER = """
import sys, time
from coopcloud.engine import connect
from coopcloud.ops.trail import lock
client = connect("unix:///var/run/docker.sock", name="default")
lock.acquire(client, app=sys.argv[1], stack=sys.argv[2], command="deploy", operator="alice@coop.example")
print("locked", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_is_seen_broken_with_unlock_and_recorded(
    coop, coop_env, tmp_path, stack_name, local_engine_socket
):
    """Operator A's command is SIGKILLed while it holds the lock; operator B (another ABRA_DIR,
    the same env file) is refused, sees the lock, breaks it; A's machine then shows B's events."""
    assert coop("server", "add", "--local").code == 0
    app = stack_name  # named as its stack, so the test's cleanup finds its trail
    env_dir = tmp_path / "abra" / "servers" / "default"
    (env_dir / f"{app}.env").write_text(f"TYPE=webapp:1.0.0+1.0.0\nDOMAIN={app}.example.org\n")
    env_b = dict(coop_env, ABRA_DIR=str(tmp_path / "abra-b"), COOP_OPERATOR="bob@coop.example")
    assert coop("server", "add", "--local", env=env_b).code == 0
    (tmp_path / "abra-b" / "servers" / "default" / f"{app}.env").symlink_to(env_dir / f"{app}.env")

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, app, app], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()

        r = coop("app", "undeploy", app, env=env_b)
        assert r.code == 9, r
        [line] = [l for l in r.err.splitlines() if l.startswith("error:")]
        assert f"alice@coop.example: deploy (pid {holder.pid}" in line and f"coop app unlock {app}" in line

        for argv in (("app", "restart", app, "--all"), ("app", "secret", "rm", app, "--all", "--yes")):
            r = coop(*argv, env=env_b)
            assert r.code == 9, r

        r = coop("app", "lock", app, "--json", env=env_b)
        assert json.loads(r.out)["lock"]["holder"] == "alice@coop.example"

        r = coop("app", "unlock", app, "--no-input", env=env_b)
        assert r.code == 0, r
        assert json.loads(coop("app", "lock", app, "--json", env=env_b).out)["locked"] is False

        r = coop("app", "history", app, "--json")  # from operator A's machine
        assert r.code == 0, r
        events = json.loads(r.out)
        assert [(e["who"], e["command"], e["result"]) for e in events] == [
            ("bob@coop.example", "undeploy", "refused"),
            ("bob@coop.example", "restart", "refused"),
            ("bob@coop.example", "secret rm", "refused"),
            ("bob@coop.example", "unlock", "ok"),
        ]
        assert "alice@coop.example: deploy" in events[-1]["detail"]
        r = coop("server", "history", "default")
        assert r.code == 0 and "unlock" in r.out and app in r.out
    finally:
        if holder.poll() is None:
            holder.kill()


# -- the whole story: two operators, two ABRA_DIRs, one env file, one server --------------------------

COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs


def slow_release(port: int) -> dict[str, str]:
    """1.1.0 takes a few seconds to become healthy, so its deploy holds the lock long enough to be seen."""
    from live_app import web_recipe

    files = web_recipe(port, command="sh -c 'sleep 4; exec httpd -f -p 8080 -h /www'")
    files["compose.yml"] = (
        files["compose.yml"].replace("1.0.0+1.0.0", "1.1.0+1.0.0").replace("start_period: 1s", "start_period: 15s")
    )
    return files


def gated_release(port: int, gate: Path) -> dict[str, str]:
    """1.1.0 whose web server starts only while `gate`/hold does not exist (a host folder mounted into the
    task): a deploy, restart or upgrade that starts a new task waits, holding the lock, until the test
    removes the file. Its health check's start period is long, so a held task reads "starting", not
    unhealthy, and nothing fails on its own before the test's signal, however loaded the machine is."""
    from live_app import web_recipe

    files = web_recipe(
        port, command="sh -c 'while [ -e /gate/hold ]; do sleep 0.2; done; exec httpd -f -p 8080 -h /www'"
    )
    files["compose.yml"] = (
        files["compose.yml"]
        .replace("1.0.0+1.0.0", "1.1.0+1.0.0")
        .replace("start_period: 1s", "start_period: 300s")
        .replace("    environment:\n", f"    volumes:\n      - {gate}:/gate:ro\n    environment:\n", 1)
    )
    return files


def wait_for_lock(coop, app: str, env: dict, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        doc = json.loads(coop("app", "lock", app, "--json", env=env).out)
        if doc["locked"]:
            return doc["lock"]
        time.sleep(0.2)
    raise AssertionError(f"app {app} was never locked")


def test_two_operators_one_server(coop, coop_env, tmp_path, stack_name, local_engine_socket, registry):
    from live_app import free_port, web_recipe
    from recipe_factory import make_recipe_repo

    port = free_port()
    repo = make_recipe_repo(
        tmp_path / "recipe", web_recipe(port), [("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", slow_release(port))]
    )
    # Operator A: identity from git config in $ABRA_DIR (a co-op shares it through git).
    abra_a = tmp_path / "abra"
    abra_a.mkdir()
    subprocess.run(["git", "init", "-q", str(abra_a)], check=True)
    subprocess.run(["git", "-C", str(abra_a), "config", "user.email", "alice@coop.example"], check=True)
    env_a = dict(coop_env, GIT_CONFIG_GLOBAL=os.devnull)
    assert coop("server", "add", "--local", env=env_a).code == 0
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
        env=env_a,
    )
    assert r.code == 0, r
    app, env_file = stack_name, abra_a / "servers" / "default" / f"{stack_name}.env"
    # Operator B: another ABRA_DIR, the same env file and recipe, named by COOP_OPERATOR.
    abra_b = tmp_path / "abra-b"
    env_b = dict(coop_env, ABRA_DIR=str(abra_b), COOP_OPERATOR="bob@coop.example")
    assert coop("server", "add", "--local", env=env_b).code == 0
    (abra_b / "servers" / "default" / f"{app}.env").symlink_to(env_file)
    (abra_b / "recipes").mkdir()
    (abra_b / "recipes" / "recipe").symlink_to(abra_a / "recipes" / "recipe")

    assert coop("app", "deploy", app, env=env_a).code == 0

    # 1. Concurrent deploys: B is refused, naming A and what A runs; A's deploy completes.
    a_deploy = subprocess.Popen(
        [*COOP, "app", "deploy", app, "1.1.0+1.0.0", "--no-input"],
        env=env_a,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        held = wait_for_lock(coop, app, env_b)
        assert held["holder"] == "alice@coop.example" and held["command"] == "deploy"
        r = coop("app", "deploy", app, "--force", "--no-input", env=env_b)
        assert r.code == 9, r
        [line] = [l for l in r.err.splitlines() if l.startswith("error:")]
        assert "alice@coop.example: deploy" in line and f"coop app unlock {app}" in line
        out, err = a_deploy.communicate(timeout=120)
        assert a_deploy.returncode == 0, (out, err)
    finally:
        if a_deploy.poll() is None:
            a_deploy.kill()
    assert "1.1.0+1.0.0" in env_file.read_text()

    # 2. A holder killed with SIGKILL: its lock is seen, broken by B with `app unlock`, and recorded.
    env_file.write_text(env_file.read_text().replace("GREETING=hello", "GREETING=bonjour"))
    killed = subprocess.Popen(
        [*COOP, "app", "deploy", app, "--force", "--no-input"],
        env=env_a,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_lock(coop, app, env_b)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            killed.kill()
    r = coop("app", "deploy", app, "--force", "--no-input", env=env_b)
    assert r.code == 9 and f"pid {killed.pid}" in r.err, r
    assert coop("app", "unlock", app, "--no-input", env=env_b).code == 0
    r = coop("app", "deploy", app, "--force", "--no-input", env=env_b)  # B finishes the job
    assert r.code == 0, r

    # 3. A stale env (B's copy one commit behind) is refused as a downgrade, naming both versions.
    stale = abra_b / "servers" / "default" / f"{app}.env"
    stale.unlink()
    stale.write_text(env_file.read_text().replace("1.1.0+1.0.0", "1.0.0+1.0.0"))
    r = coop("app", "deploy", app, "--force", "--no-input", env=env_b)
    assert r.code == 10, r
    [line] = [l for l in r.err.splitlines() if l.startswith("error:")]
    assert "1.0.0+1.0.0" in line and "1.1.0+1.0.0" in line and f"coop app deploy {app} 1.0.0+1.0.0" in line

    # 4. The history, read on A's machine, shows both operators.
    r = coop("app", "history", app, "--json", env=env_a)
    assert r.code == 0, r
    events = [(e["who"], e["command"], e["result"]) for e in json.loads(r.out)]
    assert sorted(events) == sorted(
        [
            ("alice@coop.example", "secret generate", "ok"),  # app new --secrets
            ("alice@coop.example", "deploy", "ok"),
            ("alice@coop.example", "deploy", "ok"),  # 1.0.0 -> 1.1.0, while bob was refused
            ("alice@coop.example", "deploy", "did not finish"),  # SIGKILLed while it held the lock
            ("bob@coop.example", "deploy", "refused"),  # alice held the lock
            ("bob@coop.example", "deploy", "refused"),  # the killed holder's lock
            ("bob@coop.example", "unlock", "ok"),
            ("bob@coop.example", "deploy", "ok"),
            ("bob@coop.example", "deploy", "refused"),  # the downgrade
        ]
    )
    doc = json.loads(r.out)
    upgrade = [e for e in doc if e["who"] == "alice@coop.example" and e["command"] == "deploy"][1]
    assert (upgrade["version_from"], upgrade["version_to"]) == ("1.0.0+1.0.0", "1.1.0+1.0.0")
    assert "pid" in next(e for e in doc if e["command"] == "unlock")["detail"]


def test_ctrl_c_and_sigterm_release_the_lock_and_are_recorded_as_interrupted(
    coop, coop_env, tmp_path, stack_name, local_engine_socket, registry
):
    from live_app import free_port, new_app

    assert coop("server", "add", "--local").code == 0
    gate = tmp_path / "gate"
    gate.mkdir()
    files = gated_release(free_port(), gate)
    newer = {"compose.yml": files["compose.yml"].replace("1.1.0+1.0.0", "1.2.0+1.0.0")}
    app = new_app(coop, tmp_path, stack_name, "default", files, tags=(("1.1.0+1.0.0", {}), ("1.2.0+1.0.0", newer)))
    assert coop("app", "deploy", app, "1.1.0+1.0.0").code == 0
    env = dict(coop_env, COOP_OPERATOR="carol@coop.example")
    (gate / "hold").touch()  # every new task waits: no command below can finish before its signal
    try:
        interrupt_restart_and_upgrade(coop, coop_env, env, app)
    finally:
        (gate / "hold").unlink()


def interrupt_restart_and_upgrade(coop, coop_env: dict, env: dict, app: str) -> None:
    # Ctrl-C at the terminal, then SIGTERM as from a killed CI job: both unwind and release the lock.
    for sig, named in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        restart = subprocess.Popen(
            [*COOP, "app", "restart", app, "--all", "--no-input"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_lock(coop, app, coop_env)
            restart.send_signal(sig)
            out, err = restart.communicate(timeout=60)
        finally:
            if restart.poll() is None:
                restart.kill()
        assert restart.returncode == 130, (out, err)
        assert f"error: interrupted ({named})" in err
        assert json.loads(coop("app", "lock", app, "--json").out)["locked"] is False
        event = [e for e in json.loads(coop("app", "history", app, "--json").out) if e["command"] == "restart"][-1]
        assert (event["who"], event["result"]) == ("carol@coop.example", "interrupted")
        assert named in event["detail"]

    # Ctrl-C while an upgrade waits for its new task: swarm keeps the change, coop says so and stops.
    upgrade = subprocess.Popen(
        [*COOP, "app", "deploy", app, "1.2.0+1.0.0", "--no-input"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while "1.2.0+1.0.0" not in service_version(f"{app}_app"):
            assert time.time() < deadline and upgrade.poll() is None, "the upgrade never reached the swarm"
            time.sleep(0.2)
        upgrade.send_signal(signal.SIGINT)
        out, err = upgrade.communicate(timeout=60)
    finally:
        if upgrade.poll() is None:
            upgrade.kill()
    assert upgrade.returncode == 130, (out, err)
    assert f"app {app}: 1.2.0+1.0.0 was applied and swarm goes on rolling it out unwatched" in err
    assert f"coop app rollback {app}" in err
    assert service_version(f"{app}_app") == "1.2.0+1.0.0"  # not put back
    assert "1.2.0" not in (Path(coop_env["ABRA_DIR"]) / "servers" / "default" / f"{app}.env").read_text()
    assert json.loads(coop("app", "lock", app, "--json").out)["locked"] is False
    event = [e for e in json.loads(coop("app", "history", app, "--json").out) if e["command"] == "deploy"][-1]
    assert event["result"] == "interrupted" and "goes on rolling it out unwatched" in event["detail"]


def service_version(service: str) -> str:
    """The version label of a live service ("" before it exists)."""
    p = subprocess.run(
        ["docker", "service", "inspect", service, "--format", "{{json .Spec.Labels}}"], capture_output=True, text=True
    )
    labels = json.loads(p.stdout) if p.returncode == 0 else {}
    return next((v for k, v in labels.items() if k.startswith("coop-cloud.") and k.endswith(".version")), "")
