"""`coop recipe render`: the maintainer's "what will this deploy?", and the conformance hook."""

from __future__ import annotations

import json
import shutil

from shared_data import ROOT

DEMO = ROOT / "demo" / "recipe"


def test_render_json_is_one_document_of_the_four_kinds(coop):
    r = coop("recipe", "render", str(DEMO), "--env", str(DEMO / ".env.sample"), "--stack", "demo.example.org", "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert sorted(doc) == ["configs", "networks", "secrets", "services"]
    app = doc["services"]["demo_example_org_app"]
    assert app["TaskTemplate"]["ContainerSpec"]["Image"] == "coop-demo/web:1.0.0"
    assert app["Labels"]["com.docker.stack.namespace"] == "demo_example_org"
    # The external proxy network and the external secret are referenced, not created.
    assert "proxy" not in doc["networks"] and doc["secrets"] == {}
    assert list(doc["configs"]) == ["demo_example_org_index_v1"]
    targets = {n["Target"] for n in app["TaskTemplate"]["Networks"]}
    assert targets == {"proxy", "demo_example_org_internal"}


def test_render_yaml_view(coop):
    r = coop("recipe", "render", str(DEMO), "--env", str(DEMO / ".env.sample"), "--stack", "demo.example.org")
    assert r.code == 0 and "demo_example_org_app:" in r.out


def test_render_error_is_one_line_with_file_and_key(coop, tmp_path):
    recipe = tmp_path / "r"
    shutil.copytree(DEMO, recipe)
    text = (recipe / "compose.yml").read_text().replace("published: ${DEMO_PORT:-18480}", "published: 80:80:80")
    (recipe / "compose.yml").write_text(text)
    r = coop("recipe", "render", str(recipe), "--env", str(recipe / ".env.sample"), "--stack", "demo")
    assert r.code == 4, r
    [line] = r.err.splitlines()
    assert line.startswith("error: compose.yml:") and "services.app.ports" in line


def test_missing_overlay_named_in_compose_file(coop, tmp_path):
    env = tmp_path / "app.env"
    env.write_text((DEMO / ".env.sample").read_text() + 'COMPOSE_FILE="compose.yml:compose.nope.yml"\n')
    r = coop("recipe", "render", str(DEMO), "--env", str(env), "--stack", "demo")
    assert r.code == 4, r
    assert "compose.nope.yml" in r.err and r.err.count("\n") == 1
