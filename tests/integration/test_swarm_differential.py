"""Differential: coop's converter against the real `docker stack deploy`.

For every case under tests/data/swarm/cases/, run
``docker -H <recording proxy> stack deploy --resolve-image never`` against the
local swarm engine, capture the bodies of POST /services/create,
/networks/create, /configs/create and /secrets/create, and compare them with
`coopcloud.swarm.convert()` on the same `docker stack config` model. Both sides
go through `tools.spec_normalise.normalise` (drops Go zero values that are not
pointers, and engine-assigned IDs) and nothing else.

Each case deploys as its own stack ``coopdiff_<case>_<random>``; everything
labelled with that namespace is removed afterwards.

`--resolve-image never` keeps the converter's cases free of a registry. The
default mode (`always`, which abra uses too) is compared once more at the end:
a recipe with registry images, `docker stack deploy` against the whole `coop app
deploy`, both through the recording proxy (digests and Placement.Platforms).
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coopcloud.swarm import convert

# tests/ on the path whether or not it is a package (tools/ and conftest live there)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import require_rig
from tools.engine_proxy import EngineProxy
from tools.spec_normalise import normalise
from tools.stack_config import DOCKER, docker_stack_config
from tools.swarm_cases import case_env, case_files, case_names, read_bytes

pytestmark = pytest.mark.integration

KINDS = ("services", "networks", "configs", "secrets")
TEST_LABEL = "coop.test=swarm-differential"


def _docker(
    sock: str,
    *args: str,
    input: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env} if env else None
    return subprocess.run(
        [DOCKER, "-H", f"unix://{sock}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def engine(local_engine_socket: str) -> str:
    info = json.loads(_docker(local_engine_socket, "info", "--format", "{{json .Swarm}}").stdout)
    if not info.get("ControlAvailable"):
        require_rig("a swarm manager at the local engine")
    if _docker(local_engine_socket, "network", "inspect", "proxy", check=False).returncode != 0:
        require_rig("the `proxy` overlay network")
    return local_engine_socket


@pytest.fixture(scope="module")
def external_objects(engine: str):
    """An external secret and config the cases reference by name."""
    suffix = pysecrets.token_hex(4)
    secret, config = f"coopdiff_ext_secret_{suffix}", f"coopdiff_ext_config_{suffix}"
    _docker(engine, "secret", "create", "--label", TEST_LABEL, secret, "-", input="external")
    _docker(engine, "config", "create", "--label", TEST_LABEL, config, "-", input="external")
    yield secret, config
    _docker(engine, "secret", "rm", secret, check=False)
    _docker(engine, "config", "rm", config, check=False)


def _remove_stack(sock: str, stack: str) -> None:
    _docker(sock, "stack", "rm", stack, check=False)
    label = f"label=com.docker.stack.namespace={stack}"
    for kind in ("service", "secret", "config"):
        ids = _docker(sock, kind, "ls", "-q", "--filter", label, check=False).stdout.split()
        if ids:
            _docker(sock, kind, "rm", *ids, check=False)
    # networks go once the tasks using them are gone
    for _ in range(30):
        ids = _docker(sock, "network", "ls", "-q", "--filter", label, check=False).stdout.split()
        if not ids or _docker(sock, "network", "rm", *ids, check=False).returncode == 0:
            return
        time.sleep(1)


@pytest.mark.parametrize("case", case_names())
def test_converter_matches_docker_stack_deploy(case: str, engine: str, external_objects) -> None:
    stack = f"coopdiff_{case}_{pysecrets.token_hex(3)}"
    env = case_env(stack, ext_secret=external_objects[0], ext_config=external_objects[1])
    files = case_files(case)
    model = docker_stack_config(files, env=env)
    want = convert(model, stack, read_file=read_bytes).to_json()

    args = ["stack", "deploy", "--resolve-image", "never", "--detach=true"]
    for f in files:
        args += ["-c", str(f)]
    try:
        with EngineProxy(engine) as proxy:
            proc = _docker(proxy.path, *args, stack, check=False, env=env)
            assert proc.returncode == 0, f"docker stack deploy failed: {proc.stderr}"
            got = {kind: proxy.bodies("POST", f"/{kind}/create") for kind in KINDS}
    finally:
        _remove_stack(engine, stack)

    for kind in KINDS:
        captured = {b["Name"]: normalise(b) for b in got[kind]}
        assert len(captured) == len(got[kind]), f"{kind}: a name was created twice"
        ours = {name: normalise(body) for name, body in want[kind].items()}
        assert sorted(ours) == sorted(captured), f"{kind}: different objects"
        for name in captured:
            assert ours[name] == captured[name], f"{kind} {name} differs"


@pytest.mark.parametrize("case", case_names())
def test_compose_load_gives_the_converter_what_docker_stack_config_gives(case: str) -> None:
    """coop's own loader in front of the converter: same specs as with `docker stack config`."""
    compose = pytest.importorskip("coopcloud.compose")
    stack = "coopdiff"
    env = case_env(stack, ext_secret="ext_secret", ext_config="ext_config")
    files = case_files(case)
    reference = convert(docker_stack_config(files, env=env), stack, read_file=read_bytes).to_json()
    model = compose.load(
        [compose.ComposeFile(name=str(f), text=f.read_text()) for f in files], env, working_dir=str(files[0].parent)
    )
    assert convert(model, stack, read_file=read_bytes).to_json() == reference


