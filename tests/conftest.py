"""Shared fixtures. The real services come from the test rig (`rig/up`), started by `make test`.

Tests that need the rig are marked `integration`. Without the rig they are
skipped locally, but under CI (CI=true) a missing rig is a failure: CI must
prove the real thing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "recipes"
ORACLES = SHARED / "oracles"
DOCKER_SOCK = "/var/run/docker.sock"


def _socket_answers(path: str) -> bool:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.")
        s.close()
        return ok
    except OSError:
        return False


def _hypothesis_profiles() -> None:
    """`ci` (loaded under CI=true): reproducible and patient on a busy 2-core machine.

    Derandomized, so a run fails or passes the same way each time; no deadline and no `too_slow`
    health check, which trip when other jobs share the cores; fewer examples (tests that ask for
    more with @settings keep their number). Pick another with HYPOTHESIS_PROFILE=dev|ci.
    """
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, max_examples=50
    )
    settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


_hypothesis_profiles()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `corpus` need ../shared: skipped without it (with the reason), failed under CI."""
    if item.get_closest_marker("corpus") is not None:
        from shared_data import HAVE_SHARED, need_shared

        if not HAVE_SHARED:
            need_shared()


def require_rig(what: str) -> None:
    """Skip locally, fail under CI, when a rig component is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"test rig: {what} is not available (run rig/up)")
    pytest.skip(f"test rig: {what} is not available (run rig/up)")


@pytest.fixture(scope="session")
def local_engine_socket() -> str:
    """Path of the local Docker engine socket (swarm mode, `proxy` network present)."""
    if not _socket_answers(DOCKER_SOCK):
        require_rig(f"docker engine at {DOCKER_SOCK}")
    return DOCKER_SOCK


RIG_DIR = Path(os.environ.get("COOP_RIG_DIR", "/tmp/coop-rig"))
RIG_SSH_CONFIG = RIG_DIR / "ssh" / "config"
REGISTRY = "127.0.0.1:5000"


@pytest.fixture(scope="session")
def rig_ssh_config() -> str:
    """The throwaway ssh config written by rig/up; its `coop-test` alias reaches the rig's sshd."""
    if not RIG_SSH_CONFIG.is_file():
        require_rig(f"ssh config {RIG_SSH_CONFIG}")
    return str(RIG_SSH_CONFIG)


@pytest.fixture(scope="session")
def registry() -> str:
    """host:port of the loopback registry holding coop-test/web and coop-test/db images."""
    import urllib.request

    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=2).close()
    except OSError:
        require_rig(f"registry at {REGISTRY}")
    return REGISTRY


@pytest.fixture
def coop_env(tmp_path, monkeypatch) -> dict[str, str]:
    """An environment for coop with its own $ABRA_DIR and $DOCKER_CONFIG under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABRA_", "DOCKER_", "COOP_"))}
    env["ABRA_DIR"] = str(tmp_path / "abra")
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    if RIG_SSH_CONFIG.is_file():
        env["COOP_SSH_CONFIG"] = str(RIG_SSH_CONFIG)
    # Nothing can be pulled here: backups (upgrades of apps with backupbot labels) use the rig's restic.
    env["COOP_RESTIC_IMAGE"] = f"{REGISTRY}/coop-test/restic:0.14.0"
    return env


class CoopResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CoopResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def coop(coop_env):
    """Run the real `main()` in-process with injected streams and a temporary state root."""
    import io

    from coopcloud.cli.main import main

    def run(*argv: str, stdin: str = "", env: dict[str, str] | None = None) -> CoopResult:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), environ=env or coop_env, stdout=out, stderr=err, stdin=io.StringIO(stdin))
        return CoopResult(int(code), out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def ssh_server(coop, rig_ssh_config, registry) -> str:
    """The rig's sshd (its engine, over ssh) registered as server `coop-test` (`coop server add coop-test`)."""
    r = coop("server", "add", "coop-test")
    assert r.code == 0, r
    return "coop-test"


@pytest.fixture
def local_server(coop, local_engine_socket, registry) -> str:
    """The rig's local engine registered as server `default` (`coop server add --local`)."""
    r = coop("server", "add", "--local")
    assert r.code == 0, r
    return "default"


@pytest.fixture
def stack_name(request):
    """A stack name unique to this test; every object labelled with it is removed afterwards."""
    import re
    import uuid

    base = re.sub(r"[^a-z0-9]+", "", request.node.name.lower())[:20]
    name = f"t{base}_{uuid.uuid4().hex[:6]}"
    yield name
    remove_stack(name)


