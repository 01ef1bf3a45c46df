"""Taking over an app that abra deployed: coop's first deploy of the unchanged app changes nothing.

The app is deployed here the way abra deploys it: the recipe cloned under $ABRA_DIR/recipes and
checked out at the release's tag, secrets created by name with no labels (abra's `secret
generate`), the env file pinning `TYPE=<recipe>:<version>`, and `docker stack deploy` (its default
`--resolve-image always`) of the release's compose files with the env's values, plus the labels
abra adds to the app service. Then coop redeploys it (no task restarts), upgrades, rolls back,
undeploys and removes it, secrets included.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from live_app import QUICK_UPDATES, REG, live_spec, quick_health
from recipe_factory import git, make_recipe_repo

pytestmark = pytest.mark.integration

RECIPE = "takeover"
V1, V2 = "1.0.0+1.0.0", "1.1.0+1.1.0"


def compose(web_tag: str) -> str:
    return f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/web:{web_tag}
    environment:
      - GREETING=${{GREETING:-hello}}
      - DB_HOST=db
    networks: [proxy, internal]
    secrets: [db_password]
    configs:
      - source: motd
        target: /www/motd.txt
{quick_health()}\
    deploy:
{QUICK_UPDATES}\
      labels:
        - "traefik.enable=true"
        - "coop-cloud.${{STACK_NAME}}.version={V1 if web_tag == "1.0.0" else V2}"
        - "coop-cloud.${{STACK_NAME}}.timeout=60"
networks:
  proxy:
    external: true
  internal:
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
configs:
  motd:
    name: ${{STACK_NAME}}_motd_${{MOTD_VERSION}}
    file: motd.txt
"""


COMPOSE_DB = """\
version: "3.8"
services:
  db:
    image: 127.0.0.1:5000/coop-test/db:10.5
    environment:
      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password
    networks: [internal]
    secrets: [db_password]
    volumes:
      - data:/var/lib/data
    stop_grace_period: 1s
volumes:
  data:
"""


COMPOSE_DB_V2 = COMPOSE_DB.replace(
    "    stop_grace_period: 1s\n", '    stop_grace_period: 1s\n    deploy:\n      labels: ["coop-test.tier=database"]\n'
)


def recipe_repo(path: Path) -> Path:
    files = {
        "compose.yml": compose("1.0.0"),
        "compose.db.yml": COMPOSE_DB,
        ".env.sample": (
            f"TYPE={RECIPE}\nDOMAIN={RECIPE}.example.com\n"
            'COMPOSE_FILE="compose.yml:compose.db.yml"\nSECRET_DB_PASSWORD_VERSION=v1 # length=32\n'
        ),
        "abra.sh": 'export MOTD_VERSION=v1\n\nshow_env() {\n  echo "type=$TYPE compose=$COMPOSE_FILE greeting=$GREETING"\n}\n',
        "motd.txt": "message of the day\n",
        "README.md": f"# {RECIPE}\n",
    }
    return make_recipe_repo(
        path,
        files,
        [
            (V1, {}),
            (
                V2,
                {
                    "compose.yml": compose("1.1.0"),
                    f"release/{V2}": "web 1.1\n",
                    # a service-level change only: the database's tasks stay
                    "compose.db.yml": COMPOSE_DB_V2,
                },
            ),
        ],
    )


def docker(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, **kw)


