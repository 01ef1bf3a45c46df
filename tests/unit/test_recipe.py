import stat

import pytest

from coopcloud.domain.app import AppConfig, AppRef, compose_env, compose_files, recipe_of
from coopcloud.domain.envfile import EnvFile
from coopcloud.domain.recipe import clean_path, image_feature
from coopcloud.errors import EnvFileError, NotFound, RecipeError, UsageError
from coopcloud.gitops import GitRepo
from coopcloud.sources import DirSource, GitSource, recipe_from_dir, recipe_from_git
from recipe_factory import commit, make_recipe_repo, recipe_files
from shared_data import CORPUS, corpus_recipes


@pytest.fixture
def repo_path(tmp_path):
    return make_recipe_repo(
        tmp_path / "demo",
        recipe_files("demo", extra={"configs/app.conf": "one\n"}),
        tags=[
            ("1.0.0+1.27.1", {}),
            (
                "1.1.0+1.27.2",
                {
                    "abra.sh": 'export NGINX_CONF_VERSION="v2"\nexport OTHER=1\n  export INDENTED_VERSION=v9\n',
                    "release/1.1.0+1.27.2": "Back up first.\n",
                    "compose.zz.yml": "version: '3.8'\n",
                },
            ),
        ],
    )


def test_same_interface_for_git_tag_and_working_tree(repo_path):
    (repo_path / "compose.local.yml").write_text("untracked overlay\n")  # chaos sees it, tags don't
    (repo_path / "nginx.conf").write_text("dirty\n")
    old = recipe_from_git(repo_path, "1.0.0+1.27.1")
    new = recipe_from_git(GitRepo(repo_path), "1.1.0+1.27.2", name="demo")
    chaos = recipe_from_dir(repo_path)
    assert old.name == new.name == chaos.name == "demo"
    assert old.compose_files() == ["compose.yml", "compose.smtp.yml"]
    assert new.compose_files() == ["compose.yml", "compose.smtp.yml", "compose.zz.yml"]
    assert chaos.compose_files() == ["compose.yml", "compose.local.yml", "compose.smtp.yml", "compose.zz.yml"]
    assert old.abra_sh_versions() == {"NGINX_CONF_VERSION": "v1"}
    assert new.abra_sh_versions() == {"NGINX_CONF_VERSION": "v2"}  # only *_VERSION, at column 0
    assert old.read_text("nginx.conf") == "server { listen 80; }\n"
    assert chaos.read_text("nginx.conf") == "dirty\n"
    assert old.release_notes("1.1.0+1.27.2") is None
    assert new.release_notes("1.1.0+1.27.2") == "Back up first.\n"
    for r in (old, new, chaos):
        assert r.env_sample_path() == ".env.sample"
        assert "SECRET_DB_PASSWORD_VERSION=v1 # length=32" in r.env_sample()
        assert r.readme_metadata()["status"] == "2, beta"
        assert r.source.exists("configs/app.conf")
        assert not r.source.exists("configs")
        assert not r.source.exists("../etc/passwd")
        assert ".git/HEAD" not in r.source.list_files()
        with pytest.raises(NotFound, match="no file 'missing.yml'"):
            r.read("missing.yml")


def test_git_source_reads_objects_and_pins_the_commit(repo_path):
    src = GitSource(GitRepo(repo_path), "1.0.0+1.27.1")
    assert len(src.commit) == 40 and "1.0.0+1.27.1" in src.description
    commit(repo_path, {"nginx.conf": "later\n"}, "later")
    assert src.read("nginx.conf") == b"server { listen 80; }\n"
    src.prefetch(["compose.yml", "abra.sh", "nope"])
    assert src.read("compose.yml").startswith(b"version:")
    with pytest.raises(NotFound, match="at 1.0.0"):
        src.read("nope")
    with pytest.raises(NotFound):
        GitSource(GitRepo(repo_path), "9.9.9+x")


def test_read_relative_to_a_compose_file_dir(repo_path):
    r = recipe_from_git(repo_path, "1.0.0+1.27.1")
    assert r.read("app.conf", relative_to="configs") == b"one\n"
    assert r.read("../nginx.conf", relative_to="configs").startswith(b"server")
    with pytest.raises(RecipeError, match="outside the recipe"):
        r.read("../../x", relative_to="configs")
    with pytest.raises(RecipeError, match="absolute"):
        r.read("/etc/passwd")


def test_dir_source_refuses_symlinks_leaving_the_recipe(tmp_path):
    (tmp_path / "secret.txt").write_text("s")
    root = tmp_path / "r"
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(RecipeError, match="outside the recipe"):
        DirSource(root).read("link")
    with pytest.raises(NotFound):
        DirSource(tmp_path / "missing")


def test_clean_path():
    assert clean_path("./a//b/../c.yml") == "a/c.yml"
    assert clean_path("x", relative_to="d") == "d/x"
    with pytest.raises(RecipeError):
        clean_path("..")


@pytest.mark.corpus
@pytest.mark.parametrize("recipe", corpus_recipes())
def test_every_corpus_recipe_reads(recipe):
    r = recipe_from_dir(CORPUS / recipe)
    assert r.compose_files()[0] == "compose.yml"
    assert r.env_sample() is not None
    EnvFile.parse(r.env_sample())
    r.abra_sh_versions()
    r.readme_metadata()


