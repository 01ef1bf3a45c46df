"""The convergence engine driven by scripted engine sequences: what swarm reports, poll after poll.

Each script is a list of frames; frame i is what the engine answers at the i-th poll (the
last frame repeats). A fake clock advances by the poll interval, so windows and timeouts
are exact and the tests take no time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coopcloud.errors import EngineNotFound
from coopcloud.ops.deploy import converge as conv
from fakes.engine import answer_gets

SINCE = "2026-11-29T22:00:00.000000000Z"
NAME = "app_example_org_app"


def at(seconds: float) -> str:
    """An engine timestamp `seconds` after SINCE, with nanoseconds as the engine writes them."""
    base = datetime(2026, 11, 29, 22, 0, 0, tzinfo=UTC).timestamp() + seconds
    whole = datetime.fromtimestamp(int(base), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{round((base % 1) * 1e9):09d}Z"


def service(
    state: str | None = None, *, replicas: int | None = 1, monitor: float | None = None, message: str = ""
) -> dict:
    spec: dict = {"Name": NAME, "Mode": {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}}
    if monitor is not None:
        spec["UpdateConfig"] = {"Monitor": int(monitor * 1e9)}
    svc: dict = {"ID": "svc1", "Version": {"Index": 10}, "Spec": spec}
    if state:
        svc["UpdateStatus"] = {"State": state, "Message": message or f"update {state}"}
    return svc


def task(
    tid: str,
    state: str = "running",
    *,
    desired: str = "running",
    ts: str | None = None,
    err: str = "",
    code: int | None = None,
) -> dict:
    status: dict = {"State": state, "Timestamp": ts or at(1)}
    if err:
        status["Err"] = err
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
    return {"ID": tid, "ServiceID": "svc1", "DesiredState": desired, "Status": status}


def frame(svc: dict, current: list[dict], old: list[dict] | None = None) -> dict:
    """One poll's answers: the service, its tasks of the current spec, and every task (current + old)."""
    return {"service": svc, "current": current, "all": current + (old or [])}


class Scripted:
    """A fake engine answering from a script; `advance()` moves to the next frame."""

    def __init__(self, frames: list[dict]):
        self.frames = frames
        self.i = 0
        self.calls: list[tuple] = []

    def _frame(self) -> dict:
        return self.frames[min(self.i, len(self.frames) - 1)]

    def advance(self) -> None:
        self.i += 1

    def service(self, name: str) -> dict:
        self.calls.append(("service", name))
        f = self._frame()
        if f["service"] is None:
            raise EngineNotFound(f"service {name} not found")
        return f["service"]

    def tasks(self, filters: dict) -> list[dict]:
        self.calls.append(("tasks", tuple(sorted(filters))))
        f = self._frame()
        return f["current"] if "_up-to-date" in filters else f["all"]

    def get_many(self, requests, *, return_errors: bool = False) -> list:
        self.calls.append(("get_many", len(requests)))
        return answer_gets(self, requests, return_errors=return_errors)

    def service_logs(self, name: str, **kw) -> list:
        return []


