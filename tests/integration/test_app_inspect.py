"""`coop app ps|logs|errors|services|restart|run|cp|volume` against a stack on the rig.

The stack is deployed with `docker stack deploy` (not coop's deploy), which
also proves coop manages what the docker CLI made (DESIGN.md §3.5).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
import uuid

import pytest

from conftest import remove_stack

pytestmark = pytest.mark.integration

WEB = "127.0.0.1:5000/coop-test/web:1.0.0"
DB = "127.0.0.1:5000/coop-test/db:10.5"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose(port: int, *, failing: bool = True) -> str:
    failing_services = (
        f"""
  job:
    image: {DB}
    command: ["sh", "-c", "echo job starting; echo job broke >&2; exit 3"]
    deploy:
      endpoint_mode: dnsrr
      restart_policy: {{condition: on-failure, delay: 1s, max_attempts: 2}}
  sick:
    image: {DB}
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "exit 1"]
      interval: 1s
      timeout: 1s
      retries: 1
    deploy:
      endpoint_mode: dnsrr
      restart_policy: {{condition: on-failure, delay: 1s, max_attempts: 1}}
"""
        if failing
        else ""
    )
    return f"""
version: "3.8"
services:
  app:
    image: {WEB}
    healthcheck:
      test: ["CMD-SHELL", "echo | nc -w 1 127.0.0.1 8080"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 2s
    ports:
      - {{target: 8080, published: {port}, mode: host}}
    volumes:
      - data:/data
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
      update_config: {{monitor: 1s}}  # coop's stability window after a restart (docker's default 5 s)
      labels:
        coop-cloud.test.role: web
  db:
    image: {DB}
    command: ["sh", "-c", "echo db ready; echo db warning >&2; exec sleep 2147483647"]
    stop_grace_period: 1s
    deploy:
      endpoint_mode: dnsrr
      update_config: {{monitor: 1s}}
{failing_services}
volumes:
  data:
"""


def deploy_stack(stack: str, tmp_path, port: int, *, failing: bool = True) -> None:
    path = tmp_path / f"{stack}.yml"
    path.write_text(compose(port, failing=failing))
    subprocess.run(["docker", "stack", "deploy", "-c", str(path), stack], check=True, capture_output=True)
    wait_running(stack, ["app", "db"])


def wait_running(stack: str, services: list[str], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ok = True
        for svc in services:
            out = subprocess.run(
                [
                    "docker",
                    "service",
                    "ps",
                    f"{stack}_{svc}",
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.CurrentState}}",
                ],
                capture_output=True,
                text=True,
            ).stdout
            if not out.startswith("Running"):
                ok = False
        if ok:
            return
        time.sleep(0.5)
    raise AssertionError(f"stack {stack}: {services} not running after {timeout}s")


def wait_given_up(stack: str, service: str, *, tasks: int, timeout: float = 60) -> None:
    """Until swarm has stopped restarting `service`: all its `tasks` tasks are meant to be shut down."""
    deadline = time.time() + timeout
    while True:
        desired = subprocess.run(
            ["docker", "service", "ps", f"{stack}_{service}", "--format", "{{.DesiredState}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if desired == ["Shutdown"] * tasks:
            return
        if time.time() > deadline:
            raise AssertionError(f"stack {stack}: {service} still restarting after {timeout}s: {desired}")
        time.sleep(0.5)


def add_app(env: dict, server: str, stack: str) -> None:
    from pathlib import Path

    folder = Path(env["ABRA_DIR"]) / "servers" / server
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stack}.env").write_text("TYPE=test\n")


def make_runner(env: dict):
    from coopcloud.cli.app import app
    from coopcloud.cli.app_inspect import register
    from coopcloud.cli.main import main

    if "ps" not in app.commands:  # until cli/app.py registers them itself
        register(app)

    class R:
        def __init__(self, code, out, err):
            self.code, self.out, self.err = code, out, err

        def __repr__(self):
            return f"R(code={self.code}, out={self.out!r}, err={self.err!r})"

    def run(*argv: str, stdin: str = "") -> R:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), environ=env, stdout=out, stderr=err, stdin=io.StringIO(stdin))
        return R(int(code), out.getvalue(), err.getvalue())

    return run


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, local_engine_socket, registry):
    """One stack for the read-only tests: app (web, healthy, host port, volume), db, job (exits 3), sick."""
    import os

    tmp = tmp_path_factory.mktemp("inspect")
    stack = f"tinspect_{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABRA_", "DOCKER_", "COOP_"))}
    env["ABRA_DIR"] = str(tmp / "abra")
    env["DOCKER_CONFIG"] = str(tmp / "docker")
    port = _free_port()
    try:
        deploy_stack(stack, tmp, port)
        coop = make_runner(env)
        assert coop("server", "add", "--local").code == 0
        add_app(env, "default", stack)
        yield stack, coop, port, tmp
    finally:
        remove_stack(stack)


def test_ps_json_and_table(deployed):
    stack, coop, port, _ = deployed
    r = coop("app", "ps", stack, "--json")
    assert r.code == 0, r
    rows = {row["service"]: row for row in json.loads(r.out)}
    assert set(rows) == {"app", "db", "job", "sick"}
    app = rows["app"]
    assert app["name"] == f"{stack}_app"
    assert app["image_display"] == WEB
    assert app["image"].startswith(WEB)  # the digest, when pinned, stays in JSON
    assert app["running"] == 1 and app["desired"] == 1
    assert [t["state"] for t in app["tasks"]] == ["running"]
    assert app["tasks"][0]["node"] == socket.gethostname() or app["tasks"][0]["node"]
    assert {"published": port, "target": 8080, "protocol": "tcp", "mode": "host"}.items() <= app["ports"][0].items()
    r = coop("app", "ps", stack)
    assert r.code == 0, r
    line = next(l for l in r.out.splitlines() if l.startswith("app "))
    assert WEB in line and "@sha256" not in line and "1/1" in line and f"{port}:8080/tcp (host)" in line


def test_ps_makes_five_requests_in_one_round_trip(deployed, monkeypatch):
    from coopcloud import engine
    from coopcloud.domain.app import AppRef
    from coopcloud.ops.app import ps as ops_ps

    stack = deployed[0]
    with engine.connect("unix:///var/run/docker.sock") as client:
        client.ping()
        before = client.requests
        ops_ps.ps(client, AppRef("default", stack))
        # /_ping version negotiation + services, tasks, tasks of the current specs, nodes, info (pipelined)
        assert client.requests - before == 6


def test_services(deployed):
    stack, coop, _, _ = deployed
    r = coop("app", "services", stack, "--json")
    assert r.code == 0, r
    rows = {row["service"]: row for row in json.loads(r.out)}
    assert rows["app"]["labels"]["coop-cloud.test.role"] == "web"
    assert rows["app"]["labels"]["com.docker.stack.namespace"] == stack
    assert rows["db"]["mode"] == "replicated" and rows["db"]["desired"] == 1
    r = coop("app", "services", stack)
    assert r.code == 0 and f"{stack}_db" in r.out and "replicated (1)" in r.out


def test_logs_one_and_all(deployed):
    stack, coop, _, _ = deployed
    r = coop("app", "logs", stack, "db")
    assert r.code == 0, r
    assert "db ready" in r.out and "db warning" in r.err and "db |" not in r.out
    r = coop("app", "logs", stack, "--tail", "5")
    assert r.code == 0, r
    assert "db | db ready" in r.out
    r = coop("app", "logs", stack, "db", "--since", "1h", "-t")
    assert r.code == 0 and "Z db ready" in r.out
    r = coop("app", "logs", stack, "nosuch")
    assert r.code == 3 and "no service nosuch" in r.err and r.err.count("\n") == 1


def test_logs_follow_stops_cleanly(deployed):
    from coopcloud import engine
    from coopcloud.domain.app import AppRef
    from coopcloud.ops.app import logs as ops_logs

    stack = deployed[0]
    with engine.connect("unix:///var/run/docker.sock") as client:
        lines = ops_logs.logs(client, AppRef("default", stack), follow=True, tail="all")
        seen = []
        start = time.monotonic()
        for line in lines:
            seen.append(line)
            if any(l.service == "db" and l.text == "db ready" for l in seen):
                break
        lines.close()  # what Ctrl-C does in the CLI
        assert time.monotonic() - start < 10
        # the main connection is still usable
        assert client.ping() == "OK"


def test_errors(deployed):
    stack, coop, _, _ = deployed
    deadline = time.time() + 40
    while True:
        r = coop("app", "errors", stack, "--json")
        assert r.code == 0, r
        found = json.loads(r.out)
        kinds = {(e["service"], e["kind"]) for e in found}
        if (("job", "exit") in kinds and ("sick", "unhealthy") in kinds) or time.time() > deadline:
            break
        time.sleep(1)
    job = next(e for e in found if e["service"] == "job")
    assert job["exit_code"] == 3 and job["state"] == "failed"
    assert ("sick", "unhealthy") in kinds, found
    assert not any(e["service"] in ("app", "db") for e in found)
    r = coop("app", "errors", stack)
    assert r.code == 0 and "job" in r.out and "non-zero exit (3)" in r.out


def test_run_exit_code_and_output(deployed):
    stack, coop, _, _ = deployed
    r = coop("app", "run", stack, "app", "--", "sh", "-c", "echo hello; echo oops >&2; exit 7")
    assert r.code == 7, r
    assert r.out == "hello\n" and r.err == "oops\n"
    r = coop("app", "run", stack, "db", "cat", stdin="from stdin\n")
    assert r.code == 0 and r.out == "from stdin\n", r
    r = coop("app", "run", stack, "app", "--user", "1234", "--", "id", "-u")
    assert r.code == 0 and r.out.strip() == "1234", r
    r = coop("app", "run", stack, "app", "--", "echo | nc -w 1 127.0.0.1 8080")
    assert r.code != 0  # no such executable: the engine's exit code, not coop's
    wait_given_up(stack, "job", tasks=3)  # swarm starts it 1 + max_attempts times: till then it may run
    r = coop("app", "run", stack, "job", "--", "true")
    assert r.code == 3 and "no running container" in r.err and r.err.count("\n") == 1, r
    r = coop("app", "run", stack, "nosuch", "--", "true")
    assert r.code == 3 and "no service nosuch" in r.err, r


def test_cp_both_directions(deployed, tmp_path):
    stack, coop, _, _ = deployed
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello \xe2\x9c\x93\n" * 1000)
    r = coop("app", "cp", stack, str(src), "app:/tmp/")
    assert r.code == 0, r
    r = coop("app", "run", stack, "app", "--", "cat", "/tmp/hello.txt")
    assert r.code == 0 and r.out.encode() == src.read_bytes(), r.err
    back = tmp_path / "back.txt"
    r = coop("app", "cp", stack, "app:/tmp/hello.txt", str(back))
    assert r.code == 0, r
    assert back.read_bytes() == src.read_bytes()
    # a directory, into an existing local directory
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a").write_text("A")
    assert coop("app", "cp", stack, str(folder), "app:/tmp/copied").code == 0
    out = tmp_path / "out"
    out.mkdir()
    assert coop("app", "cp", stack, "app:/tmp/copied", str(out)).code == 0
    assert (out / "copied" / "sub" / "a").read_text() == "A"
    r = coop("app", "cp", stack, "app:/nonexistent", str(out))
    assert r.code == 3 and "does not exist" in r.err
    r = coop("app", "cp", stack, str(src), str(out))
    assert r.code == 2 and "SERVICE:/path" in r.err


def test_volume_ls(deployed):
    stack, coop, _, _ = deployed
    r = coop("app", "volume", "ls", stack, "--json")
    assert r.code == 0, r
    assert [v["volume"] for v in json.loads(r.out)] == ["data"]
    r = coop("app", "volume", "rm", stack, "data", "--yes")
    assert r.code == 10 and "undeploy" in r.err, r


def test_not_deployed_and_unknown_app(coop, local_engine_socket, coop_env, stack_name):
    make_runner(coop_env)
    assert coop("server", "add", "--local").code == 0
    add_app(coop_env, "default", stack_name)
    r = coop("app", "ps", stack_name)
    assert r.code == 3 and f"app {stack_name} is not deployed on server default" in r.err and "coop app deploy" in r.err
    r = coop("app", "ps", "nosuch.example.org")
    assert r.code == 3 and "coop app ls" in r.err


def test_restart_replaces_tasks(coop, coop_env, stack_name, tmp_path, local_engine_socket, registry):
    make_runner(coop_env)
    deploy_stack(stack_name, tmp_path, _free_port(), failing=False)
    assert coop("server", "add", "--local").code == 0
    add_app(coop_env, "default", stack_name)

    def running_ids():
        rows = {r["service"]: r for r in json.loads(coop("app", "ps", stack_name, "--json").out)}
        return {s: [t["id"] for t in r["tasks"] if t["state"] == "running"] for s, r in rows.items()}

    before = running_ids()
    r = coop("app", "restart", stack_name, "app", "--json")
    assert r.code == 0, r
    done = json.loads(r.out)
    assert done[0]["service"] == "app" and done[0]["before"] == before["app"]
    after = running_ids()
    assert after["app"] and set(after["app"]).isdisjoint(before["app"])
    assert after["db"] == before["db"]  # only the named service restarted
    r = coop("app", "restart", stack_name, "--all")
    assert r.code == 0 and "service db restarted" in r.out and "service app restarted" in r.out, r
    assert set(running_ids()["db"]).isdisjoint(before["db"])
    r = coop("app", "restart", stack_name)
    assert r.code == 2 and "--all" in r.err


def test_restart_timeout_is_one_clear_line(coop, coop_env, stack_name, tmp_path, local_engine_socket, registry):
    make_runner(coop_env)
    deploy_stack(stack_name, tmp_path, _free_port(), failing=False)
    assert coop("server", "add", "--local").code == 0
    add_app(coop_env, "default", stack_name)
    r = coop("app", "restart", stack_name, "app", "--timeout", "0.1")
    assert r.code == 7, r
    errors = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.err
    assert f"app {stack_name}: not running again after 0.1s (app 0/1 running)" in r.err


def test_volume_rm_after_undeploy(coop, coop_env, stack_name, tmp_path, local_engine_socket, registry):
    make_runner(coop_env)
    deploy_stack(stack_name, tmp_path, _free_port(), failing=False)
    assert coop("server", "add", "--local").code == 0
    add_app(coop_env, "default", stack_name)
    subprocess.run(["docker", "stack", "rm", stack_name], check=True, capture_output=True)
    deadline = time.time() + 30
    while (
        subprocess.run(
            ["docker", "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack_name}"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        and time.time() < deadline
    ):
        time.sleep(0.5)
    r = coop("app", "volume", "rm", stack_name, "data", "--no-input")
    assert r.code == 2 and "pass --yes" in r.err, r
    r = coop("app", "volume", "rm", stack_name, "dta", "--yes")
    assert r.code == 3 and "its volumes: data; did you mean: data?" in r.err, r
    r = coop("app", "volume", "rm", stack_name, "data", stdin="n\n")
    assert r.code == 2  # stdin is not a TTY: no prompt, the flag is named
    r = coop("app", "volume", "rm", stack_name, "data", "--force")
    assert r.code == 2 and "pass --yes" in r.err  # --force answers no question
    r = coop("app", "volume", "rm", stack_name, "--all", "--yes")
    assert r.code == 0 and "removed 1 volume (data)" in r.out, r
    assert json.loads(coop("app", "volume", "ls", stack_name, "--json").out) == []


def test_over_ssh(coop, coop_env, stack_name, tmp_path, rig_ssh_config, local_engine_socket, registry):
    make_runner(coop_env)
    deploy_stack(stack_name, tmp_path, _free_port(), failing=False)
    r = coop("server", "add", "coop-test")
    assert r.code == 0, r
    add_app(coop_env, "coop-test", stack_name)
    r = coop("app", "ps", stack_name, "--json")
    assert r.code == 0, r
    assert {row["service"] for row in json.loads(r.out)} == {"app", "db"}
    r = coop("app", "logs", stack_name, "db")
    assert r.code == 0 and "db ready" in r.out, r
    r = coop("app", "run", stack_name, "app", "--", "sh", "-c", "echo over ssh; exit 4")
    assert r.code == 4 and r.out == "over ssh\n", r
    src = tmp_path / "f.txt"
    src.write_text("via ssh\n")
    assert coop("app", "cp", stack_name, str(src), "app:/tmp/f.txt").code == 0
    back = tmp_path / "g.txt"
    assert coop("app", "cp", stack_name, "app:/tmp/f.txt", str(back)).code == 0
    assert back.read_text() == "via ssh\n"
