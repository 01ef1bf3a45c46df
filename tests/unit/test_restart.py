"""`app restart` waits with the convergence engine: scripted engine answers, a fake clock."""

from __future__ import annotations

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.errors import DeployFailed
from coopcloud.ops.app import restart as ops_restart
from fakes.engine import answer_gets

pytestmark = pytest.mark.usefixtures("changing")  # restart() changes a server: it runs inside an open change

REF = AppRef("srv1", "cloud.example.org")
STACK = "cloud_example_org"
NAME = f"{STACK}_app"


def service(state=None, *, version=42, monitor=1):
    svc = {
        "ID": "S1",
        "Version": {"Index": version},
        "Spec": {
            "Name": NAME,
            "Labels": {"com.docker.stack.namespace": STACK},
            "TaskTemplate": {"ContainerSpec": {"Image": "web:1"}, "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": 1}},
            "UpdateConfig": {"Monitor": int(monitor * 1e9)},
        },
    }
    if state:
        svc["UpdateStatus"] = {"State": state, "Message": f"update {state}"}
    return svc


def task(tid, state="running", *, desired="running", ts="2026-11-29T22:00:01Z", code=None):
    status = {"State": state, "Timestamp": ts}
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
        status["Err"] = f"task: non-zero exit ({code})"
    return {"ID": tid, "ServiceID": "S1", "DesiredState": desired, "Status": status}


class Restarting:
    """Before the update: the old task runs. After it, frame i answers the i-th poll."""

    def __init__(self, frames):
        self.frames = frames
        self.i = 0
        self.updates = []

    def info(self):
        return {"SystemTime": "2026-11-29T23:00:00+01:00"}

    def services(self, filters=None, *, status=False):
        return [service()]

    def service_update(self, sid, version, spec, **kw):
        self.updates.append((sid, version, spec))

    def _frame(self):
        return self.frames[min(self.i, len(self.frames) - 1)]

    def service(self, name, **kw):
        return self._frame()[0]

    def tasks(self, filters=None):
        if not self.updates:
            return [task("OLD", ts="2026-11-29T21:00:00Z")]
        _, current, old = self._frame()
        return current if "_up-to-date" in filters else current + old

    def get_many(self, requests, *, return_errors=False):
        return answer_gets(self, requests, return_errors=return_errors)

    def service_logs(self, name, **kw):
        return []


def run(engine, timeout=60):
    now = [0.0]

    def sleep(s):
        now[0] += s
        engine.i += 1

    lines = []
    done = ops_restart.restart(
        engine, REF, ["app"], timeout=timeout, report=lines.append, clock=lambda: now[0], sleep=sleep
    )
    return done, now[0], lines


def test_restart_forces_an_update_and_waits_for_new_tasks_to_stay_up():
    old = [task("OLD", "shutdown", desired="shutdown")]
    engine = Restarting(
        [
            (service(None), [task("NEW", "pending", desired="ready")], [task("OLD")]),  # swarm has not started yet
            (service("updating"), [task("NEW", "starting")], old),
            (service("completed"), [task("NEW")], old),
        ]
    )
    done, elapsed, lines = run(engine)
    ((sid, version, spec),) = engine.updates
    assert (sid, version, spec["TaskTemplate"]["ForceUpdate"]) == ("S1", 42, 1)
    assert done == [ops_restart.Restarted("app", ("OLD",), ("NEW",))]
    assert elapsed == pytest.approx(2 + 1)  # running at the 3rd poll, then its 1 s monitor
    assert lines[0] == "restarting app" and lines[-1] == "app: 1/1 running, update completed — ok"


def test_restart_timeout_is_one_line_naming_what_runs():
    engine = Restarting([(service(None), [task("NEW", "pending", desired="ready")], [task("OLD")])])
    with pytest.raises(DeployFailed, match=r"not running again after 5s \(app 0/1 running\)"):
        run(engine, timeout=5)


def test_restart_whose_new_tasks_keep_failing_fails():
    fails = [task(f"F{i}", "failed", desired="shutdown", ts=f"2026-11-29T22:00:0{i + 1}Z", code=1) for i in range(3)]
    engine = Restarting([(service("updating"), fails, [])])
    with pytest.raises(DeployFailed, match=r"service app did not start again: tasks keep failing \(3"):
        run(engine)


def test_restart_rolled_back_by_swarm_fails():
    engine = Restarting([(service("rollback_started"), [task("OLD")], [])])
    with pytest.raises(DeployFailed, match="swarm update rollback_started"):
        run(engine)
