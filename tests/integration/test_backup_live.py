"""Backups and restores on the real swarm, with real PostgreSQL and MariaDB (built by rig/images).

Each database is deployed once and used for several assertions: rows and files written,
backup, data dropped, restore, the same rows (checksums) and files (sha256); what the labels
leave out is not in the snapshot; an empty dump and a failing pre-hook fail the backup and
leave nothing recorded; verify passes, and fails once the repository is corrupted.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from backup_app import REG, backup_env, backup_images, files_service, local_server, own_repository, sh  # noqa: F401
from live_app import container_of, new_app, one_error_line

pytestmark = pytest.mark.integration


def deployed_version(stack: str) -> str:
    out = subprocess.run(
        ["docker", "service", "inspect", f"{stack}_app", "--format", "{{json .Spec.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)[f"coop-cloud.{stack}.version"]


def postgres_recipe() -> dict[str, str]:
    app = files_service(
        "backupbot.backup.pre-hook=${APP_PRE_HOOK:-true}", "backupbot.backup.volumes.files.path=keep,top.txt"
    )
    return {
        "compose.yml": f"""\
version: "3.8"
services:
{app}  db:
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
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=pg_dump -U postgres --clean --if-exists ${{DUMP_DB:-app}} | gzip > /dumps/app.sql.gz"
        - "backupbot.backup.post-hook=echo dumped >> /dumps/post-hook.log"
        - "backupbot.backup.volumes.pgdata=false"
        - "backupbot.backup.volumes.dumps.path=app.sql.gz"
        - "backupbot.restore.post-hook=gunzip -c /dumps/app.sql.gz | psql -q -U postgres -d app -v ON_ERROR_STOP=1"
      update_config: {{monitor: 1s}}  # coop's stability window (docker's default 5 s)
