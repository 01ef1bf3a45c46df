"""Engine client, offline: endpoints, ssh argv, filters, stream frames, error mapping on a fake engine."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from coopcloud import engine
from coopcloud.engine.endpoint import Endpoint, parse_endpoint, ssh_argv
from coopcloud.engine.stream import (
    Frame,
    FrameDecoder,
    encode_filters,
    iter_frames,
    iter_lines,
    label_filters,
    query_string,
)
from coopcloud.engine.transport import (
    DEFAULT_PERSIST,
    SshTransport,
    explain_ssh_failure,
    persist_seconds,
    shared_control_dir,
)
from coopcloud.errors import (
    EngineConflict,
    EngineError,
    EngineNotFound,
    EngineUnreachable,
    ExitStatus,
    ServerNotReady,
    UsageError,
)

# -- endpoints -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("unix:///var/run/docker.sock", Endpoint("unix", path="/var/run/docker.sock")),
        ("ssh://srv1", Endpoint("ssh", host="srv1")),
        ("ssh://root@srv1:2222", Endpoint("ssh", host="srv1", user="root", port=2222)),
        ("ssh://deploy@example.org/", Endpoint("ssh", host="example.org", user="deploy")),
        ("srv1", Endpoint("ssh", host="srv1")),
        ("root@10.0.0.5:22", Endpoint("ssh", host="10.0.0.5", user="root", port=22)),
        ("ssh://[::1]:2222", Endpoint("ssh", host="::1", port=2222)),
        ("tcp://127.0.0.1:2375", Endpoint("tcp", host="127.0.0.1", port=2375)),
        ("default", Endpoint("unix", path="/var/run/docker.sock")),
        ("", Endpoint("unix", path="/var/run/docker.sock")),
    ],
)
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text, {}) == expected


def test_default_follows_docker_host():
    assert parse_endpoint("default", {"DOCKER_HOST": "ssh://me@box:2200"}) == Endpoint(
        "ssh", host="box", user="me", port=2200
    )
    assert parse_endpoint("local", {"DOCKER_HOST": "unix:///run/d.sock"}).url == "unix:///run/d.sock"


@pytest.mark.parametrize("text", ["npipe:////./pipe/docker", "ssh://-oProxyCommand=x", "ssh://h:99999", "unix://rel"])
def test_parse_endpoint_refuses(text):
    with pytest.raises(UsageError):
        parse_endpoint(text, {})


def test_endpoint_url_round_trip():
    for text in ["ssh://root@srv1:2222", "ssh://srv1", "unix:///x.sock", "ssh://[::1]:22"]:
        assert parse_endpoint(text).url == text


# -- the ssh command line (exact, like Kamal's command builders) -------------------


def test_ssh_argv_alias_no_port():
    assert ssh_argv(Endpoint("ssh", host="srv1")) == [
        "ssh",
        "-T",
        "-o",
        "BatchMode=yes",
        "--",
        "srv1",
        "docker",
        "system",
        "dial-stdio",
    ]


def test_ssh_argv_port_user_config_control():
    argv = ssh_argv(
        Endpoint("ssh", host="h.example", user="root", port=2222), config="/tmp/cfg", control_path="/tmp/d/cm"
    )
    assert argv == [
        "ssh",
        "-T",
        "-o",
        "BatchMode=yes",
        "-F",
        "/tmp/cfg",
        "-o",
        "ControlMaster=auto",
        "-o",
        "ControlPath=/tmp/d/cm",
        "-o",
        "ControlPersist=no",
        "-p",
        "2222",
        "--",
        "root@h.example",
        "docker",
        "system",
        "dial-stdio",
    ]


def test_ssh_argv_persist_keeps_the_master_for_the_next_command():
    argv = ssh_argv(Endpoint("ssh", host="srv1"), control_path="/run/x/abc", persist=60)
    assert argv[argv.index("ControlPersist=60s") - 1] == "-o"
    assert "ControlPersist=no" not in argv


def test_persist_seconds_from_the_environment():
    assert persist_seconds({}) == DEFAULT_PERSIST == 60
    assert persist_seconds({"COOP_SSH_PERSIST": "0"}) == 0
    assert persist_seconds({"COOP_SSH_PERSIST": " 5 "}) == 5
    with pytest.raises(UsageError, match="COOP_SSH_PERSIST"):
        persist_seconds({"COOP_SSH_PERSIST": "soon"})


@pytest.fixture
def short_tmp():
    """A temporary directory with a path short enough for unix sockets (pytest's tmp_path is long)."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="ct-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_control_dir_is_private_or_not_used(short_tmp, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", os.path.join(short_tmp, "t"))
    os.mkdir(os.path.join(short_tmp, "t"))
    fallback = os.path.join(short_tmp, "t", f"coop-ssh-{os.getuid()}")
    env = {"XDG_RUNTIME_DIR": short_tmp}
    folder = shared_control_dir(env)
    assert folder == os.path.join(short_tmp, "coop-ssh") and (os.stat(folder).st_mode & 0o777) == 0o700
    os.chmod(folder, 0o755)  # someone else could reach the sockets: not that one
    assert shared_control_dir(env) == fallback
    os.rmdir(folder)
    os.symlink(short_tmp, folder)
    assert shared_control_dir(env) == fallback
    os.chmod(fallback, 0o777)
    assert shared_control_dir(env) is None  # no safe place: no reuse across commands
    assert shared_control_dir({"XDG_RUNTIME_DIR": "/" + "x" * 100}) is None


def test_control_path_differs_with_the_ssh_configuration(tmp_path, short_tmp):
    """Two configs for the same host:port differing only in known_hosts never share a master."""
    paths = []
    for name in ("a", "b"):
        config = tmp_path / f"config-{name}"
        config.write_text(f"Host srv\n  HostName 127.0.0.1\n  Port 2222\n  UserKnownHostsFile {tmp_path}/kh-{name}\n")
        env = {**os.environ, "XDG_RUNTIME_DIR": short_tmp, "COOP_SSH_CONFIG": str(config)}
        transport = SshTransport(Endpoint("ssh", host="srv"), "srv", environ=env)
        argv = transport.argv()
        paths.append(next(a for a in argv if a.startswith("ControlPath=")))
        assert "ControlPersist=60s" in argv
        assert transport.argv() == argv  # one path for the transport's life
    assert paths[0] != paths[1] and all(p.startswith(f"ControlPath={short_tmp}/coop-ssh/") for p in paths)
    off = SshTransport(Endpoint("ssh", host="srv"), "srv", environ={**env, "COOP_SSH_PERSIST": "0"})
    argv = off.argv()
    assert "ControlPersist=no" in argv and not any(a.startswith(f"ControlPath={short_tmp}/coop-ssh") for a in argv)
    off.close()


def test_preconnect_only_when_connections_persist(short_tmp, tmp_path):
    """The early channel is a real ssh process (here a stand-in that answers like dial-stdio);
    the transport's first open takes it, the second starts its own."""
    from coopcloud.engine import transport

    log = tmp_path / "started"
    fake = tmp_path / "ssh"
    fake.write_text(
        f'#!/bin/sh\nfor a; do [ "$a" = -G ] && {{ echo "host srv9"; exit 0; }}; done\necho x >> {log}\ncat\n'
    )
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "XDG_RUNTIME_DIR": short_tmp}
    transport.preconnect(Endpoint("ssh", host="srv9"), "srv9", {**env, "COOP_SSH_PERSIST": "0"})
    assert transport._PRECONNECTED == {}
    transport.preconnect(Endpoint("ssh", host="srv9"), "srv9", env)
    assert len(transport._PRECONNECTED) == 1
    ssh = SshTransport(Endpoint("ssh", host="srv9"), "srv9", environ=env)
    first = ssh.open(5)
    assert transport._PRECONNECTED == {} and first.proc is not None
    first.sock.sendall(b"echo")
    assert first.sock.recv(10) == b"echo"  # the early process carries this transport's bytes
    ssh.open(5)
    ssh.close()
    assert log.read_text().count("x") == 2  # the early one, then one more for the second channel


