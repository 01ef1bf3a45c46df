"""`coop autoupdate`'s decisions that need no server: the skip rules before any render, the exit status,
the webhook's URL check. The whole flow runs on the rig in tests/integration/test_autoupdate_live.py."""

from datetime import UTC, datetime

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.engine.views import Service
from coopcloud.errors import UsageError
from coopcloud.ops import autoupdate as au
from coopcloud.ops.app.status import ServerView
from coopcloud.ops.autoupdate.notify import Webhook
from coopcloud.ops.releases import ReleaseLookup
from coopcloud.ops.trail.lock import LockInfo
from coopcloud.settings import Settings

STACK = "cloud_example_org"


def service(labels: dict, *, running: int = 1, desired: int = 1) -> Service:
    full = {"com.docker.stack.namespace": STACK, **{f"coop-cloud.{STACK}.{k}": v for k, v in labels.items()}}
    return Service.from_json(
        {
            "ID": "x",
            "Spec": {"Name": f"{STACK}_app", "Labels": full, "Mode": {"Replicated": {"Replicas": desired}}},
            "ServiceStatus": {"RunningTasks": running, "DesiredTasks": desired},
        }
    )


def assess(tmp_path, svc: Service, *, ref: bool = True, lock: LockInfo | None = None):
    settings = Settings(root=tmp_path, docker_config=tmp_path / "docker")
    view = ServerView({STACK: [svc]})
    app = AppRef("default", "cloud.example.org") if ref else None
    return au._assess(settings, "default", STACK, app, view, lock, ReleaseLookup(settings), major=False)


ON = {"autoupdate": "true", "version": "1.0.0+1", "recipe": "web", "chaos": "false"}


@pytest.mark.parametrize(
    "labels, kwargs, reason",
    [
        ({**ON, "autoupdate": "false"}, {}, "auto-update is off"),
        ({k: v for k, v in ON.items() if k != "autoupdate"}, {}, "auto-update is off"),  # deployed before the label
        (ON, {"ref": False}, "env file missing: no default/<app>.env in"),
        ({**ON, "chaos": "true", "chaos-version": "0a1b2c3d+U"}, {}, "chaos deployment (0a1b2c3d+U)"),
    ],
)
def test_skip_rules(tmp_path, labels, kwargs, reason):
    row = assess(tmp_path, service(labels), **kwargs)
    assert isinstance(row, au.Outcome) and row.result == au.SKIPPED
    assert row.reason.startswith(reason), row.reason
    assert (row.server, row.from_version, row.to_version) == ("default", "1.0.0+1", None)


def test_not_converged_then_locked(tmp_path):
    row = assess(tmp_path, service(ON, running=0, desired=2))
    assert row.reason == f"not converged ({STACK}_app; see: coop app ps cloud.example.org)"
    when = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    held = LockInfo("id", 1, STACK, "cloud.example.org", "cron@box", "autoupdate", 42, "box", when, when, 900, "t")
    row = assess(tmp_path, service(ON), lock=held)
    assert row.reason == "locked by cron@box: autoupdate (pid 42 on box) since 2026-12-01 04:00:00 UTC"


def test_exit_status_worst_first():
    def o(result, **kw):
        return au.Outcome("a", "s", result, **kw)

    assert au.exit_status([o(au.UPGRADED), o(au.SKIPPED), o(au.UP_TO_DATE), o(au.MAJOR_AVAILABLE)]) == 0
    assert au.exit_status([o(au.UPGRADED), o(au.FAILED)]) == 1
    assert au.exit_status([o(au.FAILED), o(au.ROLLED_BACK)]) == 8
    assert au.exit_status([o(au.ROLLED_BACK), o(au.FAILED, rollback_failed=True)]) == 7
    assert o(au.MAJOR_AVAILABLE, major="2.0.0+2").shown == "major available: 2.0.0+2"
    assert o(au.SKIPPED, reason="locked by x").shown == "skipped: locked by x"


def test_webhook_url_is_checked_and_shown_without_its_token():
    hook = Webhook("https://hooks.example.org:8443/services/T000/B000/XXXXSECRET?token=abc")
    assert hook.shown == "https://hooks.example.org:8443"
    for bad in ("file:///etc/passwd", "hooks.example.org/x", "ftp://x/y", "http:///path"):
        with pytest.raises(UsageError):
            Webhook(bad)
    rows = [au.Outcome("a", "s", au.SKIPPED), au.Outcome("b", "s", au.UP_TO_DATE)]
    assert not hook.wanted(rows) and hook.wanted(rows + [au.Outcome("c", "s", au.ROLLED_BACK)])
