"""The backupbot label spec read from live service specs, and the restic job's scripts (pure)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from coopcloud.engine import views
from coopcloud.errors import InvalidError
from coopcloud.ops.backup import Snapshot, pick, scripts
from coopcloud.ops.backup.job import Job, Mount, SecretFile
from coopcloud.ops.backup.labels import VolumeBackup, backup_spec
from coopcloud.ops.backup.repository import parse_location

STACK = "cloud_example_org"


def service(name: str, labels: dict[str, str], mounts: list) -> views.Service:
    specs = [m if isinstance(m, dict) else {"Type": "volume", "Source": m[0], "Target": m[1]} for m in mounts]
    return views.Service.from_json(
        {
            "ID": name,
            "Spec": {"Name": f"{STACK}_{name}", "Labels": labels, "TaskTemplate": {"ContainerSpec": {"Mounts": specs}}},
        }
    )


def test_only_labelled_services_and_their_named_volumes():
    spec = backup_spec(
        "cloud.example.org",
        STACK,
        [
            service(
                "app",
                {
                    "backupbot.backup": "true",
                    "backupbot.backup.pre-hook": "dump",
                    "backupbot.backup.post-hook": "rm dump",
                    "backupbot.restore.post-hook": "load",
                },
                [
                    (f"{STACK}_data", "/data"),
                    ("shared-certs", "/certs"),
                    {"Type": "bind", "Source": "/etc/x", "Target": "/x"},
                    {"Type": "tmpfs", "Target": "/tmp"},
                ],
            ),
            service("web", {"backupbot.backup": "false"}, [(f"{STACK}_www", "/www")]),
            service("cron", {}, [(f"{STACK}_data", "/data")]),
        ],
    )
    assert [s.service for s in spec.services] == ["app"]
    app = spec.services[0]
    assert app.volumes == (
        VolumeBackup("shared-certs", "shared-certs", "/certs"),
        VolumeBackup("data", f"{STACK}_data", "/data"),
    )
    assert (app.pre_hook, app.post_hook, app.restore_pre_hook, app.restore_post_hook) == (
        "dump",
        "rm dump",
        None,
        "load",
    )


def test_volume_exclusion_and_paths():
    spec = backup_spec(
        "a",
        STACK,
        [
            service(
                "db",
                {
                    "backupbot.backup": "True",
                    "backupbot.backup.volumes.pgdata": "false",
                    "backupbot.backup.volumes.dumps.path": "dump.sql.gz, /nested/dir/ ,",
                },
                [(f"{STACK}_pgdata", "/var/lib/postgresql/data"), (f"{STACK}_dumps", "/dumps")],
            )
        ],
    )
    (db,) = spec.services
    assert db.volumes == (VolumeBackup("dumps", f"{STACK}_dumps", "/dumps", ("dump.sql.gz", "nested/dir")),)
    assert scripts.backup_paths(spec) == ["/backup/db/dumps/dump.sql.gz", "/backup/db/dumps/nested/dir"]


@pytest.mark.parametrize("bad", ["../etc", "a/../../b", ",", "."])
def test_a_path_outside_the_volume_is_refused(bad):
    with pytest.raises(InvalidError, match="path"):
        backup_spec(
            "a",
            STACK,
            [
                service(
                    "db", {"backupbot.backup": "true", "backupbot.backup.volumes.d.path": bad}, [(f"{STACK}_d", "/d")]
                )
            ],
        )


def test_legacy_path_label_keeps_only_volumes_holding_those_paths():
    spec = backup_spec(
        "a",
        STACK,
        [
            service(
                "app",
                {
                    "backupbot.backup": "true",
                    "backupbot.backup.path": "/var/lib/app/dump.sql,/srv/files",
                },
                [(f"{STACK}_lib", "/var/lib/app"), (f"{STACK}_files", "/srv/files"), (f"{STACK}_cache", "/cache")],
            )
        ],
    )
    vols = {v.name: v.paths for v in spec.services[0].volumes}
    assert vols == {"lib": ("dump.sql",), "files": ()}


def _declared_spec():
    return backup_spec(
        "a",
        STACK,
        [
            service(
                "db",
                {"backupbot.backup": "true", "backupbot.backup.volumes.dumps.path": "app.sql.gz"},
                [(f"{STACK}_dumps", "/dumps")],
            ),
            service(
                "app",
                {"backupbot.backup": "true", "backupbot.backup.volumes.files.path": "keep,uploads,top.txt"},
                [(f"{STACK}_files", "/data")],
            ),
        ],
    )


def _run_backup(tmp_path, monkeypatch, spec):
    """The backup script run for real by sh, the volumes under tmp_path, restic a stand-in that logs its argv."""
    monkeypatch.setattr(scripts, "MOUNT_ROOT", str(tmp_path / "backup"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "restic").write_text(
        '#!/bin/sh\nfor a in "$@"; do echo "$a"; done >"$ARGV"\necho \'{"message_type":"summary","snapshot_id":"ab"}\'\n'
    )
    (bin_dir / "restic").chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    (repo / "config").write_text("x")
    script = scripts.backup_script(spec, host="a.org", tags=["app=a.org"], run_tag="run=abc")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RESTIC_REPOSITORY": str(repo), "ARGV": str(tmp_path / "argv")}
    p = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    argv = (tmp_path / "argv").read_text().splitlines() if (tmp_path / "argv").exists() else []
    return p, argv


def test_a_declared_file_must_hold_data_and_an_empty_or_missing_directory_is_recorded_as_empty(tmp_path, monkeypatch):
    root = tmp_path / "backup"
    (root / "db" / "dumps").mkdir(parents=True)
    (root / "app" / "files" / "keep").mkdir(parents=True)  # empty; uploads/ and top.txt missing
    spec = _declared_spec()
    p, _ = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == scripts.REFUSED and "path top.txt: missing" in p.stderr  # a file, by its name
    (root / "app" / "files" / "top.txt").write_text("top")
    p, argv = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == scripts.REFUSED and "service db, volume dumps, path app.sql.gz: missing" in p.stderr
    assert argv == []
    (root / "db" / "dumps" / "app.sql.gz").write_bytes(b"")
    p, _ = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == scripts.REFUSED and "app.sql.gz: empty file" in p.stderr
    subprocess.run(["sh", "-c", f"printf '' | gzip > {root}/db/dumps/app.sql.gz"], check=True)
    p, _ = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == scripts.REFUSED and "app.sql.gz: empty once decompressed" in p.stderr
    subprocess.run(["sh", "-c", f"echo dump | gzip > {root}/db/dumps/app.sql.gz"], check=True)
    p, argv = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == 0, p.stderr
    warnings = [line for line in p.stderr.splitlines() if line.startswith(scripts.WARNING_PREFIX)]
    assert warnings == [
        "coop-warning: service app, volume files, path keep: empty directory, recorded as empty",
        "coop-warning: service app, volume files, path uploads: missing directory, recorded as empty",
    ]
    assert argv[argv.index("--") + 1 :] == [f"{root}/app/files/top.txt", f"{root}/db/dumps/app.sql.gz"]
    assert argv[argv.index("--tag", argv.index("run=abc")) :][:2] == ["--tag", "empty=app/files/keep"]
    assert "empty=app/files/uploads" in argv and "--exclude" in argv and ".coop-restore-*" in argv
    assert p.stdout.strip().endswith("coop-result: saved")


def test_a_backup_whose_declared_directories_are_all_empty_records_an_empty_volume(tmp_path, monkeypatch):
    spec = backup_spec(
        "a",
        STACK,
        [
            service(
                "app",
                {"backupbot.backup": "true", "backupbot.backup.volumes.files.path": "keep"},
                [(f"{STACK}_files", "/data")],
            )
        ],
    )
    (tmp_path / "backup" / "app" / "files").mkdir(parents=True)
    (tmp_path / "backup" / "app" / "files" / "other.txt").write_text("not declared")
    p, argv = _run_backup(tmp_path, monkeypatch, spec)
    assert p.returncode == 0, p.stderr
    root = f"{tmp_path}/backup/app/files"
    assert argv[argv.index("--") + 1 :] == [root] and argv[argv.index(root + "/*") - 1] == "--exclude"


def test_restore_and_verify_scripts():
    job = scripts.restore_job_script(None, "a.org", ["/backup/db/dumps"], "t0", wait_for_plan=False)
    assert "restic ls --no-lock $nocache --json --tag app=a.org latest" in job and "--verify" not in job
    assert 'restic restore --no-lock $nocache --target "$s" --include "$m" "$@"' in job
    assert "restore_into /backup/db/dumps /backup/db/dumps/.coop-restore-t0 --tag app=a.org latest &" in job
    assert 'restore_into /backup/db/dumps /backup/db/dumps/.coop-restore-t0 "$id"' in job
    assert job.rstrip().endswith('echo "coop-result: restored"')
    assert "restic ls --no-lock $nocache --json abc " in scripts.restore_job_script(
        "abc", "a.org", ["/m"], "t0", wait_for_plan=True
    )
    verify = scripts.verify_script("abc")
    assert "restic check" in verify and "restic restore abc --target /scratch --verify" in verify


FAKE_RESTIC = """#!/bin/sh
[ -n "${ARGS:-}" ] && echo "$*" >>"$ARGS"
cmd=$1; shift; while case "${1:-}" in --no-*) true;; *) false;; esac; do shift; done; set -- "$cmd" "$@"
case "$1" in
  ls) [ -n "${NONE:-}" ] && exit 0
      printf '%s\\n' '{"time":"2026-01-01T00:00:00Z","tree":"t","paths":["M"],"tags":["app=a.org"],"id":"abc123","short_id":"abc1","struct_type":"snapshot"}' \\
        '{"name":"a.bin","type":"file","path":"M/a.bin","size":3,"struct_type":"node"}' \\
        '{"name":"sub","type":"dir","path":"M/sub","struct_type":"node"}' \\
        '{"name":"x \\\\"size\\\\":9","type":"file","path":"M/sub/x \\\\"size\\\\":9","size":5,"struct_type":"node"}' \\
        '{"name":"o","type":"file","path":"/backup/other/o","size":7,"struct_type":"node"}' | sed "s|M|$MOUNT|g";;
  restore) mkdir -p "$3$5/sub"; printf abc >"$3$5/a.bin"; printf "${B:-hello}" >"$3$5/sub/x \\"size\\":9"
      [ "$6" = abc123 ] && exit 0; [ "$6 $7 $8" = "--tag app=a.org latest" ] || exit 1
      # the newest: a backup lands meanwhile (a newer snapshot, other data), when asked to
      [ -n "${LANDS:-}" ] && { : >"$RESTIC_REPOSITORY/snapshots/def456"; printf xyz >"$3$5/a.bin"; }; exit 0;;