def test_warm_up_starts_the_app_servers_connection_only_for_app_commands(tmp_path, monkeypatch):
    from coopcloud.cli import fast
    from coopcloud.engine import transport

    seen = []
    monkeypatch.setattr(transport, "preconnect", lambda endpoint, name, environ: seen.append((endpoint.url, name)))
    abra = tmp_path / "abra"
    (abra / "servers" / "srv1").mkdir(parents=True)
    (abra / "servers" / "srv1" / "a.example.org.env").write_text("TYPE=x\n")
    monkeypatch.setenv("ABRA_DIR", str(abra))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    for argv in (
        ["app", "ls"],
        ["recipe", "ls", "x"],
        ["app", "ps", "--help"],
        ["app", "ps", "b.example.org"],
        ["app", "ps", "a*"],
    ):
        fast._warm_up(argv)
    assert seen == []
    fast._warm_up(["--json", "app", "ps", "a.example.org"])
    assert seen == [("ssh://srv1", "srv1")]
    (abra / "servers" / "srv2").mkdir()
    (abra / "servers" / "srv2" / "b.example.org.env").write_text("TYPE=x\n")
    (abra / "servers" / "empty").mkdir()
    seen.clear()
    fast._warm_up(["app", "ls", "--status"])
    assert seen == [("ssh://srv1", "srv1"), ("ssh://srv2", "srv2")]
    seen.clear()
    fast._warm_up(["app", "ls", "--status", "-s", "srv2"])
    assert seen == [("ssh://srv2", "srv2")]


