"""Backups to restic URL repositories on the rig: sftp through a real sshd (host keys really checked),
and s3 on moto's S3 server (credentials really checked), both reached by the restic job's container.

The sftp server is an sshd of this test's own (a fresh host key, a fresh client key), listening on
the default bridge's gateway address: the restic job is a swarm service without networks, so its
container sits on that bridge and reaches the host there (the rig's sshd listens on 127.0.0.1,
which is the container's own loopback). A host sshd rather than an sshd container: no image with
sshd can be pulled here, and Debian's sshd is already on every rig machine. moto (a test dependency
from PyPI) serves S3 on the same address, from a thread of the test process.

Each test uses a named repository setting (`--name`, then `COOP_BACKUP_REPOSITORY=repo:NAME` for its
commands), so the server's default setting, shared by every suite running on this engine, never changes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backup_app import (  # noqa: F401
    REG,
    RESTIC_IMAGE,
    backup_env,
    backup_images,
    files_app,
    keygen,
    local_server,
    own_repository,
    sftp_server_at,
    sh,
)
from live_app import container_of, new_app, one_error_line

COOP = [sys.executable, "-c", "from coopcloud.cli.fast import run; run()"]  # what the console script runs

pytestmark = pytest.mark.integration


def bridge_gateway() -> str:
    """The host's address on docker's default bridge: the IPAM Gateway when the engine lists one, else
    the bridge interface's own IPv4 address (`docker0`, or the name in its options), else the first
    address of its subnet (what the engine gives the bridge when the config lists only the subnet)."""
    import ipaddress

    net = json.loads(
        subprocess.run(
            ["docker", "network", "inspect", "bridge", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    ipv4 = [c for c in (net.get("IPAM") or {}).get("Config") or [] if ":" not in c.get("Subnet", "")]
    if ipv4 and ipv4[0].get("Gateway"):
        return ipv4[0]["Gateway"]
    iface = (net.get("Options") or {}).get("com.docker.network.bridge.name") or "docker0"
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", iface], capture_output=True, text=True)
    for word in shown.stdout.split():
        if "/" in word and word[0].isdigit():
            return word.split("/", 1)[0]
    assert ipv4, "the default bridge has no IPv4 subnet"
    return str(next(ipaddress.ip_network(ipv4[0]["Subnet"]).hosts()))


@pytest.fixture
def sftp_server(tmp_path):
    """An sshd (sftp only) on the bridge gateway: yields (host, port, client key, known_hosts, repository dir)."""
    with sftp_server_at(tmp_path / "sftpd", bridge_gateway()) as server:
        yield server


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
    return subprocess.run(
        ["docker", "secret", "ls", "-q", "--filter", f"label=coop.backup.repository.setting={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def deployed_with_files(coop, tmp_path, stack_name: str, *, random_bytes: int) -> tuple[str, str]:
    """The files app deployed, with a text file and a random one in its volume: (container, their sha256s)."""
    new_app(coop, tmp_path, stack_name, "default", files_app("filesapp"))
    assert coop("app", "deploy", stack_name).code == 0
    web = container_of(stack_name, "app")
    sh(web, f"mkdir -p /data/sub && echo one > /data/a.txt && head -c {random_bytes} /dev/urandom > /data/sub/b.bin")
    return web, sh(web, "cd /data && sha256sum a.txt sub/b.bin")


def snapshot_files(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "snapshots").iterdir()) if (repo / "snapshots").is_dir() else []


def test_sftp_repository_backs_up_and_restores_and_refuses_a_wrong_host_key(
    coop, tmp_path, stack_name, local_server, backup_env, own_repository, sftp_server, setting
):
    run_coop = coop
    host, port, key, known_hosts, repo = sftp_server
    password = f"Pw-{secrets.token_hex(6)}"  # a password in the URL: never shown, kept or put in a Docker object
    url = f"sftp://root:{password}@{host}:{port}/{repo}"
    said: list[str] = []

    def coop(*argv, **kw):
        r = run_coop(*argv, **kw)
        said.append(r.out + r.err)
        return r

    web, before = deployed_with_files(coop, tmp_path, stack_name, random_bytes=100000)

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

    r = coop(
        "server",
        "backup-repo",
        "default",
        url,
        "--ssh-key",
        str(key),
        "--known-hosts",
        str(known_hosts),
        "--name",
        setting,
    )
    assert r.code == 0, r
    assert f"sftp://{host}:{port}/{repo}" in r.out and "ssh key and known_hosts" in r.out and "root@" not in r.out
    env = {**backup_env, "COOP_BACKUP_REPOSITORY": f"repo:{setting}"}

    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 0, r
    assert (repo / "config").is_file() and len(snapshot_files(repo)) == 1  # really on the sftp server
    listed = json.loads(coop("app", "backup", "ls", stack_name, "--json", env=env).out)
    assert [s["snapshot"] for s in listed] == snapshot_files(repo)
    # The command's default (this test's own volume, COOP_BACKUP_REPOSITORY=volume:… in backup_env) was not used.
    assert (
        subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"name={own_repository}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == ""
    )

    sh(web, "rm -rf /data/a.txt /data/sub")
    r = coop("app", "restore", stack_name, "--yes", env=env)
    assert r.code == 0, r
    assert sh(web, "cd /data && sha256sum a.txt sub/b.bin") == before
    assert hashlib.sha256(b"one\n").hexdigest() in before

    # A snapshot of this setting asked for where the command's repository is another: said where it is.
    r = coop("app", "backup", "verify", stack_name, listed[0]["snapshot"][:8])
    line = one_error_line(r.err)
    assert r.code == 3 and f"is not in volume:{own_repository} but in repository setting {setting}" in line, r
    assert f"COOP_BACKUP_REPOSITORY=repo:{setting}" in r.err

    # Its config lost: an error naming the repository, never "no snapshots", and never `restic init` over it.
    keys = sorted(p.name for p in (repo / "keys").iterdir())
    (repo / "config").rename(repo / "config.aside")
    try:
        for argv in (("app", "backup", "ls", stack_name), ("app", "backup", "create", stack_name)):
            r = coop(*argv, env=env)
            line = one_error_line(r.err)
            assert r.code == 1 and f"sftp://{host}:{port}/{repo}" in line and "has no config" in line, r
            assert "root@" not in r.err
        assert not (repo / "config").exists() and sorted(p.name for p in (repo / "keys").iterdir()) == keys
    finally:
        (repo / "config.aside").rename(repo / "config")
        known = subprocess.run(
            [
                "docker",
                "secret",
                "ls",
                "-q",
                "--filter",
                f"label=coop.backup.repository.shown=sftp://{host}:{port}/{repo}",
            ],
            capture_output=True,
            text=True,
        ).stdout.split()
        subprocess.run(["docker", "secret", "rm", *known], capture_output=True)

    # The same repository behind a host key that is not the server's: ssh refuses, nothing is recorded.
    wrong = keygen(tmp_path / "impostor_key")
    bad_hosts = tmp_path / "bad_known_hosts"
    bad_hosts.write_text(f"[{host}]:{port} {' '.join(wrong.with_suffix('.pub').read_text().split()[:2])}\n")
    first = set(setting_secrets(setting))
    r = coop(
        "server",
        "backup-repo",
        "default",
        url,
        "--ssh-key",
        str(key),
        "--known-hosts",
        str(bad_hosts),
        "--name",
        setting,
    )
    assert r.code == 0, r
    now = set(setting_secrets(setting))
    assert len(now) == 3 and not now & first  # a new generation; the old one removed whole
    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 1, r
    line = one_error_line(r.err)
    assert "host key is not the one in the known_hosts" in line and "no snapshot was kept" in line, line
    assert len(snapshot_files(repo)) == 1

    # The right host key, but a key the sftp server does not know: refused too, in ssh's words.
    r = coop(
        "server",
        "backup-repo",
        "default",
        url,
        "--ssh-key",
        str(wrong),
        "--known-hosts",
        str(known_hosts),
        "--name",
        setting,
    )
    assert r.code == 0, r
    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 1, r
    assert "the sftp server refused the ssh key" in one_error_line(r.err)
    assert len(snapshot_files(repo)) == 1

    # Nowhere: not in any output (a failing command's --debug traceback included), the history, or any
    # Docker object on the server (secrets' and configs' labels, the history's config, services).
    debug = subprocess.run(
        [
            sys.executable,
            "-c",
            "from coopcloud.cli.fast import run; run()",
            "--debug",
            "app",
            "backup",
            "create",
            stack_name,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr, debug
    said.append(debug.stdout + debug.stderr)
    coop("app", "history", stack_name, "--json")
    objects = []
    for kind in ("config", "secret", "service"):
        ids = subprocess.run(["docker", kind, "ls", "-q"], capture_output=True, text=True, check=True).stdout.split()
        if ids:
            # Not check=True: another suite's object may go between ls and inspect; the others are printed.
            objects.append(subprocess.run(["docker", kind, "inspect", *ids], capture_output=True, text=True).stdout)
    for config in subprocess.run(["docker", "config", "ls", "-q"], capture_output=True, text=True).stdout.split():
        objects.append(
            subprocess.run(
                ["docker", "config", "inspect", config, "--format", '{{printf "%s" .Spec.Data}}'],
                capture_output=True,
                text=True,
            ).stdout
        )
    for text in said + objects:
        assert password not in text and f"root:{password}" not in text
    assert not [t for t in said if "root@" in t]


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3 server on the bridge gateway, enforcing credentials: yields (endpoint, key id, secret, bucket lister).

    IAM auth is on after the three calls that make a user with an access key and an s3:* policy, so a
    request signed with any other key is refused, as a real S3 would.
    """
    try:
        import boto3
        import moto.settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.server import ThreadedMotoServer
    except ImportError:
        from conftest import require_rig

        require_rig("python package moto[s3] with flask (make venv)")
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 3)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    host = bridge_gateway()
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://{host}:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="coop")
        iam.put_user_policy(
            UserName="coop",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="coop")["AccessKey"]
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )

        def objects(bucket: str, prefix: str) -> list[str]:
            found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents") or []
            return sorted(o["Key"] for o in found)

        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"], objects
    finally:
        server.stop()


