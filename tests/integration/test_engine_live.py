"""The engine client against the real engine: over the unix socket and over ssh (dial-stdio).

Needs the rig: the local engine in swarm mode, the loopback sshd with its
throwaway config (`coop-test` alias, used through COOP_SSH_CONFIG), the
loopback registry. Every object made here carries a unique prefix and the
label coop.test=1, and is removed afterwards.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from coopcloud import engine
from coopcloud.errors import EngineConflict, EngineError, EngineNotFound, EngineUnreachable, ExitStatus, ServerNotReady

pytestmark = pytest.mark.integration

LABELS = {"coop.test": "1"}


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _gone(pid: int) -> bool:
    """True when pid is neither running nor a zombie child of ours."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def ssh_env(rig_ssh_config):
    return {**os.environ, "COOP_SSH_CONFIG": rig_ssh_config}


@pytest.fixture(params=["unix", "ssh"])
def docker(request, local_engine_socket):
    """One client per test, local socket or ssh://coop-test: the same tests run on both."""
    if request.param == "unix":
        client = engine.connect(f"unix://{local_engine_socket}", name="default")
    else:
        env = request.getfixturevalue("ssh_env")
        client = engine.connect("ssh://coop-test", environ=env)
    with client:
        yield client
    assert _ssh_children() == [], "ssh processes left behind (or zombies) after close()"


