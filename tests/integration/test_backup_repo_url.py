"""Backups to a restic URL repository on the rig: sftp through a real sshd, host keys really checked.

The sftp server is an sshd of this test's own (a fresh host key, a fresh client key), listening on
the default bridge's gateway address: the restic job is a swarm service without networks, so its
container sits on that bridge and reaches the host there (the rig's sshd listens on 127.0.0.1,
which is the container's own loopback). A host sshd rather than an sshd container: no image with
sshd can be pulled here, and Debian's sshd is already on every rig machine.

Each test uses a named repository setting (`--name`, then `COOP_BACKUP_REPOSITORY=repo:NAME` for its
commands), so the server's default setting, shared by every suite running on this engine, never changes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest

from test_app_flow import new_app, one_error_line
from test_backup_live import RESTIC_IMAGE, backup_env, backup_images, container_of, local_server, own_repository, sh  # noqa: F401

pytestmark = pytest.mark.integration

REG = "127.0.0.1:5000"


def bridge_gateway() -> str:
    out = subprocess.run(["docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out, "the default bridge has no gateway address"
    return out


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "coop-test", "-f", str(path)], check=True)
    return path


@pytest.fixture
def sftp_server(tmp_path):
    """An sshd (sftp only) on the bridge gateway: yields (host, port, client key, known_hosts, repository dir)."""
    d = tmp_path / "sftpd"
    d.mkdir()
    host_key, client_key = keygen(d / "host_key"), keygen(d / "client_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    host = bridge_gateway()
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    (d / "sshd_config").write_text(f"""\
ListenAddress {host}:{port}
HostKey {host_key}
AuthorizedKeysFile {d / 'authorized_keys'}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {d / 'sshd.pid'}
Subsystem sftp internal-sftp
ForceCommand internal-sftp
""")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (d / "sshd.log").read_text()
                time.sleep(0.1)
        known_hosts = d / "known_hosts"
        known_hosts.write_text(f"[{host}]:{port} {' '.join((d / 'host_key.pub').read_text().split()[:2])}\n")
        repo = d / "repo"
        yield host, port, client_key, known_hosts, repo
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def setting():
    """A repository setting of this test's own; its secrets are removed afterwards."""
    name = f"t{secrets.token_hex(4)}"
    yield name
    for _ in range(40):  # the last job may hold them a moment after it ended
        ids = setting_secrets(name)
        if not ids or subprocess.run(["docker", "secret", "rm", *ids], capture_output=True).returncode == 0:
            break
        time.sleep(0.5)


def setting_secrets(name: str) -> list[str]:
    return subprocess.run(["docker", "secret", "ls", "-q", "--filter", f"label=coop.backup.repository.setting={name}"],
                          capture_output=True, text=True, check=True).stdout.split()


def files_recipe() -> dict[str, str]:
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/web:1.0.0
    volumes: [files:/data]
    healthcheck:
      test: ["CMD-SHELL", "echo | nc -w 1 127.0.0.1 8080"]
      interval: 1s
      timeout: 1s
      retries: 5
    stop_grace_period: 1s
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+1.0.0"
        - "backupbot.backup=true"
volumes:
  files:
""",
        ".env.sample": "TYPE=filesapp\nDOMAIN=filesapp.example.com\n",
        "abra.sh": "",
        "README.md": "# filesapp\n",
    }


def snapshot_files(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "snapshots").iterdir()) if (repo / "snapshots").is_dir() else []


def test_sftp_repository_backs_up_and_restores_and_refuses_a_wrong_host_key(
        coop, tmp_path, stack_name, local_server, backup_env, sftp_server, setting):
    host, port, key, known_hosts, repo = sftp_server
    url = f"sftp://root@{host}:{port}/{repo}"
    new_app(coop, tmp_path, stack_name, "default", files_recipe())
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    sh(web, "mkdir -p /data/sub && echo one > /data/a.txt && head -c 100000 /dev/urandom > /data/sub/b.bin")
    before = sh(web, "cd /data && sha256sum a.txt sub/b.bin")

    # Checked before anything changes on the server: one line, exit 2, no secret made.
    for args, words in (
        (["--ssh-key", str(key)], "needs --known-hosts FILE"),
        (["--ssh-key", str(tmp_path / "nosuch"), "--known-hosts", str(known_hosts)], "cannot read it"),
        (["--ssh-key", str(key), "--known-hosts", str(key.with_suffix(".pub"))], "has no host key for"),
    ):
        r = coop("server", "backup-repo", "default", url, *args, "--name", setting)
        assert r.code == 2 and words in one_error_line(r.err), r
    r = coop("server", "backup-repo", "default", f"sftp://root@{host}:{port}", "--name", setting)
    assert r.code == 2 and "is not a restic sftp: URL" in one_error_line(r.err), r
    assert setting_secrets(setting) == []

    r = coop("server", "backup-repo", "default", url, "--ssh-key", str(key), "--known-hosts", str(known_hosts),
             "--name", setting)
    assert r.code == 0, r
    assert f"sftp://{host}:{port}/{repo}" in r.out and "ssh key and known_hosts" in r.out and "root@" not in r.out
    env = {**backup_env, "COOP_BACKUP_REPOSITORY": f"repo:{setting}"}

    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 0, r
    assert (repo / "config").is_file() and len(snapshot_files(repo)) == 1  # really on the sftp server
    listed = json.loads(coop("app", "backup", "ls", stack_name, "--json", env=env).out)
    assert [s["id"] for s in listed] == snapshot_files(repo)
    assert coop("app", "backup", "ls", stack_name, "--json").out.strip() == "[]"  # the test's own volume: untouched

    sh(web, "rm -rf /data/a.txt /data/sub")
    r = coop("app", "restore", stack_name, env=env)
    assert r.code == 0, r
    assert sh(web, "cd /data && sha256sum a.txt sub/b.bin") == before
    assert hashlib.sha256(b"one\n").hexdigest() in before

    # The same repository behind a host key that is not the server's: ssh refuses, nothing is recorded.
    wrong = keygen(tmp_path / "impostor_key")
    bad_hosts = tmp_path / "bad_known_hosts"
    bad_hosts.write_text(f"[{host}]:{port} {' '.join(wrong.with_suffix('.pub').read_text().split()[:2])}\n")
    first = set(setting_secrets(setting))
    r = coop("server", "backup-repo", "default", url, "--ssh-key", str(key), "--known-hosts", str(bad_hosts),
             "--name", setting)
    assert r.code == 0, r
    now = set(setting_secrets(setting))
    assert len(now) == 3 and not now & first  # a new generation; the old one removed whole
    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 1, r
    line = one_error_line(r.err)
    assert "host key is not the one in the known_hosts" in line and "no snapshot was kept" in line, line
    assert len(snapshot_files(repo)) == 1
