"""What the backup tests share: the rig's restic image, a repository volume of each test's own,
the environment that sends a test's backups there, and a small web app whose files volume is backed up.

Import the fixtures into a test module (`from backup_app import backup_env, ...  # noqa: F401`).
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REG = "127.0.0.1:5000"
RESTIC_IMAGE = f"{REG}/coop-test/restic:0.14.0"


def _image_present(ref: str) -> bool:
    name, tag = ref.split("/", 1)[1].rsplit(":", 1)
    p = subprocess.run(
        [
            "curl",
            "-fs",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            f"http://{REG}/v2/{name}/manifests/{tag}",
        ]
    )
    return p.returncode == 0


@pytest.fixture(scope="module")
def backup_images():
    from conftest import require_rig

    for ref in (f"{REG}/coop-test/postgres:15", f"{REG}/coop-test/mariadb:10.11", RESTIC_IMAGE):
        if not _image_present(ref):
            require_rig(f"image {ref} (built by rig/images)")


@pytest.fixture
def own_repository(backup_images):
    """This test's backups go to a repository volume of its own (COOP_BACKUP_REPOSITORY): the server's
    setting is shared by every suite running on this engine, so tests never change it."""
    volume = f"coop-test-backups-{secrets.token_hex(4)}"
    yield volume
    for _ in range(40):  # the last job's container may still hold it for a moment
        if subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True).returncode == 0:
            break
        time.sleep(0.5)


@pytest.fixture
def backup_env(coop_env, own_repository):
    coop_env["COOP_RESTIC_IMAGE"] = RESTIC_IMAGE
    coop_env["COOP_BACKUP_REPOSITORY"] = f"volume:{own_repository}"
    return coop_env


@pytest.fixture
def local_server(backup_env, local_server):  # conftest's, once backup_env is set
    return local_server


def sh(container: str, script: str, *, check: bool = True) -> str:
    p = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{script!r} in {container}: {p.stderr.strip()}")
    return p.stdout


_HEALTHY_QUICKLY = """\
    healthcheck:
      test: ["CMD-SHELL", "echo | nc -w 1 127.0.0.1 8080"]
      interval: 1s
      timeout: 1s
      retries: 5
"""


def files_service(*labels: str, quick: bool = True) -> str:
    """The compose text of service `app`: the rig's web image with volume `files` at /data, backed up,
    with `labels` besides. `quick`: a 1 s healthcheck and a 1 s stability window (docker's default 5 s)."""
    text = f"  app:\n    image: {REG}/coop-test/web:1.0.0\n    volumes: [files:/data]\n"
    text += _HEALTHY_QUICKLY if quick else ""
    text += "    stop_grace_period: 1s\n    deploy:\n      labels:\n"
    text += "".join(
        f'        - "{label}"\n'
        for label in ("coop-cloud.${STACK_NAME}.version=1.0.0+1.0.0", "backupbot.backup=true", *labels)
    )
    text += "      update_config: {monitor: 1s}\n" if quick else ""
    return text


def files_app(name: str, *labels: str, quick: bool = True) -> dict[str, str]:
    """A recipe of that one service and its volume."""
    return {
        "compose.yml": f'version: "3.8"\nservices:\n{files_service(*labels, quick=quick)}volumes:\n  files:\n',
        ".env.sample": f"TYPE={name}\nDOMAIN={name}.example.com\n",
        "abra.sh": "",
        "README.md": f"# {name}\n",
    }


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "coop-test", "-f", str(path)], check=True)
    return path


@contextmanager
def sftp_server_at(d: Path, host: str) -> Iterator[tuple[str, int, Path, Path, Path]]:
    """An sshd of the test's own (sftp only; fresh host and client keys) listening on `host`, an address
    of this machine the restic job's container reaches: yields (host, port, client key, known_hosts,
    repository dir). A host sshd rather than an sshd container: no image with sshd can be pulled here."""
    d.mkdir()
    host_key, client_key = keygen(d / "host_key"), keygen(d / "client_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    (d / "sshd_config").write_text(f"""\
ListenAddress {host}:{port}
HostKey {host_key}
AuthorizedKeysFile {d / "authorized_keys"}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {d / "sshd.pid"}
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
        yield host, port, client_key, known_hosts, d / "repo"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