esac
"""


def _restore_job(tmp_path, *, wait_for_plan=False, **env):
    """The restore job's script run by sh, its /tmp files under tmp_path, restic a fake one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "restic").write_text(FAKE_RESTIC)
    (bin_dir / "restic").chmod(0o755)
    vol = tmp_path / "vol"
    vol.mkdir(exist_ok=True)
    script = scripts.restore_job_script(None, "a.org", [str(vol)], "t0", wait_for_plan=wait_for_plan)
    for name in ("coop-", "cat-config", "ssh.err"):
        script = script.replace(f"/tmp/{name}", f"{tmp_path}/{name}")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MOUNT": str(vol), "HOME": str(tmp_path), **env}
    return vol, subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)


def test_the_restore_job_resolves_restores_and_checks_each_files_number_and_size(tmp_path):
    vol, p = _restore_job(tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("coop-snapshot: {") and '"id":"abc123"' in lines[0]
    assert lines[-1] == "coop-result: restored"
    new = vol / ".coop-restore-t0" / str(vol).lstrip("/")
    assert (new / "a.bin").read_text() == "abc" and (new / "sub" / 'x "size":9').read_text() == "hello"

    # A file restic wrote short without saying so: nothing is left, and the reason says what differs.
    vol, p = _restore_job(tmp_path, B="hell")
    assert p.returncode == scripts.REFUSED
    assert "holds 2 files (8 bytes) under" in p.stderr and "2 (7 bytes) were restored" in p.stderr, p.stderr
    assert list(vol.iterdir()) == []

    # A volume repository: the first volume is restored beside the listing, and again by the id when the
    # list of snapshots changed meanwhile.
    (tmp_path / "repo" / "snapshots").mkdir(parents=True)
    (tmp_path / "repo" / "snapshots" / "abc123").touch()
    for lands in ("", "1"):
        vol, p = _restore_job(tmp_path, RESTIC_REPOSITORY=str(tmp_path / "repo"), LANDS=lands)
        assert p.returncode == 0 and p.stdout.splitlines()[-1] == "coop-result: restored", p.stderr
        assert (vol / ".coop-restore-t0" / str(vol).lstrip("/") / "a.bin").read_text() == "abc"

    # Both restic commands take no lock; on a repository on the node's disk, no cache either.
    (tmp_path / "args").unlink(missing_ok=True)
    vol, p = _restore_job(tmp_path, RESTIC_REPOSITORY=str(tmp_path / "repo"), ARGS=str(tmp_path / "args"))
    called = (tmp_path / "args").read_text().splitlines()
    assert sorted(c.split()[:3] for c in called) == [
        ["ls", "--no-lock", "--no-cache"],
        ["restore", "--no-lock", "--no-cache"],
    ]
    (tmp_path / "args").unlink()
    vol, p = _restore_job(tmp_path, ARGS=str(tmp_path / "args"))
    assert all("--no-cache" not in c for c in (tmp_path / "args").read_text().splitlines())

    # No snapshot of the app: said so, nothing made.
    vol, p = _restore_job(tmp_path, NONE="1")
    assert p.returncode == 0 and p.stdout.splitlines() == ["coop-result: none"] and list(vol.iterdir()) == []


def test_the_restore_job_runs_the_plan_it_is_handed_and_discards_when_stopped(tmp_path):
    (tmp_path / "coop-plan").write_text("echo 'coop-result: swapped'\n")
    vol, p = _restore_job(tmp_path, wait_for_plan=True)
    assert p.returncode == 0 and p.stdout.splitlines()[-2:] == ["coop-result: restored", "coop-result: swapped"]
    (tmp_path / "coop-plan").unlink()
    (tmp_path / "coop-stopped").touch()  # stopped while waiting for its plan (here: before it began)
    vol, p = _restore_job(tmp_path, wait_for_plan=True)
    assert p.returncode == 130 and list(vol.iterdir()) == [], p.stderr
    # Handed its plan early, then stopped once restic was done, before the renames began (here: as the files
    # are counted): the stop wins, nothing is renamed.
    (tmp_path / "coop-stopped").unlink()
    (tmp_path / "coop-plan").write_text("echo 'coop-result: swapped'\n")
    (tmp_path / "bin").joinpath("find").write_text(f'#!/bin/sh\n: >{tmp_path}/coop-stopped\nexec /usr/bin/find "$@"\n')
    (tmp_path / "bin" / "find").chmod(0o755)
    vol, p = _restore_job(tmp_path, wait_for_plan=True)
    assert p.returncode == 130 and "coop-result: swapped" not in p.stdout and list(vol.iterdir()) == [], p.stderr


def test_the_job_is_a_one_shot_service_on_the_node_with_our_command():
    job = Job(
        kind="backup",
        app="a.org",
        image="restic/restic:0.17.3",
        script="echo hi",
        node_id="n1",
        mounts=[Mount("v", "/backup/app/v", read_only=True)],
        secrets=[SecretFile("s1", "coop-backup-password", "restic-password")],
        env={"B": "2", "A": "1"},
    )
    spec = job.service_spec("coop-backup-x")
    task = spec["TaskTemplate"]
    assert task["ContainerSpec"]["Command"] == ["/bin/sh", "-c", scripts.JOB_COMMAND, "coop-backup", "echo hi"]
    assert "Args" not in task["ContainerSpec"]  # the image's entrypoint is replaced, never relied on
    assert task["ContainerSpec"]["Env"] == ["A=1", "B=2"]
    assert task["ContainerSpec"]["Mounts"] == [
        {"Type": "volume", "Source": "v", "Target": "/backup/app/v", "ReadOnly": True}
    ]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Placement"] == {"Constraints": ["node.id==n1"]}
    assert task["ContainerSpec"]["Secrets"][0]["File"]["Name"] == "restic-password"


def test_job_output_never_shows_a_urls_user_or_password():
    from coopcloud.ops.backup.repository import redact

    said = "Is there a repository at the following location?\nsftp://root:S3cret@10.0.0.1:2222//srv/repo"
    assert redact(said).endswith("sftp://10.0.0.1:2222//srv/repo")
    assert redact("root@10.0.0.1: Permission denied (publickey).") == "10.0.0.1: Permission denied (publickey)."
    assert redact("rest:https://u:p@h:8000/x and sftp:backup@[::1]:/r") == "rest:https://h:8000/x and sftp:[::1]:/r"
    assert parse_location("s", "sftp://u:S3cret@h:22//r").shown == "sftp://h:22//r"


def test_repository_locations():
    assert parse_location("s", "volume:coop-backups").volume == "coop-backups"
    assert parse_location("s", "rest:https://user:pw@vault.example.org/x").shown == "rest:https://vault.example.org/x"
    assert parse_location("s", "sftp:backup@vault:/srv/restic").shown == "sftp:vault:/srv/restic"
    for bad in ("/srv/restic", "http://x", "volume:../x"):
        with pytest.raises(Exception, match="not a"):
            parse_location("s", bad)


def test_snapshot_rows_and_picking():
    class Ref:
        name = "a.org"

    raw = {
        "id": "abcdef0123",
        "short_id": "abcdef01",
        "time": "2026-01-01T00:00:00Z",
        "tags": ["coop", "app=a.org", "why=pre-upgrade", "version=1.0.0+1", "recipe=r", "run=x"],
        "paths": ["/backup/app/files/keep", "/backup/db/dumps/app.sql.gz"],
    }
    snap = Snapshot.from_restic(raw)
    assert (snap.why, snap.version, snap.services) == ("pre-upgrade", "1.0.0+1", ("app", "db"))
    assert (snap.run, snap.failed_run, snap.to_json()["failed_run"]) == ("run=x", False, False)
    other = Snapshot.from_restic({**raw, "id": "abd0", "time": "2026-01-02T00:00:00Z"})
    assert pick(Ref, [snap, other], None) is other
    assert pick(Ref, [snap, other], "abc") is snap
    with pytest.raises(KeyError, match="matches several"):
        pick(Ref, [snap, other], "ab")
    with pytest.raises(KeyError, match="no snapshots"):
        pick(Ref, [], None)


def test_a_rolled_back_upgrade_names_its_snapshot_and_the_restore_command():
    from types import SimpleNamespace

    from coopcloud.errors import DeployFailed, RolledBack
    from coopcloud.ops.deploy import DeployOptions
    from coopcloud.ops.deploy.pipeline import _naming_the_snapshot

    app: Any = SimpleNamespace(name="a.org")
    options = DeployOptions(snapshot="pre-upgrade")
    failure = RolledBack(
        "app a.org: release 1.1.0 failed (service app: exit 1); every service was rolled back to 1.0.0",
        hint="see: coop app errors a.org",
        details=["task: exit 1"],
    )
    assert _naming_the_snapshot(app, failure, None, options) is failure  # no snapshot was taken
    taken: Any = SimpleNamespace(short_id="1a2b3c4d", snapshot="1a2b3c4d" + "0" * 56)
    err = _naming_the_snapshot(app, failure, taken, options)
    assert isinstance(err, RolledBack) and err.details == ["task: exit 1"]
    assert str(err) == (
        "app a.org: release 1.1.0 failed (service app: exit 1); every service was rolled back to 1.0.0; "
        "the data as it was before is in snapshot 1a2b3c4d — to bring it back too, run: coop app restore a.org 1a2b3c4d"
    )
    not_rolled_back = DeployFailed("app a.org: release 1.1.0 failed", hint="see: coop app errors a.org")
    restoring = DeployOptions(snapshot="pre-upgrade", restore_on_failure=True)
    err = _naming_the_snapshot(app, not_rolled_back, taken, restoring)  # nothing to restore onto: named only
    assert type(err) is DeployFailed and "coop app restore a.org 1a2b3c4d" in str(err)


def test_a_job_whose_container_never_ran_is_not_a_success():
    from coopcloud.ops.backup.job import run_job
    from coopcloud.ops.backup.restic import failure_reason as _reason
    from fakes.engine import FakeEngine

    class Rejecting(FakeEngine):
        """Swarm's answer when the node cannot pull the image: the task is rejected, exit code 0."""

        def service_create(self, spec, *, registry_auth=None):
            created = super().service_create(spec, registry_auth=registry_auth)
            self.add_task(
                {
                    "ID": "t1",
                    "ServiceID": created["ID"],
                    "DesiredState": "shutdown",
                    "Status": {
                        "State": "rejected",
                        "Err": "No such image: restic/restic:0.17.3",
                        "ContainerStatus": {"ExitCode": 0},
                    },
                }
            )
            return created

        def service_logs(self, *a, **k):
            return iter(())

    engine = Rejecting()
    result = run_job(engine, Job(kind="restore", app="a.org", image="restic/restic:0.17.3", script="true"))
    assert not result.ok and result.exit_code == -1
    assert _reason(result) == (
        "the restic container did not run: No such image: restic/restic:0.17.3 "
        "(set COOP_RESTIC_IMAGE to an image the server can pull)"
    )
    assert engine.services() == []  # the one-shot service is removed


def test_a_hook_that_prints_a_whole_dump_is_not_kept_in_memory(monkeypatch):
    """A hook whose output is large (a dump sent to stdout by mistake) keeps only its end, for the error line."""
    import tracemalloc
    from types import SimpleNamespace

    from coopcloud.ops.app import container
    from coopcloud.ops.backup import BackupFailed, run_hook
    from coopcloud.ops.backup.labels import ServiceBackup

    chunk = b"x" * 65535 + b"\n"

    def fake_run(_engine, _ref, _service, _cmd, *, on_output):
        for _ in range(1500):  # ~100 MB
            on_output("stdout", chunk)
        on_output("stderr", b"pg_dump: error: connection refused\n")
        return 1

    monkeypatch.setattr(container, "run", fake_run)
    svc = ServiceBackup(
        service="db",
        full_name="a_db",
        volumes=(),
        pre_hook="pg_dump app",
        post_hook=None,
        restore_pre_hook=None,
        restore_post_hook=None,
    )
    tracemalloc.start()
    try:
        with pytest.raises(BackupFailed) as failed:
            run_hook(object(), SimpleNamespace(name="a.org"), svc, "backup pre-hook", "pg_dump app")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert str(failed.value).startswith(
        "app a.org: service db: backup pre-hook failed (exit code 1): pg_dump: error: connection refused"
    )


def _job_engine(states):
    """A fake engine whose one job task goes through `states`, one per look (the last one stays)."""
    from fakes.engine import FakeEngine

    class Engine(FakeEngine):
        looks = 0

        def service_create(self, spec, *, registry_auth=None):
            created = super().service_create(spec, registry_auth=registry_auth)
            self.service_id = created["ID"]
            return created

        def tasks(self, filters=None):
            state, err = states[min(self.looks, len(states) - 1)]
            self.looks += 1
            return [
                {
                    "ID": "t1",
                    "ServiceID": self.service_id,
                    "DesiredState": "running",
                    "Status": {"State": state, "Err": err, "ContainerStatus": {"ExitCode": 0, "ContainerID": "c1"}},
                }
            ]

        def service_logs(self, *a, **k):
            return iter(())

    return Engine()


def test_a_job_is_given_up_when_swarm_never_starts_it_but_never_while_restic_runs(monkeypatch):
    from coopcloud.errors import CoopError
    from coopcloud.ops.backup import job as job_module
    from coopcloud.ops.backup.job import run_job

    monkeypatch.setattr(job_module, "POLL", 0.01)
    never = _job_engine([("pending", "no suitable node (scheduling constraints not satisfied on 1 node)")])
    with pytest.raises(CoopError, match=r"was not started by the swarm within 0 s \(no suitable node"):
        run_job(never, Job(kind="backup", app="a.org", image="restic", script="true"), start_timeout=0.05)
    assert never.services() == []  # removed

    # A backup that runs longer than the start timeout (hours, for a first backup of a large volume) ends as it ends.
    slow = _job_engine([("running", None)] * 30 + [("complete", None)])
    result = run_job(slow, Job(kind="backup", app="a.org", image="restic", script="true"), start_timeout=0.05)
    assert result.ok and slow.services() == []


def _tree(root) -> dict[str, str]:
    return {str(p.relative_to(root)): (p.read_text() if p.is_file() else "/") for p in sorted(root.rglob("*"))}


def _swap(tmp_path, target, *, discard=False):
    script = scripts.restore_swap_script([target], "t0", discard=discard)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)


