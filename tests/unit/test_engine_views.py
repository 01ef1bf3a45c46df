"""engine.views parsed from JSON recorded on the rig (tests/data/engine/, see tests/tools/record_engine.py),
and the Engine protocol that the real client and the shared fake both satisfy."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from coopcloud.engine import views
from coopcloud.engine.client import EngineClient
from coopcloud.engine.endpoint import parse_endpoint
from coopcloud.engine.protocol import Engine
from coopcloud.errors import EngineConflict, EngineError, EngineNotFound
from fakes.engine import FakeEngine, recording

UTC = UTC


def by_name(items):
    return {i.name: i for i in items}


@pytest.fixture(scope="module")
def services():
    return by_name(views.Service.from_json(s) for s in recording("services"))


@pytest.fixture(scope="module")
def tasks(services):
    ids = {s.id: name for name, s in services.items()}
    out: dict[str, list[views.Task]] = {}
    for raw in recording("tasks"):
        task = views.Task.from_json(raw)
        out.setdefault(ids[task.service_id], []).append(task)
    return out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-29T22:39:04.180397905Z", datetime(2026, 11, 29, 22, 39, 4, 180397, tzinfo=UTC)),
        ("2026-11-29T22:38:48.9259289Z", datetime(2026, 11, 29, 22, 38, 48, 925928, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5Z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-29T22:38:49Z", datetime(2026, 11, 29, 22, 38, 49, tzinfo=UTC)),
        ("2024-05-01T12:00:00.25+02:00", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time(text, expected):
    parsed = views.parse_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_service_running_with_ports_networks_and_labels(services):
    app = services["rec12_app"]
    assert app.id == "r7mu3x4p5adgsvzo7bps812ai" and app.version == 454
    assert app.image.startswith("127.0.0.1:5000/coop-test/web:1.0.0@sha256:")
    assert (app.mode, app.replicas, app.is_global) == ("replicated", 1, False)
    assert (app.running_tasks, app.desired_tasks) == (1, 1)
    assert app.labels["coop-cloud.rec12.timeout"] == "120"
    assert [str(p) for p in app.ports] == ["18612:8080/tcp (host)", "18613:8080/tcp"]
    assert app.ports[0] == views.Port(target=8080, published=18612, protocol="tcp", mode="host")
    assert len(app.networks) == 1
    assert app.update_status is None and app.update_state is None
    assert app.spec["Name"] == "rec12_app"  # what a service_update sends back
    assert app.created_at == datetime(2026, 11, 29, 22, 38, 48, 847327, tzinfo=UTC)


def test_service_modes(services):
    glob = services["rec12_global"]
    assert (glob.mode, glob.replicas, glob.is_global) == ("global", None, True)
    assert services["rec12_updating"].replicas == 2


@pytest.mark.parametrize(
    "name, state, failed, completed",
    [
        ("rec12_done", "completed", False, True),
        ("rec12_paused", "paused", True, False),
        ("rec12_rolledback", "rollback_completed", True, True),
        ("rec12_updating", "updating", False, False),
    ],
)
def test_update_states(services, name, state, failed, completed):
    status = services[name].update_status
    assert status is not None and status.state == state == services[name].update_state
    assert status.failed is failed
    assert status.started_at is not None and status.started_at.tzinfo is UTC
    assert (status.completed_at is not None) is completed
    assert status.message


def test_update_paused_names_the_failed_task(services):
    assert "w438ns5lfdy7ixolbxoibwznj" in services["rec12_paused"].update_status.message
    assert services["rec12_paused"].previous_spec is not None


def test_task_running(tasks):
    [task] = tasks["rec12_app"]
    assert task.running and not task.failed and task.state == "running"
    assert task.slot == 1 and task.node_id == "408s0yarrcd0c48wwh20t4v80"
    assert task.status.container is not None and task.status.container.pid > 0
    assert task.status.exit_code == 0 and task.status.err is None
    assert task.image.startswith("127.0.0.1:5000/coop-test/web:1.0.0")
    assert task.status.timestamp == datetime(2026, 11, 29, 22, 38, 50, 277241, tzinfo=UTC)


def test_task_global_has_no_slot(tasks):
    [task] = tasks["rec12_global"]
    assert task.slot is None and task.running


def test_tasks_failed_with_exit_code(tasks):
    failed = tasks["rec12_fails"]
    assert len(failed) == 3 and all(t.failed and not t.running for t in failed)
    assert {(t.status.err, t.status.exit_code, t.desired_state) for t in failed} == {
        ("task: non-zero exit (3)", 3, "shutdown")
    }


def test_task_rejected(tasks):
    rejected = tasks["rec12_noimage"]
    assert all(t.failed and t.state == "rejected" for t in rejected)
    assert rejected[0].status.err == "No such image: 127.0.0.1:5000/coop-test/nope:1"


def test_task_pending_with_err_is_unschedulable(tasks):
    [task] = tasks["rec12_pending"]
    assert task.state == "pending" and not task.failed and not task.running
    assert task.node_id == "" and task.status.container is None
    assert task.unschedulable == "no suitable node (scheduling constraints not satisfied on 1 node)"
    assert all(t.unschedulable is None for t in tasks["rec12_fails"])


def test_nodes():
    [node] = [views.Node.from_json(n) for n in recording("nodes")]
    assert (node.id, node.hostname, node.role, node.availability, node.state) == (
        "408s0yarrcd0c48wwh20t4v80",
        "vm",
        "manager",
        "active",
        "ready",
    )
    assert node.leader and node.manager_addr == "127.0.0.1:2377" and node.addr == "127.0.0.1"
    assert node.engine_version == "20.10.24+dfsg1" and node.os == "linux" and node.labels == {}
    assert node.version > 0


def test_secrets_configs_networks_volumes():
    [secret] = [views.Secret.from_json(s) for s in recording("secrets")]
    assert (secret.name, secret.id, secret.version) == ("rec12_pw_v1", "7nxaayfza90zzzu04xn6r53gt", 450)
    assert secret.labels == {"coop.test": "record-engine"} and secret.created_at.tzinfo is UTC
    assert "s3cret" not in repr(secret)
    [config] = [views.Config.from_json(c) for c in recording("configs")]
    assert (config.name, config.templating, config.data) == ("rec12_conf_v1", "golang", b'port={{ env "PORT" }}\n')
    [net] = [views.Network.from_json(n) for n in recording("networks")]
    assert (net.name, net.driver, net.scope, net.attachable, net.internal, net.ingress) == (
        "rec12_net",
        "overlay",
        "swarm",
        True,
        False,
        False,
    )
    assert net.id == "0jat6qy8x3j3hijxnflt6qhor" and net.labels["coop.stack"] == "rec12"
    [vol] = [views.Volume.from_json(v) for v in recording("volumes")]
    assert (vol.name, vol.driver, vol.scope, vol.mountpoint) == (
        "rec12_data",
        "local",
        "local",
        "/var/lib/docker/volumes/rec12_data/_data",
    )
    assert vol.labels["com.docker.stack.namespace"] == "rec12"
    assert vol.created_at == datetime(2026, 11, 29, 22, 38, 49, tzinfo=UTC)


def test_info_of_a_swarm_manager():
    info = views.Info.from_json(recording("info"))  # the keys views read, kept from the rig's /info
    assert (info.swarm_state, info.control_available, info.is_manager) == ("active", True, True)
    assert info.node_id == "408s0yarrcd0c48wwh20t4v80" and info.server_version.startswith("20.10")
    assert info.system_time == "2026-11-30T01:50:25.368628216Z"  # as sent: passed back as a `since`
    assert info.now == datetime(2026, 11, 30, 1, 50, 25, 368628, tzinfo=UTC)
    outside = views.Info.from_json({"SystemTime": "x", "Swarm": {"LocalNodeState": "inactive", "NodeID": ""}})
    assert (outside.is_manager, outside.node_id) == (False, "")
    worker = views.Info.from_json({"Swarm": {"LocalNodeState": "active", "ControlAvailable": False}})
    assert not worker.is_manager


def test_containers_newest_first_and_exec_status():
    [c] = [views.Container.from_json(c) for c in recording("containers")]
    assert c.name == "t15race_job.1.g9lvxnrrufehl09uo3fyqasw6" and c.state == "created"
    assert c.id.startswith("adc9464f") and c.created == 1796003431
    assert c.labels["com.docker.swarm.service.name"] == "t15race_job"
    older = {"Id": "old", "Names": ["/a"], "Created": 1}
    fake = FakeEngine(containers=[older, recording("containers")[0]])
    assert [x.id for x in views.containers(fake)] == [c.id, "old"]
    assert views.ExecStatus.from_json({"Running": True, "ExitCode": None}) == views.ExecStatus(True, None)
    assert views.ExecStatus.from_json({"Running": False, "ExitCode": 3}).exit_code == 3


def test_swarm_state_reads_five_lists_in_one_round_trip():
    fake = FakeEngine.recorded()
    now = views.swarm_state(fake, {"label": ["coop.test=record-engine"]})
    assert [c for c in fake.calls if c[0] == "get_many"] == [
        ("get_many", ["/info", "/networks", "/secrets", "/configs", "/services"])
    ]
    assert now.info.is_manager and "rec12_net" in [n.name for n in now.networks]
    assert [s.name for s in now.secrets] == ["rec12_pw_v1"] and [c.name for c in now.configs] == ["rec12_conf_v1"]
    names = [s.name for s in now.services]
    assert "rec12_paused" in names and names == sorted(names)
    assert views.swarm_state(fake, {"label": ["coop.test=nothing"]}).services == ()


def test_parsers_take_empty_json():
    """A field the engine leaves out gives the engine's default, never a KeyError."""
    svc = views.Service.from_json({})
    assert (svc.name, svc.version, svc.mode, svc.replicas, svc.update_status, svc.running_tasks) == (
        "",
        0,
        "replicated",
        1,
        None,
        None,
    )
    task = views.Task.from_json({})
    assert (task.state, task.slot, task.status.container, task.unschedulable) == ("", None, None, None)
    for cls in (views.Node, views.Secret, views.Config, views.Network, views.Volume, views.Info, views.Container):
        cls.from_json({})


