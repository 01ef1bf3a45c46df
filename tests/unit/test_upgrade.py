"""Choosing the version an upgrade or rollback moves to (pure), and the recipe-versions listing."""

from __future__ import annotations

import pytest

from coopcloud.domain.version import parse_version
from coopcloud.errors import Conflict, ExitStatus, NotFound, UsageError
from coopcloud.ops.deploy.upgrade import (
    ROLLBACK,
    UPGRADE,
    candidates,
    check_target,
    crossed,
    current_version,
    familiar_image,
    select,
)
from fakes.engine import FakeEngine

TAGS = ["1.0.0+1.0.0", "1.1.0+1.1.0", "1.2.0-rc.1+1.2.0", "2.0.0+2.0.0", "2.0.1+2.0.1"]
VS = [parse_version(t) for t in TAGS]
V = {v.tag: v for v in VS}


def tags(vs):
    return [v.tag for v in vs]


# -- candidates ----------------------------------------------------------------------------------


def test_upgrade_candidates_are_newer_releases_newest_first_without_prereleases():
    assert tags(candidates(VS, V["1.0.0+1.0.0"], UPGRADE)) == ["2.0.1+2.0.1", "2.0.0+2.0.0", "1.1.0+1.1.0"]


def test_rollback_candidates_are_older_releases_newest_first():
    assert tags(candidates(VS, V["2.0.0+2.0.0"], ROLLBACK)) == ["1.1.0+1.1.0", "1.0.0+1.0.0"]


def test_prereleases_are_offered_to_an_app_running_one():
    assert tags(candidates(VS, V["1.2.0-rc.1+1.2.0"], UPGRADE)) == ["2.0.1+2.0.1", "2.0.0+2.0.0"]
    pre = VS + [parse_version("1.2.0-rc.2+1.2.0")]
    assert tags(candidates(pre, V["1.2.0-rc.1+1.2.0"], UPGRADE))[-1] == "1.2.0-rc.2+1.2.0"


def test_nothing_newer_or_older():
    assert candidates(VS, V["2.0.1+2.0.1"], UPGRADE) == []
    assert candidates(VS, V["1.0.0+1.0.0"], ROLLBACK) == []


# -- select: the whole choice ----------------------------------------------------------------


def test_without_a_prompt_upgrade_takes_the_latest_and_rollback_the_previous():
    assert select(VS, V["1.0.0+1.0.0"], UPGRADE, None, app="a").tag == "2.0.1+2.0.1"
    assert select(VS, V["2.0.0+2.0.0"], ROLLBACK, None, app="a").tag == "1.1.0+1.1.0"


def test_the_prompt_sees_the_candidates_and_its_answer_is_taken():
    seen = []

    def ask(found):
        seen.append(tags(found))
        return found[-1]

    assert select(VS, V["1.0.0+1.0.0"], UPGRADE, None, app="a", ask=ask).tag == "1.1.0+1.1.0"
    assert seen == [["2.0.1+2.0.1", "2.0.0+2.0.0", "1.1.0+1.1.0"]]


def test_nothing_to_choose_returns_none_without_asking():
    def ask(found):  # pragma: no cover - must not be called
        raise AssertionError("asked")

    assert select(VS, V["2.0.1+2.0.1"], UPGRADE, None, app="a", ask=ask) is None


@pytest.mark.parametrize("wanted", ["2.0.0+2.0.0", "2.0.0", "v2.0.0"])
def test_a_named_version_is_resolved_from_a_tag_or_bare_semver(wanted):
    assert select(VS, V["1.0.0+1.0.0"], UPGRADE, wanted, app="a").tag == "2.0.0+2.0.0"


def test_a_named_prerelease_is_allowed():
    assert select(VS, V["1.1.0+1.1.0"], UPGRADE, "1.2.0-rc.1", app="a").tag == "1.2.0-rc.1+1.2.0"


def test_upgrade_to_an_older_version_names_rollback():
    with pytest.raises(UsageError) as e:
        select(VS, V["2.0.0+2.0.0"], UPGRADE, "1.1.0", app="cloud.example.org")
    assert str(e.value) == (
        "app cloud.example.org: 1.1.0+1.1.0 is older than the deployed 2.0.0+2.0.0 "
        "— run: coop app rollback cloud.example.org 1.1.0+1.1.0"
    )
    assert e.value.exit_status == ExitStatus.USAGE


def test_rollback_to_a_newer_version_names_upgrade():
    with pytest.raises(UsageError) as e:
        select(VS, V["1.1.0+1.1.0"], ROLLBACK, "2.0.0+2.0.0", app="x")
    assert (
        str(e.value)
        == "app x: 2.0.0+2.0.0 is newer than the deployed 1.1.0+1.1.0 — run: coop app upgrade x 2.0.0+2.0.0"
    )


@pytest.mark.parametrize("direction", [UPGRADE, ROLLBACK])
def test_the_deployed_version_is_refused_both_ways(direction):
    with pytest.raises(
        Conflict, match=r"already deployed at 1.1.0\+1.1.0 — to redeploy it, run: coop app deploy x --force"
    ):
        check_target("x", V["1.1.0+1.1.0"], V["1.1.0+1.1.0"], direction)


def test_an_unknown_version_is_not_found():
    with pytest.raises(NotFound, match="no version '9.9.9'"):
        select(VS, V["1.0.0+1.0.0"], UPGRADE, "9.9.9", app="x")


