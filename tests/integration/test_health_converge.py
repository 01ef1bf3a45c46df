"""Health is part of convergence, on the real swarm: a release whose web container passes its first
healthchecks and then fails them for good is never "ok".

The shape that used to pass (issue 18): the container is healthy for ~2 s, then unhealthy; its PID 1
ignores SIGTERM (busybox httpd under `sh -c` with `trap '' TERM`), so with the default stop grace
period swarm spends 10 s stopping it while its task still reads `running`; swarm's own update monitor
(5 s, or 15 s) sees nothing wrong. coop reads the container's health on its node and fails at once.

The recipe is two services changed by the bad release: `app` (busybox httpd on a host port, serving
its image's version) and `db` (a long sleep standing in for a database).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from live_app import REG, free_port, get, image_tag, new_app, one_error_line, web_recipe, with_db

pytestmark = pytest.mark.integration

# Healthy ~2 s, then unhealthy for good; PID 1 (sh) ignores SIGTERM and does not pass it on.
TURNS_UNHEALTHY = "sh -c \"trap '' TERM; touch /tmp/ok; (sleep 2; rm /tmp/ok) & httpd -f -p 8080 -h /www; sleep 3600\""
GRACE = "    stop_grace_period: 1s\n"  # what live_app's quick_health sets; the bad release keeps docker's 10 s


def release(port: int, *, web: str, db: str, monitor: str = "1s", bad: bool = False) -> dict[str, str]:
    """The two-service recipe; `bad`: web turns unhealthy after ~2 s, default stop grace, `monitor`."""
    files = web_recipe(port, image_tag=web, healthcheck="test -f /tmp/ok" if bad else "echo | nc -w 1 127.0.0.1 8080")
    compose = files["compose.yml"]
    if bad:
        assert compose.count(GRACE) == 1
        compose = compose.replace(
            f"    image: {REG}/coop-test/web:{web}\n",
            f"    image: {REG}/coop-test/web:{web}\n    command: {json.dumps(TURNS_UNHEALTHY)}\n",
        )
        compose = compose.replace(GRACE, "")
        compose = compose.replace("        monitor: 1s\n", f"        monitor: {monitor}\n")
    files["compose.yml"] = with_db(compose, db)
    return files


def env_file(tmp_path: Path, stack: str) -> Path:
    return tmp_path / "abra" / "servers" / "default" / f"{stack}.env"


@pytest.mark.parametrize(("monitor", "tries"), [("5s", 3), ("15s", 2)])
def test_an_upgrade_to_a_release_that_turns_unhealthy_is_rolled_back_on_every_try(
    coop, tmp_path, stack_name, local_server, monitor, tries
):
    port = free_port()
    good = release(port, web="1.0.0", db="10.5")
    bad = release(port, web="1.1.0", db="10.6", monitor=monitor, bad=True)
    new_app(
        coop,
        tmp_path,
        stack_name,
        "default",
        good,
        tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": bad["compose.yml"]})],
    )
    r = coop("app", "deploy", stack_name, "1.0.0+1.0.0")
    assert r.code == 0, r
    for attempt in range(tries):
        r = coop("app", "upgrade", stack_name, "--no-input")
        assert r.code == 8, (attempt, r.err)
        line = one_error_line(r.err)
        assert f"release 1.1.0+1.1.0 failed (service {stack_name}_app: unhealthy" in line, line
        assert "every service was rolled back to 1.0.0+1.0.0" in line, line
        assert "health: exit 1" in r.err, r.err  # the last healthcheck runs, above the line
        assert (image_tag(stack_name, "app"), image_tag(stack_name, "db")) == ("1.0.0", "10.5")
        assert "coop-test/web:1.0.0" in get(port)
        assert f"TYPE=recipe-{stack_name}:1.0.0+1.0.0" in env_file(tmp_path, stack_name).read_text()
    r = coop("app", "history", stack_name, "--json")
    assert r.code == 0, r
    assert not [e for e in json.loads(r.out) if e.get("to") == "1.1.0+1.1.0" and e.get("result") == "ok"], r.out


def test_a_first_deploy_of_a_release_that_turns_unhealthy_exits_7_and_pins_nothing(
    coop, tmp_path, stack_name, local_server
):
    port = free_port()
    bad = release(port, web="1.1.0", db="10.6", monitor="5s", bad=True)
    new_app(coop, tmp_path, stack_name, "default", bad, tags=[("1.1.0+1.1.0", {})])
    before = env_file(tmp_path, stack_name).read_text()
    r = coop("app", "deploy", stack_name, "--no-input")
    assert r.code == 7, r
    line = one_error_line(r.err)
    assert f"service {stack_name}_app failed: unhealthy" in line, line
    assert env_file(tmp_path, stack_name).read_text() == before  # as `app new` wrote it
    assert "health: exit 1" in r.err, r.err
    assert not (env_file(tmp_path, stack_name).parent / f"{stack_name}.lock.json").exists()


def test_a_crash_loop_is_shown_as_such_and_a_redeploy_is_never_nothing_changed(
    coop, tmp_path, stack_name, local_server
):
    files = web_recipe(free_port(), command="sh -c 'sleep 1; exit 3'")
    new_app(coop, tmp_path, stack_name, "default", files)
    r = coop("app", "deploy", stack_name, "--no-input")
    assert r.code == 7, r  # a first deploy: its services are left for `app errors`, and swarm keeps restarting them
    r = coop("app", "ps", stack_name)
    assert r.code == 0, r
    assert "crash loop (" in r.out and "restarts in 5 min" in r.out, r.out
    assert "service app: crash loop, last: " in r.err and "exit code 3" in r.err, r.err
    r = coop("app", "ls", "--status", "--json")
    assert r.code == 0, r
    assert [a["status"] for a in json.loads(r.out) if a["app"] == stack_name] == ["crash loop"], r.out
    r = coop("app", "deploy", stack_name, "--force", "--no-input")
    assert r.code == 7, r
    assert "nothing changed" not in r.out + r.err
    line = one_error_line(r.err)
    assert f"service {stack_name}_app failed: crash loop: " in line, line
    assert "state: crash loop: " in r.out + r.err, (r.out, r.err)  # the plan says why it redeploys


# Healthy for good on its first start; after a restart (a marker in its volume), healthy ~2 s then not.
UNHEALTHY_AFTER_RESTART = (
    "sh -c \"trap '' TERM; touch /tmp/ok; if [ -f /data/ran ]; then (sleep 2; rm /tmp/ok) & fi; "
    'touch /data/ran; httpd -f -p 8080 -h /www; sleep 3600"'
)


def test_app_restart_waits_for_health_too(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port(), healthcheck="test -f /tmp/ok", command=UNHEALTHY_AFTER_RESTART)
    compose = files["compose.yml"].replace(GRACE, "")
    compose = compose.replace(
        "    networks: [proxy, internal]\n", "    networks: [proxy, internal]\n    volumes:\n      - data:/data\n"
    )
    compose = compose.replace("        monitor: 1s\n", "        monitor: 5s\n")  # the shape: docker's 5 s
    files["compose.yml"] = compose + "volumes:\n  data:\n"
    new_app(coop, tmp_path, stack_name, "default", files)
    r = coop("app", "deploy", stack_name, "--no-input")
    assert r.code == 0, r
    r = coop("app", "restart", stack_name, "app")
    assert r.code == 7, r
    line = one_error_line(r.err)
    assert f"app {stack_name}: service app did not start again: unhealthy: " in line, line
    assert "health: exit 1" in r.err, r.err
