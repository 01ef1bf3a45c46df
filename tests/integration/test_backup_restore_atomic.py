"""A restore is all or nothing, on the real swarm with real PostgreSQL and real signals.

The database holds state C (what it has now); the snapshot holds state A. A restore interrupted, or
failing, at each of its points must leave C (and say "nothing was restored"), or A once the load it
started ends (and say so) — never a third state: not a partly loaded dump, not an older dump left in
the volume. The interruption points are deterministic: the recipe's restore hooks wait while a file
the test controls exists in the db container (`/tmp/hold-pre`, `/tmp/hold-post`), and each hook
leaves a file saying it started, which the test waits for before it sends the signal.
"""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backup_app import REG, backup_env, backup_images, files_app, local_server, own_repository, sh  # noqa: F401
from live_app import container_of, new_app, one_error_line

pytestmark = pytest.mark.integration

COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs
CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t"
PRE = "touch /tmp/pre-started; while [ -e /tmp/hold-pre ]; do sleep 0.1; done; [ ! -e /tmp/fail-pre ]"
LOAD = "gunzip -c /dumps/app.sql.gz | psql -q -U postgres -d app -v ON_ERROR_STOP=1"
POST = f"touch /tmp/post-started; while [ -e /tmp/hold-post ]; do sleep 0.1; done; {LOAD}; touch /tmp/post-done"


def recipe() -> dict[str, str]:
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  db:
    image: {REG}/coop-test/postgres:15
    environment:
      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password
      - POSTGRES_DB=app
    secrets: [db_password]
    volumes: [pgdata:/var/lib/postgresql/data, dumps:/dumps]
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres", "-d", "app"]
      interval: 1s
      timeout: 2s
      retries: 30
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+1.0.0"
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=pg_dump -U postgres --clean --if-exists app | gzip > /dumps/app.sql.gz"
        - "backupbot.backup.volumes.pgdata=false"
        - "backupbot.backup.volumes.dumps.path=app.sql.gz"
        - "backupbot.restore.pre-hook={PRE}"
        - "backupbot.restore.post-hook={POST}"
      update_config: {{monitor: 1s}}
