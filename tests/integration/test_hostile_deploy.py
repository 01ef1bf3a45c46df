"""Issue 13 on the real swarm: what docker refuses only after connecting is refused before anything is
created, and a plan shown for a live app masks values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile import run_measured, swarm_objects, tree_state
from live_app import free_port, new_app, web_recipe
from recipe_factory import make_recipe_repo

pytestmark = pytest.mark.integration


def test_replicas_out_of_range_is_refused_before_networks_and_configs_exist(
    coop, coop_env, tmp_path, stack_name, local_server
):
    files = web_recipe(free_port())
    files["compose.yml"] = files["compose.yml"].replace("    deploy:\n", "    deploy:\n      replicas: ${REPLICAS}\n")
    files[".env.sample"] += "REPLICAS=99999999999999999999999\n"
    new_app(coop, tmp_path, stack_name, "default", files)
    abra = Path(coop_env["ABRA_DIR"])
    before = tree_state(abra / "servers")
    r = run_measured(["app", "deploy", stack_name, "--no-input"], coop_env)
    assert r.code == 4, r
    assert "service app: deploy.replicas 99999999999999999999999 is out of range" in r.error_line
    assert r.seconds < 10 and r.max_rss_mb < 80, r
    assert swarm_objects(stack_name) == []
    assert tree_state(abra / "servers") == before


def test_the_plan_of_a_live_app_masks_url_passwords(coop, coop_env, tmp_path, stack_name, local_server):
    files = web_recipe(free_port())
    files["compose.yml"] = files["compose.yml"].replace(
        "      - GREETING=${GREETING:-hello}\n",
        "      - GREETING=${GREETING:-hello}\n      - DATABASE_URL=${DATABASE_URL}\n",
    )
    files[".env.sample"] += "DATABASE_URL=postgres://u:first-password@db/x\n"
    new_app(coop, tmp_path, stack_name, "default", files)
    assert coop("app", "deploy", stack_name, "--no-input").code == 0
    env = Path(coop_env["ABRA_DIR"]) / "servers" / "default" / f"{stack_name}.env"
    env.write_text(env.read_text().replace("first-password", "second-password"))
    for args in (["--dry-run"], ["--dry-run", "--json"]):
        r = coop("app", "deploy", stack_name, "--no-input", *args)
        assert r.code == 0, r
        shown = r.out + r.err
        assert "DATABASE_URL" in shown and "postgres://u:***@db/x" in shown, shown
        assert "first-password" not in shown and "second-password" not in shown


def test_a_service_without_image_from_an_overlay_is_refused_before_anything_exists(
    coop, coop_env, tmp_path, stack_name, local_server
):
    # A service without an image, added by an overlay the env selects: refused, nothing created.
    files = web_recipe(free_port())
    files["compose.extra.yml"] = 'version: "3.8"\nservices:\n  worker:\n    environment: [A=1]\n'
    files[".env.sample"] += "COMPOSE_FILE=compose.yml:compose.extra.yml\n"
    repo = make_recipe_repo(tmp_path / "recipe", files, [("1.0.0+1.0.0", {})])
    r = coop(
        "app", "new", str(repo), "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name
    )
    assert r.code == 0, r
    r = run_measured(["app", "deploy", stack_name, "--no-input"], coop_env)
    assert r.code == 4, r
    assert "compose.yml, compose.extra.yml: service worker: no image specified" in r.error_line
    assert swarm_objects(stack_name) == []
