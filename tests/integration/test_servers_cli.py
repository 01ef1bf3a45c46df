"""`coop server ...` against the real rig: local socket, ssh, and the ways a server can be unusable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_add_local_and_ssh_then_ls_status(coop, coop_env, local_engine_socket, rig_ssh_config):
    assert coop("server", "add", "--local").code == 0
    r = coop("server", "add", "coop-test")
    assert r.code == 0, r
    assert "server coop-test added (ssh://coop-test" in r.out
    # The endpoint is stored as a Docker context named after the server, as abra stores it.
    r = coop("server", "ls", "--status", "--json")
    assert r.code == 0, r
    rows = {row["server"]: row for row in json.loads(r.out)}
    assert rows["coop-test"]["endpoint"] == "ssh://coop-test"
    assert rows["coop-test"]["swarm"] == "active" and rows["coop-test"]["manager"] is True
    assert rows["default"]["swarm"] == "active"
    # The docker CLI itself understands the context coop wrote.
    env = dict(coop_env, DOCKER_CONTEXT="coop-test")
    proc = subprocess.run(
        ["docker", "context", "inspect", "coop-test", "--format", "{{.Endpoints.docker.Host}}"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "ssh://coop-test"


def test_add_twice_is_a_conflict(coop, rig_ssh_config):
    assert coop("server", "add", "coop-test").code == 0
    r = coop("server", "add", "coop-test")
    assert r.code == 10 and r.err.count("\n") == 1 and "already registered" in r.err


def test_unknown_ssh_host_is_one_line_exit_5_nothing_stored(coop, coop_env, tmp_path, rig_ssh_config):
    r = coop("server", "add", "nosuchhost.invalid")
    assert r.code == 5, r
    assert r.err.count("\n") == 1 and "nosuchhost.invalid" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "abra" / "servers" / "nosuchhost.invalid").exists()


def test_refused_host_key(coop, coop_env, tmp_path, rig_ssh_config):
    # Same sshd, but a known_hosts file that holds another key for it: ssh must refuse.
    other = tmp_path / "otherkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:2222 {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    config = tmp_path / "ssh_config"
    config.write_text(
        Path(rig_ssh_config)
        .read_text()
        .replace("Host coop-test", "Host coop-badkey")
        .replace(str(os.path.dirname(rig_ssh_config)) + "/known_hosts", str(known))
    )
    env = dict(coop_env, COOP_SSH_CONFIG=str(config))
    r = coop("server", "add", "coop-badkey", env=env)
    assert r.code == 5, r
    assert r.err.count("\n") == 1 and "coop-badkey" in r.err and "host key" in r.err.lower()
    assert not (tmp_path / "abra" / "servers" / "coop-badkey").exists()


def test_unreachable_engine(coop, coop_env, tmp_path):
    env = dict(coop_env, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    r = coop("server", "add", "--local", env=env)
    assert r.code == 5, r
    assert r.err.count("\n") == 1 and "default" in r.err and "dockerd" in r.err


def test_engine_without_swarm(coop, coop_env, noswarm_engine_socket):
    env = dict(coop_env, DOCKER_HOST=f"unix://{noswarm_engine_socket}")
    r = coop("server", "add", "--local", env=env)
    assert r.code == 0, r
    assert "not a swarm manager yet — run: coop server init default" in r.err
    r = coop("server", "ls", "--status", "--json", env=env)
    assert json.loads(r.out)[0]["swarm"] == "inactive"


def test_debug_shows_traceback_and_plain_does_not(coop, coop_env, tmp_path):
    env = dict(coop_env, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(Exception):
        coop("--debug", "server", "add", "--local", env=env)
    r = coop("server", "add", "--local", env=env)
    assert "Traceback" not in r.err


def test_rm_refuses_while_apps_remain(coop, coop_env, tmp_path, rig_ssh_config):
    assert coop("server", "add", "coop-test").code == 0
    (tmp_path / "abra" / "servers" / "coop-test" / "app.example.org.env").write_text("TYPE=x\n")
    r = coop("server", "rm", "coop-test")
    assert r.code == 10 and "app.example.org" in r.err
    r = coop("server", "rm", "coop-test", "--force")
    assert r.code == 0
    assert not (tmp_path / "abra" / "servers" / "coop-test").exists()


def test_global_flags_anywhere(coop, rig_ssh_config):
    assert coop("server", "add", "coop-test").code == 0
    a = coop("--json", "server", "ls")
    b = coop("server", "ls", "--json")
    assert a.code == b.code == 0 and a.out == b.out and json.loads(a.out)[0]["server"] == "coop-test"


def test_init_is_idempotent_on_an_engine_without_swarm(coop, coop_env, noswarm_engine_to_init):
    env = dict(coop_env, DOCKER_HOST=f"unix://{noswarm_engine_to_init}")
    docker = ["docker", "-H", f"unix://{noswarm_engine_to_init}"]
    assert coop("server", "add", "--local", env=env).code == 0
    # The rig's main engine already listens on 2377 on this host.
    addr = ["--listen-addr", "127.0.0.1:2378", "--advertise-addr", "127.0.0.1:2378"]
    r = coop("server", "init", "default", *addr, env=env)
    assert r.code == 0, r
    assert "initialised swarm" in r.out and "created the proxy network" in r.out
    r = coop("server", "init", "default", env=env)
    assert r.code == 0 and "nothing to do" in r.out
    state = subprocess.run([*docker, "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True)
    assert state.stdout.strip() == "active"
