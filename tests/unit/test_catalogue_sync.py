"""`coop catalogue sync`, `recipe ls`, `recipe show`: a local HTTP server and local git repos."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coopcloud.ops.recipe.catalogue import clone_url
from coopcloud.settings import Settings
from recipe_factory import commit, git, make_recipe_repo, recipe_files


def catalogue_doc(*names: str, version: str = "1.0.0+1.0.0") -> dict:
    return {
        n: {
            "name": n,
            "category": "Apps" if n != "gitea" else "Development",
            "description": f"{n} description",
            "repository": f"https://git.example.org/coop-cloud/{n}.git",
            "ssh_url": f"ssh://git@git.example.org:2222/coop-cloud/{n}.git",
            "features": {"status": 2, "healthcheck": "Yes", "backups": "No", "image": {"image": n}},
            "versions": [{version: {"app": {"image": f"{n}/{n}", "tag": "1.0.0", "digest": "sha256:" + "a" * 64}}}],
        }
        for n in names
    }


class Server:
    def __init__(self):
        self.body = b"{}"
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/recipes.json"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def serve(self, doc, status=200):
        self.body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.status = status


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def env(coop_env, server):
    return dict(coop_env, COOP_CATALOGUE_URL=server.url)


def cat_file(env) -> Path:
    return Path(env["ABRA_DIR"]) / "catalogue" / "recipes.json"


def test_sync_from_url_setting_and_flag(coop, env, server):
    server.serve(catalogue_doc("gitea", "nextcloud"))
    r = coop("catalogue", "sync", env=env)
    assert r.code == 0, r.err
    assert "2 recipes" in r.out and server.url in r.out
    assert set(json.loads(cat_file(env).read_text())) == {"gitea", "nextcloud"}
    assert server.hits == 1
    # unchanged content: reported as such
    r = coop("catalogue", "sync", "--json", env=env)
    assert json.loads(r.out)["changed"] is False and json.loads(r.out)["fetched"] is True
    # --url wins over the setting
    other = Server()
    try:
        other.serve(catalogue_doc("traefik"))
        r = coop("catalogue", "sync", "--url", other.url, env=env)
        assert r.code == 0, r.err
        assert list(json.loads(cat_file(env).read_text())) == ["traefik"]
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


def test_network_failure_and_offline_use_the_last_copy(coop, env, server):
    server.serve(catalogue_doc("gitea"))
    assert coop("catalogue", "sync", env=env).code == 0
    before = cat_file(env).read_bytes()

    server.serve(b"oops", status=500)
    r = coop("catalogue", "sync", env=env)
    assert r.code == 0
    assert "warning:" in r.err and "HTTP 500" in r.err and "last copy" in r.err
    assert cat_file(env).read_bytes() == before

    hits = server.hits
    r = coop("catalogue", "sync", "--offline", "--json", env=env)
    assert r.code == 0 and server.hits == hits  # nothing fetched
    assert json.loads(r.out)["fetched"] is False and "--offline" in r.err

    server.httpd.shutdown()
    server.httpd.server_close()
    r = coop("catalogue", "sync", env=env)
    assert r.code == 0 and "unreachable" in r.err
    assert coop("recipe", "ls", env=env).code == 0


def test_no_copy_at_all_is_an_error(coop, env, server):
    r = coop("catalogue", "sync", "--offline", env=env)
    assert r.code == 3 and "--offline" in r.err
    server.serve(b"", status=404)
    r = coop("catalogue", "sync", env=env)
    assert r.code == 5 and "HTTP 404" in r.err and server.url in r.err
    assert not cat_file(env).exists()


def test_junk_is_refused_and_the_last_copy_kept(coop, env, server):
    server.serve(catalogue_doc("gitea"))
    assert coop("catalogue", "sync", env=env).code == 0
    before = cat_file(env).read_bytes()
    server.serve(b"<html>captive portal</html>")
    r = coop("catalogue", "sync", env=env)
    assert r.code == 4 and "not JSON" in r.err and server.url in r.err
    assert cat_file(env).read_bytes() == before


def test_sync_from_git_repo(coop, coop_env, tmp_path):
    src = tmp_path / "catalogue-src"
    make_recipe_repo(src, {"recipes.json": json.dumps(catalogue_doc("gitea"))})
    r = coop("catalogue", "sync", "--git", str(src))
    assert r.code == 0, r.err
    assert list(json.loads(cat_file(coop_env).read_text())) == ["gitea"]
    commit(src, {"recipes.json": json.dumps(catalogue_doc("gitea", "wordpress"))}, "add wordpress")
    r = coop("catalogue", "sync", "--git", str(src), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["changed"] is True
    assert list(json.loads(cat_file(coop_env).read_text())) == ["gitea", "wordpress"]
    # the repository goes away: the last copy stands in
    os.rename(src, tmp_path / "gone")
    r = coop("catalogue", "sync", "--git", str(src))
    assert r.code == 0 and "last copy" in r.err
    # a repository without recipes.json is not a catalogue
    empty = make_recipe_repo(tmp_path / "empty", {"README.md": "x"})
    r = coop("catalogue", "sync", "--git", str(empty))
    assert r.code == 4 and "no recipes.json" in r.err


def test_abra_layout_is_pulled_in_place(coop, coop_env, tmp_path):
    src = make_recipe_repo(tmp_path / "recipes-catalogue", {"recipes.json": json.dumps(catalogue_doc("gitea"))})
    catdir = Path(coop_env["ABRA_DIR"]) / "catalogue"
    catdir.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", str(src), str(catdir))
    commit(src, {"recipes.json": json.dumps(catalogue_doc("gitea", "keycloak"))}, "add keycloak")
    r = coop("catalogue", "sync")
    assert r.code == 0, r.err
    assert list(json.loads(cat_file(coop_env).read_text())) == ["gitea", "keycloak"]
    assert git(catdir, "status", "--porcelain").strip() == ""  # the clone stays clean for abra
    # a --git sync clones under catalogue/cache/: still nothing untracked in abra's clone
    other = make_recipe_repo(tmp_path / "other", {"recipes.json": json.dumps(catalogue_doc("gitea", "keycloak"))})
    assert coop("catalogue", "sync", "--git", str(other)).code == 0
    assert (catdir / "cache" / "git").is_dir()
    assert git(catdir, "status", "--porcelain").strip() == ""


def test_recipe_ls(coop, env, server):
    r = coop("recipe", "ls", env=env)
    assert r.code == 3 and "coop catalogue sync" in r.err
    server.serve(catalogue_doc("gitea", "nextcloud", "traefik"))
    coop("catalogue", "sync", env=env)
    r = coop("recipe", "ls", env=env)
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "CATEGORY", "STATUS"]
    assert [ln.split()[0] for ln in lines[1:]] == ["gitea", "nextcloud", "traefik"]
    assert "1.0.0+1.0.0" in lines[1]
    r = coop("recipe", "ls", "develop", "--json", env=env)
    rows = json.loads(r.out)
    assert [row["name"] for row in rows] == ["gitea"] and rows[0]["latest_version"] == "1.0.0+1.0.0"
    assert rows[0]["versions"][0]["1.0.0+1.0.0"]["app"]["image"] == "gitea/gitea"
    r = coop("catalogue", "search", "next", "--json", env=env)
    assert [row["name"] for row in json.loads(r.out)] == ["nextcloud"]
    r = coop("recipe", "ls", "zzz", env=env)
    assert r.code == 0 and r.out == "" and "no recipe matches" in r.err


def test_recipe_show_catalogue_and_local(coop, env, server):
    server.serve(catalogue_doc("gitea"))
    coop("catalogue", "sync", env=env)
    r = coop("recipe", "show", "gitea", env=env)
    assert r.code == 0, r.err
    assert "https://git.example.org/coop-cloud/gitea.git" in r.out
    assert "1.0.0+1.0.0" in r.out and "app: gitea/gitea:1.0.0" in r.out
    doc = json.loads(coop("recipe", "show", "gitea", "--json", env=env).out)
    assert doc["in_catalogue"] is True and doc["features"]["status"] == 2 and doc["local_path"] is None

    # a local recipe that the catalogue does not know
    local = Path(env["ABRA_DIR"]) / "recipes" / "mine"
    make_recipe_repo(
        local,
        recipe_files("mine", "nginx", "1.27.1"),
        tags=[("1.0.0+1.27.1", {}), ("junk", {}, False)],
        origin="git@git.example.org:me/mine.git",
    )
    doc = json.loads(coop("recipe", "show", "mine", "--json", env=env).out)
    assert doc["in_catalogue"] is False and doc["local_path"] == str(local)
    assert doc["category"] == "Apps" and doc["features"]["status"] == 2 and doc["features"]["image"]["image"] == "nginx"
    assert doc["local_versions"] == ["1.0.0+1.27.1"] and doc["latest_version"] == "1.0.0+1.27.1"
    assert doc["repository"] == "https://git.example.org/me/mine.git"
    r = coop("recipe", "show", "mine", env=env)
    assert r.code == 0 and "not in the catalogue" in r.out and "'junk'" in r.err

    r = coop("recipe", "show", "nope", env=env)
    assert r.code == 3 and "recipe nope" in r.err and "coop recipe ls" in r.err


def test_clone_url(tmp_path):
    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert clone_url(settings, "gitea") is None  # no catalogue yet
    settings.catalogue_dir.mkdir(parents=True)
    doc = catalogue_doc("gitea", "private")
    doc["private"]["repository"] = ""
    doc["nourl"] = {"name": "nourl"}
    settings.catalogue_file.write_text(json.dumps(doc))
    assert clone_url(settings, "gitea") == "https://git.example.org/coop-cloud/gitea.git"
    assert clone_url(settings, "private") == "ssh://git@git.example.org:2222/coop-cloud/private.git"
    assert clone_url(settings, "nourl") is None
    assert clone_url(settings, "unknown") is None