volumes:
  files:
  pgdata:
  dumps:
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
""",
        ".env.sample": "TYPE=pgapp\nDOMAIN=pgapp.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=24\n",
        "abra.sh": "",
        "README.md": "# pgapp\n",
    }


PG_CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t"


def psql(container: str, sql: str) -> str:
    return sh(container, f'psql -U postgres -d app -tA -v ON_ERROR_STOP=1 -c "{sql}"').strip()


def set_env(tmp_path: Path, stack: str, **values: str) -> None:
    env = tmp_path / "abra" / "servers" / "default" / f"{stack}.env"
    lines = [line for line in env.read_text().splitlines() if line.split("=", 1)[0] not in values]
    env.write_text("\n".join(lines + [f"{k}={v}" for k, v in values.items()]) + "\n")


def snapshot_ids(coop, stack: str) -> list[str]:
    r = coop("app", "backup", "ls", stack, "--json")
    assert r.code == 0, r
    return [s["snapshot"] for s in json.loads(r.out)]


def broken_release(files: dict[str, str]) -> dict[str, str]:
    """1.1.0: its app service damages the data, then fails, so the upgrade is rolled back (exit 8)."""
    compose = (
        files["compose.yml"]
        .replace(
            f"    image: {REG}/coop-test/web:1.0.0\n",
            f"    image: {REG}/coop-test/web:1.0.0\n"
            '    command: ["sh", "-c", "echo damaged > /data/keep/a.txt; exit 1"]\n',
        )
        .replace("coop-cloud.${STACK_NAME}.version=1.0.0+1.0.0", "coop-cloud.${STACK_NAME}.version=1.1.0+1.0.0")
    )
    compose = compose.replace(
        '    deploy:\n      labels:\n        - "coop-cloud',
        '    deploy:\n      restart_policy:\n        condition: none\n      labels:\n        - "coop-cloud.${STACK_NAME}.timeout=30"\n        - "coop-cloud',
        1,
    )
    return {"compose.yml": compose}


def test_postgres_backup_restore_and_a_backup_that_never_lies(coop, tmp_path, stack_name, local_server):
    files = postgres_recipe()
    new_app(
        coop, tmp_path, stack_name, "default", files, tags=[("1.0.0+1.0.0", {}), ("1.1.0+1.0.0", broken_release(files))]
    )
    r = coop("app", "deploy", stack_name, "1.0.0+1.0.0")
    assert r.code == 0, r
    db, web = container_of(stack_name, "db"), container_of(stack_name, "app")

    # Rows in PostgreSQL, files in the app's volume: some inside the declared paths, some outside.
    psql(
        db,
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 2000) i",
    )
    rows_before = psql(db, PG_CHECKSUM)
    sh(
        web,
        "mkdir -p /data/keep/sub /data/other && echo one > /data/keep/a.txt && echo two > /data/keep/sub/b.txt"
        " && echo top > /data/top.txt && echo secret-scratch > /data/other/c.txt",
    )
    files_before = sh(web, "cd /data && sha256sum keep/a.txt keep/sub/b.txt top.txt")

    r = coop("app", "backup", "create", stack_name)
    assert r.code == 0, r
    assert "snapshot" in r.out
    if "generated the backup repository's password" in r.err:  # the server's first backup: shown once
        value = r.err.split("without coop:")[1].split()[0]
        assert value not in r.out
    snaps = snapshot_ids(coop, stack_name)
    r = coop("app", "history", stack_name, "--json")
    assert r.code == 0, r
    event = [e for e in json.loads(r.out) if e["command"] == "backup create"][-1]
    assert event["result"] == "ok" and snaps[0][:8] in event["detail"]
    assert len(snaps) == 1
    listing = json.loads(coop("app", "backup", "ls", stack_name, "--json").out)[0]
    assert listing["why"] == "manual" and listing["version"] == "1.0.0+1.0.0" and listing["recipe"]
    assert listing["services"] == ["app", "db"]
    assert sh(db, "cat /dumps/post-hook.log").strip() == "dumped"  # the post-hook ran in the db container

    # What the labels leave out is not in the snapshot: download it and look.
    dest = tmp_path / "download"
    r = coop("app", "backup", "download", stack_name, "--dest", str(dest))
    assert r.code == 0, r
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["app/files/keep/a.txt", "app/files/keep/sub/b.txt", "app/files/top.txt", "db/dumps/app.sql.gz"]
    assert hashlib.sha256((dest / "app/files/keep/a.txt").read_bytes()).hexdigest() in files_before

    # Lose the data, restore, get it back.
    psql(db, "DROP TABLE t")
    sh(web, "rm -rf /data/keep /data/top.txt")
    r = coop("app", "restore", stack_name, "--yes")
    assert r.code == 0, r
    assert psql(db, PG_CHECKSUM) == rows_before
    assert sh(web, "cd /data && sha256sum keep/a.txt keep/sub/b.txt top.txt") == files_before
    assert sh(web, "cat /data/other/c.txt").strip() == "secret-scratch"  # left alone

    r = coop("app", "backup", "verify", stack_name, "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["files"] == 4

    # An empty dump (pg_dump of a database that does not exist, piped: the pipe's status is gzip's 0).
    set_env(tmp_path, stack_name, DUMP_DB="nosuchdb")
    assert coop("app", "deploy", stack_name, "--force").code == 0
    r = coop("app", "backup", "create", stack_name)
    assert r.code == 1, r
    line = one_error_line(r.err)
    assert "service db, volume dumps, path app.sql.gz: empty once decompressed" in line and "no snapshot" in line
    assert snapshot_ids(coop, stack_name) == snaps

    # A failing pre-hook: nothing recorded either, and the other service's post-hook still ran.
    set_env(tmp_path, stack_name, DUMP_DB="app", APP_PRE_HOOK="false")
    assert coop("app", "deploy", stack_name, "--force").code == 0
    r = coop("app", "backup", "create", stack_name)
    assert r.code == 1, r
    assert "service app: backup pre-hook failed (exit code 1)" in one_error_line(r.err)
    assert snapshot_ids(coop, stack_name) == snaps

    # Backing up one service only.
    r = coop("app", "backup", "create", stack_name, "db", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["paths"] == ["/backup/db/dumps/app.sql.gz"]

    r = coop("app", "backup", "create", stack_name, "nosuch")
    assert r.code == 3 and "service nosuch is not backed up" in one_error_line(r.err)

    # An upgrade snapshots first; a failing snapshot (the app's pre-hook is still `false`) stops it unchanged.
    r = coop("app", "upgrade", stack_name, "1.1.0+1.0.0", "--no-input", "--force")
    assert r.code == 1, r
    assert "backup pre-hook failed" in one_error_line(r.err)
    assert deployed_version(stack_name) == "1.0.0+1.0.0"

    # The release damages the data and fails: rolled back (exit 8), the snapshot named, the data restored
    # (--restore-on-failure; without it the error names the restore command: tests/unit/test_backup_labels.py).
    set_env(tmp_path, stack_name, APP_PRE_HOOK="true")
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0", "--force").code == 0
    web = container_of(stack_name, "app")
    good = sh(web, "sha256sum /data/keep/a.txt")
    r = coop("app", "upgrade", stack_name, "1.1.0+1.0.0", "--no-input", "--force", "--restore-on-failure")
    assert r.code == 8, r
    pre = [s for s in json.loads(coop("app", "backup", "ls", stack_name, "--json").out) if s["why"] == "pre-upgrade"]
    assert len(pre) == 1 and pre[0]["version"] == "1.0.0+1.0.0"
    assert f"the data was restored from the pre-upgrade snapshot {pre[0]['snapshot'][:8]}" in one_error_line(r.err)
    assert deployed_version(stack_name) == "1.0.0+1.0.0"
    web, db = container_of(stack_name, "app"), container_of(stack_name, "db")
    assert sh(web, "sha256sum /data/keep/a.txt") == good  # the release had written "damaged" there

    # The pre-upgrade snapshot restores by its id, like any other.
    psql(db, "DROP TABLE t")
    r = coop("app", "restore", stack_name, pre[0]["snapshot"][:8], "--yes")
    assert r.code == 0, r
    assert psql(db, PG_CHECKSUM) == rows_before


def mariadb_recipe() -> dict[str, str]:
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/mariadb:10.11
    environment:
      - MARIADB_ROOT_PASSWORD_FILE=/run/secrets/db_root_password
      - MARIADB_DATABASE=app
    secrets: [db_root_password]
    volumes: [mysql:/var/lib/mysql, dumps:/dumps]
    healthcheck:
      test: ["CMD-SHELL", "mariadb-admin ping --silent"]
      interval: 1s
      timeout: 2s
      retries: 30
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+10.11"
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=mariadb-dump -uroot -p\\"`cat /run/secrets/db_root_password`\\" --single-transaction app > /dumps/app.sql"
        - "backupbot.backup.volumes.mysql=false"
        - "backupbot.backup.volumes.dumps.path=app.sql"
        - "backupbot.restore.post-hook=mariadb -uroot -p\\"`cat /run/secrets/db_root_password`\\" app < /dumps/app.sql"
      update_config: {{monitor: 1s}}  # coop's stability window (docker's default 5 s)
volumes:
  mysql:
  dumps:
secrets:
  db_root_password:
    external: true
    name: ${{STACK_NAME}}_db_root_password_${{SECRET_DB_ROOT_PASSWORD_VERSION}}
""",
        ".env.sample": "TYPE=mariaapp\nDOMAIN=mariaapp.example.com\nSECRET_DB_ROOT_PASSWORD_VERSION=v1 # length=24\n",
        "abra.sh": "",
        "README.md": "# mariaapp\n",
    }


