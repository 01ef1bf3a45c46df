"""The domain check's own logic: which names, which are skipped, and a resolver that hangs.

Names are resolved by the system's real resolver (numeric names and /etc/hosts need no network);
only the hanging resolver is a function of the test's, since no real one can be made to hang here.
"""

from __future__ import annotations

import threading
import time

import pytest

from coopcloud.domain.server import Server
from coopcloud.errors import NotFound
from coopcloud.ops.deploy.domains import app_domains, check_domains, checked, resolve_all
from coopcloud.settings import Settings

SERVER = Server("cloud", "ssh://127.0.0.1")


def test_domain_and_extra_domains_as_abra_recipes_write_them():
    values = {"DOMAIN": "Cloud.Example.net.", "EXTRA_DOMAINS": ", `www.cloud.example.net`, `old.example.net`"}
    assert app_domains(values, "app") == ["cloud.example.net", "www.cloud.example.net", "old.example.net"]
    assert app_domains({"EXTRA_DOMAINS": "a.coop.org b.coop.org,c.coop.org"}, "x.coop.org") == [
        "x.coop.org",
        "a.coop.org",
        "b.coop.org",
        "c.coop.org",
    ]


@pytest.mark.parametrize(
    ("name", "asked"),
    [
        ("app.localhost", False),
        ("localhost", False),
        ("wiki.test", False),
        ("a.b.example", False),
        ("x.invalid", False),
        ("git.example.org", False),
        ("example.com", False),
        ("cloud.coop.org", True),
        ("testing.org", True),
        ("myexample.org", True),
    ],
)
def test_reserved_names_are_not_asked(name, asked):
    assert checked(name) is asked


def settings(tmp_path) -> Settings:
    return Settings.from_environ({"HOME": str(tmp_path), "ABRA_DIR": str(tmp_path / "abra")})


def test_a_domain_resolving_to_the_server_passes_and_one_resolving_elsewhere_is_refused(tmp_path):
    warnings: list[str] = []
    check_domains(settings(tmp_path), SERVER, "app", {"DOMAIN": "127.0.0.1"}, warn=warnings.append)
    assert warnings == []
    with pytest.raises(NotFound) as exc:
        check_domains(
            settings(tmp_path),
            SERVER,
            "app",
            {"DOMAIN": "127.0.0.1", "EXTRA_DOMAINS": ", `127.0.0.3`"},
            warn=warnings.append,
        )
    assert str(exc.value) == (
        "app app: domain 127.0.0.3 resolves to 127.0.0.3, not to server cloud (127.0.0.1)"
        " — point its DNS at the server, or pass -D/--no-domain-checks"
    )


def test_the_local_server_and_reserved_names_are_not_checked(tmp_path):
    local = Server("default", "unix:///var/run/docker.sock")
    check_domains(settings(tmp_path), local, "app", {"DOMAIN": "127.0.0.9"}, warn=pytest.fail)
    check_domains(settings(tmp_path), SERVER, "app", {"DOMAIN": "wiki.test"}, warn=pytest.fail)


def test_a_silent_resolver_is_a_warning_after_its_timeout_not_a_hang(tmp_path):
    release = threading.Event()

    def hangs(name: str):
        if name == "127.0.0.1":
            return {"127.0.0.1"}
        release.wait(30)
        return None

    warnings: list[str] = []
    started = time.monotonic()
    try:
        check_domains(
            settings(tmp_path),
            SERVER,
            "app",
            {"DOMAIN": "slow.coop.org"},
            warn=warnings.append,
            resolver=hangs,
            timeout=0.5,
        )
    finally:
        release.set()
    assert time.monotonic() - started < 2
    assert warnings == ["app app: the resolver gave no answer for slow.coop.org within 0.5 s; domain not checked"]


def test_names_are_asked_at_once():
    def slow(name: str):
        time.sleep(0.3)
        return {name}

    started = time.monotonic()
    assert resolve_all(["a", "b", "c", "d"], slow, 3) == {n: {n} for n in "abcd"}
    assert time.monotonic() - started < 1