def test_ssh_argv_never_weakens_host_keys():
    argv = " ".join(ssh_argv(Endpoint("ssh", host="srv1", port=22), config="c", control_path="p"))
    assert "StrictHostKeyChecking" not in argv and "UserKnownHostsFile" not in argv
    assert "-p 22" in argv  # only because the address named it


# -- filters and query strings -----------------------------------------------------


def test_encode_filters_like_the_docker_cli():
    assert encode_filters(None) is None
    assert encode_filters({}) is None
    assert encode_filters({"name": None}) is None
    assert encode_filters({"name": "web", "label": ["b=2", "a=1"], "desired-state": {"running": True}}) == (
        '{"desired-state":{"running":true},"label":{"a=1":true,"b=2":true},"name":{"web":true}}'
    )


def test_label_filters_and_query_string():
    assert label_filters({"b": "2", "a": None}) == ["a", "b=2"]
    assert query_string({"b": True, "a": None, "c": "x y", "d": False, "n": 3}) == "?b=1&c=x+y&d=0&n=3"
    assert query_string({}) == ""


# -- multiplexed streams (recorded bytes) -------------------------------------------

# `docker service logs` bytes as the engine sent them for: echo out1; echo err1 >&2; echo out2
RECORDED = (
    b"\x01\x00\x00\x00\x00\x00\x00\x05out1\n"
    b"\x02\x00\x00\x00\x00\x00\x00\x05err1\n"
    b"\x01\x00\x00\x00\x00\x00\x00\x05out2\n"
)


def test_frames_from_recorded_bytes_any_chunking():
    expected = [Frame("stdout", b"out1\n"), Frame("stderr", b"err1\n"), Frame("stdout", b"out2\n")]
    for size in (1, 3, 7, 8, 13, len(RECORDED)):
        chunks = [RECORDED[i : i + size] for i in range(0, len(RECORDED), size)]
        assert list(iter_frames(chunks)) == expected, size
        assert list(iter_frames(chunks, raw=False)) == expected


def test_frame_decoder_incremental_and_large_frame():
    payload = b"x" * 70000
    data = b"\x01\x00\x00\x00" + len(payload).to_bytes(4, "big") + payload
    decoder = FrameDecoder()
    assert decoder.feed(data[:100]) == []
    assert decoder.pending == 100
    assert decoder.feed(data[100:]) == [Frame("stdout", payload)]
    assert decoder.pending == 0


def test_tty_stream_passes_through():
    assert list(iter_frames([b"plain text\n", b"more"])) == [Frame("stdout", b"plain text\n"), Frame("stdout", b"more")]
    assert list(iter_frames([b"ab"])) == [Frame("stdout", b"ab")]
    assert list(iter_frames([b"\x01\x00\x00\x00"], raw=True)) == [Frame("stdout", b"\x01\x00\x00\x00")]


def test_truncated_and_bad_frames():
    with pytest.raises(ValueError, match="ended inside a frame"):
        list(iter_frames([RECORDED[:-2]]))
    with pytest.raises(ValueError, match="bad frame header"):
        FrameDecoder().feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")


def test_iter_lines_recuts_per_stream():
    frames = [Frame("stdout", b"a\nb"), Frame("stderr", b"e1\n"), Frame("stdout", b"c\nd")]
    assert list(iter_lines(frames)) == [
        Frame("stdout", b"a"),
        Frame("stderr", b"e1"),
        Frame("stdout", b"bc"),
        Frame("stdout", b"d"),
    ]


# -- ssh failures in ssh's own words ---------------------------------------------------


