"""Two operators, one server: the app lock and the audit trail on a real swarm (socket and ssh)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from coopcloud.errors import LockHeld
from coopcloud.ops import audit, lock

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
            event = audit.Event(when=f"2026-11-29T22:4{i}:00Z", who=f"op{i}", command="deploy", app="a",
                                server="s", result=audit.OK, version_to=f"1.{i}.0+1")
            audit.record(engine, stack_name, event, keep=3)
        audit.record(engine, other, audit.Event.now(who="x", command="undeploy", app="o", server="s", result=audit.FAILED))
        assert [e.who for e in audit.history(engine, stack_name)] == ["op2", "op3", "op4"]
        everything = audit.history(engine)
        assert {"op4", "x"} <= {e.who for e in everything}
        assert [e.when for e in everything] == sorted(e.when for e in everything)
    finally:
        out = subprocess.run(["docker", "config", "ls", "-q", "--filter", f"label=coop.audit={other}"],
                             capture_output=True, text=True).stdout.split()
        if out:
            subprocess.run(["docker", "config", "rm", *out], capture_output=True)


HOLDER = """
import sys, time
from coopcloud.engine import connect
from coopcloud.ops import lock
client = connect("unix:///var/run/docker.sock", name="default")
lock.acquire(client, app=sys.argv[1], stack=sys.argv[2], command="deploy", operator="alice@coop.example")
print("locked", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_is_seen_broken_with_unlock_and_recorded(coop, coop_env, tmp_path, stack_name, local_engine_socket):
    """Operator A's command is SIGKILLed while it holds the lock; operator B (another ABRA_DIR,
    the same env file) is refused, sees the lock, breaks it; A's machine then shows B's events."""
    assert coop("server", "add", "--local").code == 0
    app = stack_name  # named as its stack, so the test's cleanup finds its trail
    env_dir = tmp_path / "abra" / "servers" / "default"
    (env_dir / f"{app}.env").write_text(f"TYPE=webapp:1.0.0+1.0.0\nDOMAIN={app}.example.org\n")
    env_b = dict(coop_env, ABRA_DIR=str(tmp_path / "abra-b"), COOP_OPERATOR="bob@coop.example")
    assert coop("server", "add", "--local", env=env_b).code == 0
    (tmp_path / "abra-b" / "servers" / "default" / f"{app}.env").symlink_to(env_dir / f"{app}.env")

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, app, app],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()

        r = coop("app", "undeploy", app, env=env_b)
        assert r.code == 9, r
        [line] = [l for l in r.err.splitlines() if l.startswith("error:")]
        assert f"alice@coop.example: deploy (pid {holder.pid}" in line and f"coop app unlock {app}" in line

        for argv in (("app", "restart", app, "--all"), ("app", "secret", "rm", app, "--all")):
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