def _pending() -> list[str]:
    # One list per test session, even if this module is imported twice under different names.
    import types

    return sys.modules.setdefault("_coop_pending_stacks", types.SimpleNamespace(stacks=[])).stacks


def remove_stack(name: str) -> None:
    """Remove the stack's services now; its secrets, configs, networks and volumes at session end.

    Waiting for each test's containers to stop cost seconds per test; at session end they are
    long gone, so the rest is removed in one quick pass (`pytest_sessionfinish`).
    """
    import subprocess

    p = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}"],
        capture_output=True,
        text=True,
    )
    if p.stdout.split():
        subprocess.run(["docker", "service", "rm", *p.stdout.split()], capture_output=True)
    _pending().append(name)


def pytest_sessionfinish(session, exitstatus):
    stacks, _pending()[:] = list(_pending()), []
    for name in stacks:
        remove_stack_now(name)


def remove_stack_now(name: str) -> None:
    """Remove everything labelled com.docker.stack.namespace=<name> (services first), waiting for it."""
    import subprocess
    import time

    label = f"label=com.docker.stack.namespace={name}"

    def ids(*cmd: str) -> list[str]:
        p = subprocess.run(["docker", *cmd, "-q", "--filter", label], capture_output=True, text=True)
        return p.stdout.split()

    services = ids("service", "ls")
    if services:
        subprocess.run(["docker", "service", "rm", *services], capture_output=True)
        deadline = time.time() + 30
        while time.time() < deadline and ids("ps", "-a"):
            time.sleep(0.5)
    for kind in ("secret", "config", "network", "volume"):
        found = ids(kind, "ls")
        if found:
            subprocess.run(["docker", kind, "rm", *found], capture_output=True)
    # App secrets made by `coop app secret generate` carry coop.stack, not the stack namespace label;
    # the app's lock and audit trail carry coop.lock / coop.audit (they outlive `undeploy` on purpose).
    for kind, label in (("secret", "coop.stack"), ("config", "coop.lock"), ("config", "coop.audit")):
        p = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"label={label}={name}"], capture_output=True, text=True
        )
        if p.stdout.split():
            subprocess.run(["docker", kind, "rm", *p.stdout.split()], capture_output=True)


