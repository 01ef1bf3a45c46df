"""Ctrl-C / SIGTERM in the middle of `app backup create` and `app restore`, on the real swarm, with a real
coop process and real signals: the restic job stops at once (no snapshot of the interrupted backup, no
lock left in the repository), an interrupted restore restores nothing (tests/integration/test_backup_restore_atomic.py), the app's lock is released and the
history says "interrupted". A job killed outright leaves restic's lock: verify says so, not "damaged".
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backup_app import REG, RESTIC_IMAGE, backup_env, backup_images, files_app, local_server, own_repository, sh  # noqa: F401
from live_app import container_of, new_app, one_error_line

pytestmark = pytest.mark.integration

COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs


def hooked_recipe() -> dict[str, str]:
    return files_app(
        "hookapp",
        "backupbot.backup.volumes.files.path=big",
        "backupbot.backup.post-hook=echo post >> /data/post.log",
        "backupbot.restore.pre-hook=echo pre >> /data/restore.log",
        "backupbot.restore.post-hook=echo post >> /data/restore.log",
        quick=False,
    )


def job_containers(stack: str, kind: str, *, running: bool = True) -> list[str]:
    argv = [
        "docker",
        "ps",
        "-q",
        *([] if running else ["-a"]),
        "--filter",
        f"label=coop.backup.app={stack}",
        "--filter",
        f"label=coop.backup.job={kind}",
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def repository_dir(volume: str) -> Path | None:
    """Where the repository volume lives on this (local) engine's host (None before it exists)."""
    argv = ["docker", "volume", "inspect", volume, "--format", "{{.Mountpoint}}"]
    p = subprocess.run(argv, capture_output=True, text=True)
    return Path(p.stdout.strip()) if p.returncode == 0 else None


def restic_at_work(containers: list[str]) -> bool:
    """restic's own output says it has been at work a while: a backup's progress line a second or more
    in, a restore's "restoring <Snapshot" (printed once its index is loaded). Earlier, a signal can find
    restic 0.14 just starting, where it was seen to leave its lock behind."""
    for container in containers:
        p = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        out = p.stdout + p.stderr  # the job's stdout and stderr
        if '"seconds_elapsed"' in out or "restoring <Snapshot" in out:
            return True
    return False


