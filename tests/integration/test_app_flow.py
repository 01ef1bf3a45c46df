"""An operator's day on a real swarm, over ssh: new -> secrets -> deploy -> change -> undeploy -> remove.

And the ways a deploy must fail: one clear line, a documented exit code, and the server unchanged
when validation refused it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from live_app import deploy_at_once, free_port, get, new_app, one_error_line, secret_names, web_recipe
from recipe_factory import make_recipe_repo

pytestmark = pytest.mark.integration


def task_ids(stack: str) -> list[str]:
    out = subprocess.run(
        ["docker", "service", "ps", "-q", "--filter", "desired-state=running", f"{stack}_app"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def stack_objects(stack: str) -> dict[str, list[str]]:
    found = {}
    label = f"label=com.docker.stack.namespace={stack}"
    for kind in ("service", "network", "config"):
        out = subprocess.run(["docker", kind, "ls", "-q", "--filter", label], capture_output=True, text=True).stdout
        found[kind] = out.split()
    return found


def test_whole_flow_over_ssh(coop, coop_env, tmp_path, stack_name, ssh_server):
    port = free_port()
    r_new = None
    repo = make_recipe_repo(tmp_path / "recipe", web_recipe(port), [("1.0.0+1.0.0", {})])
    r_new = coop(
        "app",
        "new",
        str(repo),
        "--server",
        ssh_server,
        "--domain",
        f"{stack_name}.example.org",
        "--name",
        stack_name,
        "--secrets",
    )
    assert r_new.code == 0, r_new
    env_file = tmp_path / "abra" / "servers" / ssh_server / f"{stack_name}.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "TYPE=recipe:1.0.0+1.0.0" in env_file.read_text()
    value = next(l for l in r_new.out.splitlines() if l.startswith("api_key (v1): ")).split(": ", 1)[1]
    assert len(value) == 24
    assert secret_names(stack_name) == [f"{stack_name}_api_key_v1"]

    r = coop("app", "secret", "ls", stack_name, "--json")
    assert json.loads(r.out)[0]["present"] is True and value not in r.out

    r = coop("app", "deploy", stack_name)
    assert r.code == 0, r
    assert value not in r.out + r.err  # the secret value is shown once, at generation, never again
    assert get(port) == "coop-test/web:1.0.0\n"
    assert get(port, "/motd.txt") == "message of the day\n"
    assert "TYPE=recipe:1.0.0+1.0.0" in env_file.read_text()
    lock = json.loads(env_file.with_suffix(".lock.json").read_text())
    assert "@sha256:" in lock["images"][f"{stack_name}_app"]  # pinned by digest from the registry

    r = coop("app", "ls", "--status", "--json")
    row = next(x for x in json.loads(r.out) if x["app"] == stack_name)
    assert row["status"] == "deployed" and row["deployed"] == "1.0.0+1.0.0" and row["differs"] is False

    r = coop("app", "ps", stack_name, "--json")
    assert r.code == 0, r
    assert "coop-test/web:1.0.0" in r.out and "running" in r.out
    r = coop("app", "logs", stack_name, "app", "--tail", "5")
    assert r.code == 0, r

    # Same version again: refused without --force; with --force nothing restarts.
    before = task_ids(stack_name)
    r = coop("app", "deploy", stack_name)
    assert r.code == 10 and "already deployed" in one_error_line(r.err)
    r = coop("app", "deploy", stack_name, "--force")
    assert r.code == 0 and "nothing changed" in r.out, r
    assert task_ids(stack_name) == before

    # A config change shows in the plan, then applies.
    env_file.write_text(env_file.read_text().replace("GREETING=hello", "GREETING=bonjour"))
    r = coop("app", "deploy", stack_name, "--force", "--dry-run", "--json")
    assert r.code == 0
    plan = json.loads(r.out)["plan"]
    [svc] = [s for s in plan["services"] if s["name"] == f"{stack_name}_app"]
    assert svc["action"] == "update"
    assert {"what": "env GREETING", "before": "hello", "after": "bonjour"} in svc["changes"]
    assert task_ids(stack_name) == before  # dry run changed nothing
    r = coop("app", "deploy", stack_name, "--force")
    assert r.code == 0, r
    assert task_ids(stack_name) != before

    r = coop("app", "undeploy", stack_name)
    assert r.code == 0, r
    assert stack_objects(stack_name) == {"service": [], "network": [], "config": []}
    assert secret_names(stack_name) == [f"{stack_name}_api_key_v1"]  # secrets survive undeploy

    r = coop("app", "remove", stack_name)  # its secret is still there: refused, --purge named
    assert r.code == 10 and f"coop app remove {stack_name} --purge" in one_error_line(r.err)
    r = coop("app", "remove", stack_name, "--purge")  # no terminal: deleting data needs --yes
    assert r.code == 2 and "pass --yes" in one_error_line(r.err) and env_file.exists()
    r = coop("app", "remove", stack_name, "--purge", "--yes")
    assert r.code == 0, r
    assert not env_file.exists()
    assert secret_names(stack_name) == []


def test_deploy_refuses_missing_secret_and_changes_nothing(coop, tmp_path, stack_name, local_server):
    repo = make_recipe_repo(tmp_path / "recipe", web_recipe(free_port()), [("1.0.0+1.0.0", {})])
    r = coop(
        "app", "new", str(repo), "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name
    )
    assert r.code == 0, r
    r = coop("app", "deploy", stack_name)
    assert r.code == 3, r
    line = one_error_line(r.err)
    assert "api_key (v1)" in line and f"coop app secret generate {stack_name} --all" in line
    assert stack_objects(stack_name) == {"service": [], "network": [], "config": []}


def test_unknown_version(coop, tmp_path, stack_name, local_server):
    new_app(coop, tmp_path, stack_name, "default", web_recipe(free_port()))
    r = coop("app", "deploy", stack_name, "9.9.9")
    assert r.code == 3 and "9.9.9" in one_error_line(r.err)
    assert stack_objects(stack_name)["service"] == []


def test_image_that_exits_fails_with_its_exit_code(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port(), command="sh -c 'echo dying; exit 3'")
    new_app(coop, tmp_path, stack_name, "default", files)
    r = coop("app", "deploy", stack_name)
    assert r.code == 7, r
    line = one_error_line(r.err)
    assert f"{stack_name}_app" in line
    assert "exit code 3" in r.err  # the task error, shown above the error line
    assert "dying" in r.err  # and the service's last log lines


def test_failing_healthcheck(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port(), healthcheck="exit 1")
    new_app(coop, tmp_path, stack_name, "default", files)
    r = coop("app", "deploy", stack_name)
    assert r.code == 7, r
    line = one_error_line(r.err)
    assert f"{stack_name}_app" in line


def test_config_changed_without_version_bump(coop, tmp_path, stack_name, local_server):
    files = web_recipe(free_port())
    tags = [("1.0.0+1.0.0", {}), ("1.0.1+1.0.0", {"motd.txt": "a new message\n"})]
    new_app(coop, tmp_path, stack_name, "default", files, tags=tags)
    assert coop("app", "deploy", stack_name, "1.0.0+1.0.0").code == 0
    before = stack_objects(stack_name)
    r = coop("app", "deploy", stack_name, "1.0.1+1.0.0")
    assert r.code == 4, r
    line = one_error_line(r.err)
    assert "different content" in line and "_VERSION" in line and "only updates to Labels" not in r.err
    assert stack_objects(stack_name) == before


def test_too_long_name_is_refused_before_anything(coop, tmp_path, local_server, request):
    from conftest import remove_stack

    name = "x" * 60
    request.addfinalizer(lambda: remove_stack(name))  # the refusal is in the app's audit trail on the server
    repo = make_recipe_repo(tmp_path / "recipe", web_recipe(free_port()), [("1.0.0+1.0.0", {})])
    r = coop("app", "new", str(repo), "--server", "default", "--domain", f"{name}.example.org", "--name", name)
    assert r.code == 0
    r = coop("app", "deploy", name)
    assert r.code == 4, r
    assert "shorten" in one_error_line(r.err)
    assert stack_objects(name) == {"service": [], "network": [], "config": []}


def test_two_apps_deploy_in_parallel(coop, tmp_path, request, local_server):
    from conftest import remove_stack

    stacks = [f"tpar{i}_{os.getpid()}" for i in range(2)]
    for s in stacks:
        request.addfinalizer(lambda s=s: remove_stack(s))
        new_app(coop, tmp_path, s, "default", web_recipe(free_port()))
    results = deploy_at_once(coop, stacks)
    assert all(r.code == 0 for r in results.values()), results


def test_ls_status_asks_each_server_once(coop, coop_env, tmp_path, local_server, monkeypatch):
    from coopcloud.engine.client import EngineClient

    server_dir = tmp_path / "abra" / "servers" / "default"
    for i in range(30):
        (server_dir / f"app{i}.example.org.env").write_text(f"TYPE=webapp:1.0.0+1.0.0\nDOMAIN=app{i}.example.org\n")
    calls = []
    original = EngineClient._send

    def counting(self, method, path, *args, **kwargs):
        calls.append((method, path.split("?")[0]))
        return original(self, method, path, *args, **kwargs)

    pipelined = EngineClient._pipeline

    def counting_batch(self, urls):  # requests sent together in one round trip (get_many)
        calls.extend(("GET", url.split("?")[0]) for url in urls)
        return pipelined(self, urls)

    monkeypatch.setattr(EngineClient, "_send", counting)
    monkeypatch.setattr(EngineClient, "_pipeline", counting_batch)
    r = coop("app", "ls", "--status", "--json")
    assert r.code == 0, r
    assert len(json.loads(r.out)) == 30
    services_calls = [c for c in calls if c[1].endswith("/services")]
    assert len(services_calls) == 1, calls


def test_ls_status_with_an_unreachable_server(coop, coop_env, tmp_path, local_server):
    (tmp_path / "abra" / "servers" / "default" / "a.example.org.env").write_text("TYPE=webapp\n")
    gone = tmp_path / "abra" / "servers" / "gone.invalid"
    gone.mkdir()
    (gone / "b.example.org.env").write_text("TYPE=webapp\n")
    r = coop("app", "ls", "--status", "--json")
    assert r.code == 0, r
    rows = {x["app"]: x for x in json.loads(r.out)}
    assert rows["b.example.org"]["status"] == "unknown" and rows["b.example.org"]["error"]
    assert rows["a.example.org"]["status"] == "undeployed"