# -- docker stack deploy in its default mode (--resolve-image always) ----------------------------

RESOLVE_COMPOSE = """\
version: "3.8"
services:
  app:
    image: 127.0.0.1:5000/coop-test/web:1.0.0
    configs:
      - source: motd
        target: /www/motd.txt
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: [node.role == manager]
  db:
    image: 127.0.0.1:5000/coop-test/db:10.5
    stop_grace_period: 1s
configs:
  motd:
    name: ${STACK_NAME}_motd_v1
    file: motd.txt
"""


def _coop_own_labels(body: dict, stack: str) -> dict:
    """`body` without the labels `coop app deploy` adds to what the recipe says (abra's and coop's)."""
    labels = {
        k: v for k, v in (body.get("Labels") or {}).items() if not k.startswith(("coop.", f"coop-cloud.{stack}."))
    }
    return {**body, "Labels": labels}


def _as_stack(bodies: list, stack: str) -> dict[str, dict]:
    """Bodies by name, normalised, with the stack's name written as STACK (two stacks compare)."""
    text = json.dumps([_coop_own_labels(b, stack) for b in bodies]).replace(stack, "STACK")
    return {b["Name"]: normalise(b) for b in json.loads(text)}


def test_coop_deploy_sends_what_docker_stack_deploy_sends_by_default(
    coop, coop_env, tmp_path, engine: str, registry: str, stack_name: str
) -> None:
    """Images pinned by digest and Placement.Platforms from the registry's manifest, by both tools.

    docker stack deploy runs in its default mode (abra's too): it resolves each image through the
    engine's distribution endpoint, with the environment abra exposes to the app service. coop's whole `app deploy` goes through the same recording proxy.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import remove_stack
    from recipe_factory import make_recipe_repo

    files = {
        "compose.yml": RESOLVE_COMPOSE,
        "motd.txt": "hello\n",
        ".env.sample": "TYPE=resolve\n",
        "README.md": "# resolve\n",
    }
    recipe = make_recipe_repo(tmp_path / "resolve", files, [("1.0.0+1.0.0", {})])
    other = "d" if stack_name[-6] == "c" else "c"  # a different name of the same length, whatever the uuid
    docker_stack, coop_stack = stack_name, f"{stack_name[:-6]}{other}{stack_name[-5:]}"
    assert len(docker_stack) == len(coop_stack) and docker_stack != coop_stack
    # What abra adds in memory (ExposeAllEnv): the env file's keys, in the app service's environment.
    exposed = tmp_path / "abra-exposed-env.yml"
    exposed.write_text(
        'version: "3.8"\nservices:\n  app:\n    environment:\n'
        '      TYPE: "resolve:1.0.0+1.0.0"\n      DOMAIN: "resolve.example.org"\n'
    )
    try:
        with EngineProxy(engine) as proxy:
            proc = _docker(
                proxy.path,
                "stack",
                "deploy",
                "--detach=true",
                "-c",
                "compose.yml",
                "-c",
                str(exposed),
                docker_stack,
                check=False,
                env={"STACK_NAME": docker_stack},
                cwd=recipe,
            )
            assert proc.returncode == 0, f"docker stack deploy failed: {proc.stderr}"
            theirs = {kind: proxy.bodies("POST", f"/{kind}/create") for kind in ("services", "networks", "configs")}
        with EngineProxy(engine) as proxy:
            env = {**coop_env, "DOCKER_HOST": proxy.url}
            assert coop("server", "add", "--local", env=env).code == 0
            r = coop(
                "app",
                "new",
                str(recipe),
                "--server",
                "default",
                "--domain",
                "resolve.example.org",
                "--name",
                coop_stack,
                env=env,
            )
            assert r.code == 0, r
            r = coop("app", "deploy", coop_stack, "--no-input", "--no-converge-checks", env=env)
            assert r.code == 0, r
            ours = {kind: proxy.bodies("POST", f"/{kind}/create") for kind in ("services", "networks", "configs")}
            # The app's lock and audit trail are coop's own configs, not the stack's.
            ours["configs"] = [c for c in ours["configs"] if not c["Name"].startswith(("coop-lock_", "coop-audit_"))]
    finally:
        remove_stack(coop_stack)

    assert any("Platforms" in (b["TaskTemplate"].get("Placement") or {}) for b in theirs["services"])
    assert all("@sha256:" in b["TaskTemplate"]["ContainerSpec"]["Image"] for b in theirs["services"])
    for kind in ("services", "networks", "configs"):
        assert _as_stack(ours[kind], coop_stack) == _as_stack(theirs[kind], docker_stack), f"{kind} differ"
