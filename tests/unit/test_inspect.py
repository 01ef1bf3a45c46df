"""ops.ps, logs, restart, container, volumes on recorded engine JSON: no engine needed."""

from __future__ import annotations

import io
import tarfile

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.errors import Conflict, EngineConflict, EngineNotFound, NotFound, UsageError
from coopcloud.ops.app import container as ops_container
from coopcloud.ops.app import logs as ops_logs
from coopcloud.ops.app import ps as ops_ps
from coopcloud.ops.app import volumes as ops_volumes
from fakes.engine import FakeEngine

REF = AppRef("srv1", "cloud.example.org")
STACK = "cloud_example_org"
IMAGE = "127.0.0.1:5000/coop-test/web:1.0.0@sha256:" + "a" * 64


def service(name, sid, *, image=IMAGE, replicas=1, running=1, ports=(), labels=None, update=None, version=10):
    svc = {
        "ID": sid,
        "Version": {"Index": version},
        "Spec": {
            "Name": f"{STACK}_{name}",
            "Labels": {"com.docker.stack.namespace": STACK, **(labels or {})},
            "TaskTemplate": {"ContainerSpec": {"Image": image}, "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}},
            "EndpointSpec": {"Ports": list(ports)},
        },
        "ServiceStatus": {"RunningTasks": running, "DesiredTasks": replicas or 1},
    }
    if update:
        svc["UpdateStatus"] = update
    return svc


def task(
    tid, sid, state, *, slot=1, node="n1", desired="running", index=1, err=None, code=None, ts="2024-05-01T10:00:00.5Z"
):
    status = {"State": state, "Timestamp": ts, "Message": state}
    if err:
        status["Err"] = err
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
    return {
        "ID": tid,
        "ServiceID": sid,
        "Slot": slot,
        "NodeID": node,
        "DesiredState": desired,
        "Version": {"Index": index},
        "Status": status,
    }


def _view(raw):
    return views.Task.from_json(raw)


class FakeClient(FakeEngine):
    """The shared FakeEngine, fed these tests' fixtures: tasks and containers labelled as swarm labels them."""

    def __init__(self, services=(), tasks=(), nodes=(), containers=(), volumes=()):
        super().__init__(
            services=services,
            tasks=[_labelled(t) for t in tasks],
            nodes=nodes,
            containers=[_running_container(c) for c in containers],
            volumes=volumes,
        )

    @property
    def updates(self) -> list[tuple]:
        return [(c[1], c[2], c[3], c[4]) for c in self.calls if c[0] == "service_update"]

    @property
    def removed(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "volume_remove"]


def _labelled(task: dict) -> dict:
    return {**task, "Labels": {"com.docker.stack.namespace": STACK, **task.get("Labels", {})}}


def _running_container(container: dict) -> dict:
    return {"State": "running", "Labels": {"com.docker.swarm.service.name": f"{STACK}_app"}, **container}


def test_pure_helpers():
    assert ops_ps.strip_digest(IMAGE) == "127.0.0.1:5000/coop-test/web:1.0.0"
    assert ops_ps.short_name(STACK, f"{STACK}_app") == "app"
    assert ops_logs.parse_since("10m", now=1000.0) == "400"
    assert ops_logs.parse_since("1h30m", now=10000.0) == "4600"
    assert ops_logs.parse_since("1.5s", now=10.0) == "8.5"
    assert ops_logs.parse_since("1700000000") == "1700000000"
    assert ops_logs.parse_since("1970-01-01T00:01:00Z") == "60"
    assert ops_logs.parse_since("1970-01-01T01:00:00+01:00") == "0"
    assert ops_logs.parse_since(None) is None
    with pytest.raises(UsageError, match="--since 'yesterday'"):
        ops_logs.parse_since("yesterday")
    # Go trims trailing zeros in fractions: compare numerically, not as text.
    assert ops_logs.timestamp_key("2024-01-01T00:00:05.1Z") > ops_logs.timestamp_key("2024-01-01T00:00:05.09Z")
    assert ops_logs.split_timestamp("2024-01-01T00:00:05.1Z hello world") == ("2024-01-01T00:00:05.1Z", "hello world")
    assert ops_logs.split_timestamp("plain line") == (None, "plain line")
    assert str(ops_ps.Port(80, 8080, "tcp", "host")) == "8080:80/tcp (host)"
    assert str(ops_ps.Port(80)) == "80/tcp"


def test_parse_copy():
    assert ops_container.parse_copy("app:/etc/hosts", "./h") == ops_container.CopySpec(
        "app", "/etc/hosts", "./h", False
    )
    assert ops_container.parse_copy("./h", "db:/tmp/") == ops_container.CopySpec("db", "/tmp/", "./h", True)
    with pytest.raises(UsageError, match="both"):
        ops_container.parse_copy("app:/a", "db:/b")
    with pytest.raises(UsageError, match="neither"):
        ops_container.parse_copy("./a", "/b")
    with pytest.raises(UsageError, match="absolute"):
        ops_container.parse_copy("app:etc", "./b")


def test_classify_failure():
    assert ops_ps.classify_failure(_view(task("t", "s", "failed", err="task: non-zero exit (3)", code=3))) == (
        "exit",
        "task: non-zero exit (3)",
        3,
    )
    kind, message, code = ops_ps.classify_failure(
        _view(task("t", "s", "failed", err="task: non-zero exit (137): dockerexec: unhealthy container", code=137))
    )
    assert kind == "unhealthy" and code == 137
    assert ops_ps.classify_failure(_view(task("t", "s", "failed", err="OOM killed", code=137)))[0] == "oom"
    assert ops_ps.classify_failure(_view(task("t", "s", "rejected", err="No such image: x")))[0] == "rejected"
    assert ops_ps.classify_failure(_view(task("t", "s", "failed", code=2)))[1] == "failed (exit code 2)"


def test_ps_one_round_trip_current_tasks_and_nodes():
    client = FakeClient(
        services=[
            service("db", "S2", image="db:10.5", running=0),
            service(
                "app",
                "S1",
                ports=[{"TargetPort": 8080, "PublishedPort": 8000, "Protocol": "tcp", "PublishMode": "host"}],
            ),
        ],
        tasks=[
            task("T1old", "S1", "shutdown", desired="shutdown", index=5),
            task("T1", "S1", "running", index=9),
            task("T2a", "S2", "failed", desired="shutdown", err="task: non-zero exit (1)", code=1, index=3),
            task("T2b", "S2", "starting", index=7, node="gone"),
        ],
        nodes=[{"ID": "n1", "Description": {"Hostname": "vm1"}}],
    )
    rows = ops_ps.ps(client, REF)
    assert client.calls[0] == ("get_many", ["/services", "/tasks", "/tasks", "/nodes", "/info"])  # one round trip
    assert client.calls[1] == ("services", {"label": [f"com.docker.stack.namespace={STACK}"]}, True)
    assert [r.service for r in rows] == ["app", "db"]
    app, db = rows
    assert app.image == IMAGE and app.image_display == "127.0.0.1:5000/coop-test/web:1.0.0"
    assert (app.running, app.desired) == (1, 1)
    assert [(t.id, t.state, t.node) for t in app.tasks] == [("T1", "running", "vm1")]
    assert [str(p) for p in app.ports] == ["8000:8080/tcp (host)"]
    assert [(t.id, t.state, t.node) for t in db.tasks] == [("T2b", "starting", "gone")]
    js = app.to_json()
    assert js["image"] == IMAGE and js["ports"][0]["text"] == "8000:8080/tcp (host)"


def test_ps_shows_a_crash_loop_as_such_from_the_tasks_of_the_current_spec():
    current = {"ContainerSpec": {"Image": IMAGE}, "ForceUpdate": 0}
    older = {"ContainerSpec": {"Image": "web:0.9"}, "ForceUpdate": 0}

    def ended(tid, ts, spec):
        t = task(
            tid,
            "S1",
            "failed",
            desired="shutdown",
            err="task: non-zero exit (137): dockerexec: unhealthy container",
            ts=ts,
        )
        return {**t, "Spec": spec}

    def client(*failed):
        return FakeClient(
            services=[service("app", "S1")],
            tasks=[*failed, {**task("T9", "S1", "running", ts="2024-05-01T10:09:50Z"), "Spec": current}],
            nodes=[{"ID": "n1", "Description": {"Hostname": "vm1"}}],
        )

    def ps_of(c):
        c._info["SystemTime"] = "2024-05-01T10:10:00Z"
        return ops_ps.ps(c, REF)[0]

    # two tasks of the spec it runs ended within five minutes: a crash loop, though 1/1 runs right now
    app = ps_of(client(ended("T1", "2024-05-01T10:09:10Z", current), ended("T2", "2024-05-01T10:09:40Z", current)))
    assert (app.running, app.restarts, app.crash_loop) == (1, 2, True)
    assert app.replicas_display == "1/1, crash loop (2 restarts in 5 min)"
    assert "unhealthy container" in app.last_failure and app.to_json()["crash_loop"] is True
    # failures of an older spec (a release that was rolled back), or long ago, are no crash loop
    app = ps_of(client(ended("T1", "2024-05-01T10:09:10Z", older), ended("T2", "2024-05-01T09:00:00Z", current)))
    assert (app.restarts, app.crash_loop, app.replicas_display) == (0, False, "1/1")
    app = ps_of(client(ended("T1", "2024-05-01T10:09:10Z", current)))
    assert (app.crash_loop, app.replicas_display) == (False, "1/1, 1 restart in 5 min")


def test_not_deployed_and_unknown_service():
    with pytest.raises(ops_ps.NotDeployed, match="app cloud.example.org is not deployed on server srv1"):
        ops_ps.ps(FakeClient(), REF)
    client = FakeClient(services=[service("app", "S1")])
    with pytest.raises(NotFound, match="has no service db — its services: app"):
        list(ops_logs.logs(client, REF, "db"))


def test_errors_newest_first_with_update_state():
    client = FakeClient(
        services=[
            service(
                "app",
                "S1",
                update={
                    "State": "rollback_completed",
                    "Message": "rollback done",
                    "CompletedAt": "2024-05-01T10:00:09Z",
                },
            )
        ],
        tasks=[
            task("A", "S1", "failed", err="task: non-zero exit (3)", code=3, ts="2024-05-01T10:00:01Z"),
            task("B", "S1", "failed", err="unhealthy container", code=137, ts="2024-05-01T10:00:05Z"),
            task("C", "S1", "running"),
            task("D", "S1", "shutdown", desired="shutdown", code=143),  # stopped by swarm: not an error
        ],
    )
    found = ops_ps.errors(client, REF)
    assert [(e.kind, e.task) for e in found] == [("update", ""), ("unhealthy", "B"), ("exit", "A")]
    assert found[2].exit_code == 3 and found[2].service == "app"
    assert ops_ps.errors(FakeClient(services=[service("app", "S1")], tasks=[task("C", "S1", "running")]), REF) == []


def test_run_without_running_container_names_the_service():
    client = FakeClient(services=[service("app", "S1")])
    with pytest.raises(NotFound, match="service app has no running container on server srv1"):
        ops_container.run(client, REF, "app", ["true"], on_output=lambda s, d: None)


class StopsBeforeExec(FakeClient):
    """Containers listed as running that stop before the exec is created (a job's task exiting)."""

    def __init__(self, *, stopping: set[str], error=None, **kw):
        super().__init__(**kw)
        self.stopping, self.error = (
            stopping,
            error or EngineConflict("server srv1: Container c1 is not running", status=409),
        )

    def exec_create(self, container, cmd, **kw):
        if container in self.stopping:
            self._containers = [c for c in self._containers if c["Id"] != container]
            raise self.error
        return super().exec_create(container, cmd, **kw)


@pytest.mark.parametrize(
    "error",
    [
        EngineConflict("server srv1: Container c1 is not running", status=409),
        EngineNotFound("server srv1: No such container: c1", status=404),
    ],
)
def test_run_in_a_container_that_stopped_meanwhile_is_no_running_container(error):
    client = StopsBeforeExec(
        stopping={"c1"}, error=error, services=[service("app", "S1")], containers=[{"Id": "c1", "Created": 1}]
    )
    with pytest.raises(NotFound, match="service app has no running container on server srv1"):
        ops_container.run(client, REF, "app", ["true"], on_output=lambda s, d: None)


def test_run_goes_on_in_another_running_container_when_the_newest_stopped():
    client = StopsBeforeExec(
        stopping={"c2"},
        services=[service("app", "S1")],
        containers=[{"Id": "c1", "Created": 1}, {"Id": "c2", "Created": 2}],
    )
    assert ops_container.run(client, REF, "app", ["true"], on_output=lambda s, d: None) == 0
    assert [c[1] for c in client.calls if c[0] == "exec_create"] == ["c1"]


def test_run_in_a_container_that_keeps_refusing_says_what_the_engine_said():
    class Paused(FakeClient):
        def exec_create(self, container, cmd, **kw):
            raise EngineConflict(f"server srv1: Container {container} is paused, unpause the container before exec")

    client = Paused(services=[service("app", "S1")], containers=[{"Id": "c1", "Created": 1}])
    with pytest.raises(EngineConflict, match="is paused"):
        ops_container.run(client, REF, "app", ["true"], on_output=lambda s, d: None)


def test_volumes_refused_while_deployed_and_names_checked(changing):
    vols = [{"Name": f"{STACK}_data", "Driver": "local", "Labels": {"com.docker.stack.namespace": STACK}}]
    client = FakeClient(services=[service("app", "S1")], volumes=vols)
    assert [v.volume for v in ops_volumes.volumes(client, REF)] == ["data"]
    with pytest.raises(Conflict, match="run: coop app undeploy cloud.example.org"):
        ops_volumes.volumes_to_remove(client, REF, ["data"])
    client = FakeClient(volumes=vols)
    with pytest.raises(NotFound, match="no volume db .* its volumes: data"):
        ops_volumes.volumes_to_remove(client, REF, ["db"])
    with pytest.raises(UsageError):
        ops_volumes.volumes_to_remove(client, REF, [], all_=False)
    chosen = ops_volumes.volumes_to_remove(client, REF, ["data", f"{STACK}_data"])
    assert [v.name for v in chosen] == [f"{STACK}_data"]
    assert ops_volumes.remove_volumes(client, REF, chosen).removed == ["data"] and client.removed == [f"{STACK}_data"]


def test_copy_out_renames_top_entry(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        info = tarfile.TarInfo("hosts")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))

    class C(FakeClient):
        def archive_open(self, container, path):
            return {"name": "hosts", "mode": 0o644}, io.BytesIO(buf.getvalue())

    client = C(containers=[{"Id": "c1", "Created": 1}])
    done = ops_container.cp(client, REF, "app:/etc/hosts", str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == b"hello" and done.direction == "from"
    (tmp_path / "dir").mkdir()
    ops_container.cp(client, REF, "app:/etc/hosts", str(tmp_path / "dir"))
    assert (tmp_path / "dir" / "hosts").read_bytes() == b"hello"
