"""`server prune` and `app undeploy --prune`, on real engines.

`server prune` runs on the rig's engine without swarm, taken for this test alone (it inits a swarm
there and leaves it afterwards): pruning the shared engine would take other tests' objects.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from live_app import REG, free_port, new_app, web_recipe
from recipe_factory import make_recipe_repo

pytestmark = pytest.mark.integration
WEB = f"{REG}/coop-test/web:1.0.0"

COMPOSE = """\
version: "3.8"
services:
  app:
    image: 127.0.0.1:5000/coop-test/web:1.0.0
    networks: [proxy, backbone]
    volumes:
      - data:/data
networks:
  proxy:
    external: true
  backbone:
    external: true
    name: shared_backbone
volumes:
  data:
"""


def test_server_prune_keeps_proxy_external_networks_and_every_app_volume(
    coop, coop_env, tmp_path, registry, noswarm_engine_to_init
):
    env = dict(coop_env, DOCKER_HOST=f"unix://{noswarm_engine_to_init}")
    docker = ["docker", "-H", f"unix://{noswarm_engine_to_init}"]

    def sh(*args: str) -> str:
        return subprocess.run([*docker, *args], capture_output=True, text=True, check=True, timeout=120).stdout.strip()

    def exists(kind: str, name: str) -> bool:
        return subprocess.run([*docker, kind, "inspect", name], capture_output=True).returncode == 0

    assert coop("server", "add", "--local", env=env).code == 0
    r = coop(
        "server", "init", "default", "--listen-addr", "127.0.0.1:2378", "--advertise-addr", "127.0.0.1:2378", env=env
    )
    assert r.code == 0, r
    files = {"compose.yml": COMPOSE, ".env.sample": "TYPE=pruned\nDOMAIN=pruned.example.com\n", "README.md": "# p\n"}
    repo = make_recipe_repo(tmp_path / "pruned", files, [("1.0.0+1.0.0", {})])
    r = coop("app", "new", str(repo), "-s", "default", "-D", "keep.example.org", "--name", "keepme", env=env)
    assert r.code == 0, r
    volumes = ["keepme_data", "coop-backups", "junk_vol"]
    try:
        sh("network", "create", "--driver", "overlay", "--attachable", "shared_backbone")
        sh("network", "create", "junk_net")
        sh("volume", "create", "--label", "com.docker.stack.namespace=keepme", "keepme_data")
        sh("volume", "create", "coop-backups")
        sh("volume", "create", "junk_vol")
        # That engine reaches no registry: the image comes from the rig's engine.
        saved = subprocess.run(["docker", "save", WEB], capture_output=True, check=True, timeout=120).stdout
        subprocess.run([*docker, "load"], input=saved, capture_output=True, check=True, timeout=120)
        stopped = sh("create", WEB)

        r = coop("s", "p", "default", "-v", "-m", env=env)  # abra's `server prune -v --machine`: asks first
        assert r.code == 2 and "pass --yes" in r.err, r
        assert exists("volume", "junk_vol")
        r = coop("s", "p", "default", "-v", "-y", "-m", env=env)
        assert r.code == 0, r
        done = json.loads(r.out)
        assert stopped in done["containers"]
        assert "junk_net" in done["networks"] and "junk_vol" in done["volumes"]
        assert {"proxy", "shared_backbone"} <= set(done["kept_networks"])
        assert {"keepme_data", "coop-backups"} <= set(done["kept_volumes"])
        assert not exists("network", "junk_net") and not exists("volume", "junk_vol")
        assert all(exists("network", n) for n in ("proxy", "shared_backbone"))
        assert all(exists("volume", v) for v in ("keepme_data", "coop-backups"))

        r = coop("server", "prune", "default", "--yes", env=env)
        assert r.code == 0 and "server default: reclaimed" in r.out, r
    finally:
        subprocess.run([*docker, "volume", "rm", *volumes], capture_output=True)
        subprocess.run([*docker, "network", "rm", "shared_backbone", "junk_net"], capture_output=True)
        subprocess.run([*docker, "container", "prune", "-f"], capture_output=True)
        subprocess.run([*docker, "image", "rm", WEB], capture_output=True)


def test_undeploy_prune_removes_the_apps_unused_configs(coop, coop_env, tmp_path, stack_name, local_server):
    app = new_app(coop, tmp_path, stack_name, local_server, web_recipe(free_port()))
    leftover = f"{stack_name}_motd_v0"  # left by another tool: no stack label
    try:
        assert coop("app", "deploy", app, "-n").code == 0
        subprocess.run(["docker", "config", "create", leftover, "-"], input="old\n", text=True, check=True)
        r = coop("a", "un", app, "-n", "-p")
        assert r.code == 0, r
        assert f"removed config {leftover}" in r.err
        assert subprocess.run(["docker", "config", "inspect", leftover], capture_output=True).returncode != 0
    finally:
        subprocess.run(["docker", "config", "rm", leftover], capture_output=True)
        coop("app", "undeploy", app, "-n")
