"""ops.nodes on the fake engine: finding a node, drain/activate, and which server entry names a node."""

from __future__ import annotations

import pytest

from coopcloud.engine.views import Node
from coopcloud.errors import NotFound
from coopcloud.ops.server import nodes, servers
from coopcloud.settings import Settings
from fakes.engine import FakeEngine


def _node(nid: str, hostname: str, addr: str, role: str = "worker", availability: str = "active") -> dict:
    return {
        "ID": nid,
        "Version": {"Index": 7},
        "Spec": {"Role": role, "Availability": availability, "Labels": {}},
        "Description": {"Hostname": hostname, "Engine": {"EngineVersion": "20.10.24"}},
        "Status": {"State": "ready", "Addr": addr},
        **({"ManagerStatus": {"Leader": True, "Addr": f"{addr}:2377"}} if role == "manager" else {}),
    }


# A two-node swarm seen from its manager m1, for the lookups that pick a node's engine.
MANAGER_AND_WORKER = [_node("m1id000000", "m1", "10.0.0.11", role="manager"), _node("w1id000000", "w1", "10.0.0.12")]
MANAGER_INFO = {"Swarm": {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "m1id000000"}}


class Pool:
    """A server pool whose every server is the one manager engine."""

    def __init__(self, client):
        self.manager = client

    def client(self, name):
        return self.manager


@pytest.fixture
def swarm() -> FakeEngine:
    return FakeEngine(
        name="m1",
        nodes=[
            _node("w2id000000", "w2", "10.0.0.13"),
            _node("m1id000000", "m1", "10.0.0.11", role="manager"),
            _node("w1id000000", "w1", "10.0.0.12"),
        ],
    )


def test_nodes_managers_first_then_by_hostname(swarm):
    assert [n.hostname for n in nodes.nodes(swarm)] == ["m1", "w1", "w2"]


def test_find_node_by_hostname_id_or_prefix(swarm):
    assert nodes.find_node(swarm, "m1", "w1").id == "w1id000000"
    assert nodes.find_node(swarm, "m1", "w2id").hostname == "w2"
    with pytest.raises(NotFound) as caught:
        nodes.find_node(swarm, "m1", "w9")
    assert str(caught.value) == "server m1 has no node w9 (its nodes: m1, w1, w2) — see: coop server nodes m1"


def test_drain_then_activate_sends_the_whole_spec_with_the_version(swarm):
    done = nodes.set_availability(swarm, "m1", "w1", "drain")
    node, changed = done.node, done.changed
    assert changed and node.availability == "drain"
    assert ("node_update", "w1id000000", 7, {"Role": "worker", "Availability": "drain", "Labels": {}}) in swarm.calls
    done = nodes.set_availability(swarm, "m1", "w1", "drain")
    node, changed = done.node, done.changed
    assert not changed  # already drained: nothing sent
    assert nodes.set_availability(swarm, "m1", "w1", "active").node.availability == "active"


def test_server_entry_for_a_node_by_name_or_address(tmp_path):
    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra"), "DOCKER_CONFIG": str(tmp_path / "docker")})
    w1 = Node.from_json(_node("w1id", "w1", "10.0.0.12"))
    w2 = Node.from_json(_node("w2id", "w2", "10.0.0.13"))
    assert nodes.server_for_node(settings, w1) is None
    for name, endpoint in (("w1", "ssh://w1"), ("other", "ssh://root@10.0.0.13:2222")):
        settings.server_dir(name).mkdir(parents=True)
        servers.write_context(settings, name, endpoint)
    assert nodes.server_for_node(settings, w1).name == "w1"  # by name
    assert nodes.server_for_node(settings, w2).name == "other"  # by the address in its endpoint
    assert nodes.server_for_node(settings, w1, exclude="w1") is None
    assert nodes.how_to_reach(w2) == "run: coop server add w2 (an ssh alias for it, or user@10.0.0.13)"


def test_a_task_still_running_on_the_managers_own_node_is_looked_up_there(tmp_path):
    """The task's state lags its container's: a job whose container just stopped is still "running" on
    the manager's node. That is the manager's own engine (its lookup says: no running container),
    never "no server entry reaches that node"."""
    from coopcloud.domain.app import AppRef
    from coopcloud.errors import EngineUnreachable

    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra"), "DOCKER_CONFIG": str(tmp_path / "docker")})
    stack = "app_example_org"
    svc = {"ID": "S1", "Spec": {"Name": f"{stack}_job", "Labels": {"com.docker.stack.namespace": stack}}}
    task = {
        "ID": "T1",
        "ServiceID": "S1",
        "NodeID": "m1id000000",
        "DesiredState": "running",
        "Status": {"State": "running", "Timestamp": "2024-05-01T10:00:00Z"},
    }
    ref = AppRef("m1", "app.example.org")
    manager = FakeEngine(name="m1", services=[svc], tasks=[task], nodes=MANAGER_AND_WORKER, info=MANAGER_INFO)
    assert nodes.engine_for_service(settings, Pool(manager), ref, "job") is manager
    on_worker = FakeEngine(
        name="m1", services=[svc], tasks=[{**task, "NodeID": "w1id000000"}], nodes=MANAGER_AND_WORKER, info=MANAGER_INFO
    )
    with pytest.raises(EngineUnreachable, match="service job runs on node w1"):
        nodes.engine_for_service(settings, Pool(on_worker), ref, "job")


def test_the_engine_of_a_node_is_the_managers_own_or_needs_a_server_entry(tmp_path):
    from coopcloud.errors import EngineUnreachable

    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra"), "DOCKER_CONFIG": str(tmp_path / "docker")})
    manager = FakeEngine(name="m1", nodes=MANAGER_AND_WORKER, info=MANAGER_INFO)
    assert (
        nodes.engine_for_node(settings, Pool(manager), "m1", "m1id000000", why="app a: its backups are kept") is manager
    )
    with pytest.raises(EngineUnreachable) as caught:
        nodes.engine_for_node(settings, Pool(manager), "m1", "w1id000000", why="app a: its backups are kept")
    assert str(caught.value) == (
        "app a: its backups are kept on node w1 (10.0.0.12), and no server entry reaches that node"
        " — run: coop server add w1 (an ssh alias for it, or user@10.0.0.12)"
    )