@pytest.mark.parametrize(
    "code, stderr, cls, words",
    [
        (
            255,
            "ssh: Could not resolve hostname nowhere.invalid: Name or service not known\n",
            EngineUnreachable,
            "Could not resolve hostname",
        ),
        (255, "Host key verification failed.\n", EngineUnreachable, "Host key verification failed."),
        (255, "ssh: connect to host 10.0.0.1 port 22: Connection refused\n", EngineUnreachable, "Connection refused"),
        (255, "root@10.0.0.1: Permission denied (publickey).\n", EngineUnreachable, "Permission denied (publickey)"),
        (127, "bash: line 1: docker: command not found\n", ServerNotReady, "docker is not installed on srv1"),
        (
            1,
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
            EngineUnreachable,
            "Docker daemon is not running",
        ),
        (
            255,
            "kex_exchange_identification: read: Connection reset by peer\n",
            EngineUnreachable,
            "kex_exchange_identification",
        ),
        (255, "", EngineUnreachable, "ssh exited with status 255"),
    ],
)
def test_explain_ssh_failure(code, stderr, cls, words):
    err = explain_ssh_failure("srv1", code, stderr)
    assert type(err) is cls
    text = str(err)
    assert words in text and "srv1" in text and "\n" not in text


def test_lost_connection_after_requests():
    err = explain_ssh_failure("srv1", 255, "Connection to 10.0.0.1 closed by remote host.\n", established=True)
    assert isinstance(err, EngineUnreachable)
    assert str(err).startswith("lost the ssh connection to server srv1 (Connection to 10.0.0.1 closed")


# -- error mapping against a fake engine on a unix socket ----------------------------


class _FakeEngine(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like dockerd
    routes: dict = {}
    seen: list = []

    def log_message(self, *args):  # quiet
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, body))
        if self.path == "/_ping":
            status, payload, ctype = 200, b"OK", "text/plain"
            headers = {"Api-Version": self.server.api_version}
        else:
            route = self.routes.get((self.command, self.path.split("?")[0]))
            status, obj = route if route else (404, {"message": f"page not found: {self.path}"})
            payload, ctype, headers = json.dumps(obj).encode(), "application/json", {}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _answer


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    api_version = "1.43"

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("fake", 0)


@pytest.fixture
def fake_engine(tmp_path):
    path = str(tmp_path / "fake.sock")
    _FakeEngine.seen = []
    server = _UnixServer(path, _FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, path
    server.shutdown()
    server.server_close()


NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node '
    "to swarm and try again."
)


def test_error_mapping(fake_engine):
    server, path = fake_engine
    _FakeEngine.routes = {
        ("GET", "/v1.41/services/gone"): (404, {"message": "service gone not found"}),
        ("POST", "/v1.41/secrets/create"): (409, {"message": "rpc error: code = AlreadyExists desc = secret x exists"}),
        ("GET", "/v1.41/services"): (503, {"message": NOT_MANAGER}),
        ("POST", "/v1.41/configs/create"): (400, {"message": "invalid name"}),
        ("GET", "/v1.41/info"): (500, {"message": "boom"}),
        ("GET", "/v1.41/version"): (200, {"ApiVersion": "1.43"}),
    }
    with engine.connect(f"unix://{path}", name="srv1") as docker:
        assert docker.version() == {"ApiVersion": "1.43"}
        assert docker.api_version == "1.41"  # min(engine 1.43, ours 1.41)

        with pytest.raises(EngineNotFound, match="^server srv1: service gone not found$") as e404:
            docker.service("gone")
        assert e404.value.status == 404 and e404.value.exit_status == ExitStatus.NOT_FOUND

        with pytest.raises(EngineConflict, match="^server srv1: .*secret x exists$"):
            docker.secret_create("x", b"v")

        with pytest.raises(ServerNotReady) as e503:
            docker.services()
        assert str(e503.value) == "server srv1 is not a swarm manager — run: coop server init srv1"
        assert e503.value.exit_status == ExitStatus.SERVER_NOT_READY

        with pytest.raises(EngineError, match="^server srv1: invalid name$") as e400:
            docker.config_create("bad", b"")
        assert type(e400.value) is EngineError and e400.value.status == 400

        with pytest.raises(EngineError, match="boom"):
            docker.info()
        assert docker.channels_opened == 1  # errors do not cost the connection
        assert docker.requests == 7
    paths = [p for _, p, _ in _FakeEngine.seen]
    assert paths[0] == "/_ping" and paths.count("/_ping") == 1  # negotiated once
    method, path_, body = _FakeEngine.seen[3]
    assert json.loads(body) == {"Name": "x", "Labels": {}, "Data": "dg=="}


