"""`coop dashboard`: what it refuses before it serves anything (the pages: tests/integration/test_dashboard.py)."""

from __future__ import annotations

import socket
import sys

import pytest

from coopcloud.ops.deploy.plan import HIDDEN, shown_env
from coopcloud.web.serve import Address, parse_bind


def _one_error_line(r) -> str:
    lines = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in r.err, r
    return lines[0]


def test_without_the_extra_one_line_names_it(coop, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # find_spec() now says: not installed
    r = coop("dashboard", "--no-open", "--port", "0")
    assert r.code == 1, r
    line = _one_error_line(r)
    assert "coopcloud[dashboard]" in line and "uvicorn" in line
    assert r.out == ""


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "example.org", "not an address"])
def test_a_wildcard_or_a_name_is_refused(coop, bind):
    r = coop("dashboard", "--no-open", "--port", "0", "--bind", bind)
    assert r.code == 2, r
    assert f"--bind {bind}" in _one_error_line(r)


def test_a_bad_token_from_the_environment_is_refused(coop, coop_env):
    r = coop("dashboard", "--no-open", "--port", "0", env={**coop_env, "COOP_DASHBOARD_TOKEN": "short"})
    assert r.code == 2, r
    assert "COOP_DASHBOARD_TOKEN" in _one_error_line(r)


def test_a_port_in_use_is_a_conflict(coop):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = coop("dashboard", "--no-open", "--port", str(port))
    assert r.code == 10, r
    assert f"127.0.0.1:{port} is in use" in _one_error_line(r) and "--port 0" in r.err


def test_the_host_header_the_guard_accepts():
    assert Address("127.0.0.1", 8765).hosts() == {"127.0.0.1:8765", "localhost:8765"}
    assert Address("::1", 80).hosts() == {"[::1]:80", "localhost:80"}
    assert Address("192.0.2.7", 8765).hosts() == {"192.0.2.7:8765"}
    assert not Address("192.0.2.7", 1).loopback
    assert Address("::1", 80).url("t") == "http://[::1]:80/?token=t"
    assert parse_bind("localhost") == "127.0.0.1" and parse_bind("[::1]") == "::1"


def test_env_values_are_shown_without_secrets():
    shown = shown_env(
        {
            "DOMAIN": "cloud.example.org",
            "SMTP_PASSWORD": "hunter2",
            "SAME_VALUE": "hunter2",
            "DB_URL": "postgres://user:pw@db/app",
            "EMPTY_TOKEN": "",
        }
    )
    assert shown == {
        "DOMAIN": "cloud.example.org",
        "SMTP_PASSWORD": HIDDEN,
        "SAME_VALUE": HIDDEN,
        "DB_URL": "postgres://user:***@db/app",
        "EMPTY_TOKEN": "",
    }
