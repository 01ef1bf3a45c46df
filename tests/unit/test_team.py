"""Pure parts of the lock, the audit trail, the operator identity and the downgrade guard."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from coopcloud.engine.views import Config
from coopcloud.engine.views import parse_time as parse_engine_time
from coopcloud.errors import Conflict, ExitStatus, InvalidError, LockHeld, NotFound, RolledBack, exit_status_for
from coopcloud.ops.deploy.guard import Downgrade, check_downgrade
from coopcloud.ops.trail import audit
from coopcloud.ops.trail.lock import LockInfo, held_message, lock_name
from coopcloud.ops.trail.operator import operator
from coopcloud.settings import Settings


def test_lock_name_fits_dockers_limit_and_stays_one_per_stack():
    assert lock_name("cloud_example_org") == "coop-lock_cloud_example_org"
    long_a, long_b = "a" * 60 + "_x", "a" * 60 + "_y"
    assert len(lock_name(long_a)) <= 64 and lock_name(long_a) != lock_name(long_b)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-11-29T22:40:12.338165142Z", datetime(2026, 11, 29, 22, 40, 12, 338165, tzinfo=UTC)),
        ("2026-11-29T23:40:12.5+01:00", datetime(2026, 11, 29, 22, 40, 12, 500000, tzinfo=UTC)),
        ("2026-11-29T22:40:12Z", datetime(2026, 11, 29, 22, 40, 12, tzinfo=UTC)),
    ],
)
def test_engine_times_are_parsed_as_times_in_any_zone(raw, expected):
    assert parse_engine_time(raw) == expected


def _lock_config(**labels: str) -> dict:
    base = {
        "coop.lock": "s",
        "coop.lock.app": "a.example.org",
        "coop.lock.holder": "alice@example.org",
        "coop.lock.command": "deploy",
        "coop.lock.pid": "4242",
        "coop.lock.host": "laptop",
        "coop.lock.start": "2026-11-29T22:41:07Z",
        "coop.lock.lease": "900",
        "coop.lock.token": "t",
    }
    base.update(labels)
    return {
        "ID": "x",
        "Version": {"Index": 3},
        "CreatedAt": "2026-11-29T22:41:07.1Z",
        "UpdatedAt": "2026-11-29T22:46:07.1Z",
        "Spec": {"Name": "coop-lock_s", "Labels": base},
    }


def test_a_held_lock_names_holder_command_and_since_and_the_way_out():
    info = LockInfo.from_config(Config.from_json(_lock_config()))
    err = held_message("a.example.org", info)
    assert exit_status_for(err) == ExitStatus.LOCK_HELD
    line = str(err)
    assert "\n" not in line
    for part in (
        "alice@example.org",
        "deploy",
        "pid 4242 on laptop",
        "since 2026-11-29 22:41:07 UTC",
        "coop app unlock a.example.org",
    ):
        assert part in line


def test_the_lease_runs_from_the_last_renewal_on_the_servers_clock():
    info = LockInfo.from_config(Config.from_json(_lock_config(**{"coop.lock.lease": "60"})))
    assert not info.expired(datetime(2026, 11, 29, 22, 47, 0, tzinfo=UTC))
    assert info.expired(datetime(2026, 11, 29, 22, 47, 8, tzinfo=UTC))


def test_a_lock_with_odd_labels_still_reads():
    info = LockInfo.from_config(
        Config.from_json(_lock_config(**{"coop.lock.pid": "?", "coop.lock.lease": "x", "coop.lock.start": "bad"}))
    )
    assert info.pid is None and info.lease == 900 and "on laptop" in info.describe()


def test_events_round_trip_through_json():
    event = audit.Event(
        who="a",
        command="deploy",
        app="x",
        server="s",
        result=audit.OK,
        version_from="1.0.0+1",
        version_to="1.1.0+1",
        plan=("~ service x_app",),
        duration=1.5,
    )
    assert audit.Event.from_json(event.to_json()) == event
    assert audit.Event.from_json({**event.to_json(), "added_later": 1}) == event


@pytest.mark.parametrize(
    "exc, result",
    [
        (None, audit.OK),
        (KeyboardInterrupt(), audit.INTERRUPTED),
        (RolledBack("x"), audit.ROLLED_BACK),
        (LockHeld("x"), audit.REFUSED),
        (Downgrade("x"), audit.REFUSED),
        (InvalidError("x"), audit.REFUSED),
        (NotFound("x"), audit.REFUSED),
        (RuntimeError("x"), audit.FAILED),
    ],
)
def test_an_outcome_maps_to_one_result(exc, result):
    assert audit.result_of(exc) == result


def test_audit_names_fit_dockers_limit():
    name = audit._config_name("s" * 80, "2026-11-29T22:41:07Z")
    assert len(name) <= 64 and "20261129224107" in name


def _settings(tmp_path, **env: str) -> Settings:
    root = tmp_path / "abra"
    root.mkdir(exist_ok=True)
    base = {"HOME": str(tmp_path), "USER": "alice", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return Settings.from_environ({**base, "ABRA_DIR": str(root), **env})


def test_operator_is_coop_operator_then_git_email_in_abra_dir_then_user_at_host(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")  # the git we run reads our process env
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    settings = _settings(tmp_path)
    assert operator(settings).startswith("alice@")
    subprocess.run(["git", "init", "-q", str(settings.root)], check=True)
    subprocess.run(["git", "-C", str(settings.root), "config", "user.email", "alice@coop.example"], check=True)
    assert operator(settings) == "alice@coop.example"
    assert operator(_settings(tmp_path, COOP_OPERATOR="Alice (laptop)")) == "Alice (laptop)"


def test_a_stale_pin_older_than_what_runs_is_refused_naming_both_and_the_deliberate_command():
    with pytest.raises(Downgrade) as caught:
        check_downgrade("a.example.org", "srv", running="1.1.0+1.0", target="1.0.0+1.0", explicit=False)
    err = caught.value
    assert isinstance(err, Conflict) and exit_status_for(err) == ExitStatus.CONFLICT
    assert "1.1.0+1.0" in str(err) and "1.0.0+1.0" in str(err)
    assert "coop app deploy a.example.org 1.0.0+1.0" in str(err)


@pytest.mark.parametrize(
    "running, target, explicit",
    [
        ("1.1.0+1.0", "1.0.0+1.0", True),  # named on the command line: on purpose
        ("1.0.0+1.0", "1.1.0+1.0", False),  # an upgrade
        ("1.0.0+1.0", "1.0.0+1.0", False),
        (None, "1.0.0+1.0", False),  # nothing runs
        ("3f2a9c1e+U", "1.0.0+1.0", False),  # chaos: no order
    ],
)
def test_what_is_not_a_silent_downgrade_passes(running, target, explicit):
    check_downgrade("a", "srv", running=running, target=target, explicit=explicit)


def test_recording_is_one_create_and_one_list_and_prunes_the_oldest():
    from fakes.engine import FakeEngine

    fake = FakeEngine()
    for i in range(4):
        audit.record(
            fake,
            "s",
            audit.Event(
                when=f"2026-11-29T22:4{i}:00Z", who=f"op{i}", command="deploy", app="a", server="x", result=audit.OK
            ),
            keep=2,
        )
    audit.record(fake, "other", audit.Event(who="z", command="undeploy", app="o", server="x", result=audit.OK))
    assert [e.who for e in audit.history(fake, "s")] == ["op2", "op3"]
    assert [e.who for e in audit.history(fake)] == ["op2", "op3", "z"]
    kinds = [c[0] for c in fake.calls]
    assert kinds.count("config_create") == 5 and kinds.count("configs") == 5 + 2


def test_a_plan_is_summarized_by_names_never_values():
    from coopcloud.ops.deploy.plan import Change, Plan, ServicePlan

    plan = Plan(
        services=(
            ServicePlan(
                "s_app", "update", (Change("env DB_PASSWORD", "(hidden)", "(hidden)"), Change("image", "a:1", "a:2"))
            ),
            ServicePlan("s_db", "unchanged"),
            ServicePlan("s_new", "create"),
        ),
        networks=("s_internal",),
    )
    assert plan.audit_lines() == [
        "+ network s_internal",
        "~ service s_app: update (env DB_PASSWORD, image)",
        "+ service s_new: create",
    ]


def test_the_specs_a_plan_was_made_from_must_still_run_when_the_lock_is_taken():
    from coopcloud.engine.views import Service
    from coopcloud.ops.deploy.guard import ChangedMeanwhile, check_unchanged
    from fakes.engine import FakeEngine

    svc = {"ID": "x", "Version": {"Index": 5}, "Spec": {"Name": "s_app", "Labels": {"com.docker.stack.namespace": "s"}}}
    fake = FakeEngine(services=[svc])
    check_unchanged(
        fake, "a", "s", {"s_app": Service.from_json(dict(svc, Version={"Index": 4}))}
    )  # swarm's own bumps are fine
    moved = {
        "s_app": Service.from_json({**svc, "Spec": {**svc["Spec"], "Labels": {**svc["Spec"]["Labels"], "x": "1"}}})
    }
    with pytest.raises(ChangedMeanwhile):
        check_unchanged(fake, "a", "s", moved)
    with pytest.raises(ChangedMeanwhile):
        check_unchanged(fake, "a", "s", {})


def test_the_next_version_of_a_secret_and_which_secrets_rotate():
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import rotate
    from coopcloud.ops.app.secrets import AppSecret

    assert rotate.next_version("a", "db_password", "v1") == "v2"
    assert rotate.next_version("a", "db_password", "v19") == "v20"
    with pytest.raises(InvalidError) as caught:
        rotate.next_version("a", "db_password", "2024")
    assert "SECRET_DB_PASSWORD_VERSION" in str(caught.value)
    made = AppSecret("db_password", "v1", "s_db_password_v1", 32, None, True)
    given = AppSecret("smtp_password", "v1", "s_smtp_password_v1", None, None, False)
    assert rotate.choose([made, given], "a", None) == [made]  # --all: what coop generates
    with pytest.raises(UsageError):
        rotate.choose([made, given], "a", ["smtp_password"])
    with pytest.raises(NotFound):
        rotate.choose([made, given], "a", ["nope"])