def _ssh_children() -> list[str]:
    """Our child processes that are (or were) ssh, zombies included."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            cmd = (stat.parent / "cmdline").read_bytes().split(b"\0")[0]
            if cmd in (b"ssh", b"") or fields[0] == "Z":
                found.append(f"{stat.parent.name} {fields[0]} {cmd!r}")
    return found


@pytest.fixture
def prefix():
    return f"cooptest-{uuid.uuid4().hex[:8]}"


# -- reaching the engine ------------------------------------------------------


def test_info_over_unix_socket(local_engine_socket):
    with engine.connect(f"unix://{local_engine_socket}", name="default") as docker:
        info = docker.info()
        docker.version()
        docker.ping()
        assert info["Swarm"]["LocalNodeState"] == "active"
        assert docker.api_version == "1.41"
        assert docker.requests == 4  # _ping (negotiation), /info, /version, /_ping
        assert docker.channels_opened == 1  # one keep-alive connection for all of them


def test_info_over_ssh_one_process_serves_every_request(ssh_env):
    with engine.connect("ssh://coop-test", environ=ssh_env) as docker:
        info = docker.info()
        pid = docker.pid
        assert pid is not None
        for _ in range(5):
            docker.ping()
        docker.services({"label": "coop.test=1"})
        docker.version()
        assert info["Swarm"]["LocalNodeState"] == "active"
        assert docker.pid == pid
        assert docker.requests > 1 and docker.requests == 9
        assert docker.channels_opened == 1
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"ssh", b"-T"]
    assert _gone(pid), "ssh process left behind after close()"


@pytest.fixture
def runtime_dir():
    """A fresh $XDG_RUNTIME_DIR, short enough for ssh's control sockets (pytest's tmp_path is long)."""
    path = tempfile.mkdtemp(prefix="ct-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_next_command_reuses_the_ssh_connection(runtime_dir, ssh_env):
    """ControlPersist: after the first command closed, its master stays; the next one is a mux client."""
    env = {**ssh_env, "XDG_RUNTIME_DIR": runtime_dir}
    with engine.connect("ssh://coop-test", environ=env) as docker:
        docker.ping()
        control = next(a for a in docker._transport.argv() if a.startswith("ControlPath=")).split("=", 1)[1]
    assert os.path.dirname(control) == os.path.join(runtime_dir, "coop-ssh")
    assert (os.stat(os.path.dirname(control)).st_mode & 0o777) == 0o700
    check = ["ssh", "-F", ssh_env["COOP_SSH_CONFIG"], "-o", f"ControlPath={control}", "-O", "check", "coop-test"]
    assert subprocess.run(check, capture_output=True).returncode == 0, "no master left for the next command"
    with engine.connect("ssh://coop-test", environ=env) as docker:
        assert docker.get_many([("/info", {}), ("/nodes", {})])[0]["Swarm"]["LocalNodeState"] == "active"
        assert docker.requests == 3  # /_ping, /info and /nodes in one batch
    subprocess.run(check[:-3] + ["-O", "exit", "coop-test"], capture_output=True)
    off = {**env, "COOP_SSH_PERSIST": "0"}
    with engine.connect("ssh://coop-test", environ=off) as docker:
        docker.ping()
        assert "ControlPersist=no" in docker._transport.argv()


def test_the_console_script_starts_the_handshake_before_the_cli_loads(runtime_dir, ssh_env, tmp_path):
    """`coop app ps APP` starts the ssh master to APP's server first thing (cli/fast.py), then uses it."""
    import sys

    coop = str(Path(sys.executable).with_name("coop"))
    env = {
        **ssh_env,
        "XDG_RUNTIME_DIR": runtime_dir,
        "ABRA_DIR": str(tmp_path / "abra"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    assert subprocess.run([coop, "server", "add", "coop-test"], env=env, capture_output=True).returncode == 0
    for sock in Path(runtime_dir, "coop-ssh").glob("*"):  # `server add` kept one: start from none
        subprocess.run(
            ["ssh", "-F", ssh_env["COOP_SSH_CONFIG"], "-o", f"ControlPath={sock}", "-O", "exit", "coop-test"],
            capture_output=True,
        )
    (tmp_path / "abra" / "servers" / "coop-test" / "nothere.example.org.env").write_text("TYPE=webapp\n")
    r = subprocess.run([coop, "--json", "app", "ps", "nothere.example.org"], env=env, capture_output=True, text=True)
    assert r.returncode == 3 and "is not deployed on server coop-test" in r.stderr, r
    masters = list(Path(runtime_dir, "coop-ssh").glob("*"))
    assert len(masters) == 1  # the early master, reused by the command: not a second connection
    subprocess.run(
        ["ssh", "-F", ssh_env["COOP_SSH_CONFIG"], "-o", f"ControlPath={masters[0]}", "-O", "exit", "coop-test"],
        capture_output=True,
    )


def test_a_kept_connection_never_skips_host_key_checks(tmp_path, runtime_dir, ssh_env, rig_ssh_config):
    """A master to 127.0.0.1:2222 exists; an alias to the same address with another known_hosts is refused."""
    env = {**ssh_env, "XDG_RUNTIME_DIR": runtime_dir}
    with engine.connect("ssh://coop-test", environ=env) as docker:
        docker.ping()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    key = (tmp_path / "other.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:2222 {' '.join(key)}\n")
    config = tmp_path / "config"
    config.write_text(
        Path(rig_ssh_config)
        .read_text()
        .replace(str(Path(rig_ssh_config).parent / "known_hosts"), str(tmp_path / "known_hosts"))
    )
    with engine.connect("ssh://coop-test", environ={**env, "COOP_SSH_CONFIG": str(config)}) as docker:
        with pytest.raises(EngineUnreachable, match="Host key verification failed"):
            docker.ping()


def test_default_endpoint_uses_docker_host(local_engine_socket):
    env = {"DOCKER_HOST": f"unix://{local_engine_socket}"}
    with engine.connect("default", environ=env) as docker:
        assert docker.url == f"unix://{local_engine_socket}"
        assert docker.ping() == "OK"


def test_unreachable_socket_is_one_line_naming_the_server(tmp_path):
    with engine.connect(f"unix://{tmp_path}/docker.sock", name="srv1") as docker:
        with pytest.raises(EngineUnreachable) as caught:
            docker.info()
    text = _one_line(caught.value)
    assert "srv1" in text and f"unix://{tmp_path}/docker.sock" in text and "dockerd running" in text
    assert caught.value.exit_status == ExitStatus.ENGINE_UNREACHABLE


def _ssh_config(tmp_path: Path, rig_ssh_config: str, extra: str) -> dict[str, str]:
    config = tmp_path / "ssh_config"
    config.write_text(extra + "\n" + Path(rig_ssh_config).read_text())
    config.chmod(0o600)
    return {**os.environ, "COOP_SSH_CONFIG": str(config)}


def test_unknown_ssh_host(tmp_path, rig_ssh_config):
    env = _ssh_config(tmp_path, rig_ssh_config, "Host nowhere\n  HostName nonexistent.invalid\n")
    with engine.connect("nowhere", environ=env) as docker:
        with pytest.raises(EngineUnreachable) as caught:
            docker.info()
    text = _one_line(caught.value)
    assert "server nowhere" in text
    assert "Could not resolve hostname" in text  # ssh's own words
    assert "check the server name" in text


def test_refused_host_key(tmp_path, rig_ssh_config):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    key = (tmp_path / "other.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:2222 {' '.join(key)}\n")
    rig = Path(rig_ssh_config).read_text()
    identity = re.search(r"IdentityFile\s+(\S+)", rig).group(1)
    env = _ssh_config(
        tmp_path,
        rig_ssh_config,
        "Host impostor\n  HostName 127.0.0.1\n  Port 2222\n  User root\n"
        f"  IdentityFile {identity}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {tmp_path}/known_hosts\n  StrictHostKeyChecking yes\n",
    )
    with engine.connect("ssh://impostor", environ=env) as docker:
        with pytest.raises(EngineUnreachable) as caught:
            docker.info()
    text = _one_line(caught.value)
    assert "server impostor" in text
    assert "Host key verification failed." in text
    assert "known_hosts" in text


def test_lost_connection_mid_command(ssh_env):
    # No kept master: the channel's own ssh process then IS the connection. With a kept master the
    # channel's process is only a mux client that handed its pipe to the master, which may still
    # answer one more request before it notices the client died (seen under load).
    with engine.connect("ssh://coop-test", environ={**ssh_env, "COOP_SSH_PERSIST": "0"}) as docker:
        docker.info()
        os.kill(docker.pid, signal.SIGKILL)
        with pytest.raises(EngineUnreachable) as caught:
            docker.info()
    text = _one_line(caught.value)
    assert "lost the ssh connection to server coop-test" in text


def test_engine_without_swarm(noswarm_engine_socket):
    with engine.connect(f"unix://{noswarm_engine_socket}", name="lonely") as docker:
        assert docker.info()["Swarm"]["LocalNodeState"] == "inactive"
        with pytest.raises(ServerNotReady) as caught:
            docker.services()
        assert _one_line(caught.value) == "server lonely is not a swarm manager — run: coop server init lonely"
        assert caught.value.exit_status == ExitStatus.SERVER_NOT_READY
        with pytest.raises(ServerNotReady):
            docker.require_manager()


def test_ssh_port_and_user_in_the_address(ssh_env, rig_ssh_config):
    """ssh://root@host:port passes -p and the user; known_hosts etc. still come from the config."""
    config = Path(rig_ssh_config).read_text().replace("Host coop-test", "Host coop-test 127.0.0.1", 1)
    tmp = Path(ssh_env["COOP_SSH_CONFIG"]).with_name(f"config-{uuid.uuid4().hex[:6]}")
    tmp.write_text(config)
    tmp.chmod(0o600)
    try:
        with engine.connect("ssh://root@127.0.0.1:2222", environ={**ssh_env, "COOP_SSH_CONFIG": str(tmp)}) as docker:
            assert docker.ping() == "OK"
            argv = Path(f"/proc/{docker.pid}/cmdline").read_bytes().decode().split("\0")
            assert argv[argv.index("-p") + 1] == "2222" and "root@127.0.0.1" in argv
    finally:
        tmp.unlink()


# -- error mapping against the real engine -------------------------------------


def test_missing_service_is_not_found(docker):
    with pytest.raises(EngineNotFound) as caught:
        docker.service(f"cooptest-missing-{uuid.uuid4().hex[:6]}")
    text = _one_line(caught.value)
    assert docker.name in text and "not found" in text
    assert caught.value.status == 404
    assert isinstance(caught.value, KeyError)


def test_duplicate_secret_is_conflict(docker, prefix):
    name = f"{prefix}_secret_v1"
    created = docker.secret_create(name, b"s3cr3t", labels=LABELS)
    try:
        with pytest.raises(EngineConflict) as caught:
            docker.secret_create(name, b"other", labels=LABELS)
        assert docker.name in _one_line(caught.value)
        assert caught.value.status == 409
        assert docker.secret(name)["ID"] == created["ID"]
        assert [s["Spec"]["Name"] for s in docker.secrets({"name": name, "label": "coop.test=1"})] == [name]
    finally:
        docker.secret_remove(name)
    with pytest.raises(EngineNotFound):
        docker.secret(name)


def test_configs_and_networks(docker, prefix):
    cfg = f"{prefix}_conf_v1"
    docker.config_create(cfg, b"hello", labels=LABELS)
    try:
        live = docker.config(cfg)
        spec = dict(live["Spec"], Labels={**LABELS, "extra": "yes"})
        docker.config_update(cfg, live["Version"]["Index"], spec)
        assert docker.config(cfg)["Spec"]["Labels"]["extra"] == "yes"
        assert [c["Spec"]["Name"] for c in docker.configs({"name": cfg})] == [cfg]
    finally:
        docker.config_remove(cfg)
    net = f"{prefix}_net"
    docker.network_create({"Name": net, "Driver": "overlay", "Attachable": True, "Labels": LABELS})
    try:
        assert docker.network(net)["Labels"] == LABELS
        assert [n["Name"] for n in docker.networks({"label": "coop.test=1", "name": net})] == [net]
    finally:
        docker.network_remove(net)
    assert docker.nodes({"role": "manager"})
    assert isinstance(docker.volumes({"label": "coop.test=1"}), list)


def test_distribution_gives_digests(docker, registry):
    found = docker.distribution(f"{registry}/coop-test/web:1.0.0")
    assert found["Descriptor"]["digest"].startswith("sha256:")
    with pytest.raises(EngineNotFound):
        docker.distribution(f"{registry}/coop-test/web:9.9.9-missing")


# -- a real service: logs, tasks, exec, archive ----------------------------------


@pytest.fixture
def service(docker, prefix, registry):
    """A one-replica service that writes to stdout and stderr, then sleeps."""
    name = f"{prefix}_app"
    # On its own overlay network, not the default bridge (the rig's second,
    # swarm-less dockerd runs with --bridge none, which may remove docker0).
    network = docker.network_create({"Name": f"{prefix}_net", "Driver": "overlay", "Labels": LABELS})["Id"]
    spec = {
        "Name": name,
        "Labels": LABELS,
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": f"{registry}/coop-test/web:1.0.0",
                "Command": ["/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; exec sleep 3600"],
                "Labels": LABELS,
                "StopGracePeriod": 100_000_000,  # sleep as pid 1 ignores SIGTERM: kill after 0.1 s
            },
            "RestartPolicy": {"Condition": "none"},
            "Networks": [{"Target": network}],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    }
    docker.service_create(spec)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            running = docker.tasks({"service": name, "desired-state": "running"})
            if running and running[0]["Status"]["State"] == "running":
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"service {name} did not start: {docker.tasks({'service': name})}")
        yield name
    finally:
        docker.service_remove(name)
        for _ in range(150):  # the network is in use until the task's endpoint is gone
            try:
                docker.network_remove(network)
                break
            except EngineError:
                time.sleep(0.2)


