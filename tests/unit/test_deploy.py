"""Deploy steps that need no engine: what prepare checks before anything is applied."""

from __future__ import annotations

import pytest


def test_a_state_folder_that_cannot_be_written_is_found_before_anything_is_applied(tmp_path):
    from types import SimpleNamespace

    from coopcloud.domain.app import AppRef
    from coopcloud.errors import CoopError
    from coopcloud.ops.deploy import check_state_writable
    from coopcloud.settings import Settings

    servers = tmp_path / "abra" / "servers"
    servers.mkdir(parents=True)
    (servers / "default").symlink_to("/sys/fs")  # read-only for everyone, root included
    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra")})
    cfg = SimpleNamespace(ref=AppRef("default", "cloud.example.org"))
    with pytest.raises(
        CoopError,
        match=r"app cloud.example.org: cannot write to \S*/servers/default \(Permission denied\).*could not be recorded",
    ):
        check_state_writable(cfg, settings)
    (servers / "default").unlink()
    (servers / "default").mkdir()
    check_state_writable(cfg, settings)  # writable: no error


def test_pinning_keeps_edits_made_to_the_env_while_the_deploy_ran(tmp_path):
    from coopcloud.domain.app import AppConfig, AppRef
    from coopcloud.ops.deploy import pin_version
    from coopcloud.settings import Settings

    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra")})
    ref = AppRef("default", "cloud.example.org")
    path = ref.env_path(settings.servers_dir)
    path.parent.mkdir(parents=True)
    path.write_text("# my app\nTYPE=web:1.0.0+1.0.0\nDOMAIN=cloud.example.org\n")
    cfg = AppConfig.load(ref, settings.servers_dir)  # what the deploy read when it began
    path.write_text(path.read_text() + "SMTP_HOST=mail.example.org  # added meanwhile\n")
    pin_version(settings, cfg, "web", "1.1.0+1.1.0")
    assert path.read_text() == (
        "# my app\nTYPE=web:1.1.0+1.1.0\nDOMAIN=cloud.example.org\nSMTP_HOST=mail.example.org  # added meanwhile\n"
    )


def _outcome(name: str, error: str | None, *, timed_out: bool = False):
    from coopcloud.ops.deploy import converge as conv

    p = conv.ServiceProgress(name=name, want=1, error=error)
    return conv.ConvergeResult(ok=False, services=[p], timed_out=timed_out, logs={name: ["last words"]})


@pytest.mark.parametrize(
    "was_deployed, rollback, back, code, words",
    [
        (
            True,
            True,
            "ok",
            8,
            "release 1.1.0 failed (service s_app: swarm update rollback_started: boom); every service was rolled back to 1.0.0",
        ),
        (
            True,
            True,
            "fails",
            7,
            "release 1.1.0 failed (service s_app: swarm update rollback_started: boom) and rolling back to 1.0.0 failed too (service s_db: tasks keep failing",
        ),
        (True, False, None, 7, "app a.org: service s_app failed: swarm update rollback_started: boom"),
        (False, True, None, 7, "app a.org: service s_app failed: swarm update rollback_started: boom"),
    ],
)
def test_a_failed_deploy_rolls_the_whole_app_back_or_says_why_not(
    monkeypatch, was_deployed, rollback, back, code, words
):
    from types import SimpleNamespace

    from coopcloud.errors import DeployFailed
    from coopcloud.ops import deploy as dep
    from coopcloud.ops.deploy import converge as conv
    from coopcloud.ops.deploy import rollout

    undone = []

    def undo(client, prepared, applied, **kw):
        undone.append(applied)
        if back == "ok":
            return conv.ConvergeResult(ok=True, services=[])
        return _outcome("s_db", "tasks keep failing (3 since the change began): exit code 1")

    monkeypatch.setattr(rollout, "undo", undo)
    prepared = SimpleNamespace(
        app="a.org", version="1.1.0", previous_version="1.0.0", was_deployed=was_deployed, timeout=600
    )
    applied = dep.Applied(updated=["s_app", "s_db"])
    notes = []
    with pytest.raises(DeployFailed) as caught:
        rollout._fail(
            None,
            prepared,
            applied,
            _outcome("s_app", "swarm update rollback_started: boom"),
            rollback=rollback,
            progress=None,
            notify=notes.append,
        )
    assert int(caught.value.exit_status) == code
    assert words in str(caught.value)
    assert "  log: last words" in caught.value.details
    assert bool(undone) == (back is not None)
    if undone:
        assert notes == [
            "app a.org: 1.1.0 did not converge (s_app: swarm update rollback_started: boom); rolling every service back to 1.0.0"
        ]