# -- the Engine protocol: the real client and the one shared fake --------------------------------


def _protocol_methods() -> list[str]:
    return sorted(n for n, v in vars(Engine).items() if callable(v) and not n.startswith("_"))


@pytest.mark.parametrize("impl", [EngineClient, FakeEngine], ids=["EngineClient", "FakeEngine"])
def test_both_satisfy_the_engine_protocol(impl):
    for name in _protocol_methods():
        assert hasattr(impl, name), f"{impl.__name__} lacks Engine.{name}"
        wanted = inspect.signature(getattr(Engine, name))
        got = inspect.signature(getattr(impl, name))
        assert list(got.parameters) == list(wanted.parameters), f"{impl.__name__}.{name}{got} != Engine.{name}{wanted}"
        for p in wanted.parameters.values():
            assert got.parameters[p.name].kind == p.kind, (
                f"{impl.__name__}.{name}: {p.name} is {got.parameters[p.name].kind}"
            )
            assert (got.parameters[p.name].default is inspect.Parameter.empty) == (p.default is inspect.Parameter.empty)


def test_instances_are_engines():
    client = EngineClient(parse_endpoint("unix:///nonexistent.sock", {}))
    try:
        assert isinstance(client, Engine)  # no I/O: the client connects on the first request
    finally:
        client.close()
    assert isinstance(FakeEngine(), Engine)