def run(
    frames: list[dict],
    watch: conv.Watch | None = None,
    *,
    timeout: float = 120,
    since: str = SINCE,
    engine: Scripted | None = None,
    nodes=None,
):
    engine = engine or Scripted(frames)
    now = [0.0]
    seen: list[list[conv.ServiceProgress]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        engine.advance()

    result = conv.wait(
        engine,
        [watch or conv.Watch(NAME)],
        timeout=timeout,
        since=since,
        interval=1.0,
        report=lambda p: seen.append([conv.ServiceProgress(**vars(x)) for x in p]),
        clock=lambda: now[0],
        sleep=sleep,
        nodes=nodes,
    )
    return result, now[0], seen


OLD = task("old", ts="2026-11-29T21:00:00Z")


def test_rollback_started_with_the_old_task_still_running_at_the_first_poll_is_a_failure():
    frames = [
        # right after the update call: no status yet (the call cleared it), the old task still runs
        frame(service(None), [task("new", "pending", desired="ready")], [OLD]),
        frame(service("updating"), [task("new", "starting")], [OLD]),
        frame(service("updating"), [task("new", "running")], [task("old", "shutdown", desired="shutdown")]),
        frame(
            service("rollback_started", message="update rolled back due to failure or early termination of task new"),
            [OLD],
            [task("new", "failed", desired="shutdown", code=1)],
        ),
    ]
    result, _, seen = run(frames)
    assert not result.ok and not result.timed_out
    [p] = result.services
    assert p.error and "rollback_started" in p.error and "early termination" in p.error
    assert not any(x.done for poll in seen for x in poll)  # never "ok" on the way
    first = seen[0][0]
    assert first.running == 0 and not first.started  # the old task is not counted


def test_an_old_task_running_before_the_update_starts_is_not_convergence():
    # The bug this engine replaces: status None and a running (old) task looked converged.
    frames = [frame(service(None), [], [OLD])]
    result, elapsed, _ = run(frames, timeout=10)
    assert not result.ok and result.timed_out and elapsed >= 10


def test_a_good_update_is_done_only_after_the_monitor_window():
    frames = [
        frame(service(None), [task("new", "pending", desired="ready")], [OLD]),
        frame(service("updating"), [task("new", "running")]),
        frame(service("completed", monitor=15), [task("new", "running")]),
    ]
    frames[1]["service"]["Spec"]["UpdateConfig"] = {"Monitor": int(15e9)}
    result, elapsed, seen = run(frames)
    assert result.ok
    # running at the 2nd poll (t=1 s), while swarm still watches it; then 15 s of stability
    assert elapsed == pytest.approx(1 + 15)
    assert any("checking it stays up" in poll[0].line() for poll in seen)


def test_nothing_is_done_while_swarm_still_reports_updating():
    frames = [frame(service("updating", monitor=2), [task("new", "running")])] * 6
    frames += [frame(service("completed", monitor=2), [task("new", "running")])]
    result, elapsed, seen = run(frames)
    assert result.ok and elapsed == pytest.approx(6)  # the window ended at 2 s; swarm said completed at 6 s
    assert seen[3][0].line().endswith("update updating — checking it stays up (0 s)")


def test_the_default_window_is_dockers_five_seconds():
    frames = [frame(service("completed"), [task("new", "running")])]
    result, elapsed, _ = run(frames)
    assert result.ok and elapsed == pytest.approx(5)
    assert conv.monitor_of({}) == 5.0 and conv.monitor_of({"UpdateConfig": {"Monitor": 1_500_000_000}}) == 1.5


def test_a_task_failure_inside_the_window_restarts_it_then_swarm_rolls_back():
    mon = 15
    frames = [frame(service("completed", monitor=mon), [task("new", "running")])] * 8
    # the healthcheck passes a few seconds, then the task fails: swarm restarts it...
    frames += [
        frame(
            service("completed", monitor=mon),
            [task("new", "failed", desired="shutdown", ts=at(9), code=1), task("new2", "starting")],
        )
    ]
    frames += [
        frame(
            service("completed", monitor=mon),
            [task("new", "failed", desired="shutdown", ts=at(9), code=1), task("new2", "running")],
        )
    ] * 3
    # ...and, failing again within swarm's own monitor, swarm rolls the update back
    frames += [frame(service("rollback_started", monitor=mon, message="update rolled back"), [OLD])]
    result, elapsed, seen = run(frames)
    assert not result.ok and "rollback_started" in result.services[0].error
    assert not any(x.done for poll in seen for x in poll)


def test_a_failure_after_the_window_resets_nothing_that_was_done():
    frames = [frame(service("completed", monitor=2), [task("new", "running")])] * 3
    frames += [frame(service("paused"), [])]
    result, elapsed, _ = run(frames)
    assert result.ok and elapsed == pytest.approx(2)


def test_a_paused_update_is_a_failure():
    frames = [
        frame(service(None), [task("new", "pending", desired="ready")], [OLD]),
        frame(service("paused", message="update paused due to failure or early termination of task new"), []),
    ]
    result, _, _ = run(frames)
    assert not result.ok and "swarm update paused" in result.services[0].error


def test_a_task_swarm_cannot_place_fails_after_the_grace_period_with_swarms_reason():
    why = "no suitable node (host-mode port already in use on 1 node)"
    frames = [frame(service("updating"), [task("new", "pending", err=why)], [OLD])]
    result, elapsed, _ = run(frames, timeout=300)
    assert not result.ok and not result.timed_out
    assert "cannot place" in result.services[0].error and why in result.services[0].error
    assert elapsed == pytest.approx(conv.UNSCHEDULABLE_AFTER)


def test_tasks_that_keep_failing_are_a_failure():
    failed = [
        task(f"f{i}", "failed", desired="shutdown", ts=at(i + 1), err="task: non-zero exit (1)", code=1)
        for i in range(3)
    ]
    frames = [frame(service("updating"), failed + [task("n", "starting")], [OLD])]
    result, _, _ = run(frames)
    assert not result.ok and "tasks keep failing (3" in result.services[0].error


def test_failed_tasks_swarm_will_not_restart_fail_at_once_not_at_the_timeout():
    # restart_policy max_attempts: 1 — the task and its one restart failed; swarm starts no other
    svc = service(None)
    svc["Spec"]["TaskTemplate"] = {"RestartPolicy": {"Condition": "any", "MaxAttempts": 1}}
    failed = [
        task(f"f{i}", "failed", desired="shutdown", ts=at(i + 1), err="task: non-zero exit (1)", code=1)
        for i in range(2)
    ]
    result, elapsed, _ = run([frame(svc, failed)], conv.Watch(NAME, created=True), timeout=300)
    assert not result.ok and not result.timed_out and elapsed < 5
    assert "swarm will not restart them" in result.services[0].error
    # restart_policy condition on-failure: a task that exited 0 is not restarted either
    svc["Spec"]["TaskTemplate"] = {"RestartPolicy": {"Condition": "on-failure"}}
    result, elapsed, _ = run(
        [frame(svc, [task("d", "complete", desired="shutdown", ts=at(1), code=0)])],
        conv.Watch(NAME, created=True),
        timeout=300,
    )
    assert not result.ok and elapsed < 5 and "exit code 0" in result.services[0].error
    svc["Spec"]["TaskTemplate"] = {"RestartPolicy": {"Condition": "any", "MaxAttempts": 1}}
    # one failure with a restart still to come (the replacement waits its delay, desired "ready"): waiting
    svc["Spec"]["TaskTemplate"]["RestartPolicy"]["MaxAttempts"] = 3
    result, _, _ = run(
        [frame(svc, failed[:1] + [task("n", "new", desired="ready")])], conv.Watch(NAME, created=True), timeout=5
    )
    assert result.timed_out and not result.services[0].error


def test_failures_are_compared_as_times_across_time_zones():
    # since is 23:00 at +01:00, i.e. 22:00 UTC; as text "2026-11-29T22:00:01Z" < "2026-11-29T23:00:00+01:00"
    since = "2026-11-29T23:00:00.5+01:00"
    before = [
        task(f"b{i}", "failed", desired="shutdown", ts="2026-11-29T21:59:59.999999999Z", code=1) for i in range(3)
    ]
    after = [task(f"a{i}", "failed", desired="shutdown", ts=f"2026-11-29T22:00:0{i + 1}.25Z", code=1) for i in range(3)]
    result, _, _ = run([frame(service("updating"), before + [task("n", "starting")])], timeout=5, since=since)
    assert result.timed_out and not result.services[0].error  # old failures are not this change's
    result, _, _ = run([frame(service("updating"), after + [task("n", "starting")])], since=since)
    assert "tasks keep failing (3" in result.services[0].error


def test_since_read_with_its_zone():
    # the engine's SystemTime carries the daemon's zone; task timestamps are UTC
    from coopcloud.engine.views import parse_time

    assert parse_time("2026-11-29T17:39:56.427851405-05:00") == datetime(2026, 11, 29, 22, 39, 56, 427851, tzinfo=UTC)
    ok = [task("t", "running", ts="2026-11-29T22:00:00Z")]
    result, elapsed, _ = run(
        [frame(service(None), ok)], conv.Watch(NAME, changed=False), since="2026-11-29T23:00:06+01:00"
    )
    assert result.ok and elapsed == 0  # ran 6 s before we looked: the 5 s window is behind it


def test_a_change_swarm_rolls_out_without_replacing_tasks_converges():
    # labels only: no update state ever appears, the running tasks are of the current spec
    frames = [frame(service(None, monitor=1), [task("t1", "running")])]
    result, elapsed, _ = run(frames)
    assert result.ok and elapsed == pytest.approx(1)


def test_a_created_service_needs_no_update_state():
    frames = [
        frame(service(None, replicas=2, monitor=1), [task("a", "pending"), task("b", "starting")]),
        frame(service(None, replicas=2, monitor=1), [task("a", "running"), task("b", "running")]),
    ]
    result, elapsed, _ = run(frames, conv.Watch(NAME, created=True))
    assert result.ok and elapsed == pytest.approx(2)


def test_an_untouched_service_that_ran_the_whole_window_is_converged_at_once():
    frames = [frame(service(None), [task("t1", "running", ts="2026-11-29T21:00:00Z")])]
    result, elapsed, _ = run(frames, conv.Watch(NAME, changed=False))
    assert result.ok and elapsed == 0


def test_an_untouched_service_that_just_restarted_must_stay_up_a_window():
    frames = [frame(service(None), [task("t1", "running", ts=at(-1))])]
    result, elapsed, _ = run(frames, conv.Watch(NAME, changed=False))
    assert result.ok and elapsed == pytest.approx(5)


def test_an_untouched_service_that_does_not_run_is_not_converged():
    frames = [frame(service("rollback_completed", message="rollback completed"), [OLD])]
    result, _, _ = run(frames, conv.Watch(NAME, changed=False))
    assert not result.ok and "rollback_completed" in result.services[0].error
    result, _, _ = run(
        [frame(service(None), [task("t", "failed", desired="shutdown", ts=at(-50))])],
        conv.Watch(NAME, changed=False),
        timeout=3,
    )
    assert result.timed_out and result.services[0].line().endswith("0/1 running — waiting")


def test_global_services_want_every_current_task_running():
    frames = [
        frame(service("updating", replicas=None, monitor=1), [task("n1", "running"), task("n2", "starting")], [OLD]),
        frame(service("completed", replicas=None, monitor=1), [task("n1", "running"), task("n2", "running")]),
    ]
    result, elapsed, _ = run(frames)
    assert result.ok and elapsed == pytest.approx(2)
    assert result.services[0].line().startswith(f"{NAME}: 2/all nodes running")


def test_a_service_removed_meanwhile_is_a_failure():
    result, _, _ = run([frame(None, [])])
    assert not result.ok and "removed" in result.services[0].error


def test_the_timeout_names_what_is_missing():
    result, elapsed, _ = run([frame(service("updating"), [task("n", "starting")], [OLD])], timeout=7)
    assert result.timed_out and elapsed >= 7
    assert result.failed[0].line() == f"{NAME}: 0/1 running, update updating — waiting"


def test_the_wait_reports_what_the_stability_window_cost():
    frames = [
        frame(service(None, monitor=3), [task("new", "pending", desired="ready")], [OLD]),
        frame(service("updating", monitor=3), [task("new", "starting")]),
        frame(service("completed", monitor=3), [task("new", "running")]),
    ]
    result, elapsed, _ = run(frames)
    assert result.ok and result.seconds == pytest.approx(elapsed) == pytest.approx(5)
    assert result.stability_seconds == pytest.approx(3)


def test_each_poll_is_one_round_trip_for_every_service_still_waited_on():
    frames = [
        frame(service(None, monitor=2), [task("new", "pending", desired="ready")], [OLD]),
        frame(service("updating", monitor=2), [task("new", "running")]),
        frame(service("completed", monitor=2), [task("new", "running")]),
    ]
    engine = Scripted(frames)
    now = [0.0]
    polls = []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        engine.advance()

    watches = [conv.Watch("a"), conv.Watch("b"), conv.Watch("c", changed=False)]
    result = conv.wait(
        engine, watches, since=SINCE, interval=1.0, report=polls.append, clock=lambda: now[0], sleep=sleep
    )
    assert result.ok
    batches = [n for kind, n in engine.calls if kind == "get_many"]
    assert len(batches) == len(polls)  # one get_many per poll, never a request per service
    # service + current tasks for each; every task only for the changed ones until they started
    assert batches[0] == 3 + 3 + 2
    assert batches[-1] < batches[0]


# -- container health, read where the tasks run -------------------------------------------------


def on_node(
    tid: str, state: str = "running", *, cid: str, node: str = "n1", ts: str | None = None, err: str = ""
) -> dict:
    t = task(tid, state, ts=ts, err=err, desired="running" if state == "running" else "shutdown")
    t["NodeID"] = node
    t["Status"]["ContainerStatus"] = {"ContainerID": cid}
    return t


def container(cid: str, status: str, state: str = "running") -> dict:
    return {"Id": cid, "Names": [f"/c-{cid}"], "State": state, "Status": status}


class WithContainers(Scripted):
    """Scripted, plus the node's engine: frame["containers"] is what ``/containers/json`` lists."""

    def __init__(self, frames: list[dict]):
        super().__init__(frames)
        self.health_log = [{"ExitCode": 0, "Output": ""}, {"ExitCode": 1, "Output": "no /tmp/ok\n"}]

    def containers(self, filters, *, all: bool = False) -> list[dict]:
        self.calls.append(("containers", tuple(filters["id"])))
        return [c for c in self._frame().get("containers", []) if c["Id"] in filters["id"]]

    def container(self, cid: str) -> dict:
        return {"Id": cid, "State": {"Health": {"Status": "unhealthy", "Log": self.health_log}}}


def run_nodes(frames: list[dict], watch: conv.Watch | None = None, *, timeout: float = 60):
    """`run` with the node n1's engine (health read there); every other node is out of reach."""
    engine = WithContainers(frames)
    result, elapsed, _ = run(
        frames, watch, timeout=timeout, engine=engine, nodes=lambda node: engine if node == "n1" else None
    )
    return result, elapsed, engine


def with_containers(f: dict, *containers: dict) -> dict:
    return {**f, "containers": list(containers)}


def test_a_container_that_turns_unhealthy_fails_the_wait_at_once_with_its_health_log():
    frames = [
        with_containers(
            frame(service("updating", monitor=5), [on_node("new", cid="c1")]), container("c1", "Up 1 second (healthy)")
        ),
        with_containers(
            frame(service("completed", monitor=5), [on_node("new", cid="c1")]),
            container("c1", "Up 3 seconds (unhealthy)"),
        ),
    ]
    result, elapsed, engine = run_nodes(frames)
    assert not result.ok and elapsed == pytest.approx(1)
    bad = result.services[0]
    assert bad.error.startswith("unhealthy: container c1") and bad.error.endswith("last check: no /tmp/ok")
    assert bad.line().endswith("0/1 running, update completed — FAILED")
    assert "  health: exit 1: no /tmp/ok" in result.details()
    assert bad.unhealthy == ("n1", "c1") and bad.stop_grace == 10.0


def test_health_is_read_once_per_node_per_poll_and_only_where_coop_reaches():
    tasks = [on_node("a", cid="c1"), on_node("b", cid="c2"), on_node("c", cid="c3", node="far")]
    frames = [
        with_containers(
            frame(service("completed", replicas=3, monitor=1), tasks),
            container("c1", "Up 9 seconds (healthy)"),
            container("c2", "Up 9 seconds"),
        )
    ]
    result, _, engine = run_nodes(frames)
    assert result.ok  # the task on the unreachable node is taken at its word
    reads = [c for c in engine.calls if c[0] == "containers"]
    assert reads and all(ids == ("c1", "c2") for _, ids in reads)
    polls = [c for c in engine.calls if c[0] == "get_many"]
    assert len(reads) == len(polls)


def test_a_container_still_starting_or_gone_does_not_count_as_running():
    starting = with_containers(
        frame(service("completed", monitor=1), [on_node("new", cid="c1")]),
        container("c1", "Up 1 second (health: starting)"),
    )
    result, _, _ = run_nodes([starting], timeout=3)
    assert result.timed_out and result.services[0].running == 0
    gone = with_containers(
        frame(service("completed", monitor=1), [on_node("new", cid="c1")]),
        container("c1", "Exited (137) 1 second ago", "exited"),
    )
    result, _, _ = run_nodes([gone], timeout=3)
    assert not result.ok and result.services[0].running == 0 and result.services[0].failures


def test_a_task_swarm_stopped_for_its_health_is_unhealthy_even_when_no_look_saw_the_container():
    stopped = on_node(
        "new", "failed", cid="c1", ts=at(2), err="task: non-zero exit (137): dockerexec: unhealthy container"
    )
    result, _, _ = run_nodes([frame(service("completed", monitor=5), [stopped, on_node("next", "starting", cid="c2")])])
    assert not result.ok and result.services[0].error.startswith("unhealthy: swarm stopped task new")


def test_an_untouched_service_in_a_crash_loop_is_not_converged():
    ended = [
        task(f"f{i}", "failed", desired="shutdown", ts=at(-20 * i), err="task: non-zero exit (1)", code=1)
        for i in (1, 2)
    ]
    result, elapsed, _ = run(
        [frame(service(None), [*ended, task("t", "running", ts=at(-5))])], conv.Watch(NAME, changed=False)
    )
    assert not result.ok and elapsed == 0
    assert result.services[0].error.startswith("crash loop: 2 of its tasks ended within 300 s")
    # the same history is no crash loop for a spec this change wrote (it has none) ...
    result, _, _ = run(
        [frame(service(None), [ended[0], task("t", "running", ts=at(-5))])], conv.Watch(NAME, changed=False)
    )
    assert result.ok  # ... and one failure long enough ago is not a loop
    # resent unchanged to converge it: its history counts
    result, _, _ = run(
        [frame(service("completed"), [*ended, task("t", "running", ts=at(-5))])], conv.Watch(NAME, resent=True)
    )
    assert not result.ok and result.services[0].error.startswith("crash loop")


def test_container_health_is_read_from_the_status_the_list_api_writes():
    from coopcloud.engine.views import Container

    def health(status: str) -> str | None:
        return Container.from_json({"Id": "x", "State": "running", "Status": status}).health

    assert health("Up 3 seconds (healthy)") == "healthy"
    assert health("Up 3 seconds (unhealthy)") == "unhealthy"
    assert health("Up Less than a second (health: starting)") == "starting"
    assert health("Up 2 hours") is None and health("Exited (137) 2 seconds ago") is None


def test_a_node_out_of_reach_is_said_in_the_progress_line():
    tasks = [on_node("a", cid="c1"), on_node("c", cid="c3", node="far-node-id-1234")]
    frames = [
        with_containers(
            frame(service("completed", replicas=2, monitor=1), tasks), container("c1", "Up 9 seconds (healthy)")
        )
    ]
    result, _, _ = run_nodes(frames)
    assert result.ok and result.services[0].unread == ("far-node-id-1234",)
    assert "(health not read on node far-node-id-: no server entry reaches it" in result.services[0].line()


def test_tasks_that_ended_while_swarm_rolled_the_spec_out_are_no_crash_loop():
    ended = [
        task(f"f{i}", "failed", desired="shutdown", ts=at(-20 * i), err="port is already allocated") for i in (1, 2)
    ]
    rolled = service("completed")
    rolled["UpdateStatus"]["CompletedAt"] = at(-10)  # both failed before the rollout (a rollback) completed
    result, _, _ = run([frame(rolled, [*ended, task("t", "running", ts=at(-15))])], conv.Watch(NAME, changed=False))
    assert result.ok
    rolled["UpdateStatus"]["CompletedAt"] = at(-50)  # ... and after it: the service at rest keeps failing
    result, _, _ = run([frame(rolled, [*ended, task("t", "running", ts=at(-15))])], conv.Watch(NAME, changed=False))
    assert not result.ok and result.services[0].error.startswith("crash loop")
