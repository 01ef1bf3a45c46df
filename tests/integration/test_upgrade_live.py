"""Versions on a real swarm: new at 1.0 -> upgrade 1.1 -> upgrade (latest) 2.0 -> rollback 1.1 ->
the pinned version survives the recipe moving on; refusals; chaos apps; two versions deployed at once.

The recipe repo is made here: annotated tags with release notes, a lightweight tag, a malformed
tag, a WIP commit after the last release that removes a file the releases use, and a dirty
working tree (a broken compose.yml, and an untracked file where the releases have a tracked one).
Every release deploys from its own git tree regardless.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import pytest

from conftest import CoopResult
from live_app import QUICK_UPDATES, REG, deploy_at_once, live_spec, one_error_line, quick_health
from recipe_factory import commit, git, make_recipe_repo, tag

pytestmark = pytest.mark.integration

MOTD = "message of the day\n"


def compose(image_tag: str) -> str:
    return f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/web:{image_tag}
    configs:
      - source: motd
        target: /www/motd.txt
{quick_health(retries=3)}\
    deploy:
{QUICK_UPDATES}\
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=0.0.0+{image_tag}"
        - "coop-cloud.${{STACK_NAME}}.timeout=60"
configs:
  motd:
    name: ${{STACK_NAME}}_motd_${{MOTD_VERSION}}
    file: motd.txt
"""


def web_repo(path: Path) -> Path:
    """Releases 1.0.0, 1.1.0, 2.0.0 (+ notes), junk tags, a WIP commit, a dirty tree."""
    files = {
        "compose.yml": compose("1.0.0"),
        ".env.sample": "TYPE=web\nDOMAIN=web.example.com\n",
        "abra.sh": "export MOTD_VERSION=v1\n",
        "motd.txt": MOTD,
        "README.md": "# web\n",
    }
    repo = make_recipe_repo(
        path,
        files,
        [
            ("1.0.0+1.0.0", {}),
            (
                "1.1.0+1.1.0",
                {"compose.yml": compose("1.1.0"), "release/1.1.0+1.1.0": "Greeter 1.1: friendlier greetings.\n"},
            ),
            ("latest", {}),  # annotated but not a version
            (
                "2.0.0+2.0.0",
                {
                    "compose.yml": compose("2.0.0"),
                    "release/2.0.0+2.0.0": "BREAKING: 2.0 migrates the data; back up first.\n",
                },
            ),
            ("2.1.0+2.0.0", {}, False),  # lightweight: not a release
        ],
    )
    # Work in progress after the last release: the releases' motd.txt is gone from HEAD...
    commit(
        repo,
        {
            "motd.txt": None,
            "compose.yml": compose("2.0.0").replace(
                "    configs:\n      - source: motd\n        target: /www/motd.txt\n", ""
            ),
        },
        "wip",
    )
    # ...and the working tree is dirty: a broken compose.yml, an untracked motd.txt where the
    # releases track one (a `git checkout` of a release would refuse to overwrite it).
    (repo / "compose.yml").write_text("services: [this is not\n")
    (repo / "motd.txt").write_text("UNTRACKED\n")
    return repo


def new_app(coop, repo: Path, name: str, version: str | None = None) -> None:
    args = ["app", "new", str(repo), "--server", "default", "--domain", f"{name}.example.org", "--name", name]
    if version:
        args += ["--version", version]
    r = coop(*args)
    assert r.code == 0, r