def test_a_rollback_the_engine_refuses_names_both_failures(monkeypatch):
    from types import SimpleNamespace

    from coopcloud.errors import DeployFailed, EngineError
    from coopcloud.ops import deploy as dep
    from coopcloud.ops.deploy import rollout

    def undo(*a, **kw):
        raise EngineError("update out of sequence")

    monkeypatch.setattr(rollout, "undo", undo)
    prepared = SimpleNamespace(app="a.org", version="1.1.0", previous_version="1.0.0", was_deployed=True, timeout=600)
    with pytest.raises(DeployFailed) as caught:
        rollout._fail(
            None,
            prepared,
            dep.Applied(updated=["s_app"]),
            _outcome("s_app", "swarm update paused: x"),
            rollback=True,
            progress=None,
            notify=None,
        )
    assert int(caught.value.exit_status) == 7
    assert (
        "failed (service s_app: swarm update paused: x) and rolling back to 1.0.0 failed too (update out of sequence)"
        in str(caught.value)
    )


def test_a_service_that_is_not_converged_is_planned_as_an_update_that_converges_it():
    from coopcloud.ops import deploy as dep

    def svc(sid: str, name: str, state: str | None = None) -> dict:
        spec = {
            "Name": name,
            "Labels": {},
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": {"Image": "web:1"}},
        }
        out = {"ID": sid, "Version": {"Index": 5}, "Spec": spec}
        if state:
            out["UpdateStatus"] = {"State": state, "Message": "update paused due to failure"}
        return out

    def task(sid: str, state: str) -> dict:
        return {
            "ID": f"t{sid}",
            "ServiceID": sid,
            "DesiredState": "running",
            "Status": {"State": state, "Timestamp": "2026-11-29T21:00:00Z"},
        }

    class Engine:
        def tasks(self, filters):
            assert filters == {"service": ["S1", "S2", "S3"], "_up-to-date": ["true"]}
            return [task("S1", "running"), task("S2", "running"), task("S3", "starting")]

    from coopcloud.engine.views import Service

    raw = {"s_app": svc("S1", "s_app", "paused"), "s_db": svc("S2", "s_db"), "s_web": svc("S3", "s_web")}
    live = {name: Service.from_json(s) for name, s in raw.items()}
    stuck = dep.unconverged(Engine(), live, "2026-11-29T22:00:00Z")
    assert stuck == {"s_app": "swarm update paused: update paused due to failure", "s_web": "0/1 running"}
    pre = dep.Preflight(
        live=live,
        secret_ids={},
        config_ids={},
        networks_to_create=[],
        configs_to_create=[],
        secrets_to_create=[],
        engine_time="2026-11-29T22:00:00Z",
    )
    plan = dep.make_plan({n: s["Spec"] for n, s in raw.items()}, pre, stuck)
    by_name = {sp.name: sp for sp in plan.services}
    assert by_name["s_db"].action == "unchanged"
    assert by_name["s_app"].action == "update" and not by_name["s_app"].restarts
    assert [(c.what, c.before, c.after) for c in by_name["s_web"].changes] == [("state", "0/1 running", "converged")]
    assert plan.changes_anything