def test_typed_reads_over_the_fake():
    fake = FakeEngine.recorded()
    names = [s.name for s in views.services(fake, status=True)]
    assert names == sorted(names) and "rec12_paused" in names
    assert views.service(fake, "rec12_done").update_state == "completed"
    assert views.service(fake, "rec12_done").running_tasks is None  # inspect has no status
    failed = [t for t in views.tasks(fake, {"service": ["rec12_fails"]}) if t.failed]
    assert len(failed) == 3
    assert [n.hostname for n in views.nodes(fake)] == ["vm"]
    label = {"label": ["coop.test=record-engine"]}
    assert [s.name for s in views.secrets(fake, label)] == ["rec12_pw_v1"]
    assert [c.name for c in views.configs(fake, label)] == ["rec12_conf_v1"]
    assert [n.name for n in views.networks(fake, {"label": ["coop.stack=rec12"]})] == ["rec12_net"]
    assert [v.name for v in views.volumes(fake, {"label": ["com.docker.stack.namespace=rec12"]})] == ["rec12_data"]
    assert views.volumes(fake, {"label": ["com.docker.stack.namespace=other"]}) == []


def test_fake_applies_writes_like_the_engine():
    fake = FakeEngine()
    created = fake.service_create(
        {"Name": "s_app", "Labels": {"a": "1"}, "TaskTemplate": {"ContainerSpec": {"Image": "x"}}}
    )
    svc = views.service(fake, "s_app")
    assert svc.id == created["ID"] and svc.labels == {"a": "1"}
    with pytest.raises(EngineConflict):
        fake.service_create({"Name": "s_app"})
    with pytest.raises(EngineError, match="out of sequence"):
        fake.service_update(svc.id, svc.version - 1, svc.spec)
    fake.service_update(svc.id, svc.version, {**svc.spec, "Labels": {"a": "2"}})
    after = views.service(fake, "s_app")
    assert after.labels == {"a": "2"} and after.version > svc.version and after.previous_spec is not None
    fake.secret_create("pw_v1", b"value", labels={"coop.stack": "s"})
    assert fake.secret_values == {"pw_v1": b"value"}
    assert all("value" not in repr(call) for call in fake.calls)  # a secret value never reaches a log
    fake.service_remove("s_app")
    with pytest.raises(EngineNotFound):
        fake.service("s_app")


def test_each_reads_a_decoded_list_answer_as_views():
    answer = [{"ID": "c1", "Spec": {"Name": "a_lock", "Labels": {"k": "v"}, "Data": "aGk="}, "Version": {"Index": 7}}]
    [config] = views.each(views.Config.from_json, answer)
    assert (config.id, config.name, config.version, config.labels, config.data) == (
        "c1",
        "a_lock",
        7,
        {"k": "v"},
        b"hi",
    )
    assert views.each(views.Config.from_json, None) == []  # an empty answer


def test_a_field_of_the_wrong_type_is_named_not_an_attribute_error():
    from coopcloud.rawdata import RawDataError

    with pytest.raises(RawDataError, match="Spec: expected an object, found str"):
        views.Service.from_json({"ID": "x", "Spec": "oops"})
    with pytest.raises(RawDataError, match="answer: expected a list, found dict"):
        views.each(views.Task.from_json, {"not": "a list"})


def test_one_reads_a_decoded_object_answer_as_a_view():
    from coopcloud.rawdata import RawDataError

    info = views.one(views.Info.from_json, {"SystemTime": "2024-05-01T10:00:00Z", "Swarm": {"NodeID": "n1"}})
    assert (info.node_id, info.swarm_state) == ("n1", "inactive")
    with pytest.raises(RawDataError, match="answer: expected an object, found list"):
        views.one(views.Info.from_json, [])