@pytest.mark.corpus
def test_corpus_specifics():
    assert recipe_from_dir(CORPUS / "nodex").env_sample_path() == "deploy/.env.sample"
    assert recipe_from_dir(CORPUS / "lemp").abra_sh_versions()["MSMTP_CONF_VERSION"] == "v3"
    meta = recipe_from_dir(CORPUS / "bonfire").readme_metadata()
    assert meta["category"] == "Apps" and meta["healthcheck"] == "" and meta["status"] == "1, alpha"
    assert recipe_from_dir(CORPUS / "foodsharing-cms").readme_metadata() == {}
    lemp = recipe_from_dir(CORPUS / "lemp").readme_metadata()
    assert lemp["sso"] == "No" and lemp["backups"] == "Yes"  # "- **Key**:" bullets too


def test_image_feature():
    assert image_feature("[nginx](https://hub.docker.com/_/nginx), 4, upstream") == {
        "image": "nginx",
        "url": "https://hub.docker.com/_/nginx",
        "rating": "4",
        "source": "upstream",
    }
    assert image_feature("[`ghcr.io/x/y`](https://g/x), upstream") == {
        "image": "ghcr.io/x/y",
        "url": "https://g/x",
        "source": "upstream",
    }
    assert image_feature("") == {}


# --- app ---------------------------------------------------------------------


def test_app_ref_names_and_paths(tmp_path):
    app = AppRef("srv1", "cloud.example.org")
    assert app.stack_name == "cloud_example_org"
    assert app.env_path(tmp_path) == tmp_path / "srv1" / "cloud.example.org.env"
    assert AppRef.from_env_path(tmp_path / "srv1" / "cloud.example.org.env") == app
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(UsageError):
            AppRef("srv1", bad)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"TYPE": "nextcloud"}, ("nextcloud", None)),
        ({"TYPE": "nextcloud:1.0.0+27.1"}, ("nextcloud", "1.0.0+27.1")),
        ({"RECIPE": "wordpress", "TYPE": "old"}, ("wordpress", None)),
    ],
)
def test_recipe_of(env, expected):
    assert recipe_of(env) == expected


def test_recipe_of_missing():
    with pytest.raises(EnvFileError, match="x.env: no RECIPE= \\(or TYPE=\\)"):
        recipe_of({}, "x.env")


def test_compose_files():
    assert compose_files({}) == ["compose.yml"]
    assert compose_files({"COMPOSE_FILE": "compose.yml::compose.smtp.yml:compose.yml"}) == [
        "compose.yml",
        "compose.smtp.yml",
    ]


def test_compose_env_precedence():
    app = AppRef("srv1", "app.example.org")
    env = EnvFile.parse("NGINX_CONF_VERSION=v9\nSTACK_NAME=mine\nX=${NGINX_CONF_VERSION}-${OTHER_VERSION}\n")
    abra = {"NGINX_CONF_VERSION": "v1", "OTHER_VERSION": "v2"}
    got = compose_env(app, env.values(base=abra), abra)
    assert got == {
        "NGINX_CONF_VERSION": "v9",  # the app env wins over abra.sh
        "OTHER_VERSION": "v2",
        "STACK_NAME": "app_example_org",  # always ours
        "X": "v9-v2",
        "DOMAIN": "app.example.org",  # defaulted to the app name
    }
    assert compose_env(app, {"DOMAIN": "other.org"}, {})["DOMAIN"] == "other.org"


def test_app_config_load_pin_save(tmp_path):
    app = AppRef("srv1", "demo.example.org")
    path = app.env_path(tmp_path)
    path.parent.mkdir()
    path.write_text(
        '# my app\nTYPE=demo # recipe\nCOMPOSE_FILE=compose.yml\nCOMPOSE_FILE="$COMPOSE_FILE:compose.smtp.yml"\n'
    )
    cfg = AppConfig.load(app, tmp_path)
    assert (cfg.recipe, cfg.pinned_version) == ("demo", None)
    assert cfg.compose_files() == ["compose.yml", "compose.smtp.yml"]
    assert cfg.compose_env({"V_VERSION": "v1"})["V_VERSION"] == "v1"
    cfg.pin("1.1.0+1.27.2")
    cfg.save(tmp_path)
    assert path.read_text().splitlines()[1] == "TYPE=demo:1.1.0+1.27.2 # recipe"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = AppConfig.load(app, tmp_path)
    assert again.pinned_version == "1.1.0+1.27.2"
    again.pin(None)
    assert again.env.get("TYPE") == "demo"


def test_a_pin_goes_into_the_key_the_env_uses():
    from coopcloud.domain.app import pin_recipe
    from coopcloud.domain.envfile import EnvFile

    newer = EnvFile.parse("RECIPE=demo\nTYPE=old\n", name="a.env")
    pin_recipe(newer, "demo", "2.0.0+1.0")
    assert (newer.get("RECIPE"), newer.get("TYPE")) == ("demo:2.0.0+1.0", "old")
    older = EnvFile.parse("TYPE=demo:1.0.0\n", name="b.env")
    pin_recipe(older, "demo", None)
    assert (older.get("RECIPE"), older.get("TYPE")) == (None, "demo")