# -- what runs now ---------------------------------------------------------------------------


def test_the_label_wins_over_the_env_pin():
    v, source = current_version("2.0.0+2.0.0", "1.0.0+1.0.0", VS)
    assert (v.tag, source) == ("2.0.0+2.0.0", "label")
    assert v is V["2.0.0+2.0.0"]


def test_a_chaos_label_falls_back_to_the_env_pin():
    v, source = current_version("3f2a9c1d+U", "1.1.0+1.1.0", VS)
    assert (v.tag, source) == ("1.1.0+1.1.0", "env")


def test_no_label_and_no_pin_is_unknown():
    assert current_version(None, None, VS) == (None, "unknown")
    assert current_version("abcdef12", None, VS) == (None, "unknown")


def test_a_label_the_clone_lacks_still_orders_by_semver():
    v, source = current_version("2.5.0+2.5.0", None, VS)
    assert source == "label" and v.semver == "2.5.0"
    assert tags(candidates(VS, v, ROLLBACK))[0] == "2.0.1+2.0.1"
    assert candidates(VS, v, UPGRADE) == []


# -- release notes crossed ---------------------------------------------------------------------


def test_an_upgrade_crosses_every_version_after_the_current_up_to_the_target_oldest_first():
    assert tags(crossed(VS, V["1.0.0+1.0.0"], V["2.0.0+2.0.0"])) == ["1.1.0+1.1.0", "1.2.0-rc.1+1.2.0", "2.0.0+2.0.0"]


def test_a_rollback_crosses_the_versions_being_undone_newest_first():
    assert tags(crossed(VS, V["2.0.1+2.0.1"], V["1.1.0+1.1.0"])) == ["2.0.1+2.0.1", "2.0.0+2.0.0", "1.2.0-rc.1+1.2.0"]


# -- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("127.0.0.1:5000/coop-test/web:1.0.0", ("127.0.0.1:5000/coop-test/web", "1.0.0", None)),
        ("nginx", ("nginx", "latest", None)),
        ("docker.io/library/nginx:1.27.2", ("nginx", "1.27.2", None)),
        ("bitnami/redis:7.2", ("bitnami/redis", "7.2", None)),
        ("localhost:5000/app", ("localhost:5000/app", "latest", None)),
        ("nginx:1.27@sha256:" + "a" * 64, ("nginx", "1.27", "sha256:" + "a" * 64)),
        ("nginx@sha256:" + "b" * 64, ("nginx", None, "sha256:" + "b" * 64)),
    ],
)
def test_split_image(ref, expected):
    assert familiar_image(ref) == expected


# -- reading the live labels (a fake engine client) -----------------------------------------------


def _Client(services):
    return FakeEngine(services=services)


def _cfg(pin: str | None):
    from coopcloud.domain.app import AppConfig, AppRef
    from coopcloud.domain.envfile import EnvFile

    return AppConfig(AppRef("srv", "cloud.example.org"), EnvFile.parse(f"TYPE=web{':' + pin if pin else ''}\n"))


def _svc(name, labels):
    stack = name.rsplit("_", 1)[0]  # as docker stack deploy labels it; the fake filters by it like the engine
    return {"ID": name, "Spec": {"Name": name, "Labels": {"com.docker.stack.namespace": stack, **labels}}}


def test_read_deployed_takes_the_main_services_labels():
    from coopcloud.ops.deploy.upgrade import read_deployed

    stack = "cloud_example_org"
    client = _Client(
        [
            _svc(f"{stack}_db", {}),
            _svc(f"{stack}_app", {f"coop-cloud.{stack}.version": "2.0.0+2.0.0", f"coop-cloud.{stack}.chaos": "false"}),
        ]
    )
    d = read_deployed(client, _cfg("1.0.0+1.0.0"), VS)
    assert (d.label, d.version.tag, d.source, d.chaos, d.chaos_version) == (
        "2.0.0+2.0.0",
        "2.0.0+2.0.0",
        "label",
        False,
        None,
    )
    assert [c[1] for c in client.calls if c[0] == "services"] == [{"label": [f"com.docker.stack.namespace={stack}"]}]


def test_read_deployed_chaos_falls_back_to_the_pin():
    from coopcloud.ops.deploy.upgrade import read_deployed

    stack = "cloud_example_org"
    labels = {
        f"coop-cloud.{stack}.version": "3f2a9c1d+U",
        f"coop-cloud.{stack}.chaos": "true",
        f"coop-cloud.{stack}.chaos-version": "3f2a9c1d+U",
    }
    d = read_deployed(_Client([_svc(f"{stack}_app", labels)]), _cfg("1.1.0+1.1.0"), VS)
    assert (d.version.tag, d.source, d.chaos, d.chaos_version) == ("1.1.0+1.1.0", "env", True, "3f2a9c1d+U")


def test_read_deployed_refuses_an_undeployed_app_naming_deploy():
    from coopcloud.ops.deploy.upgrade import read_deployed

    with pytest.raises(NotFound) as e:
        read_deployed(_Client([]), _cfg("1.0.0+1.0.0"), VS)
    assert (
        str(e.value) == "app cloud.example.org is not deployed on server srv — run: coop app deploy cloud.example.org"
    )