MARIA_CHECKSUM = "SELECT COUNT(*), MD5(GROUP_CONCAT(id, ':', v ORDER BY id SEPARATOR ',')) FROM t"


def maria(container: str, sql: str) -> str:
    return sh(container, f'mariadb -uroot -p"$(cat /run/secrets/db_root_password)" -N app -e "{sql}"').strip()


def test_mariadb_backup_restore_and_verify_of_a_corrupted_repository(
    coop, tmp_path, stack_name, local_server, own_repository, backup_env
):
    new_app(coop, tmp_path, stack_name, "default", mariadb_recipe())
    r = coop("app", "deploy", stack_name)
    assert r.code == 0, r
    db = container_of(stack_name, "app")
    maria(
        db,
        "SET SESSION group_concat_max_len = 10000000; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64)); "
        "INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_2000",
    )
    checksum = "SET SESSION group_concat_max_len = 10000000; " + MARIA_CHECKSUM
    before = maria(db, checksum)

    r = coop("app", "backup", "create", stack_name)
    assert r.code == 0, r
    maria(db, "DROP TABLE t")
    r = coop("app", "restore", stack_name, "--yes")
    assert r.code == 0, r
    assert maria(db, checksum) == before

    r = coop("app", "backup", "verify", stack_name)
    assert r.code == 0, r
    assert "verified" in r.out

    # Where backups go: only a volume from the environment; a URL only from the server's setting.
    r = coop("server", "backup-repo", "default", "http://vault.example.org/restic")
    assert r.code == 2 and "not a restic repository URL" in one_error_line(r.err)
    r = coop("app", "backup", "ls", stack_name, env={**backup_env, "COOP_BACKUP_REPOSITORY": "sftp:u@h:/r"})
    assert r.code == 2 and "only volume:NAME" in one_error_line(r.err)

    # Every app of the server: this one, one line.
    r = coop("server", "backup", "default")
    assert r.code == 0, r
    assert r.out.startswith(f"{stack_name}: ok: snapshot ")
    assert len(snapshot_ids(coop, stack_name)) == 2

    # Corrupt the repository: flip bytes in the middle of every data pack file.
    data = (
        Path(
            subprocess.run(
                ["docker", "volume", "inspect", own_repository, "--format", "{{.Mountpoint}}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        / "data"
    )
    packs = [p for p in data.rglob("*") if p.is_file()]
    assert packs
    for pack in packs:
        raw = bytearray(pack.read_bytes())
        mid = len(raw) // 2
        raw[mid : mid + 16] = bytes(b ^ 0xFF for b in raw[mid : mid + 16])
        pack.write_bytes(bytes(raw))
    r = coop("app", "backup", "verify", stack_name)
    assert r.code == 1, r
    assert "failed verification" in one_error_line(r.err)
