"""`coop app move`: an app with a real PostgreSQL database and uploaded files moves from the rig's
single-node server to the 3-node swarm (rig/multinode), with its rows, files and secret values; a
target that cannot run it puts the app back where it was."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backup_app import REG, RESTIC_IMAGE, backup_images  # noqa: F401
from conftest import MultiNode, remove_multinode_stack
from coopcloud.cli.main import main
from recipe_factory import make_recipe_repo

pytestmark = pytest.mark.integration

ROWS = 3000
PG_CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t"
FILES_SUM = "cd /data && find . -type f | sort | xargs sha256sum"


def _recipe(pinned_to: str | None = None, timeout: int = 60) -> dict[str, str]:
    """The app; with `pinned_to`, a third service (no volumes) that only that node can run."""
    pinned = (
        f"""  pinned:
    image: {REG}/coop-test/web:1.0.0
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: [node.hostname == {pinned_to}]
"""
        if pinned_to
        else ""
    )
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/web:1.0.0
    volumes: [files:/data]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "echo | nc -w 1 127.0.0.1 8080"]
      interval: 1s
      timeout: 1s
      retries: 5
    deploy:
      placement:
        constraints: [node.role == manager]
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+1.0.0"
        - "coop-cloud.${{STACK_NAME}}.timeout={timeout}"
      update_config: {{monitor: 1s}}
  db:
    image: {REG}/coop-test/postgres:15
    environment:
      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password
      - POSTGRES_DB=app
    secrets: [db_password]
    volumes: [pgdata:/var/lib/postgresql/data, dumps:/dumps]
    stop_grace_period: 5s
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres", "-d", "app"]
      interval: 1s
      timeout: 2s
      retries: 30
    deploy:
      placement:
        constraints: [node.role == manager]
      labels:
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=pg_dump -U postgres app > /dumps/app.sql"
        - "backupbot.backup.post-hook=echo moved >> /dumps/post-hook.log"
      update_config: {{monitor: 1s}}
{pinned}volumes:
  files:
  pgdata:
  dumps:
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
""",
        ".env.sample": "TYPE=moveapp\nDOMAIN=moveapp.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=24\n",
        "abra.sh": "",
        "README.md": "# moveapp\n",
    }


def _docker(*args: str, engine: str | None = None) -> str:
    host = ["-H", engine] if engine else []
    return subprocess.run(["docker", *host, *args], capture_output=True, text=True, check=True, timeout=120).stdout


def _container(service: str, engine: str | None = None) -> str:
    found = _docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}", engine=engine).split()
    assert found, f"no running container of {service}"
    return found[0]


def _exec(container: str, script: str, engine: str | None = None) -> str:
    return _docker("exec", container, "sh", "-c", script, engine=engine)


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _answer_no(env: dict, *argv: str) -> tuple[int, str]:
    """Run coop at a (pretend) terminal that answers N to its question."""
    err = io.StringIO()
    code = main(list(argv), environ=env, stdout=_TTY(), stderr=err, stdin=_TTY("n\n"))
    return int(code), err.getvalue()


def _state(stack: str, engine: str | None = None) -> dict[str, str]:
    db, app = _container(f"{stack}_db", engine), _container(f"{stack}_app", engine)
    return {
        "rows": _exec(db, f'psql -U postgres -d app -tA -c "{PG_CHECKSUM}"', engine).strip(),
        "files": _exec(app, FILES_SUM, engine),
        "secret": _exec(db, "cat /run/secrets/db_password", engine),
    }


@pytest.fixture
def two_servers(coop, coop_env, local_server, multinode: MultiNode, backup_images):
    """`coop` that reaches the rig's engine (server `default`) and the 3-node swarm's manager `coop-m1`."""
    env = dict(coop_env, COOP_SSH_CONFIG=multinode.ssh_config, COOP_RESTIC_IMAGE=RESTIC_IMAGE)

    def run(*argv: str, **kw):
        return coop(*argv, env=env, **kw)

    assert run("server", "add", "coop-m1").code == 0
    run.env = env  # type: ignore[attr-defined]
    return run


@pytest.fixture
def moved_stack(stack_name, multinode: MultiNode):
    yield stack_name
    remove_multinode_stack(multinode, stack_name)


def _new_app(run, tmp_path: Path, stack: str, files: dict[str, str]) -> None:
    repo = make_recipe_repo(tmp_path / "recipe", files, [("1.0.0+1.0.0", {})])
    r = run(
        "app", "new", str(repo), "--server", "default", "--domain", f"{stack}.example.org", "--name", stack, "--secrets"
    )
    assert r.code == 0, r
    r = run("app", "deploy", stack, "--no-input")
    assert r.code == 0, r
    db = _container(f"{stack}_db")
    _exec(
        db,
        f"psql -U postgres -d app -c 'CREATE TABLE t (id int primary key, v text)' "
        f'-c "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g"',
    )
    _exec(
        _container(f"{stack}_app"),
        "mkdir -p /data/up/deep && echo hello > /data/up/a.txt && "
        "head -c 2000000 /dev/urandom > /data/up/deep/big.bin && ln -sf a.txt /data/up/link",
    )