def coop_process(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    """coop in a process of its own (to signal it), its output kept for `communicate()`."""
    return subprocess.Popen([*COOP, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt_when_running(env: dict[str, str], stack: str, kind: str, sig: int, *argv: str) -> tuple[int, str]:
    """Run coop in a process of its own; send `sig` once restic is at work in its job's container; its
    exit code and stderr."""
    proc = coop_process(env, *argv)
    try:
        deadline = time.monotonic() + 60
        while not restic_at_work(job_containers(stack, kind)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no {kind} job ran"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The job's container ends a moment after coop removed its service.
    deadline = time.monotonic() + 30
    while job_containers(stack, kind, running=False) and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc.returncode, err


def test_an_interrupted_backup_keeps_nothing_and_an_interrupted_restore_restores_nothing(
    coop, backup_env, tmp_path, stack_name, local_server, own_repository
):
    new_app(coop, tmp_path, stack_name, "default", hooked_recipe())
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    # A 200 GB file of zeros that takes no disk space: restic reads and hashes it for minutes (one chunk
    # to store), so the signal always finds the backup at work, however loaded the machine is.
    sh(web, "mkdir -p /data/big && truncate -s 200G /data/big/sparse.bin")

    code, err = interrupt_when_running(
        backup_env, stack_name, "backup", signal.SIGINT, "app", "backup", "create", stack_name
    )
    assert code == 130 and "interrupted (Ctrl-C)" in one_error_line(err), err
    assert sh(web, "cat /data/post.log").split() == ["post"]  # the post-hook undid the pre-hook's work
    # restic was stopped, not left to finish a snapshot (or die holding the repository's lock) after coop gave up.
    r = coop("app", "backup", "ls", stack_name, "--json")
    assert r.code == 0 and json.loads(r.out) == [], r
    repo = repository_dir(own_repository)
    assert repo is not None and list((repo / "locks").iterdir()) == []

    # Enough data that a restore is still at work when the signal arrives (not sparse: it would be written whole).
    sh(web, "rm /data/big/sparse.bin && head -c 200000000 /dev/urandom > /data/big/a.bin")
    r = coop("app", "backup", "create", stack_name)
    assert r.code == 0, r
    sh(web, "rm -rf /data/big")
    code, err = interrupt_when_running(
        backup_env, stack_name, "restore", signal.SIGTERM, "app", "restore", stack_name, "--yes"
    )
    assert code == 130, err
    line = one_error_line(err)
    assert "interrupted (SIGTERM)" in line and f"coop app restore {stack_name} " in line
    # Stopped while restic wrote into scratch: nothing was put in place, no hook ran, no scratch is left.
    assert "nothing was restored, the data is as it was" in line, line
    assert sh(web, "ls -A /data").split() == ["post.log"]
    assert list((repo / "locks").iterdir()) == []
    history = json.loads(coop("app", "history", stack_name, "--json").out)
    assert [e["result"] for e in history if e["command"] in ("backup create", "restore")] == [
        "interrupted",
        "ok",
        "interrupted",
    ]
    # The interrupted restore brought nothing back, or part of it: files for the next backup, enough that the
    # restore below is still at work when it is killed.
    sh(web, "mkdir -p /data/big && head -c 200000000 /dev/urandom > /data/big/a.bin")
    assert coop("app", "backup", "create", stack_name).code == 0  # the lock was released

    # A job killed outright (a node lost, the OOM killer) leaves its lock in the repository; restic check
    # then refuses to run: verify says so, it does not report damage. (A backup's job: a restore takes no lock.)
    sh(web, "head -c 200000000 /dev/urandom > /data/big/b.bin")
    proc = coop_process(backup_env, "app", "backup", "create", stack_name)
    try:
        deadline = time.monotonic() + 60
        while not ((running := job_containers(stack_name, "backup")) and list((repo / "locks").iterdir())):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        subprocess.run(["docker", "kill", *running], capture_output=True, check=True)  # restic holds its lock
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert list((repo / "locks").iterdir())
    r = coop("app", "backup", "verify", stack_name)
    assert r.code == 1, r
    line = one_error_line(r.err)
    assert "was not verified: the repository is locked by another restic job" in line and "repair" not in line, line

    # `app backup unlock` removes the stale lock — not while a restic job of ours uses the repository (a
    # stand-in service with a job's labels), then once none does.
    holder = f"coop-test-job-{secrets.token_hex(4)}"
    subprocess.run(
        [
            "docker",
            "service",
            "create",
            "-d",
            "--name",
            holder,
            "--label",
            "coop.backup.job=backup",
            "--label",
            f"coop.backup.repository=volume:{own_repository}",
            f"{REG}/coop-test/web:1.0.0",
            "sleep",
            "600",
        ],
        check=True,
        capture_output=True,
    )
    try:
        wait_running(holder)
        r = coop("app", "backup", "unlock", stack_name)
        assert r.code == 9 and f"restic job {holder}" in one_error_line(r.err), r
        assert list((repo / "locks").iterdir())
    finally:
        subprocess.run(["docker", "service", "rm", holder], capture_output=True)
    r = coop("app", "backup", "unlock", stack_name)
    assert r.code == 0 and f"the locks of volume:{own_repository} were removed" in r.out, r
    assert list((repo / "locks").iterdir()) == []
    assert coop("app", "backup", "verify", stack_name).code == 0

    # kill -9 of coop mid-backup leaves its job service on the swarm; `app unlock` removes it with the app's lock.
    sh(web, "mkdir -p /data/big && head -c 200000000 /dev/urandom > /data/big/a.bin")
    proc = subprocess.Popen([*COOP, "app", "backup", "create", stack_name], env=backup_env)
    try:
        deadline = time.monotonic() + 60
        while not job_containers(stack_name, "backup"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert job_services(stack_name)
    r = coop("app", "unlock", stack_name, "--yes")
    assert r.code == 0, r
    assert job_services(stack_name) == []


def test_a_restore_without_a_pre_hook_stopped_once_handed_its_renames_restores_nothing(
    coop, backup_env, tmp_path, stack_name, local_server, own_repository
):
    """With no restore pre-hook, coop hands the job its renames while restic still writes (it puts the restore in
    place the moment it is complete): a Ctrl-C then stops the job, which discards its scratch, and says so —
    never "nothing was restored" over renames that ran. Not stopped, the same restore completes and its
    post-hook runs."""
    recipe = files_app(
        "earlyapp",
        "backupbot.backup.volumes.files.path=big",
        "backupbot.restore.post-hook=echo post >> /data/restore.log",
        quick=False,
    )
    new_app(coop, tmp_path, stack_name, "default", recipe)
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    # 2 GB of zeros taking no disk space: restic reads them in a moment and stores one chunk; a restore writes them.
    sh(web, "mkdir -p /data/big && truncate -s 2G /data/big/zeros.bin && echo A > /data/big/state")
    assert coop("app", "backup", "create", stack_name).code == 0
    sh(web, "rm -rf /data/big && mkdir /data/big && echo C > /data/big/state")

    # restic's restore is held (SIGSTOP) from its start, its listing let run: coop names the snapshot and hands the
    # renames over while the restore cannot have ended, whatever the machine's speed; the Ctrl-C then comes, and
    # restic is let go once the job was told to stop.
    proc = coop_process(backup_env, "app", "restore", stack_name, "--yes")
    held: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not ((jobs := job_containers(stack_name, "restore")) and (held := _hold(jobs[0], "restic restore"))):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        while not _has_plan(jobs[0]):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        out = subprocess.run(["docker", "logs", jobs[0]], capture_output=True, text=True).stdout
        assert "coop-result: restored" not in out, out  # handed over early: restic still writes
        proc.send_signal(signal.SIGINT)
        while subprocess.run(["docker", "exec", jobs[0], "test", "-e", "/tmp/coop-stopped"]).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        _release(held)
        _, err = proc.communicate(timeout=60)
    finally:
        _release(held)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    line = one_error_line(err)
    assert "interrupted (Ctrl-C)" in line and "nothing was restored, the data is as it was" in line, line
    assert sh(web, "cat /data/big/state") == "C\n" and sh(web, "ls -A /data/big").split() == ["state"]
    assert sh(web, "ls -A /data").split() == ["big"]  # no scratch left, no post-hook run
    assert job_services(stack_name) == []

    # The Ctrl-C reaches coop only once the job has put the restore in place (coop paused meanwhile): it says so.
    proc = coop_process(backup_env, "app", "restore", stack_name, "--yes")
    try:
        deadline = time.monotonic() + 60
        while not ((jobs := job_containers(stack_name, "restore")) and _has_plan(jobs[0])):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 120
        while (
            "coop-result: swapped"
            not in subprocess.run(["docker", "logs", jobs[0]], capture_output=True, text=True).stdout
        ):
            assert time.monotonic() < deadline, "the job did not put the restore in place"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    line = one_error_line(err)
    assert "its files are wholly in place in the volumes" in line, line
    assert "the restore post-hook of app (which loads them) did not run" in line, line
    assert sh(web, "cat /data/big/state") == "A\n" and sh(web, "ls -A /data").split() == ["big"]
    assert job_services(stack_name) == []

    sh(web, "echo C > /data/big/state")
    r = coop("app", "restore", stack_name, "--yes")
    assert r.code == 0, r
    assert sh(web, "cat /data/big/state") == "A\n" and sh(web, "stat -c %s /data/big/zeros.bin") == "2147483648\n"
    assert sh(web, "cat /data/restore.log").split() == ["post"]
    assert sorted(sh(web, "ls -A /data").split()) == ["big", "restore.log"]


def test_a_snapshot_restic_saved_after_its_coop_was_killed_outright_is_marked_failed_run(
    coop, backup_env, tmp_path, stack_name, local_server, own_repository
):
    """kill -9 of `backup create` while restic works: nothing stops its job, which saves its snapshot. That run
    never ended ok (its post-hooks never ran; its history reads "did not finish"): `backup ls` marks it."""
    new_app(coop, tmp_path, stack_name, "default", files_app("killedapp", "backupbot.backup.volumes.files.path=big"))
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    sh(web, "mkdir -p /data/big && echo first > /data/big/first")
    assert coop("app", "backup", "create", stack_name).code == 0  # a good one
    sh(web, "head -c 300000000 /dev/urandom > /data/big/b.bin")
    repo = repository_dir(own_repository)
    assert repo is not None
    proc = subprocess.Popen([*COOP, "app", "backup", "create", stack_name], env=backup_env)
    try:
        deadline = time.monotonic() + 60
        while not (job_containers(stack_name, "backup") and list((repo / "locks").iterdir())):  # restic at work
            assert proc.poll() is None and time.monotonic() < deadline, "no backup job ran"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    job = job_containers(stack_name, "backup", running=False)
    deadline = time.monotonic() + 120
    while job_containers(stack_name, "backup"):
        assert time.monotonic() < deadline, "the orphaned backup job did not end"
        time.sleep(0.5)
    ended = subprocess.run(
        ["docker", "inspect", job[0], "--format", "{{.State.ExitCode}}"], capture_output=True, text=True
    )
    assert ended.stdout.strip() == "0", ended  # restic finished the snapshot

    r = coop("app", "backup", "ls", stack_name, "--json")
    assert r.code == 0, r
    listed = sorted(json.loads(r.out), key=lambda s: s["created"])
    assert [s["failed_run"] for s in listed] == [False, True], listed
    text = coop("app", "backup", "ls", stack_name)
    assert text.code == 0 and text.out.count("manual (failed run)") == 1, text
    history = json.loads(coop("app", "history", stack_name, "--json").out)
    assert [e["result"] for e in history if e["command"] == "backup create"] == ["ok", "did not finish"], history
    assert coop("app", "unlock", stack_name, "--yes").code == 0
    assert job_services(stack_name) == []


def _hold(container: str, command: str) -> list[int]:
    """SIGSTOP the processes of `container` whose command line starts with `command`; their pids."""
    top = subprocess.run(["docker", "top", container, "-eo", "pid,args"], capture_output=True, text=True).stdout
    pids = [int(pid) for pid, _, args in (line.strip().partition(" ") for line in top.splitlines()[1:])
            if args.strip().startswith(command)]  # fmt: skip
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def _release(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _has_plan(container: str) -> bool:
    """Whether coop has handed the restore job in `container` its renames."""
    return subprocess.run(["docker", "exec", container, "test", "-e", "/tmp/coop-plan"]).returncode == 0


def job_services(stack: str) -> list[str]:
    argv = ["docker", "service", "ls", "--format", "{{.Name}}", "--filter", f"label=coop.backup.app={stack}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def wait_running(service: str) -> None:
    deadline = time.monotonic() + 60
    while (
        "Running"
        not in subprocess.run(
            ["docker", "service", "ps", service, "--format", "{{.CurrentState}}"], capture_output=True, text=True
        ).stdout
    ):
        assert time.monotonic() < deadline, f"{service} never ran"
        time.sleep(0.2)


def test_reading_a_repository_volume_that_does_not_exist_leaves_nothing_behind(
    coop, backup_env, tmp_path, stack_name, local_server, own_repository
):
    """ls/verify/download/restore against volume:NAME where there is no such volume (a typo, a node without
    backups) say there are no snapshots; they used to leave an empty volume NAME on the server.
    (Runs after the test above, whose backups made sure the server has its backup password.)"""
    new_app(coop, tmp_path, stack_name, "default", hooked_recipe())  # not deployed: nothing to create a volume for
    r = coop("app", "backup", "ls", stack_name)
    assert r.code == 0 and "has no snapshots" in r.err, r
    for argv in (
        ("app", "backup", "verify", stack_name),
        ("app", "backup", "download", stack_name, "--dest", str(tmp_path / "d")),
    ):
        r = coop(*argv)
        assert r.code == 3 and "has no snapshots" in one_error_line(r.err), r
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name={own_repository}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert own_repository not in volumes


def test_a_copy_interrupted_mid_stream_leaves_the_connection_usable_for_cleanup(engine, backup_images):
    """`download` copies the scratch volume with archive_get; Ctrl-C in the middle of that stream used to
    leave the connection mid-body, so removing the scratch container and volume failed and both were left
    on the server. (Last in this file: the backups above pulled the restic image onto this engine.)"""

    class Interrupting:
        def write(self, _chunk: bytes) -> int:
            raise KeyboardInterrupt

    container = engine.container_create(
        {"Image": RESTIC_IMAGE, "Cmd": ["true"], "Labels": {"coop.backup.scratch": "test"}}
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.archive_get(container, "/usr/bin", into=Interrupting())
    finally:
        engine.container_remove(container, force=True)  # on the same client, as download's cleanup does
    assert (
        subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"id={container}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        == ""
    )


def test_a_job_service_a_killed_command_left_is_removed_by_the_next_backup_command(
    coop, backup_env, tmp_path, stack_name, local_server, monkeypatch
):
    """A job service whose task ended long ago lost its coop (kill -9): the next backup command removes it.
    (In-process coop: the minute a live coop would have had is made 5 s here.)"""
    from datetime import timedelta

    from coopcloud.ops.backup import job as job_module

    monkeypatch.setattr(job_module, "ORPHAN_AFTER", timedelta(seconds=5))
    left = f"coop-backup-{secrets.token_hex(5)}"
    subprocess.run(
        [
            "docker",
            "service",
            "create",
            "-d",
            "--name",
            left,
            "--label",
            "coop.backup.job=backup",
            "--label",
            f"coop.backup.app={stack_name}",
            "--restart-condition",
            "none",
            f"{REG}/coop-test/web:1.0.0",
            "true",
        ],
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            "Complete"
            not in subprocess.run(
                ["docker", "service", "ps", left, "--format", "{{.CurrentState}}"], capture_output=True, text=True
            ).stdout
        ):
            assert time.monotonic() < deadline, "the stand-in job never ended"
            time.sleep(0.2)
        time.sleep(6)
        assert left in job_services(stack_name)
        new_app(coop, tmp_path, stack_name, "default", files_app("orphans"))
        assert coop("app", "deploy", stack_name).code == 0
        assert coop("app", "backup", "create", stack_name).code == 0
        assert left not in job_services(stack_name)
    finally:
        subprocess.run(["docker", "service", "rm", left], capture_output=True)
