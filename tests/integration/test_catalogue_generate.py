"""`coop catalogue generate` on recipe repos made here, with images in the rig's registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from coopcloud.domain.catalogue import dumps, load, parse_catalogue
from coopcloud.ops.recipe import catalogue as ops
from coopcloud.registry import RegistryClient
from coopcloud.settings import Settings
from recipe_factory import commit, make_recipe_repo

pytestmark = pytest.mark.integration

REG = "127.0.0.1:5000"


def repo_digest(image: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{index .RepoDigests 0}}", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out.split("@", 1)[1]


def files(name: str, web: str, db: str | None = None) -> dict[str, str]:
    db_service = (
        f"""
  db:
    image: {REG}/coop-test/db:{db}
    environment:
      - DB_NAME=${{DB_NAME:-{name}}}
"""
        if db
        else ""
    )
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: ${{WEB_IMAGE:-{REG}/coop-test/web}}:{web}
    environment:
      - DOMAIN=${{DOMAIN}}
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=x"
{db_service}""",
        ".env.sample": f"TYPE={name}\nDOMAIN={name}.example.com\n",
        "README.md": f"""\
# {name}

> The {name} test recipe

<!-- metadata -->
* **Category**: Apps
* **Status**: 3, stable
* **Image**: [`{REG}/coop-test/web`](https://example.org/web), 2, upstream
* **Healthcheck**: Yes
* **Backups**: No
* **Email**: No
* **Tests**: Yes
* **SSO**: N/A
<!-- endmetadata -->
""",
    }


@pytest.fixture
def recipes(tmp_path):
    d = tmp_path / "recipes"
    make_recipe_repo(
        d / "alpha",
        files("alpha", "1.0.0", "10.5"),
        tags=[
            ("0.1.0+1.0.0", {}),
            ("0.2.0+1.1.0", files("alpha", "1.1.0", "10.6")),
            ("1.0.0+2.0.0", files("alpha", "2.0.0", "10.6")),
            ("not-a-version", {}, False),
        ],
        origin="git@git.example.org:coop/alpha.git",
    )
    make_recipe_repo(
        d / "beta",
        files("beta", "1.0.0"),
        tags=[
            ("0.1.0+1.0.0", {}),
            ("0.1.1+1.1.0", files("beta", "1.1.0")),
        ],
        origin="https://git.example.org/coop/beta.git",
    )
    make_recipe_repo(d / "gamma", files("gamma", "2.0.0", "10.5"), tags=[("1.0.0+2.0.0", {})])
    return d


def test_generate_round_trip_digests_and_cache(coop, coop_env, recipes, registry):
    out = Path(coop_env["ABRA_DIR"]) / "catalogue" / "recipes.json"
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["generated"] == ["alpha", "beta", "gamma"] and report["errors"] == {}
    assert report["versions_resolved"] == 6 and report["versions_cached"] == 0
    assert report["registry_requests"] == 5  # one HEAD per distinct image:tag (web 1.0.0/1.1.0/2.0.0, db 10.5/10.6)
    assert "'not-a-version'" in r.err  # lightweight / malformed tags are named

    text = out.read_text()
    cat = parse_catalogue(text)
    assert dumps(cat) == text  # round-trips through the reader byte for byte
    alpha = cat["alpha"]
    assert [v.version for v in alpha.versions] == ["0.1.0+1.0.0", "0.2.0+1.1.0", "1.0.0+2.0.0"]
    assert alpha.description == "The alpha test recipe" and alpha.category == "Apps"
    assert alpha.features.status == 3 and alpha.features.tests == "Yes" and alpha.features.image.rating == "2"
    assert (alpha.repository, alpha.ssh_url) == (
        "https://git.example.org/coop/alpha.git",
        "ssh://git@git.example.org/coop/alpha.git",
    )
    assert alpha.default_branch == "main"
    for version, web, db in (
        ("0.1.0+1.0.0", "1.0.0", "10.5"),
        ("0.2.0+1.1.0", "1.1.0", "10.6"),
        ("1.0.0+2.0.0", "2.0.0", "10.6"),
    ):
        services = alpha.version(version).services
        assert set(services) == {"app", "db"}
        assert services["app"].image == f"{REG}/coop-test/web" and services["app"].tag == web
        assert services["app"].digest == repo_digest(f"{REG}/coop-test/web:{web}")
        assert services["db"].tag == db and services["db"].digest == repo_digest(f"{REG}/coop-test/db:{db}")
    assert cat["beta"].version("0.1.1+1.1.0").services["app"].digest == repo_digest(f"{REG}/coop-test/web:1.1.0")
    assert set(cat["beta"].version("0.1.1+1.1.0").services) == {"app"}
    assert cat["beta"].ssh_url == ""

    # nothing new: zero registry requests, the same bytes
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--json")
    assert r.code == 0, r.err
    again = json.loads(r.out)
    assert again["registry_requests"] == 0 and again["versions_cached"] == 6 and again["versions_resolved"] == 0
    assert out.read_text() == text

    # one new release: only it is resolved (one request for an image:tag not seen in this run)
    commit(recipes / "gamma", files("gamma", "1.1.0", "10.6"), "chore: publish 1.1.0+1.1.0")
    subprocess.run(
        ["git", "-C", str(recipes / "gamma"), "tag", "-a", "1.1.0+1.1.0", "-m", "r"],
        check=True,
        capture_output=True,
        env={
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
        },
    )
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--json")
    third = json.loads(r.out)
    assert third["versions_resolved"] == 1 and third["versions_cached"] == 6
    assert third["registry_requests"] == 2  # web:1.1.0 and db:10.6
    assert [v.version for v in load(out)["gamma"].versions] == ["1.0.0+2.0.0", "1.1.0+1.1.0"]

    # --no-cache asks again
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--no-cache", "--json")
    assert json.loads(r.out)["registry_requests"] == 5


