"""swarm.labels: the one reader of a stack's labels (main service, timeout)."""

from __future__ import annotations

import pytest

from coopcloud.errors import InvalidError
from coopcloud.swarm.labels import STACK_LABEL, coop_label, main_service_name, running_version, timeout_seconds


def test_constants_and_keys():
    assert STACK_LABEL == "com.docker.stack.namespace"
    assert coop_label("a_b", "version") == "coop-cloud.a_b.version"


@pytest.mark.parametrize(
    "names, main",
    [
        (["s_app", "s_db"], "s_app"),
        (["s_web", "s_db"], "s_db"),
        (["s_app"], "s_app"),
        (["s_db", "s_app_worker"], "s_app_worker"),
    ],
)
def test_main_service_name(names, main):
    assert main_service_name("s", names) == main


@pytest.mark.parametrize("value, seconds", [(None, 300), ("", 300), ("120", 120), (" 45 ", 45)])
def test_timeout_seconds(value, seconds):
    labels = {} if value is None else {"coop-cloud.s.timeout": value}
    assert timeout_seconds("s", labels) == seconds


@pytest.mark.parametrize("value", ["1.5", "abc", "0", "-3"])
def test_timeout_seconds_refuses_what_is_not_whole_seconds(value):
    with pytest.raises(InvalidError, match=f"label coop-cloud.s.timeout='{value}' is not a whole number of seconds"):
        timeout_seconds("s", {"coop-cloud.s.timeout": value})


def test_running_version_reads_the_main_service_first_then_any_other():
    key = "coop-cloud.s.version"
    assert running_version("s", {}) is None
    assert running_version("s", {"s_app": {key: "2.0.0+1"}, "s_db": {key: "1.0.0+1"}}) == "2.0.0+1"
    assert running_version("s", {"s_app": {}, "s_web": {key: "1.0.0+1"}, "s_db": {key: "0.9.0+1"}}) == "0.9.0+1"
    assert running_version("s", {"s_app": {"coop-cloud.other.version": "1"}}) is None