@contextlib.contextmanager
def rig_lock(name: str, *, exclusive: bool) -> Iterator[None]:
    """Hold a lock on a shared part of the rig, across every test process on this machine.

    Several suites (and pytest-xdist workers) share one rig: a test that changes a shared part
    (makes the no-swarm engine a swarm, kills a node of the 3-node swarm) takes it exclusively,
    the tests that rely on that part staying as it is take it shared.
    """
    import fcntl

    folder = RIG_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    held = os.environ.get("COOP_RIG_LOCKS_HELD")
    with open(folder / f"{name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if exclusive:  # what this process runs (`rig/multinode up`) must not wait for this lock again
            os.environ["COOP_RIG_LOCKS_HELD"] = f"{held or ''} {name}".strip()
        try:
            yield
        finally:
            if exclusive and held is None:
                os.environ.pop("COOP_RIG_LOCKS_HELD", None)
            elif exclusive:
                os.environ["COOP_RIG_LOCKS_HELD"] = held
            fcntl.flock(f, fcntl.LOCK_UN)


NOSWARM_SOCK = "/run/coop-rig-noswarm.sock"


@pytest.fixture(scope="session")
def _noswarm_engine() -> str:
    if not _socket_answers(NOSWARM_SOCK):
        require_rig(f"engine without swarm at {NOSWARM_SOCK}")
    return NOSWARM_SOCK


@pytest.fixture
def noswarm_engine_socket(_noswarm_engine: str) -> Iterator[str]:
    """A second engine started by rig/up that is NOT in swarm mode (and stays so during the test)."""
    with rig_lock("noswarm", exclusive=False):
        yield _noswarm_engine


@pytest.fixture
def noswarm_engine_to_init(_noswarm_engine: str) -> Iterator[str]:
    """The engine without swarm, for this test alone: it may init a swarm there; it leaves it afterwards."""
    import subprocess
    import time

    docker = ["docker", "-H", f"unix://{_noswarm_engine}"]
    with rig_lock("noswarm", exclusive=True):
        try:
            yield _noswarm_engine
        finally:
            subprocess.run([*docker, "swarm", "leave", "--force"], capture_output=True)
            deadline = time.time() + 30
            while time.time() < deadline:
                state = subprocess.run(
                    [*docker, "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True
                ).stdout.strip()
                if state == "inactive":
                    break
                time.sleep(0.2)


@pytest.fixture(params=["local", "ssh"])
def engine(request):
    """An EngineClient to the rig's engine, once over the unix socket and once over ssh."""
    from coopcloud.engine import connect

    if request.param == "local":
        sock = request.getfixturevalue("local_engine_socket")
        client = connect(f"unix://{sock}", name="default")
    else:
        config = request.getfixturevalue("rig_ssh_config")
        client = connect("ssh://coop-test", environ={**os.environ, "COOP_SSH_CONFIG": config}, name="coop-test")
    yield client
    client.close()


# -- the separate 3-node swarm (rig/multinode) -------------------------------------------------

MULTINODE_SCRIPT = ROOT / "rig" / "multinode"


class MultiNode:
    """The 3-node rig: coop-m1 (manager), coop-w1 and coop-w2 (workers), each its own engine."""

    nodes = ("m1", "w1", "w2")

    def __init__(self, env: dict[str, str]):
        self.ssh_config = env["COOP_SSH_CONFIG"]
        self.sockets = {n: env[f"COOP_MN_{n.upper()}"].split()[0] for n in self.nodes}
        self.addrs = {n: env[f"COOP_MN_{n.upper()}"].split()[1] for n in self.nodes}

    def hostname(self, node: str) -> str:
        return f"coop-{node}"

    def docker(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The docker CLI against one node's engine."""
        import subprocess

        return subprocess.run(
            ["docker", "-H", self.sockets[node], *args], capture_output=True, text=True, check=check, timeout=120
        )


@pytest.fixture(scope="session")
def multinode() -> MultiNode:
    """The separate 3-node swarm, started once per session by `rig/multinode up` (idempotent, ~2 s;
    the host's engine joins nothing). Left running for the next session; `rig/down` stops it."""
    import subprocess

    if os.geteuid() != 0:
        require_rig("the 3-node swarm (needs root for network namespaces)")
    # `up` takes the rig's lock exclusively itself when it starts or restarts a node (several workers on a
    # fresh machine; not while another test relies on the nodes or has one down); a no-op when all run.
    p = subprocess.run([str(MULTINODE_SCRIPT), "up"], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        require_rig(f"the 3-node swarm (rig/multinode up: {p.stderr.strip().splitlines()[-1:] or p.returncode})")
    env = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    return MultiNode(env)


@pytest.fixture(autouse=True)
def _multinode_held(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the 3-node rig holds its lock (across test processes and suites on this
    machine) from setup to teardown: shared, or exclusive for a test marked `kills_a_node`, so no test
    loses a node under another. `rig/multinode up|down` by hand takes it too."""
    if "multinode" not in request.fixturenames:
        yield
        return
    with rig_lock("multinode", exclusive=request.node.get_closest_marker("kills_a_node") is not None):
        yield


def remove_multinode_stack(mn: MultiNode, name: str) -> None:
    """Everything labelled with the stack on the 3-node swarm (services first), waiting for it."""
    import time

    label = f"label=com.docker.stack.namespace={name}"
    services = mn.docker("m1", "service", "ls", "-q", "--filter", label, check=False).stdout.split()
    if services:
        mn.docker("m1", "service", "rm", *services, check=False)
    deadline = time.time() + 30
    while time.time() < deadline:
        left = [c for n in mn.nodes for c in mn.docker(n, "ps", "-aq", "--filter", label, check=False).stdout.split()]
        if not left:
            break
        time.sleep(0.5)
    for kind in ("secret", "config", "network"):
        found = mn.docker("m1", kind, "ls", "-q", "--filter", label, check=False).stdout.split()
        if found:
            mn.docker("m1", kind, "rm", *found, check=False)
    for n in mn.nodes:
        found = mn.docker(n, "volume", "ls", "-q", "--filter", label, check=False).stdout.split()
        if found:
            mn.docker(n, "volume", "rm", "-f", *found, check=False)


@pytest.fixture
def changing():
    """An open change, as `AppContext.mutating()` makes one, for a unit test that calls a server-changing
    operation (`@mutation`) on a fake engine: no lock, no trail."""
    from coopcloud.ops.trail import mutation

    change = mutation.TrackedChange(_start=lambda _change: "test")
    token = mutation.ACTIVE.set(change)
    yield change
    mutation.ACTIVE.reset(token)
