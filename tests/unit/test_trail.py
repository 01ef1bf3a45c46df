"""The bracket around a change (lock, "started", completed), the rollback target and the crash hint,
on the fake engine (their live counterparts: tests/integration/test_mutating_live.py)."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.errors import LockHeld, RolledBack
from coopcloud.ops.deploy.guard import Downgrade, check_pinned
from coopcloud.ops.deploy.pipeline import last_converged, rollback_refused
from coopcloud.ops.deploy.upgrade import prefer_converged
from coopcloud.ops.trail import audit, lock
from coopcloud.ops.trail.mutation import mutation
from coopcloud.ops.trail.operator import hostname
from coopcloud.settings import Settings
from fakes.engine import FakeEngine

REF = AppRef("srv", "a.example.org")
STACK = REF.stack_name


@pytest.fixture
def settings(tmp_path):
    return Settings.from_environ({"ABRA_DIR": str(tmp_path), "COOP_OPERATOR": "alice@coop.example"})


def hold(engine: FakeEngine, operator: str) -> None:
    """Another operator takes the app's lock (the fake engine stamps no times: its lease starts now)."""
    from datetime import UTC, datetime

    lock.acquire(engine, app=REF.name, stack=STACK, command="upgrade", operator=operator)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    for config in engine._configs:
        config.setdefault("UpdatedAt", now)
    engine._info["SystemTime"] = now


@mutation
def change_something(engine: FakeEngine, seen: list[str]) -> None:
    seen.append(audit.history(engine, STACK)[-1].result)  # what the trail says while it acts


def test_the_line_is_started_before_the_first_change_and_completed_in_place(settings):
    engine, seen = FakeEngine(), []
    with audit.tracked(settings, engine, REF, "restart") as change:
        assert audit.history(engine, STACK) == []  # nothing begun yet: nothing written
        change_something(engine, seen)
        change.plan = ["~ service app: restart"]
    assert seen == [audit.RUNNING]  # started, and its command holds the lock
    [event] = audit.history(engine, STACK)
    assert (event.result, event.plan, event.who) == (audit.OK, ("~ service app: restart",), "alice@coop.example")
    assert lock.read(engine, STACK) is None  # released


def test_a_command_that_stopped_after_it_began_reads_did_not_finish():
    engine = FakeEngine()
    started = audit.Event(
        who="bob", command="upgrade", app=REF.name, server="srv", result=audit.STARTED, host=hostname(), pid=1
    )
    audit.record(engine, STACK, started)
    [event] = audit.history(engine, STACK)
    assert event.result == audit.DID_NOT_FINISH and "stopped before it recorded" in (event.detail or "")
    # while the lock of that very process is held, it is running
    lock.acquire(engine, app=REF.name, stack=STACK, command="upgrade", operator="bob", host=hostname())
    audit.record(engine, STACK, started.__class__(**{**started.to_json(), "plan": (), "pid": os.getpid()}))
    assert sorted(e.result for e in audit.history(engine, STACK)) == [audit.DID_NOT_FINISH, audit.RUNNING]


def test_a_lock_held_by_another_is_one_refused_line_and_the_change_never_ran(settings):
    engine, seen = FakeEngine(), []
    hold(engine, "carol")
    with pytest.raises(LockHeld, match="carol: upgrade"):
        with audit.tracked(settings, engine, REF, "deploy", lock=audit.LOCK_AT_BEGIN):
            change_something(engine, seen)
    with pytest.raises(LockHeld):
        with audit.tracked(settings, engine, REF, "restart"):
            change_something(engine, seen)
    assert seen == []
    assert sorted((e.command, e.result) for e in audit.history(engine, STACK)) == [
        ("deploy", audit.REFUSED),
        ("restart", audit.REFUSED),
    ]


def test_a_lock_taken_at_begin_is_refused_there_and_completes_its_started_line(settings):
    """Someone took the lock between the read-only check and begin(): the started line becomes refused."""
    engine, seen = FakeEngine(), []
    with pytest.raises(LockHeld):
        with audit.tracked(settings, engine, REF, "deploy", lock=audit.LOCK_AT_BEGIN) as change:
            change.version_to = "2.0.0"
            hold(engine, "carol")
            change_something(engine, seen)
    assert seen == []
    [event] = audit.history(engine, STACK)
    assert (event.result, event.version_to) == (audit.REFUSED, "2.0.0")


