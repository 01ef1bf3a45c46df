"""`coop recipe lint` and `coop recipe new` through the real entry point (no TTY anywhere)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from coopcloud.errors import ExitStatus
from recipe_factory import git, make_recipe_repo, recipe_files
from shared_data import CORPUS


def test_lint_a_clean_recipe_by_path_exits_0(coop, tmp_path):
    path = make_recipe_repo(
        tmp_path / "demo", recipe_files("demo"), tags=[("1.0.0+1.27.2", {})], origin="https://git.example.org/demo.git"
    )
    r = coop("recipe", "lint", str(path))
    assert r.code == 0, r
    assert r.out == "recipe demo: no problems found\n"
    assert "recipe demo: 0 errors, 0 warnings" in r.err


@pytest.mark.corpus
def test_lint_with_warnings_only_exits_0_and_prints_a_table(coop):
    r = coop("recipe", "lint", str(CORPUS / "lemp"))
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["RULE", "LEVEL", "MESSAGE", "FIX"]
    assert any(line.startswith("R002  warning  service app has no healthcheck") for line in lines)
    # skipped rules are said on stderr, with why
    assert "R006, R013, R014, R100, R107, R108 skipped: the recipe is not a git repository\n" in r.err
    assert "recipe lemp: 0 errors, 8 warnings, 6 rules skipped" in r.err


@pytest.mark.corpus
def test_lint_with_an_error_exits_6_and_names_the_rules(coop):
    r = coop("recipe", "lint", str(CORPUS / "bonfire"))
    assert r.code == ExitStatus.LINT_FAILED == 6
    assert "R000  error    compose.auth.github.yml does not render" in r.out
    assert r.err.splitlines()[-1].startswith("error: recipe bonfire: error-level rules failed: R000 — ")


@pytest.mark.corpus
def test_lint_json_lists_findings_and_rule_results(coop):
    r = coop("recipe", "lint", str(CORPUS / "bonfire"), "--json")
    assert r.code == 6
    doc = json.loads(r.out)
    assert doc["recipe"] == "bonfire" and doc["ok"] is False
    assert doc["errors"] == 1 and doc["warnings"] == len([f for f in doc["findings"] if f["level"] == "warning"])
    assert {f["rule"] for f in doc["findings"] if f["level"] == "error"} == {"R000"}
    assert set(doc["findings"][0]) == {"rule", "level", "message", "fix", "file", "service", "key"}
    rules = {x["id"]: x for x in doc["rules"]}
    assert rules["R000"]["status"] == "failed" and rules["R000"]["findings"] == 1
    assert rules["R009"]["status"] == "passed"
    assert rules["R013"] == {
        "id": "R013",
        "level": "warning",
        "summary": "the recipe's git repository is published",
        "status": "skipped",
        "note": "the recipe is not a git repository",
        "findings": 0,
    }


@pytest.mark.corpus
def test_lint_a_recipe_by_name_from_the_recipes_folder(coop, coop_env):
    recipes = Path(coop_env["ABRA_DIR"]) / "recipes"
    recipes.mkdir(parents=True)
    shutil.copytree(CORPUS / "agora", recipes / "agora")
    r = coop("recipe", "lint", "agora", "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["recipe"] == "agora"
    assert doc["path"] == str(recipes / "agora")


def test_lint_of_an_unknown_recipe_is_not_found(coop):
    r = coop("recipe", "lint", "no-such-recipe")
    assert r.code == ExitStatus.NOT_FOUND
    assert "recipe no-such-recipe is not in" in r.err


def test_lint_without_a_recipe_is_a_usage_error(coop):
    r = coop("recipe", "lint")
    assert r.code == ExitStatus.USAGE
    assert "missing argument RECIPE" in r.err


def test_lint_rules_lists_every_rule(coop):
    r = coop("recipe", "lint", "--rules")
    assert r.code == 0
    ids = [line.split()[0] for line in r.out.splitlines()[1:]]
    assert ids[:3] == ["R000", "R001", "R002"] and "R016" in ids and "R104" in ids
    doc = json.loads(coop("recipe", "lint", "--rules", "--json").out)
    r012 = next(x for x in doc if x["id"] == "R012")
    assert r012["level"] == "error" and "abra.sh" in r012["doc"]


def test_lint_rules_with_an_id_shows_its_documentation(coop):
    r = coop("recipe", "lint", "--rules", "r100")
    assert r.code == 0
    assert r.out.startswith(
        "R100 (error): changed configs have a new version\n\nA config file that changed since the last release"
    )
    assert r.out.endswith("fix: bump the config's _VERSION in abra.sh (v1 -> v2)\n")
    r = coop("recipe", "lint", "--rules", "R999")
    assert r.code == ExitStatus.NOT_FOUND and "no lint rule 'R999'" in r.err


def test_new_then_lint_then_render(coop, coop_env, tmp_path):
    r = coop("recipe", "new", "myapp")
    assert r.code == 0, r
    path = Path(coop_env["ABRA_DIR"]) / "recipes" / "myapp"
    assert r.out == f"{path}\n"
    assert "next: edit its compose.yml and .env.sample, then run: coop recipe lint myapp" in r.err
    assert git(path, "status", "--porcelain") == ""

    r = coop("recipe", "lint", "myapp", "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["errors"] == 0
    assert [f["rule"] for f in doc["findings"]] == ["R006", "R013"]  # no release yet, no origin yet

    r = coop(
        "recipe", "render", str(path), "--env", str(path / ".env.sample"), "--stack", "myapp.example.org", "--json"
    )
    assert r.code == 0, r
    spec = json.loads(r.out)
    assert list(spec["services"]) == ["myapp_example_org_app"]
    assert list(spec["configs"]) == ["myapp_example_org_nginx_conf_v1"]


def test_new_refuses_an_existing_recipe(coop, coop_env):
    assert coop("recipe", "new", "myapp").code == 0
    r = coop("recipe", "new", "myapp")
    assert r.code == ExitStatus.CONFLICT
    assert "already exists" in r.err


def test_new_into_a_dir_with_json(coop, tmp_path):
    target = tmp_path / "elsewhere" / "wiki"
    r = coop("recipe", "new", "wiki", "--dir", str(target), "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["path"] == str(target) and doc["recipe"] == "wiki" and len(doc["commit"]) == 40
    assert "compose.yml" in doc["files"]
    assert coop("recipe", "lint", str(target)).code == 0


def test_new_rejects_a_bad_name(coop):
    r = coop("recipe", "new", "Not A Name")
    assert r.code == ExitStatus.USAGE
    assert "recipe name 'Not A Name' is not valid" in r.err


def test_a_config_changed_after_a_release_fails_lint_until_its_version_is_bumped(coop, tmp_path):
    assert coop("recipe", "new", "site", "--dir", str(tmp_path / "site")).code == 0
    path = tmp_path / "site"
    git(path, "tag", "-a", "0.1.0+1.27.2", "-m", "chore: publish 0.1.0+1.27.2 release")
    (path / "nginx.conf").write_text(
        (path / "nginx.conf").read_text().replace("listen 80;", "listen 80 default_server;")
    )
    r = coop("recipe", "lint", str(path))
    assert r.code == 6, r
    assert "R100  error    config nginx_conf: nginx.conf changed since release 0.1.0+1.27.2" in r.out
    (path / "abra.sh").write_text(
        (path / "abra.sh").read_text().replace("NGINX_CONF_VERSION=v1", "NGINX_CONF_VERSION=v2")
    )
    assert coop("recipe", "lint", str(path)).code == 0