def test_a_restore_puts_the_snapshots_paths_in_place_and_leaves_the_others(tmp_path):
    """The swap script, run for real by sh: each path the snapshot holds replaces the live one whole;
    what it does not hold stays; the scratch directory is gone; the last line says so."""
    vol = tmp_path / "vol"
    (vol / "keep" / "sub").mkdir(parents=True)
    (vol / "keep" / "sub" / "old.txt").write_text("old")
    (vol / "top.txt").write_text("old top")
    (vol / "other.txt").write_text("not in the snapshot")
    new = vol / ".coop-restore-t0" / str(vol).lstrip("/")
    (new / "keep").mkdir(parents=True)
    (new / "keep" / "a.txt").write_text("new a")
    (new / "top.txt").write_text("new top")
    p = _swap(tmp_path, scripts.RestoreTarget(str(vol), ("keep", "top.txt", "absent")))
    assert p.returncode == 0 and p.stdout.strip().endswith("coop-result: swapped"), p.stderr
    assert _tree(vol) == {"keep": "/", "keep/a.txt": "new a", "other.txt": "not in the snapshot", "top.txt": "new top"}


def test_a_whole_volume_restore_swaps_every_top_level_entry_and_a_missing_scratch_changes_nothing(tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / ".hidden").write_text("old")
    (vol / "stays.txt").write_text("not in the snapshot")
    target = scripts.RestoreTarget(str(vol))
    p = _swap(tmp_path, target)
    assert p.returncode == scripts.REFUSED and "are gone; nothing was changed" in p.stderr
    assert _tree(vol) == {".hidden": "old", "stays.txt": "not in the snapshot"}
    new = vol / ".coop-restore-t0" / str(vol).lstrip("/")
    new.mkdir(parents=True)
    (new / ".hidden").write_text("new")
    (new / "d").mkdir()
    p = _swap(tmp_path, target)
    assert p.returncode == 0 and p.stdout.strip().endswith("coop-result: swapped"), p.stderr
    assert _tree(vol) == {".hidden": "new", "d": "/", "stays.txt": "not in the snapshot"}
    (new).mkdir(parents=True)
    (new / "x").write_text("x")
    p = _swap(tmp_path, target, discard=True)
    assert p.returncode == 0 and p.stdout.strip().endswith("coop-result: discarded")
    assert _tree(vol) == {".hidden": "new", "d": "/", "stays.txt": "not in the snapshot"}