def test_a_change_is_noted_before_it_is_sent_and_dropped_only_when_the_engine_refused_it():
    from coopcloud.errors import EngineError
    from coopcloud.ops.deploy import rollout

    noted: list[str] = []
    assert rollout._landing(noted, "a", lambda: "ok") == "ok"

    def refused():
        raise EngineError("no")

    with pytest.raises(EngineError):
        rollout._landing(noted, "b", refused)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rollout._landing(noted, "c", interrupted)
    assert noted == ["a", "c"]  # "c" may have landed: undo must see it


@pytest.mark.parametrize("stage", ["applying", "nothing yet", "waiting"])
def test_ctrl_c_puts_back_a_half_applied_deploy_and_leaves_a_whole_one_to_swarm(monkeypatch, tmp_path, stage, changing):
    from types import SimpleNamespace

    from coopcloud.errors import Terminated, describe_interrupt
    from coopcloud.ops.deploy import converge as conv
    from coopcloud.ops.deploy import rollout

    undone = []

    def apply_changes(client, prepared, applied):
        if stage == "nothing yet":
            raise KeyboardInterrupt
        applied.updated.append("s_app")
        if stage == "applying":
            applied.updated.append("s_db")  # in flight when the Ctrl-C came
            raise KeyboardInterrupt

    def wait(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(rollout, "_apply_changes", apply_changes)
    monkeypatch.setattr(
        rollout, "undo", lambda client, prepared, applied, **kw: undone.append((list(applied.updated), kw))
    )
    monkeypatch.setattr(conv, "wait", wait)
    monkeypatch.setattr(rollout, "record", lambda *a: pytest.fail("an interrupted deploy is not recorded"))
    prepared = SimpleNamespace(
        app="a.org",
        server="s",
        version="1.1.0",
        desired={},
        timeout=60,
        pre=SimpleNamespace(engine_time="2026-11-30T00:00:00Z"),
        result=lambda **kw: SimpleNamespace(),
    )
    pool = SimpleNamespace(client=lambda server: object())
    with pytest.raises(Terminated) as caught:
        rollout.apply(None, pool, prepared)
    said = describe_interrupt(caught.value)
    if stage == "applying":
        assert undone == [(["s_app", "s_db"], {"wait": False})]
        assert (
            said
            == "interrupted (Ctrl-C): app a.org: interrupted while applying; what this deploy had changed was put back"
        )
    elif stage == "nothing yet":
        assert undone == [] and said == "interrupted (Ctrl-C): app a.org: nothing was changed"
    else:
        assert undone == []  # not rolled back: swarm goes on, and the operator is told where things stand
        assert said.startswith(
            "interrupted (Ctrl-C): app a.org: 1.1.0 was applied and swarm goes on rolling it out unwatched"
        )
        assert "coop app ps a.org" in said and "coop app rollback a.org" in said


def test_deploy_and_restart_word_a_failure_alike():
    from coopcloud.ops.deploy.converge import ConvergeResult, ServiceProgress, converge_failure

    waiting = ConvergeResult(
        ok=False, services=[ServiceProgress("s_app", want=1), ServiceProgress("s_db", 1, 1, done=True)], timed_out=True
    )
    deploy = converge_failure("a.org", waiting, timeout=600)
    assert deploy.message == "app a.org: did not converge after 600s (s_app 0/1 running)"
    assert deploy.hint == "see: coop app ps a.org; coop app errors a.org"
    assert deploy.details == ["s_app: 0/1 running — waiting"]
    short = converge_failure("a.org", waiting, timeout=5, verb="restart", name=lambda n: n.removeprefix("s_"))
    assert short.message == "app a.org: not running again after 5s (app 0/1 running)"

    failed = ConvergeResult(ok=False, services=[ServiceProgress("s_app", want=1, error="tasks keep failing")])
    assert (
        converge_failure("a.org", failed, timeout=600).message == "app a.org: service s_app failed: tasks keep failing"
    )
    restart = converge_failure("a.org", failed, timeout=600, verb="restart", name=lambda n: n.removeprefix("s_"))
    assert restart.message == "app a.org: service app did not start again: tasks keep failing"
    assert restart.hint == "see: coop app errors a.org; coop app logs a.org"