volumes:
  pgdata:
  dumps:
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
""",
        ".env.sample": "TYPE=pgatomic\nDOMAIN=pgatomic.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=24\n",
        "abra.sh": "",
        "README.md": "# pgatomic\n",
    }


def psql(db: str, sql: str) -> str:
    return sh(db, f'psql -U postgres -d app -tA -v ON_ERROR_STOP=1 -c "{sql}"').strip()


def wait_for(what, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {what.__doc__ or what}"
        time.sleep(0.1)


def exists(db: str, path: str) -> bool:
    return subprocess.run(["docker", "exec", db, "test", "-e", path], capture_output=True).returncode == 0


def interrupt_restore_at(env, db: str, stack: str, started: str, sig=signal.SIGINT) -> tuple[int, str]:
    """`coop app restore` in a process of its own, sent `sig` once `started` exists in the db container."""
    proc = subprocess.Popen(
        [*COOP, "app", "restore", stack, "--yes"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while not exists(db, started):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{started} never appeared"
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def restore_jobs_gone(stack: str) -> bool:
    out = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"label=coop.backup.app={stack}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return not out.strip()


def test_an_interrupted_or_failed_restore_leaves_the_data_as_it_was_or_wholly_restored(
    coop, backup_env, tmp_path, stack_name, local_server, own_repository
):
    new_app(coop, tmp_path, stack_name, "default", recipe())
    assert coop("app", "deploy", stack_name).code == 0
    db = container_of(stack_name, "db")
    psql(
        db,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 1000) i",
    )
    state_a = psql(db, CHECKSUM)
    assert coop("app", "backup", "create", stack_name).code == 0
    psql(db, "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1001, 2001) i")
    # An older dump left in the volume (state B): no restore may ever load it.
    psql(db, "DELETE FROM t WHERE id > 10")
    sh(db, "pg_dump -U postgres --clean --if-exists app | gzip > /dumps/app.sql.gz")
    psql(db, "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(11, 2001) i ON CONFLICT DO NOTHING")
    state_c = psql(db, CHECKSUM)
    stale = sh(db, "md5sum /dumps/app.sql.gz")
    assert len({state_a, state_c}) == 2

    def reset() -> None:
        sh(db, "rm -f /tmp/pre-started /tmp/post-started /tmp/post-done /tmp/fail-pre")

    # 1. While restic restores into scratch (the pre-hook then holds the restore in that phase whatever the timing).
    reset()
    sh(db, "touch /tmp/hold-pre")
    code, err = interrupt_restore_at(backup_env, db, stack_name, "/tmp/pre-started")
    line = one_error_line(err)
    assert code == 130 and "interrupted (Ctrl-C)" in line, err
    assert "nothing was restored, the data is as it was; the restore pre-hook of db ran, its post-hook did not" in line
    assert f"coop app restore {stack_name} " in line
    sh(db, "rm -f /tmp/hold-pre")
    assert psql(db, CHECKSUM) == state_c and sh(db, "md5sum /dumps/app.sql.gz") == stale
    wait_for(lambda: sh(db, "ls -A /dumps").split() == ["app.sql.gz"])  # the scratch restore was removed
    assert not exists(db, "/tmp/post-started")

    # 2. SIGTERM while the pre-hook runs: the same.
    reset()
    sh(db, "touch /tmp/hold-pre")
    code, err = interrupt_restore_at(backup_env, db, stack_name, "/tmp/pre-started", signal.SIGTERM)
    assert code == 130 and "interrupted (SIGTERM)" in one_error_line(err) and "the data is as it was" in err, err
    sh(db, "rm -f /tmp/hold-pre")
    assert psql(db, CHECKSUM) == state_c and sh(db, "md5sum /dumps/app.sql.gz") == stale

    # 3. A pre-hook that fails: nothing restored, and said so.
    reset()
    sh(db, "touch /tmp/fail-pre")
    r = coop("app", "restore", stack_name, "--yes")
    line = one_error_line(r.err)
    assert (
        r.code == 1 and "restore pre-hook failed" in line and "nothing was restored, the data is as it was" in line
    ), r
    assert psql(db, CHECKSUM) == state_c and sh(db, "md5sum /dumps/app.sql.gz") == stale
    assert not exists(db, "/tmp/post-started")

    # 4. Ctrl-C while the post-hook loads: the files are in place, the load goes on in the container and ends
    #    with the snapshot's rows; the message says so.
    reset()
    sh(db, "touch /tmp/hold-post")
    code, err = interrupt_restore_at(backup_env, db, stack_name, "/tmp/post-started")
    line = one_error_line(err)
    assert code == 130 and "its files are wholly in place" in line and "goes on in its container" in line, err
    assert psql(db, CHECKSUM) == state_c  # held: not loaded yet
    assert sh(db, "md5sum /dumps/app.sql.gz") != stale  # the snapshot's dump, put in place whole
    sh(db, "rm -f /tmp/hold-post")
    wait_for(lambda: exists(db, "/tmp/post-done"))
    assert psql(db, CHECKSUM) == state_a

    # 5. Uninterrupted, from state C again: the snapshot's rows, no scratch left, no job left.
    psql(db, "INSERT INTO t VALUES (5000, 'x')")
    reset()
    r = coop("app", "restore", stack_name, "--yes")
    assert r.code == 0, r
    assert psql(db, CHECKSUM) == state_a
    assert sh(db, "ls -A /dumps").split() == ["app.sql.gz"]
    wait_for(lambda: restore_jobs_gone(stack_name))

    # 6. The repository's config lost: an error naming it (never "no snapshots"), and no `restic init` over it.
    repo = Path(
        subprocess.run(
            ["docker", "volume", "inspect", own_repository, "--format", "{{.Mountpoint}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    keys = sorted(p.name for p in (repo / "keys").iterdir())
    (repo / "config").unlink()
    for argv in (("app", "backup", "ls", stack_name), ("app", "backup", "create", stack_name)):
        r = coop(*argv)
        line = one_error_line(r.err)
        assert r.code == 1 and f"volume:{own_repository}" in line and "but no config" in line, r
    assert not (repo / "config").exists() and sorted(p.name for p in (repo / "keys").iterdir()) == keys


def test_a_new_app_whose_declared_directories_are_empty_upgrades_with_a_warning_and_restores_them_empty(
    coop, backup_env, tmp_path, stack_name, local_server
):
    """Nobody uploaded anything yet: `keep` is an empty directory and `uploads` does not exist. The
    pre-upgrade snapshot records both as empty (one warning each, naming service, volume and path) and the
    upgrade goes on (exit 0); restoring that snapshot later makes both empty again."""
    files = files_app("emptyapp", "backupbot.backup.volumes.files.path=keep,uploads")
    newer = {
        "compose.yml": files["compose.yml"].replace(
            "coop-cloud.${STACK_NAME}.version=1.0.0+1.0.0", "coop-cloud.${STACK_NAME}.version=1.1.0+1.0.0"
        )
    }
    new_app(coop, tmp_path, stack_name, "default", files, tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", newer)])
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    web = container_of(stack_name, "app")
    sh(web, "mkdir -p /data/keep && echo outside > /data/other.txt")
    r = coop("app", "upgrade", stack_name, "1.1.0+1.0.0", "--no-input", "--force")
    assert r.code == 0, r
    warnings = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert any("service app, volume files, path keep: empty directory, recorded as empty" in w for w in warnings), r
    assert any("service app, volume files, path uploads: missing directory, recorded as empty" in w for w in warnings)
    snap = json.loads(coop("app", "backup", "ls", stack_name, "--json").out)[-1]
    assert snap["why"] == "pre-upgrade" and sorted(snap["empty"]) == ["app/files/keep", "app/files/uploads"]

    web = container_of(stack_name, "app")
    sh(web, "mkdir -p /data/uploads && echo later > /data/keep/a.txt && echo later > /data/uploads/b.txt")
    r = coop("app", "restore", stack_name, snap["snapshot"][:8], "--yes")
    assert r.code == 0, r
    assert sh(web, "ls -A /data/keep /data/uploads; cat /data/other.txt").split() == [
        "/data/keep:",
        "/data/uploads:",
        "outside",
    ]


def test_where_coop_cannot_reach_the_jobs_node_a_second_job_renames(
    coop, backup_env, tmp_path, stack_name, local_server, monkeypatch
):
    """On a worker no `coop server add` names, coop cannot exec into the restore job to hand it its renames:
    the job ends after the scratch restore and a second short job renames (here the node's engine is refused
    by the app context, as for such a worker; everything else runs on the rig's real engine)."""
    from coopcloud.errors import EngineUnreachable
    from coopcloud.ops.app.context import AppContext

    new_app(coop, tmp_path, stack_name, "default", files_app("twojobs", "backupbot.backup.volumes.files.path=keep"))
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    sh(web, "mkdir -p /data/keep && echo a > /data/keep/a.txt && echo outside > /data/other.txt")
    assert coop("app", "backup", "create", stack_name).code == 0
    sh(web, "echo b > /data/keep/a.txt && echo later > /data/keep/b.txt && echo changed > /data/other.txt")

    def unreachable(self, service):
        raise EngineUnreachable(f"the node of service {service}: no server entry names it")

    restore_module = importlib.import_module("coopcloud.ops.backup.restore")
    kinds = []
    run_job = restore_module.run_job

    def recorded(client, job, **options):
        kinds.append(job.kind)
        return run_job(client, job, **options)

    monkeypatch.setattr(AppContext, "engine_for_service", unreachable)
    monkeypatch.setattr(restore_module, "run_job", recorded)
    r = coop("app", "restore", stack_name, "--yes")
    assert r.code == 0, r
    assert kinds == ["restore-put"]
    assert sh(web, "ls -A /data/keep; cat /data/keep/a.txt /data/other.txt").split() == ["a.txt", "a", "changed"]
    assert sh(web, "ls -A /data").split() == ["keep", "other.txt"]  # no scratch left
    wait_for(lambda: restore_jobs_gone(stack_name))