def test_an_app_with_postgres_and_files_moves_to_the_three_node_swarm(two_servers, tmp_path, moved_stack, multinode):
    run, stack = two_servers, moved_stack
    _new_app(run, tmp_path, stack, _recipe())
    before = _state(stack)
    assert before["rows"].startswith(f"{ROWS}:")

    r = run("app", "move", stack, "coop-m1", "--dry-run", "--json")
    assert r.code == 0, r
    plan = json.loads(r.out)
    assert plan["target"] == "coop-m1" and plan["secrets"] == [f"{stack}_db_password_v1"]
    assert {v["volume"] for v in plan["volumes"]} == {f"{stack}_files", f"{stack}_pgdata", f"{stack}_dumps"}
    assert {v["target_node"] for v in plan["volumes"]} == {"coop-m1"}
    assert (
        multinode.docker("m1", "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").stdout
        == ""
    )

    code, err = _answer_no(two_servers.env, "app", "move", stack, "coop-m1")  # type: ignore[attr-defined]
    assert code == 14 and err.endswith(": cancelled, nothing changed\n"), err
    assert multinode.docker("m1", "secret", "ls", "-q", "--filter", f"name={stack}_").stdout == ""

    r = run("app", "move", stack, "coop-m1", "--no-input", "--debug")
    assert r.code == 0, r
    assert "down for" in r.out
    secret = before["secret"].strip()
    assert len(secret) == 24 and secret not in r.out + r.err  # the value passes through coop's memory only
    history_json = run("app", "history", stack, "--json").out
    assert secret not in history_json
    m1 = multinode.sockets["m1"]
    assert _state(stack, m1) == before  # every row, every file, the secret's value
    assert "moved" in _exec(_container(f"{stack}_db", m1), "cat /dumps/post-hook.log", m1)
    abra = tmp_path / "abra" / "servers"
    assert (abra / "coop-m1" / f"{stack}.env").exists() and not (abra / "default" / f"{stack}.env").exists()
    assert _docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}") == ""
    kept = _docker("volume", "ls", "-q", "--filter", f"name={stack}_").split()
    assert {f"{stack}_files", f"{stack}_pgdata"} <= set(kept)  # the source keeps its data
    ps = run("app", "ps", stack)
    assert ps.code == 0 and "running" in ps.out, ps
    for server in ("default", "coop-m1"):
        history = json.loads(run("server", "history", server, "--json").out)
        assert any(e["command"] == "move" and e["app"] == stack and e["result"] == "ok" for e in history), history
    helpers = f"label=coop.move={stack}"  # this move's: another run's may come and go meanwhile
    assert _docker("service", "ls", "-q", "--filter", helpers) == ""
    assert multinode.docker("m1", "service", "ls", "-q", "--filter", helpers).stdout == ""


def test_a_target_that_cannot_run_the_app_puts_it_back_on_the_source(two_servers, tmp_path, moved_stack, multinode):
    run, stack = two_servers, moved_stack
    host = _docker("info", "--format", "{{.Name}}").strip()
    # The target fails on its own condition: a task it cannot place is reported after half the timeout
    # (converge.UNSCHEDULABLE_AFTER). The timeout is also what the deploys on the source get (the first,
    # with PostgreSQL's initdb, and the one that puts the app back): 15 s was too tight for a 2-core
    # machine shared by 3 test workers.
    _new_app(run, tmp_path, stack, _recipe(pinned_to=host, timeout=40))
    before = _state(stack)
    r = run("app", "move", stack, "coop-m1", "--no-input")
    assert r.code == 8, r
    assert "runs on default again" in r.err, r
    assert _state(stack) == before
    assert (tmp_path / "abra" / "servers" / "default" / f"{stack}.env").exists()
    label = f"label=com.docker.stack.namespace={stack}"
    assert multinode.docker("m1", "service", "ls", "-q", "--filter", label).stdout == ""
    assert multinode.docker("m1", "secret", "ls", "-q", "--filter", f"name={stack}_").stdout == ""
    assert multinode.docker("m1", "volume", "ls", "-q", "--filter", f"name={stack}_").stdout == ""


COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs


@pytest.mark.parametrize(
    ("when", "where"),
    [
        ("copying from", "it runs on default as before"),  # first pass: the source still runs
        ("deploying", "it runs on default again"),  # the source was stopped: started again
    ],
)
def test_ctrl_c_at_any_step_leaves_the_app_running_on_exactly_one_server(
    two_servers, coop_env, tmp_path, moved_stack, multinode, when, where
):
    run, stack = two_servers, moved_stack
    _new_app(run, tmp_path, stack, _recipe())
    before = _state(stack)
    env = dict(coop_env, COOP_SSH_CONFIG=multinode.ssh_config, COOP_RESTIC_IMAGE=RESTIC_IMAGE)
    proc = subprocess.Popen(
        [*COOP, "app", "move", stack, "coop-m1", "--no-input"], env=env, stderr=subprocess.PIPE, text=True
    )
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:  # the move says each step as it starts it: interrupt at that step
        seen.append(line)
        if when in line:
            proc.send_signal(signal.SIGINT)
            break
    seen += proc.stderr.readlines()
    assert proc.wait(timeout=240) == 130, "".join(seen)
    assert where in "".join(seen), "".join(seen)
    assert _state(stack) == before
    assert (tmp_path / "abra" / "servers" / "default" / f"{stack}.env").exists()
    label = f"label=com.docker.stack.namespace={stack}"
    assert multinode.docker("m1", "service", "ls", "-q", "--filter", label).stdout == ""
    assert multinode.docker("m1", "volume", "ls", "-q", "--filter", f"name={stack}_").stdout == ""
    helpers = f"label=coop.move={stack}"  # this move's: another run's may come and go meanwhile
    assert _docker("service", "ls", "-q", "--filter", helpers) == ""
    assert multinode.docker("m1", "service", "ls", "-q", "--filter", helpers).stdout == ""
    history = json.loads(run("app", "history", stack, "--json").out)
    assert history[-1]["command"] == "move" and history[-1]["result"] == "interrupted", history
