"""abra's deploy semantics on the rig: the domain check (over ssh, to the rig's sshd server) and
POST_DEPLOY_CMDS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from live_app import free_port, new_app, one_error_line, web_recipe

pytestmark = pytest.mark.integration


@pytest.fixture
def ssh_server(coop, rig_ssh_config, registry):
    r = coop("server", "add", "coop-test")
    assert r.code == 0, r
    return "coop-test"


def set_env(coop_env, server: str, app: str, **values: str) -> Path:
    path = Path(coop_env["ABRA_DIR"]) / "servers" / server / f"{app}.env"
    lines = [l for l in path.read_text().splitlines() if l.split("=", 1)[0] not in values]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")
    return path


def services(stack: str) -> list[str]:
    out = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_domain_must_resolve_to_the_server(coop, coop_env, tmp_path, stack_name, ssh_server):
    """coop-test is 127.0.0.1 (its ssh HostName). Numeric names resolve without a network."""
    app = new_app(coop, tmp_path, stack_name, ssh_server, web_recipe(free_port()))

    set_env(coop_env, ssh_server, app, DOMAIN="127.0.0.2")
    r = coop("app", "deploy", app, "-n")
    assert r.code == 3, r
    assert one_error_line(r.err) == (
        f"error: app {app}: domain 127.0.0.2 resolves to 127.0.0.2, not to server coop-test (127.0.0.1)"
        " — point its DNS at the server, or pass -D/--no-domain-checks"
    )
    assert services(stack_name) == []  # refused before any change
    r = coop("app", "upgrade", app, "-n")
    assert r.code == 3 and "domain 127.0.0.2 resolves to 127.0.0.2" in r.err, r

    # The hosts EXTRA_DOMAINS adds are checked too; -D skips the check.
    set_env(coop_env, ssh_server, app, DOMAIN="127.0.0.1", EXTRA_DOMAINS="', `127.0.0.3`'")
    r = coop("app", "deploy", app, "-n", "--dry-run")
    assert r.code == 3 and "domain 127.0.0.3 resolves to 127.0.0.3" in r.err, r
    r = coop("app", "deploy", app, "-n", "--dry-run", "-D")
    assert r.code == 0, r

    # Names reserved for tests and examples are not asked about.
    set_env(coop_env, ssh_server, app, DOMAIN=f"{app}.example.org", EXTRA_DOMAINS="', `wiki.test`'")
    r = coop("app", "deploy", app, "-n", "--dry-run")
    assert r.code == 0 and "warning" not in r.err and "resolve" not in r.err, r