def live_image_tag(stack: str) -> str:
    image = live_spec(stack)["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    return image.rsplit(":", 1)[1]


def live_label(stack: str, what: str) -> str | None:
    return (live_spec(stack).get("Labels") or {}).get(f"coop-cloud.{stack}.{what}")


def pinned(coop_env: dict, name: str) -> str:
    env = Path(coop_env["ABRA_DIR"]) / "servers" / "default" / f"{name}.env"
    [line] = [l for l in env.read_text().splitlines() if l.startswith("TYPE=")]
    return line.split("=", 1)[1]


def config_text(stack: str) -> str:
    out = subprocess.run(
        ["docker", "config", "inspect", f"{stack}_motd_v1"], capture_output=True, text=True, check=True
    ).stdout
    return base64.b64decode(json.loads(out)[0]["Spec"]["Data"]).decode()


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def interactive(coop_env: dict, *argv: str, answers: str) -> CoopResult:
    """Run coop as at a terminal, typing `answers`."""
    from coopcloud.cli.main import main

    out, err = _TTY(), io.StringIO()
    code = main(list(argv), environ=coop_env, stdout=out, stderr=err, stdin=_TTY(answers))
    return CoopResult(int(code), out.getvalue(), err.getvalue())


def test_upgrade_and_rollback_flow(coop, coop_env, tmp_path, stack_name, local_server):
    repo = web_repo(tmp_path / "web")
    app = stack_name
    new_app(coop, repo, app, "1.0.0+1.0.0")

    # The dirty tree (broken compose.yml, untracked motd.txt) does not block deploying a release.
    r = coop("app", "deploy", app)
    assert r.code == 0, r
    assert live_image_tag(app) == "1.0.0" and live_label(app, "version") == "1.0.0+1.0.0"
    assert config_text(app) == MOTD  # from the tag's tree, not the untracked file

    r = coop("app", "rollback", app, "--no-input")
    assert r.code == 0, r
    assert "no older release than the deployed 1.0.0+1.0.0" in r.out

    # At a prompt: the newer releases, newest first; answering no after the plan changes nothing.
    r = interactive(coop_env, "app", "upgrade", app, answers="1\nn\n")
    assert r.code == 14, r  # cancelled
    assert "1) 2.0.0+2.0.0\n  2) 1.1.0+1.1.0\n" in r.err
    assert f"app {app}: upgrade from 1.0.0+1.0.0 to 2.0.0+2.0.0? [y/N]" in r.err
    assert f"app {app}: cancelled, nothing changed" in r.err
    assert live_image_tag(app) == "1.0.0" and pinned(coop_env, app) == "web:1.0.0+1.0.0"

    # 1.0 -> 1.1, picked at the prompt: its notes are shown, the env pins it, the image changes.
    r = interactive(coop_env, "app", "upgrade", app, answers="2\ny\n")
    assert r.code == 0, r
    assert "Greeter 1.1: friendlier greetings." in r.err
    assert "BREAKING" not in r.err  # 2.0's notes are not crossed
    assert "upgraded 1.0.0+1.0.0 -> 1.1.0+1.1.0" in r.out
    assert pinned(coop_env, app) == "web:1.1.0+1.1.0"
    assert live_image_tag(app) == "1.1.0" and live_label(app, "version") == "1.1.0+1.1.0"
    # ignored tags are named
    assert "'2.1.0+2.0.0' ignored: lightweight" in r.err and r.err.count("'latest' ignored") == 1

    # Refusals name the right command and change nothing.
    r = coop("app", "upgrade", app, "1.0.0+1.0.0", "--no-input")
    assert r.code == 2
    assert one_error_line(r.err) == (
        f"error: app {app}: 1.0.0+1.0.0 is older than the deployed 1.1.0+1.1.0 — run: coop app rollback {app} 1.0.0+1.0.0"
    )
    r = coop("app", "rollback", app, "2.0.0", "--no-input")
    assert r.code == 2
    assert f"run: coop app upgrade {app} 2.0.0+2.0.0" in one_error_line(r.err)
    r = coop("app", "upgrade", app, "1.1.0+1.1.0", "--no-input")
    assert r.code == 10 and "already deployed at 1.1.0+1.1.0" in one_error_line(r.err)
    r = coop("app", "upgrade", app, "2.1.0", "--no-input")  # the lightweight tag is no release
    assert r.code == 3
    r = coop("app", "upgrade", app, "--chaos")
    assert r.code == 2 and f"run: coop app deploy {app} --chaos" in one_error_line(r.err)
    assert live_label(app, "version") == "1.1.0+1.1.0" and pinned(coop_env, app) == "web:1.1.0+1.1.0"

    # --dry-run shows notes and plan, changes nothing (a bare semver names a release).
    r = coop("app", "upgrade", app, "2.0.0", "--no-input", "--dry-run")
    assert r.code == 0, r
    assert "BREAKING" in r.err and "dry run, nothing changed" in r.out
    assert live_image_tag(app) == "1.1.0" and pinned(coop_env, app) == "web:1.1.0+1.1.0"

    # No VERSION, no prompt: never a newer major version unless asked; --major takes the newest.
    r = coop("app", "upgrade", app, "--no-input")
    assert r.code == 0, r
    assert "no newer release of the same major version than the deployed 1.1.0+1.1.0" in r.out
    assert (
        f"newer major release 2.0.0+2.0.0 not taken without asking — run: coop app upgrade {app} 2.0.0+2.0.0" in r.err
    )
    assert live_image_tag(app) == "1.1.0"
    r = coop("app", "upgrade", app, "--no-input", "--major", "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert (doc["previous_version"], doc["version"], doc["applied"]) == ("1.1.0+1.1.0", "2.0.0+2.0.0", True)
    assert doc["release_notes"] == [
        {"version": "2.0.0+2.0.0", "notes": "BREAKING: 2.0 migrates the data; back up first."}
    ]
    assert live_image_tag(app) == "2.0.0" and pinned(coop_env, app) == "web:2.0.0+2.0.0"

    r = coop("app", "upgrade", app, "--no-input")
    assert r.code == 0 and "no newer release than the deployed 2.0.0+2.0.0" in r.out, r

    # No VERSION, no prompt: the previous release; the notes shown are those of what is undone.
    r = coop("app", "rollback", app, "--no-input")
    assert r.code == 0, r
    assert "rolled back 2.0.0+2.0.0 -> 1.1.0+1.1.0" in r.out
    assert "BREAKING" in r.err and "Greeter" not in r.err
    assert live_image_tag(app) == "1.1.0" and live_label(app, "version") == "1.1.0+1.1.0"
    assert pinned(coop_env, app) == "web:1.1.0+1.1.0"

    # The recipe moves on (a new release); the app's pinned version is what deploys.
    tag(repo, "3.0.0+2.0.0", rev="2.0.0+2.0.0^{commit}")
    r = coop("app", "undeploy", app)
    assert r.code == 0, r
    r = coop("app", "deploy", app)
    assert r.code == 0, r
    assert live_image_tag(app) == "1.1.0" and live_label(app, "version") == "1.1.0+1.1.0"
    r = coop("app", "upgrade", app, "--no-input", "--major", "--dry-run", "--json")
    assert r.code == 0 and json.loads(r.out)["version"] == "3.0.0+2.0.0", r


def test_undeployed_app_is_refused(coop, tmp_path, stack_name, local_server):
    repo = web_repo(tmp_path / "web")
    new_app(coop, repo, stack_name, "1.0.0+1.0.0")
    for verb in ("upgrade", "rollback"):
        r = coop("app", verb, stack_name, "--no-input")
        assert r.code == 3
        assert f"not deployed on server default — run: coop app deploy {stack_name}" in one_error_line(r.err)


def test_chaos_deployed_app_needs_confirmation(coop, coop_env, tmp_path, stack_name, local_server):
    # A clean recipe whose working tree is the 1.1 release plus an untracked file.
    repo = make_recipe_repo(
        tmp_path / "web",
        {
            "compose.yml": compose("1.0.0"),
            ".env.sample": "TYPE=web\nDOMAIN=web.example.com\n",
            "abra.sh": "export MOTD_VERSION=v1\n",
            "motd.txt": MOTD,
        },
        [("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": compose("1.1.0")})],
    )
    (repo / "notes.txt").write_text("scratch\n")
    new_app(coop, repo, stack_name, "1.0.0+1.0.0")
    r = coop("app", "deploy", stack_name, "--chaos")
    assert r.code == 0, r
    head = git(repo, "rev-parse", "HEAD").strip()[:8]
    assert live_label(stack_name, "chaos") == "true"
    assert live_label(stack_name, "chaos-version") == f"{head}+U"

    r = coop("app", "upgrade", stack_name, "--no-input")
    assert r.code == 2
    line = one_error_line(r.err)
    assert "runs a --chaos deployment" in line and "pass --force" in line
    assert live_label(stack_name, "chaos") == "true"  # unchanged
    assert "comparing with the version its env pins, 1.0.0+1.0.0" in r.err

    r = coop("app", "upgrade", stack_name, "--no-input", "--force")
    assert r.code == 0, r
    assert live_label(stack_name, "chaos") == "false" and live_label(stack_name, "version") == "1.1.0+1.1.0"
    assert live_label(stack_name, "chaos-version") is None
    assert pinned(coop_env, stack_name) == "web:1.1.0+1.1.0"


def test_two_versions_of_one_recipe_deploy_at_once(coop, coop_env, tmp_path, stack_name, request, local_server):
    from conftest import remove_stack

    repo = web_repo(tmp_path / "web")
    other = f"{stack_name}b"
    request.addfinalizer(lambda: remove_stack(other))
    apps = {stack_name: "1.0.0+1.0.0", other: "2.0.0+2.0.0"}
    for name, version in apps.items():
        new_app(coop, repo, name, version)
    results = deploy_at_once(coop, apps)
    assert all(r.code == 0 for r in results.values()), results
    for name, version in apps.items():
        assert live_label(name, "version") == version
        assert live_image_tag(name) == version.split("+")[1]
        assert config_text(name) == MOTD
        assert pinned(coop_env, name) == f"web:{version}"
    # the shared working tree was never touched
    assert (repo / "compose.yml").read_text() == "services: [this is not\n"
    assert (repo / "motd.txt").read_text() == "UNTRACKED\n"


def test_a_deploy_between_choosing_and_applying_is_not_overwritten(coop, coop_env, tmp_path, stack_name, local_server):
    from coopcloud.errors import Conflict
    from coopcloud.ops.deploy import upgrade as up
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.settings import Settings

    repo = web_repo(tmp_path / "web")
    new_app(coop, repo, stack_name, "1.0.0+1.0.0")
    assert coop("app", "deploy", stack_name).code == 0
    settings = Settings.from_environ(coop_env)
    pool = ServerPool(settings)
    try:
        move = up.prepare(settings, pool, stack_name, up.UPGRADE)
        target = move.select(None)
        assert (move.current.tag, target.tag) == ("1.0.0+1.0.0", "2.0.0+2.0.0")
        # another operator upgrades meanwhile
        r = coop("app", "upgrade", stack_name, "1.1.0", "--no-input", "--no-converge-checks")
        assert r.code == 0, r
        with pytest.raises(Conflict, match=r"changed meanwhile: it now runs 1.1.0\+1.1.0, not 1.0.0\+1.0.0"):
            up.plan(settings, pool, move, target)  # what `coop app upgrade` prepares before it applies
    finally:
        pool.close()
    assert live_label(stack_name, "version") == "1.1.0+1.1.0"
    assert pinned(coop_env, stack_name) == "web:1.1.0+1.1.0"


def test_recipe_versions(coop, tmp_path):
    repo = web_repo(tmp_path / "web")
    r = coop("recipe", "versions", str(repo), "--json", "--offline")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["recipe"] == "web"
    assert [v["version"] for v in doc["versions"]] == ["1.0.0+1.0.0", "1.1.0+1.1.0", "2.0.0+2.0.0"]
    for v in doc["versions"]:
        assert v["services"] == {
            "app": {"image": f"{REG}/coop-test/web", "tag": v["version"].split("+")[1], "digest": None}
        }
    warnings = [l for l in r.err.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 2
    assert any("'2.1.0+2.0.0' ignored: lightweight" in w for w in warnings)
    assert any("'latest' ignored" in w for w in warnings)

    r = coop("recipe", "versions", str(repo), "--offline")
    assert r.code == 0, r
    rows = [l.split() for l in r.out.splitlines()]
    assert rows[0] == ["VERSION", "SERVICE", "IMAGE", "TAG", "DIGEST"]
    assert rows[1:] == [
        [t, "app", f"{REG}/coop-test/web", t.split("+")[1], "-"] for t in ("1.0.0+1.0.0", "1.1.0+1.1.0", "2.0.0+2.0.0")
    ]


def registry_digest(repo: str, tag: str) -> str:
    """Asked here with urllib, independently of coop's registry client."""
    import urllib.request

    accept = ", ".join(
        [
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ]
    )
    req = urllib.request.Request(f"http://{REG}/v2/{repo}/manifests/{tag}", method="HEAD", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers["Docker-Content-Digest"]


def test_recipe_versions_digests_from_the_registry(coop, tmp_path, registry):
    repo = web_repo(tmp_path / "web")
    r = coop("recipe", "versions", str(repo), "--json")
    assert r.code == 0, r
    found = {v["version"]: v["services"]["app"]["digest"] for v in json.loads(r.out)["versions"]}
    expected = {
        t: registry_digest("coop-test/web", t.split("+")[1]) for t in ("1.0.0+1.0.0", "1.1.0+1.1.0", "2.0.0+2.0.0")
    }
    assert found == expected
    assert len(set(found.values())) == 3 and all(d.startswith("sha256:") for d in found.values())
    r = coop("recipe", "versions", str(repo))
    assert r.code == 0, r
    assert expected["2.0.0+2.0.0"][:19] in r.out.splitlines()[-1]  # the table shows sha256:<12 hex>


def test_recipe_versions_by_name_and_a_release_that_does_not_render(coop, coop_env, tmp_path, registry):
    recipes = Path(coop_env["ABRA_DIR"]) / "recipes"
    repo = make_recipe_repo(
        recipes / "broken",
        {
            "compose.yml": compose("1.0.0"),
            ".env.sample": "TYPE=broken\n",
            "abra.sh": "export MOTD_VERSION=v1\n",
            "motd.txt": MOTD,
        },
        [("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": "services: [nope\n"})],
    )
    r = coop("recipe", "versions", "broken", "--json", "--offline")
    assert r.code == 0, r
    first, second = json.loads(r.out)["versions"]
    assert first["services"]["app"]["tag"] == "1.0.0" and "error" not in first
    assert second["version"] == "1.1.0+1.1.0" and second["services"] == {} and second["error"]
    assert "recipe broken 1.1.0+1.1.0:" in r.err
    # a tag the registry does not have: digest null, and a warning naming the image
    git(repo, "tag", "-d", "1.1.0+1.1.0")
    commit(repo, {"compose.yml": compose("9.9.9")}, "missing image")
    tag(repo, "1.2.0+9.9.9")
    r = coop("recipe", "versions", "broken", "--json")
    assert r.code == 0, r
    digests = {v["version"]: v["services"]["app"]["digest"] for v in json.loads(r.out)["versions"]}
    assert digests["1.2.0+9.9.9"] is None and digests["1.0.0+1.0.0"].startswith("sha256:")
    assert f"warning: no digest for {REG}/coop-test/web:9.9.9" in r.err
    r = coop("recipe", "versions", "nope", "--offline")
    assert r.code == 3 and "recipe nope is not in" in r.err
    assert repo.is_dir()
