"""`coop app new <name>` clones a recipe the catalogue knows; --offline never fetches."""

from __future__ import annotations

import json
import stat

from recipe_factory import make_recipe_repo, recipe_files


def write_catalogue(abra, name, repository):
    (abra / "catalogue").mkdir(parents=True, exist_ok=True)
    doc = {name: {"name": name, "repository": repository, "ssh_url": "", "versions": [], "features": {}}}
    (abra / "catalogue" / "recipes.json").write_text(json.dumps(doc))


def test_new_from_a_catalogue_name_clones_it(coop, tmp_path):
    abra = tmp_path / "abra"
    (abra / "servers" / "default").mkdir(parents=True)
    origin = make_recipe_repo(tmp_path / "upstream" / "nice", recipe_files("nice"), [("0.1.0+1.27.2", {})])
    write_catalogue(abra, "nice", f"file://{origin}")

    r = coop("--offline", "app", "new", "nice", "--server", "default", "--domain", "nice.example.org")
    assert r.code == 3 and "--offline" in r.err and not (abra / "recipes" / "nice").exists()

    r = coop("app", "new", "nice", "--server", "default", "--domain", "nice.example.org")
    assert r.code == 0, r
    assert (abra / "recipes" / "nice" / ".git").is_dir()
    env = abra / "servers" / "default" / "nice.example.org.env"
    assert "TYPE=nice:0.1.0+1.27.2" in env.read_text() and "DOMAIN=nice.example.org" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600

    r = coop("app", "new", "nice", "--server", "default", "--domain", "nice.example.org")
    assert r.code == 10 and "already exists" in r.err


def test_unknown_recipe_names_the_way_out(coop, tmp_path):
    (tmp_path / "abra" / "servers" / "default").mkdir(parents=True)
    r = coop("app", "new", "nosuch", "--server", "default", "--domain", "x.example.org")
    assert r.code == 3 and "coop catalogue sync" in r.err and r.err.count("\n") == 1


def test_unregistered_server_is_refused(coop, tmp_path):
    r = coop("app", "new", "nosuch", "--server", "nowhere", "--domain", "x.example.org")
    assert r.code == 3 and "coop server add nowhere" in r.err


def test_a_catalogue_url_that_is_not_plain_git_is_refused(coop, tmp_path):
    abra = tmp_path / "abra"
    (abra / "servers" / "default").mkdir(parents=True)
    write_catalogue(abra, "evil", "ext::sh -c touch% /tmp/pwned")
    r = coop("app", "new", "evil", "--server", "default", "--domain", "e.example.org")
    assert r.code == 4 and "not an https, ssh, git or file URL" in r.err
    assert not (abra / "recipes" / "evil").exists()