def test_zero_requests_counted_by_the_client(coop_env, recipes, registry, tmp_path):
    settings = Settings.from_environ(coop_env)
    first = RegistryClient(environ=coop_env)
    ops.generate(settings, recipes_dir=recipes, output=tmp_path / "a.json", registry=first)
    assert first.requests == 5
    second = RegistryClient(environ=coop_env)
    report = ops.generate(settings, recipes_dir=recipes, output=tmp_path / "b.json", registry=second)
    assert second.requests == 0 and report.registry_requests == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # offline with a warm cache still works: nothing to ask
    offline = RegistryClient(environ=coop_env, offline=True)
    ops.generate(settings, recipes_dir=recipes, output=tmp_path / "c.json", registry=offline)
    assert (tmp_path / "c.json").read_bytes() == (tmp_path / "a.json").read_bytes()


def test_a_missing_image_fails_only_its_recipe(coop, coop_env, recipes, registry):
    make_recipe_repo(
        recipes / "broken",
        files("broken", "1.0.0"),
        tags=[
            ("0.1.0+1.0.0", {}),
            ("0.2.0+9.9.9", files("broken", "9.9.9-missing")),
        ],
    )
    out = Path(coop_env["ABRA_DIR"]) / "out.json"
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--output", str(out))
    assert r.code == 1
    assert "broken 0.2.0+9.9.9: service app" in r.err and "coop-test/web:9.9.9-missing" in r.err
    assert f"registry {REG}" in r.err and "1 recipe failed: broken" in r.err
    cat = load(out)
    assert list(cat) == ["alpha", "beta", "gamma"]  # the others are written

    # a retry asks only for what failed (the release before it was cached)
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--output", str(out), "--json")
    assert r.code == 1 and json.loads(r.out)["registry_requests"] == 1

    # with an earlier good entry in the output, it is kept
    good = dict(json.loads(out.read_text()))
    good["broken"] = {"name": "broken", "category": "Old"}
    out.write_text(json.dumps(good))
    r = coop("catalogue", "generate", "--recipes-dir", str(recipes), "--output", str(out), "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["kept"] == ["broken"] and "broken" in report["errors"]
    assert load(out)["broken"].category == "Old"


def test_named_recipes_update_only_their_entries(coop, coop_env, recipes, registry):
    abra = Path(coop_env["ABRA_DIR"])
    (abra / "recipes").parent.mkdir(parents=True, exist_ok=True)
    (abra / "recipes").symlink_to(recipes)  # DESIGN §3.1: may be a symlink; default recipes dir
    out = abra / "catalogue" / "recipes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"zeta": {"name": "zeta", "category": "Elsewhere"}}))
    r = coop("catalogue", "generate", "beta")
    assert r.code == 0, r.err
    assert list(load(out)) == ["beta", "zeta"]
    r = coop("catalogue", "generate", "nosuch")
    assert r.code == 1 and "nosuch" in r.err
    r = coop("catalogue", "generate", "../recipes/beta")
    assert r.code == 1 and "not valid" in r.err
    assert not (abra / "catalogue" / "recipes" / "beta.json").exists()
    # an empty or wrong recipes dir never replaces the catalogue with an empty one
    r = coop("catalogue", "generate", "--recipes-dir", str(abra / "empty"))
    assert r.code == 3 and "no recipe repositories" in r.err
    assert list(load(out)) == ["beta", "zeta"]
    # '-' prints instead of writing
    r = coop("catalogue", "generate", "gamma", "--output", "-")
    assert r.code == 0 and list(parse_catalogue(r.out)) == ["beta", "gamma", "zeta"]
    assert list(load(out)) == ["beta", "zeta"]
    # and recipe ls/show read what generate wrote
    r = coop("recipe", "show", "beta", "--json")
    doc = json.loads(r.out)
    assert doc["in_catalogue"] is True and doc["local_versions"] == ["0.1.0+1.0.0", "0.1.1+1.1.0"]
    assert doc["versions"][1]["0.1.1+1.1.0"]["app"]["tag"] == "1.1.0"