def _container_of(docker, service: str) -> str:
    found = docker.containers({"label": f"com.docker.swarm.service.name={service}"})
    assert len(found) == 1, found
    return found[0]["Id"]


def test_a_hang_up_before_the_stream_connects_still_ends_it(docker, service):
    """`coop app logs -f` stops every service's stream with hang_up(); one whose thread had not
    connected yet (under load) used to connect afterwards and block its reader, and close(), forever."""
    import threading

    with docker.clone() as stream:
        stream.hang_up()
        ended: list[BaseException] = []

        def follow() -> None:
            try:
                list(stream.service_logs(service, follow=True, tail="all"))
            except BaseException as exc:
                ended.append(exc)

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        reader.join(10)
        if reader.is_alive():
            stream.hang_up()  # its socket exists now: let the reader (and this test) go
            reader.join(10)
            pytest.fail("a stream started after hang_up() was still blocked 10 s later")
    assert ended and isinstance(ended[0], EngineUnreachable), ended
    assert docker.ping() == "OK"


def test_service_logs_are_demultiplexed(docker, service):
    deadline = time.time() + 20
    frames = []
    while time.time() < deadline:
        frames = list(docker.service_logs(service, tail="all", lines=True))
        if len(frames) >= 3:
            break
        time.sleep(0.3)
    got = sorted((f.stream, f.data) for f in frames)
    assert got == [("stderr", b"err1"), ("stdout", b"out1"), ("stdout", b"out2")]
    # The same connection carries on after a finished stream.
    live = docker.service(service)
    assert live["Spec"]["Labels"] == LABELS
    assert (
        docker.services({"name": service, "label": "coop.test=1"}, status=True)[0]["ServiceStatus"]["RunningTasks"] == 1
    )


