"""abra's deploy semantics on the rig: the domain check (over ssh, to the rig's sshd server) and
POST_DEPLOY_CMDS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from live_app import free_port, live_spec, new_app, one_error_line, web_recipe

pytestmark = pytest.mark.integration


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


ABRA_SH = """\
export MOTD_VERSION=v1

mark() {
  echo "post-deploy $1 greeting=$GREETING" > /tmp/post-deploy
  echo "marked $1"
}

fail_with() {
  echo "failing with $1" >&2
  return "$1"
}
"""


def test_post_deploy_cmds_run_after_convergence_and_a_failing_one_fails_the_deploy(
    coop, coop_env, tmp_path, stack_name, local_server
):
    files = {**web_recipe(free_port()), "abra.sh": ABRA_SH}
    app = new_app(coop, tmp_path, stack_name, local_server, files)
    try:
        set_env(coop_env, local_server, app, POST_DEPLOY_CMDS='"app mark one|app mark two"')
        r = coop("app", "deploy", app, "-n")  # --no-input runs them too
        assert r.code == 0, r
        assert r.err.index("marked one") < r.err.index("marked two"), r.err
        assert f"app {app}: post-deploy command: app mark two" in r.err
        r = coop("app", "run", app, "app", "--", "cat", "/tmp/post-deploy")
        assert r.out == "post-deploy two greeting=hello\n", r  # the app container's env, as app cmd sees it
        tasks = services(stack_name)

        set_env(coop_env, local_server, app, POST_DEPLOY_CMDS='"app mark three|app fail_with 4|app mark never"')
        r = coop("app", "deploy", app, "-n", "-f")
        assert r.code == 1, r
        assert one_error_line(r.err) == (
            f"error: app {app}: deployed, but post-deploy command 'app fail_with 4' failed (exit 4)"
            f" — run it again: coop app cmd {app} app fail_with 4"
        )
        assert "marked three" in r.err and "failing with 4" in r.err and "marked never" not in r.err
        # The release converged and stays: nothing rolled back (the new value is exposed to the app).
        assert f"app {app}: deployed 1.0.0+1.0.0" in r.out
        env = live_spec(stack_name)["TaskTemplate"]["ContainerSpec"]["Env"]
        assert "POST_DEPLOY_CMDS=app mark three|app fail_with 4|app mark never" in env
        assert services(stack_name) == tasks

        # With -c the deploy does not wait for convergence, so they do not run (as abra).
        r = coop("app", "deploy", app, "-n", "-f", "-c")
        assert r.code == 0 and "POST_DEPLOY_CMDS not run" in r.err and "marked" not in r.err, r

        set_env(coop_env, local_server, app, POST_DEPLOY_CMDS="app")
        r = coop("app", "deploy", app, "-n", "-f")
        assert r.code == 4 and "POST_DEPLOY_CMDS: 'app' names no function" in r.err, r
    finally:
        coop("app", "undeploy", app, "-n")
