"""abra's ExposeAllEnv, as coop renders it: the env file's keys reach the `app` service only."""

from __future__ import annotations

from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import EnvFile
from coopcloud.sources import recipe_from_dir
from coopcloud.swarm.render import render

COMPOSE = """\
version: "3.8"
services:
  app:
    image: nginx:1.25
    environment:
      - GREETING=${GREETING}
      - DOMAIN=app.internal
  db:
    image: postgres:15
    environment:
      POSTGRES_DB: app
"""


def _recipe(tmp_path, compose: str):
    (tmp_path / "compose.yml").write_text(compose)
    return recipe_from_dir(tmp_path, "r")


def _rendered(tmp_path, env_text: str):
    recipe = _recipe(tmp_path, COMPOSE)
    env = EnvFile.parse(env_text, name="app.env")
    return render(recipe, AppRef("default", "app.example.org"), env)


def env_of(rendered, service: str) -> list[str]:
    return rendered.spec.services[f"app_example_org_{service}"]["TaskTemplate"]["ContainerSpec"]["Env"]


def test_every_env_file_key_the_app_service_does_not_set_is_added_with_its_interpolated_value(tmp_path):
    rendered = _rendered(
        tmp_path,
        "TYPE=r:1.0.0+1.25\nDOMAIN=app.example.org\nGREETING=hi\nBASE=/srv\nDATA=${BASE}/data # comment\n"
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32\n",
    )
    assert env_of(rendered, "app") == [
        "BASE=/srv",
        "DATA=/srv/data",
        "DOMAIN=app.internal",  # the compose file sets it: kept
        "GREETING=hi",
        "SECRET_DB_PASSWORD_VERSION=v1",
        "TYPE=r:1.0.0+1.25",
    ]
    # STACK_NAME and abra.sh's versions are not keys of the env file; no other service gets any.
    assert env_of(rendered, "db") == ["POSTGRES_DB=app"]


def test_an_app_service_without_environment_gets_one(tmp_path):
    recipe = _recipe(tmp_path, 'version: "3.8"\nservices:\n  app:\n    image: nginx:1.25\n')
    rendered = render(recipe, AppRef("default", "a.example.org"), EnvFile.parse("TYPE=r\n", name="a.env"))
    assert rendered.spec.services["a_example_org_app"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["TYPE=r"]


def test_a_release_over_abras_chaos_version_false_keeps_it():
    from coopcloud.ops.deploy.target import keep_abra_chaos_version

    live = {"coop-cloud.s.chaos": "false", "coop-cloud.s.chaos-version": "false"}
    labels = {"coop-cloud.s.chaos": "false"}
    keep_abra_chaos_version(labels, live)
    assert labels == live
    # a chaos commit is not kept, nor "false" under a chaos deploy
    labels = {"coop-cloud.s.chaos": "false"}
    keep_abra_chaos_version(labels, {"coop-cloud.s.chaos-version": "3f2a9c1d"})
    assert labels == {"coop-cloud.s.chaos": "false"}
    labels = {"coop-cloud.s.chaos": "true", "coop-cloud.s.chaos-version": "3f2a9c1d"}
    keep_abra_chaos_version(labels, live)
    assert labels["coop-cloud.s.chaos-version"] == "3f2a9c1d"