def test_an_answer_no_leaves_no_line_and_a_failure_after_begin_is_recorded(settings):
    engine = FakeEngine()
    with audit.tracked(settings, engine, REF, "volume rm", lock=audit.LOCK_AT_BEGIN) as change:
        change.record = False
    assert audit.history(engine, STACK) == []
    with pytest.raises(RolledBack):
        with audit.tracked(settings, engine, REF, "upgrade", lock=audit.LOCK_AT_BEGIN):
            change_something(engine, [])
            raise RolledBack("app a.example.org: release 2.0.0 failed; every service was rolled back to 1.0.0")
    [event] = audit.history(engine, STACK)
    assert event.result == audit.ROLLED_BACK and event.detail and event.detail.startswith("app a.example.org")


def events(*pairs: tuple[str, str | None]) -> list[audit.Event]:
    return [
        audit.Event(
            when=f"2026-12-01T00:0{i}:00Z", who="a", command="deploy", app="x", server="s", result=r, version_to=v
        )
        for i, (r, v) in enumerate(pairs)
    ]


def test_the_last_converged_release_is_the_last_ok_of_the_history():
    assert last_converged(events(("ok", "1.0.0"), ("ok", "2.0.0"), ("did not finish", "3.0.0"))) == "2.0.0"
    assert last_converged(events(("ok", "1.0.0"), ("rolled back", "2.0.0"))) == "1.0.0"
    assert last_converged(events(("failed", "1.0.0"))) is None


def test_a_rollback_offers_first_the_last_release_that_converged_here():
    from coopcloud.domain.version import parse_version as v

    older = [v("1.1.0+1"), v("1.0.0+1")]
    assert [c.tag for c in prefer_converged(older, ["2.0.0+1", "1.0.0+1"])] == ["1.0.0+1", "1.1.0+1"]
    assert prefer_converged(older, ["2.0.0+1"]) == older  # nothing older converged: the previous release


def _with_history(*pairs: tuple[str, str | None]) -> Any:
    engine = FakeEngine()
    for event in events(*pairs):
        audit.record(engine, STACK, audit.Event(**{**event.to_json(), "plan": (), "app": REF.name}))
    return SimpleNamespace(engine=engine, stack=STACK, name=REF.name)


@pytest.mark.parametrize(
    "history, previous, not_converged, refused",
    [
        ([("ok", "1.0.0")], "1.0.0", {}, None),  # the last ok: roll back to it
        ([("ok", "1.0.0")], "1.0.0", {"app": "update rollback_completed"}, None),  # it converged here
        ([], "1.0.0", {}, None),  # no trail (abra deployed it): converged now, trusted
        (
            [("ok", "1.0.0"), ("did not finish", "2.0.0")],
            "2.0.0",
            {},
            "never converged here; the last release that converged here is 1.0.0",
        ),
        (
            [("ok", "1.0.0"), ("ok", "2.0.0")],
            "3.0.0",
            {"app": "tasks keep failing"},
            "was not converged when this deploy began (app: tasks keep failing)",
        ),
        ([], "2.0.0", {"app": "0/1 running"}, "and no release converged here"),
    ],
)
def test_a_whole_app_rollback_goes_back_only_to_a_state_that_converged(history, previous, not_converged, refused):
    app = _with_history(*history)
    prepared: Any = SimpleNamespace(previous_version=previous, not_converged=not_converged)
    why = rollback_refused(prepared, app)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why
        if "1.0.0" in refused:
            assert f"coop app deploy {REF.name} 1.0.0" in why


def test_a_release_that_runs_from_a_deploy_that_did_not_finish_is_named_not_blamed_on_a_stale_env():
    engine = FakeEngine()
    for event in events(("ok", "1.0.0"), ("started", "1.1.0")):
        audit.record(engine, STACK, event)
    with pytest.raises(Downgrade) as caught:
        check_pinned(engine, "x", "srv", STACK, running="1.1.0+1", target="1.0.0+1", explicit=False)
    assert "git pull" in str(caught.value)  # no unfinished change took it to 1.1.0+1: a stale env
    audit.record(engine, STACK, events(("started", "1.1.0+1"))[0])
    with pytest.raises(Downgrade) as caught:
        check_pinned(engine, "x", "srv", STACK, running="1.1.0+1", target="1.0.0+1", explicit=False)
    text = str(caught.value)
    assert "git pull" not in text and "did not finish" in text and "coop app deploy x 1.1.0+1" in text
    check_pinned(engine, "x", "srv", STACK, running="1.1.0+1", target="1.0.0+1", explicit=True)  # on purpose
