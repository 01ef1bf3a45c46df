"""`ops.scaffold`: a new recipe that passes lint, renders, and is a git repository."""

from __future__ import annotations

import os
import subprocess

import pytest

from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import EnvFile, secret_specs
from coopcloud.errors import Conflict, RecipeError, UsageError
from coopcloud.lint import lint
from coopcloud.ops.recipe.scaffold import recipe_files, scaffold
from coopcloud.sources import recipe_from_dir
from coopcloud.swarm.render import render


def git_out(path, *args, env=None) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True, env=env).stdout


def no_identity_env(tmp_path) -> dict[str, str]:
    """An environment where git knows no identity at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(tmp_path / "home"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        EMAIL="",
    )
    return env


def test_scaffold_writes_a_committed_recipe(tmp_path):
    made = scaffold("myapp", tmp_path / "myapp", environ=no_identity_env(tmp_path))
    assert made.path == tmp_path / "myapp"
    assert made.files == [".env.sample", "README.md", "abra.sh", "compose.yml", "nginx.conf", "release/.gitkeep"]
    for rel in made.files:
        assert (made.path / rel).is_file()
    assert git_out(made.path, "rev-parse", "HEAD").strip() == made.commit
    assert git_out(made.path, "status", "--porcelain") == ""
    assert git_out(made.path, "branch", "--show-current").strip() == "main"
    # no identity configured: the commit is made as coop <coop@localhost>
    assert git_out(made.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s") == (
        "coop <coop@localhost>|coop <coop@localhost>|chore: new recipe myapp (coop recipe new)\n"
    )


def test_scaffold_uses_the_git_identity_from_the_environment(tmp_path):
    env = no_identity_env(tmp_path)
    env.update(
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.org",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.org",
    )
    made = scaffold("myapp", tmp_path / "myapp", environ=env)
    assert git_out(made.path, "log", "-1", "--format=%an <%ae>") == "Ada <ada@example.org>\n"


def test_scaffold_uses_the_git_config_identity(tmp_path):
    env = no_identity_env(tmp_path)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Grace\n\temail = grace@example.org\n")
    env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    made = scaffold("myapp", tmp_path / "myapp", environ=env)
    assert git_out(made.path, "log", "-1", "--format=%an <%ae>") == "Grace <grace@example.org>\n"


def test_a_new_recipe_passes_lint(tmp_path):
    made = scaffold("myapp", tmp_path / "myapp", environ=no_identity_env(tmp_path))
    report = lint(made.path)
    assert report.ok
    assert report.errors == []
    # only what a brand-new recipe cannot have yet: a release and a published repository
    assert [f.rule for f in report.findings] == ["R006", "R013"]
    assert [(r.rule.id, r.note) for r in report.skipped()] == [("R100", "the recipe has no release yet")]


def test_a_new_recipe_renders(tmp_path):
    made = scaffold("myapp", tmp_path / "myapp", environ=no_identity_env(tmp_path))
    recipe = recipe_from_dir(made.path)
    env = EnvFile.parse(recipe.env_sample(), name=".env.sample")
    rendered = render(recipe, AppRef("srv", "myapp.example.org"), env)
    spec = rendered.spec.to_json()
    app = spec["services"]["myapp_example_org_app"]
    labels = app["Labels"]
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.http.routers.myapp_example_org.rule"] == "Host(`myapp.example.com`)"
    assert labels["traefik.http.routers.myapp_example_org.entrypoints"] == "web-secure"
    assert labels["traefik.http.routers.myapp_example_org.tls.certresolver"] == "production"
    assert labels["traefik.http.services.myapp_example_org.loadbalancer.server.port"] == "80"
    assert "coop-cloud.myapp_example_org.version" in labels
    task = app["TaskTemplate"]["ContainerSpec"]
    assert task["Image"] == "nginx:1.27.2"
    assert task["Healthcheck"]["Test"][0] == "CMD"
    assert [s["SecretName"] for s in task["Secrets"]] == ["myapp_example_org_db_password_v1"]
    assert [c["ConfigName"] for c in task["Configs"]] == ["myapp_example_org_nginx_conf_v1"]
    assert list(spec["configs"]) == ["myapp_example_org_nginx_conf_v1"]
    # the secret is declared with its generation hint, so `app secret generate` knows its length
    assert [(s.name, s.version, s.length) for s in secret_specs(env)] == [("db_password", "v1", 32)]
    assert recipe.abra_sh_versions() == {"NGINX_CONF_VERSION": "v1"}
    assert recipe.readme_metadata()["category"] == "Apps"


def test_scaffold_refuses_an_existing_folder_and_leaves_it_alone(tmp_path):
    target = tmp_path / "myapp"
    target.mkdir()
    (target / "mine.txt").write_text("keep me\n")
    with pytest.raises(Conflict, match="already exists"):
        scaffold("myapp", target)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("name", ["", "My App", "../x", "a/b", "-x", "Caps"])
def test_scaffold_refuses_bad_names(tmp_path, name):
    with pytest.raises(UsageError, match="recipe name"):
        scaffold(name, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_failed_git_step_leaves_no_half_made_folder(tmp_path):
    env = no_identity_env(tmp_path)
    env["GIT_INDEX_FILE"] = str(tmp_path / "no-such-dir" / "index")  # `git add` cannot write its index
    with pytest.raises(RecipeError, match="git add in .* failed"):
        scaffold("myapp", tmp_path / "myapp", environ=env)
    assert not (tmp_path / "myapp").exists()


def test_recipe_files_name_the_recipe():
    files = recipe_files("wiki")
    assert "TYPE=wiki\n" in files[".env.sample"]
    assert "DOMAIN=wiki.example.com\n" in files[".env.sample"]
    assert files["README.md"].startswith("# wiki\n")