def abra_deploy(recipe: Path, stack: str, domain: str, version: str, labels_dir: Path) -> None:
    """What `abra app deploy` does: check out the tag, then `docker stack deploy` of COMPOSE_FILE with
    the env's values and what abra adds in memory to the app service (here an extra -c file): its
    labels, and (ExposeAllEnv) every key of the env file the service's environment does not set."""
    git(recipe, "checkout", "-q", version)
    labels = labels_dir / f"abra-labels-{version}.yml"
    labels.write_text(
        'version: "3.8"\nservices:\n  app:\n    environment:\n'
        f'      TYPE: "{RECIPE}:{version}"\n'
        f'      DOMAIN: "{domain}"\n'
        '      COMPOSE_FILE: "compose.yml:compose.db.yml"\n'
        '      SECRET_DB_PASSWORD_VERSION: "v1"\n'
        "    deploy:\n      labels:\n"
        f'        - "coop-cloud.{stack}.version={version}"\n'
        f'        - "coop-cloud.{stack}.recipe={RECIPE}"\n'
        f'        - "coop-cloud.{stack}.chaos=false"\n'
        f'        - "coop-cloud.{stack}.chaos-version=false"\n'
        f'        - "coop-cloud.{stack}.autoupdate=false"\n'
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COOP_", "ABRA_"))},
        "STACK_NAME": stack,
        "DOMAIN": domain,
        "GREETING": "hi from abra",
        "SECRET_DB_PASSWORD_VERSION": "v1",
        "MOTD_VERSION": "v1",
    }
    p = subprocess.run(
        [
            "docker",
            "stack",
            "deploy",
            "--detach=false",
            "-c",
            "compose.yml",
            "-c",
            "compose.db.yml",
            "-c",
            str(labels),
            stack,
        ],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr


def running_tasks(stack: str) -> dict[str, list[str]]:
    out = docker(
        "stack", "ps", "-q", "--filter", "desired-state=running", "--format", "{{.Name}} {{.ID}}", stack
    ).stdout
    tasks: dict[str, list[str]] = {}
    for line in out.splitlines():
        name, task = line.split()
        tasks.setdefault(name.rsplit(".", 1)[0], []).append(task)
    return {k: sorted(v) for k, v in tasks.items()}


def test_coop_takes_over_an_app_abra_deployed(coop, coop_env, tmp_path, stack_name, local_server):
    stack = stack_name
    domain = stack.replace("_", ".", 1)  # an abra app is named by its domain; its stack name follows
    abra_dir = Path(coop_env["ABRA_DIR"])
    recipe = recipe_repo(abra_dir / "recipes" / RECIPE)
    env_file = abra_dir / "servers" / "default" / f"{domain}.env"
    env_file.write_text(
        f"TYPE={RECIPE}:{V1}\nDOMAIN={domain}\n"
        'COMPOSE_FILE="compose.yml:compose.db.yml"\n'
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32\nGREETING=hi from abra\n"
    )
    secret = f"{stack}_db_password_v1"
    try:
        # abra's `app secret generate`: a named secret, no labels.
        docker("secret", "create", secret, "-", input="abra-made-password", check=True)
        abra_deploy(recipe, stack, domain, V1, tmp_path)
        before = running_tasks(stack)
        assert sorted(before) == [f"{stack}_app", f"{stack}_db"] and all(before.values())
        assert "Platforms" in (live_spec(stack, "db")["TaskTemplate"].get("Placement") or {})

        r = coop("app", "ls", "-S", "-m")  # abra's `app ls --status --machine`
        assert r.code == 0, r
        [row] = [a for a in json.loads(r.out) if a.get("name") == domain or a.get("app") == domain]
        assert V1 in json.dumps(row)
        assert row["upgrade"] == V2 and row["autoupdate"] is False, row

        r = coop("app", "secret", "ls", domain, "--json")
        assert r.code == 0 and {x["name"]: x["present"] for x in json.loads(r.out)} == {"db_password": True}, r

        # The plan of the unchanged app: no service is updated; coop's labels are bookkeeping.
        r = coop("app", "deploy", domain, "--dry-run", "--json")
        assert r.code == 0, r
        plan = json.loads(r.out)["plan"]
        assert {s["name"]: s["action"] for s in plan["services"]} == {
            f"{stack}_app": "bookkeeping",
            f"{stack}_db": "bookkeeping",
        }, plan
        assert " update" not in r.err and "other settings" not in r.err, r.err
        assert r.err.count("bookkeeping: coop's own labels only (restarts nothing)") == 2, r.err  # as the README says

        r = coop("a", "d", domain, "-f", "-n")  # abra's command line
        assert r.code == 0, r
        assert running_tasks(stack) == before  # nothing restarted
        assert "restarts nothing" in r.out  # the plan is a result: stdout
        assert "coop.spec-hash" in live_spec(stack, "db")["Labels"]
        env = live_spec(stack, "app")["TaskTemplate"]["ContainerSpec"]["Env"]
        assert f"TYPE={RECIPE}:{V1}" in env and "GREETING=hi from abra" in env
        assert not any(
            e.startswith(("TYPE=", "COMPOSE_FILE="))
            for e in live_spec(stack, "db")["TaskTemplate"]["ContainerSpec"]["Env"]
        )

        # abra.sh functions see the env file's values in the app container.
        r = coop("app", "cmd", domain, "app", "show_env")
        assert r.code == 0, r
        assert f"type={RECIPE}:{V1} compose=compose.yml:compose.db.yml greeting=hi from abra" in r.out, r

        # Now coop's own: the plan is empty.
        r = coop("app", "deploy", domain, "--dry-run", "--json")
        assert r.code == 0 and json.loads(r.out)["plan"]["changes"] is False, r

        # Upgrade, rollback: the web service moves, the database is left alone.
        env_file.write_text(env_file.read_text() + "ENABLE_AUTO_UPDATE=true\n")
        r = coop("app", "upgrade", domain, "--no-input")
        assert r.code == 0, r
        ls = coop("app", "ls", "--status")
        [line] = [l.split() for l in ls.out.splitlines() if domain in l]
        assert line[-2:] == ["latest", "yes"], ls.out  # UPGRADE, AUTOUPDATE
        assert live_spec(stack, "app")["Labels"][f"coop-cloud.{stack}.version"] == V2
        assert ":1.1.0@sha256:" in live_spec(stack, "app")["TaskTemplate"]["ContainerSpec"]["Image"]
        assert live_spec(stack, "db")["Labels"]["coop-test.tier"] == "database"
        assert "update (restarts nothing)" in r.out
        assert running_tasks(stack)[f"{stack}_db"] == before[f"{stack}_db"]
        assert f"TYPE={RECIPE}:{V2}" in env_file.read_text()
        # The exposed TYPE is the pin the upgrade wrote: the next redeploy plans nothing.
        assert f"TYPE={RECIPE}:{V2}" in live_spec(stack, "app")["TaskTemplate"]["ContainerSpec"]["Env"]
        r = coop("app", "diff", domain)
        assert r.code == 0, r

        r = coop("app", "rollback", domain, "--no-input")
        assert r.code == 0, r
        assert live_spec(stack, "app")["Labels"][f"coop-cloud.{stack}.version"] == V1
        assert "coop-test.tier" not in live_spec(stack, "db")["Labels"]
        assert running_tasks(stack)[f"{stack}_db"] == before[f"{stack}_db"]
        assert f"TYPE={RECIPE}:{V1}" in env_file.read_text()

        r = coop("app", "undeploy", domain, "--no-input")
        assert r.code == 0, r
        assert (
            docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").stdout.split() == []
        )
        assert docker("secret", "inspect", secret).returncode == 0  # undeploy keeps secrets

        r = coop("app", "remove", domain, "--purge", "--yes", "--no-input")
        assert r.code == 0, r
        assert docker("secret", "inspect", secret).returncode != 0  # abra's unlabelled secret went too
        assert docker("volume", "inspect", f"{stack}_data").returncode != 0
        assert not env_file.exists()
    finally:
        docker("stack", "rm", stack)
        docker("secret", "rm", secret)


def test_abra_deploying_after_coop_restarts_nothing(coop, coop_env, tmp_path, stack_name, local_server):
    """The other way round: coop deployed the app; abra (`docker stack deploy`, resolving images)
    deploys the same release again, and swarm replaces no task: coop sent what docker sends."""
    stack = stack_name
    domain = stack.replace("_", ".", 1)
    abra_dir = Path(coop_env["ABRA_DIR"])
    recipe = recipe_repo(abra_dir / "recipes" / RECIPE)
    (abra_dir / "servers" / "default" / f"{domain}.env").write_text(
        f'TYPE={RECIPE}:{V1}\nDOMAIN={domain}\nCOMPOSE_FILE="compose.yml:compose.db.yml"\n'
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32\nGREETING=hi from abra\n"
    )
    assert coop("app", "secret", "generate", domain, "--all").code == 0
    try:
        r = coop("app", "deploy", domain, "--no-input")
        assert r.code == 0, r
        before = running_tasks(stack)
        assert sorted(before) == [f"{stack}_app", f"{stack}_db"]
        abra_deploy(recipe, stack, domain, V1, tmp_path)
        assert running_tasks(stack) == before
    finally:  # undeploy waits for the containers, so the secrets can go
        coop("app", "undeploy", domain, "--no-input")
        coop("app", "remove", domain, "--purge", "--yes", "--no-input")