def test_get_many_is_one_batch_in_order(fake_engine):
    server, path = fake_engine
    _FakeEngine.routes = {
        ("GET", "/v1.41/services"): (200, [{"ID": "s"}]),
        ("GET", "/v1.41/tasks"): (200, [{"ID": "t"}]),
        ("GET", "/v1.41/nodes"): (200, [{"ID": "n"}]),
    }
    with engine.connect(f"unix://{path}", name="srv1") as docker:
        got = docker.get_many([("/services", {"status": True}), ("/tasks", {"filters": '{"a":1}'}), ("/nodes", {})])
        assert got == [[{"ID": "s"}], [{"ID": "t"}], [{"ID": "n"}]]
        assert docker.api_version == "1.41" and docker.requests == 4  # the /_ping went in the same batch
        assert docker.get_many([("/nodes", {})]) == [[{"ID": "n"}]]
        with pytest.raises(EngineNotFound, match="^server srv1: page not found: /v1.41/nope$"):
            docker.get_many([("/nope", {}), ("/nodes", {})])
        assert docker.services() == [{"ID": "s"}]  # the connection is still in step after an error
        assert docker.channels_opened == 1
    assert [p.split("?")[0] for _, p, _ in _FakeEngine.seen] == [
        "/_ping",
        "/v1.41/services",
        "/v1.41/tasks",
        "/v1.41/nodes",
        "/v1.41/nodes",
        "/v1.41/nope",
        "/v1.41/nodes",
        "/v1.41/services",
    ]


def test_get_many_on_an_older_engine_asks_again_at_its_version(fake_engine):
    server, path = fake_engine
    server.api_version = "1.40"
    _FakeEngine.routes = {("GET", "/v1.40/nodes"): (200, [])}
    with engine.connect(f"unix://{path}") as docker:
        assert docker.get_many([("/nodes", {})]) == [[]]
        assert docker.api_version == "1.40"


def test_old_engine_is_refused(fake_engine):
    server, path = fake_engine
    server.api_version = "1.24"
    with engine.connect(f"unix://{path}", name="old") as docker:
        with pytest.raises(ServerNotReady, match="old is too old"):
            docker.info()


def test_filters_in_the_query_string(fake_engine):
    server, path = fake_engine
    _FakeEngine.routes = {("GET", "/v1.41/tasks"): (200, [])}
    with engine.connect(f"unix://{path}") as docker:
        assert docker.tasks({"service": "app_web", "desired-state": "running"}) == []
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(_FakeEngine.seen[-1][1]).query)
    assert json.loads(query["filters"][0]) == {"desired-state": {"running": True}, "service": {"app_web": True}}


def test_missing_ssh_client_is_unreachable(tmp_path):
    with engine.connect("ssh://srv1", environ={"PATH": str(tmp_path)}) as docker:
        with pytest.raises(EngineUnreachable, match="ssh client .* is not installed"):
            docker.ping()


def test_fake_ssh_without_docker_on_the_server(tmp_path):
    """A stand-in `ssh` on PATH that behaves like a server whose shell has no docker."""
    fake = tmp_path / "ssh"
    fake.write_text("#!/bin/sh\necho 'bash: line 1: docker: command not found' >&2\nexit 127\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    with engine.connect("ssh://srv2", environ=env) as docker:
        with pytest.raises(ServerNotReady) as caught:
            docker.info()
    assert str(caught.value) == "docker is not installed on srv2 — install Docker Engine there"


# -- cheap to import -------------------------------------------------------------------


def test_importing_engine_is_cheap():
    code = (
        "import sys, coopcloud.engine as e; e.connect; "
        "bad = [m for m in ('http.client', 'ssl', 'subprocess', 'json', 'socket') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_pool_gives_one_client_per_server(fake_engine):
    server, path = fake_engine
    _FakeEngine.routes = {("GET", "/v1.41/info"): (200, {"Name": "fake"})}
    with engine.Pool() as pool:
        a = pool.get(f"unix://{path}", name="srv1")
        assert pool.get(f"unix://{path}", name="srv1") is a
        assert pool.get(f"unix://{path}", name="srv2") is not a
        a.info()
        pool.get(f"unix://{path}", name="srv1").info()
        assert a.requests == 3 and a.channels_opened == 1
    with pytest.raises(EngineUnreachable, match="already closed"):
        a.info()


def test_ssh_hostname_resolves_an_alias_from_the_ssh_config(tmp_path):
    from coopcloud.engine.endpoint import SSH_CONFIG_ENV, ssh_hostname

    config = tmp_path / "ssh_config"
    config.write_text("Host coop-alias\n  HostName 10.9.8.7\n  Port 2222\n")
    environ = {"PATH": os.environ.get("PATH", ""), SSH_CONFIG_ENV: str(config)}
    assert ssh_hostname("coop-alias", environ) == "10.9.8.7"
    assert ssh_hostname("ssh://root@other.example", environ) == "other.example"
    assert ssh_hostname("unix:///var/run/docker.sock", environ) is None
    assert ssh_hostname("tcp://127.0.0.1:2375", environ) is None