def test_backup_ls_marks_the_snapshot_of_a_run_the_history_says_failed(monkeypatch):
    """A backup that failed after its restic run began (its node lost…) notes the run's tag in its history
    event; `backup ls` marks a snapshot carrying that tag, whenever restic saved it."""
    import importlib
    from types import SimpleNamespace

    from coopcloud.ops.trail import audit

    listing = importlib.import_module(
        "coopcloud.ops.backup.snapshots"
    )  # the module (the package re-exports a function)

    def snap(run: str) -> Snapshot:
        return Snapshot.from_restic({"id": run * 8, "time": "2026-01-01T00:00:00Z", "tags": [f"run={run}"]})

    def event(result: str, failed_run: str | None, run: str | None = None) -> audit.Event:
        return audit.Event(when="", who="", command="backup create", app="a.org", server="s", result=result,
                           failed_run=failed_run, run=run)  # fmt: skip

    runs = "abcdef"
    monkeypatch.setattr(listing, "snapshots", lambda *a, **k: [snap(r) for r in runs])
    history = [
        event(audit.OK, None, "run=a"),
        event(audit.FAILED, "run=b"),
        event(audit.FAILED, None),
        event(audit.DID_NOT_FINISH, None, "run=d"),  # `backup create` killed outright: restic went on
        event(audit.RUNNING, None, "run=e"),  # not known yet
        event(audit.INTERRUPTED, None, "run=f"),
    ]
    monkeypatch.setattr(audit, "history", lambda client, stack: history)
    ref = SimpleNamespace(name="a.org", stack_name="a_org")
    found = listing.listed(SimpleNamespace(), SimpleNamespace(), ref)
    assert [s.failed_run for s in found] == [False, True, False, True, False, True]
    assert audit.Event.from_json(history[1].to_json()).failed_run == "run=b"
    assert audit.Event.from_json(history[3].to_json()).run == "run=d"