def test_s3_repository_with_credentials_as_secrets(
    coop, tmp_path, stack_name, local_server, backup_env, s3_server, setting
):
    endpoint, key_id, secret, objects = s3_server
    url = f"s3:{endpoint}/coop-backups"
    web, before = deployed_with_files(coop, tmp_path, stack_name, random_bytes=50000)

    env_file = tmp_path / "s3.env"
    env_file.write_text(f"# the backup user's key\nAWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    r = coop("server", "backup-repo", "default", url, "--env-file", str(env_file), "--name", setting)
    assert r.code == 0, r
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in r.out and secret not in r.out + r.err
    labels = subprocess.run(
        ["docker", "secret", "inspect", *setting_secrets(setting), "--format", "{{json .Spec.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "AWS_SECRET_ACCESS_KEY" in labels and secret not in labels and key_id not in labels
    env = {**backup_env, "COOP_BACKUP_REPOSITORY": f"repo:{setting}"}

    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 0, r
    assert len(objects("coop-backups", "snapshots/")) == 1 and "config" in objects("coop-backups", "config")
    sh(web, "rm -rf /data/a.txt /data/sub")
    r = coop("app", "restore", stack_name, "--yes", env=env)
    assert r.code == 0, r
    assert sh(web, "cd /data && sha256sum a.txt sub/b.bin") == before
    r = coop("app", "backup", "verify", stack_name, "--json", env=env)  # restic check + restore --verify, on S3
    assert r.code == 0 and json.loads(r.out)["files"] == 2, r

    # The variables from this environment instead (--env KEY), with a secret the server does not know.
    wrong = {**env, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": "not-" + secret}
    r = coop(
        "server",
        "backup-repo",
        "default",
        url,
        "--env",
        "AWS_ACCESS_KEY_ID",
        "--env",
        "AWS_SECRET_ACCESS_KEY",
        "--name",
        setting,
        env=wrong,
    )
    assert r.code == 0, r
    r = coop("app", "backup", "create", stack_name, env=env)
    assert r.code == 1, r
    line = one_error_line(r.err)
    assert "signature" in line and "no snapshot was kept" in line and secret not in r.err, line
    assert len(objects("coop-backups", "snapshots/")) == 1


def test_changing_the_setting_leaves_a_running_job_its_secrets(coop, coop_env, local_server, setting):
    """Docker refuses to remove a secret a service mounts: a job running during a change keeps its old
    secrets (and goes on running); the next change removes them."""
    env = {**coop_env, "S3_KEY": "first-value"}
    r = coop(
        "server", "backup-repo", "default", "s3:http://127.0.0.1:9/b", "--env", "S3_KEY", "--name", setting, env=env
    )
    assert r.code == 0, r
    first = setting_secrets(setting)
    assert len(first) == 2
    names = subprocess.run(
        ["docker", "secret", "inspect", *first, "--format", "{{.Spec.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    holder = f"coop-test-holder-{secrets.token_hex(4)}"  # stands for a backup job that mounts the setting
    subprocess.run(
        [
            "docker",
            "service",
            "create",
            "-d",
            "--name",
            holder,
            *[a for n in names for a in ("--secret", n)],
            f"{REG}/coop-test/web:1.0.0",
            "sleep",
            "600",
        ],
        check=True,
        capture_output=True,
    )
    try:
        r = coop(
            "server", "backup-repo", "default", "s3:http://127.0.0.1:9/c", "--env", "S3_KEY", "--name", setting, env=env
        )
        assert r.code == 0, r
        assert "2 secret(s) of the previous setting are mounted by a running backup job" in r.err
        assert set(first) < set(setting_secrets(setting)) and len(setting_secrets(setting)) == 4
        r = coop("server", "backup-repo", "default", "--name", setting, "--json")
        assert json.loads(r.out)["repository"] == "s3:http://127.0.0.1:9/c"  # the new generation is the setting
        # --remove while a job mounts the old generation: all or nothing — nothing (the setting did not revert).
        r = coop("server", "backup-repo", "default", "--name", setting, "--remove")
        assert r.code == 10 and "nothing was removed" in one_error_line(r.err), r
        assert len(setting_secrets(setting)) == 4
        r = coop("server", "backup-repo", "default", "--name", setting, "--json")
        assert json.loads(r.out)["repository"] == "s3:http://127.0.0.1:9/c"
        spec = subprocess.run(
            ["docker", "service", "inspect", holder, "--format", "{{json .Spec}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "first-value" not in spec
    finally:
        subprocess.run(["docker", "service", "rm", holder], capture_output=True)
    for _ in range(40):  # the holder's container goes away a moment after its service
        r = coop("server", "backup-repo", "default", "volume:coop-test-unused", "--name", setting)
        assert r.code == 0, r
        if "mounted by a running" not in r.err:
            break
        time.sleep(0.5)
    assert len(setting_secrets(setting)) == 1  # only the last setting's secret is left
    r = coop("server", "backup-repo", "default", "--name", setting, "--remove")
    assert r.code == 0 and f"backup setting {setting} removed" in r.out, r
    assert setting_secrets(setting) == []
    r = coop("server", "backup-repo", "default", "--name", setting, "--remove")
    assert r.code == 3 and f"no backup repository setting '{setting}'" in r.err, r


def test_setting_changes_are_serialised_server_wide(coop, coop_env, local_server, setting, engine):
    """A change holds the server's backup-settings lock: another change meanwhile is refused (exit 9), and
    of changes made at the same time exactly one setting (one generation of secrets) is left."""
    from coopcloud.ops.trail import lock

    held = lock.acquire(engine, app="test", stack="coop-backup-settings", command="a test's change", operator="tester")
    try:
        r = coop("server", "backup-repo", "default", "volume:coop-test-x", "--name", setting)
        line = one_error_line(r.err)
        assert r.code == 9 and "are being changed by tester: a test's change" in line and "nothing was changed" in line
        assert setting_secrets(setting) == []
    finally:
        held.release()

    env = {**coop_env, "S3_KEY": "v"}
    argv = [*COOP, "server", "backup-repo", "default", "--env", "S3_KEY", "--name", setting]
    for round_ in range(3):
        procs = [
            subprocess.Popen(
                [*argv[:6], f"s3:http://127.0.0.1:9/r{round_}{i}", *argv[6:]],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
                stdout=subprocess.PIPE,
            )
            for i in range(2)
        ]
        done = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        assert all(code in (0, 9) for code, _ in done) and any(code == 0 for code, _ in done), done
        assert all("being changed by" in err for code, err in done if code == 9), done
        assert len(setting_secrets(setting)) == 2, done  # one generation: its URL and its variables


def test_an_unreachable_sftp_server_is_said_in_ssh_words_and_soon(
    coop, tmp_path, stack_name, local_server, backup_env, setting
):
    """Nothing listens there: ssh's own reason (never restic's bare EOF), well within ssh's 10 s connect timeout."""
    key = keygen(tmp_path / "client_key")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:1 {' '.join(key.with_suffix('.pub').read_text().split()[:2])}\n")
    r = coop(
        "server",
        "backup-repo",
        "default",
        "sftp://backup@127.0.0.1:1//srv/restic",
        "--ssh-key",
        str(key),
        "--known-hosts",
        str(known_hosts),
        "--name",
        setting,
    )
    assert r.code == 0, r
    new_app(coop, tmp_path, stack_name, "default", files_app("filesapp"))
    env = {**backup_env, "COOP_BACKUP_REPOSITORY": f"repo:{setting}"}
    start = time.monotonic()
    r = coop("app", "backup", "ls", stack_name, env=env)
    line = one_error_line(r.err)
    assert (
        r.code == 1
        and "cannot reach the sftp server: ssh: connect to host 127.0.0.1 port 1: Connection refused" in line
    ), r
    assert "sftp://127.0.0.1:1//srv/restic" in line and "backup@" not in r.err
    assert time.monotonic() - start < 30