def test_follow_on_a_clone_beside_other_requests(docker, service):
    pid = docker.pid
    with docker.clone() as stream:
        frames = stream.service_logs(service, follow=True, tail="all", timestamps=True, lines=True)
        seen = []
        for frame in frames:
            seen.append(frame)
            assert re.match(rb"\d{4}-\d\d-\d\dT", frame.data), frame  # timestamps on
            assert docker.service(service)["Spec"]["Name"] == service  # main connection still free
            if len(seen) == 3:
                break
        frames.close()
    assert docker.pid == pid
    assert docker.ping() == "OK"


def test_exec_with_stdin_and_exit_code(docker, service):
    container = _container_of(docker, service)
    assert docker.container(container)["State"]["Running"]
    result = docker.exec_run(container, ["cat"], stdin=b"hello\nworld\n")
    assert result == engine.ExecResult(0, b"hello\nworld\n", b"")
    result = docker.exec_run(container, ["sh", "-c", "echo oops >&2; exit 3"])
    assert (result.exit_code, result.stderr) == (3, b"oops\n")
    big = bytes(range(256)) * 8192  # 2 MiB through cat: stdin is fed while output is read
    result = docker.exec_run(container, ["cat"], stdin=io.BytesIO(big))
    assert result.exit_code == 0 and result.stdout == big
    assert docker.ping() == "OK"  # the main connection survived the hijacked exec channels


def test_archive_put_and_get(docker, service):
    container = _container_of(docker, service)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("greeting.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"howdy"))
    docker.archive_put(container, "/tmp", buf.getvalue())
    stat, data = docker.archive_get(container, "/tmp/greeting.txt")
    assert stat["name"] == "greeting.txt" and stat["size"] == 5
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.extractfile("greeting.txt").read() == b"howdy"
    with pytest.raises(EngineNotFound):
        docker.archive_get(container, "/tmp/nope.txt")


def test_service_update_with_version(docker, service):
    live = docker.service(service)
    spec = dict(live["Spec"], Labels={**LABELS, "changed": "1"})
    docker.service_update(service, live["Version"]["Index"], spec, registry_auth_from="spec")
    assert docker.service(service)["Spec"]["Labels"]["changed"] == "1"
    with pytest.raises(Exception) as caught:  # a stale version is refused by the engine
        docker.service_update(service, live["Version"]["Index"], spec)
    assert "update out of sequence" in str(caught.value)
