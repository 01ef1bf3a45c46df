"""Secret rotation on a real swarm: the next version, the env bumped, redeployed, the old version gone —
a database password included, with the database and its client healthy after it."""

from __future__ import annotations

import json
import subprocess

import pytest

from live_app import container_of, free_port, new_app, one_error_line, secret_names, web_recipe

pytestmark = pytest.mark.integration

REG = "127.0.0.1:5000"


def test_rotating_a_secret_redeploys_and_removes_the_old_version(coop, tmp_path, stack_name, local_server):
    app = new_app(coop, tmp_path, stack_name, local_server, web_recipe(free_port()))
    env_file = tmp_path / "abra" / "servers" / "default" / f"{app}.env"
    assert coop("app", "deploy", app).code == 0
    r = coop("app", "secret", "rotate", app, "api_key")
    assert r.code == 0, r
    assert "api_key rotated v1 -> v2" in r.out
    assert "SECRET_API_KEY_VERSION=v2 # length=24" in env_file.read_text()  # the hint stays
    assert secret_names(app) == [f"{app}_api_key_v2"]
    out = subprocess.run(
        [
            "docker",
            "service",
            "inspect",
            f"{app}_app",
            "--format",
            "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == f"{app}_api_key_v2"
    [event] = [e for e in json.loads(coop("app", "history", app, "--json").out) if e["command"] == "secret rotate"]
    assert event["result"] == "ok" and event["plan"] == ["~ secret api_key: v1 -> v2"]

    r = coop("app", "secret", "rotate", app, "--all", "--show", "--json")
    assert r.code == 0, r
    [doc] = json.loads(r.out)["secrets"]
    assert (doc["from"], doc["to"], len(doc["value"])) == ("v2", "v3", 24)
    assert secret_names(app) == [f"{app}_api_key_v3"]


def test_rotation_of_an_app_that_is_not_deployed_changes_nothing(coop, tmp_path, stack_name, local_server):
    app = new_app(coop, tmp_path, stack_name, local_server, web_recipe(free_port()))
    r = coop("app", "secret", "rotate", app, "api_key")
    assert r.code == 3 and f"coop app deploy {app}" in one_error_line(r.err)
    assert secret_names(app) == [f"{app}_api_key_v1"]


# The database keeps its password in its data (set once, by initdb): this recipe applies the secret at
# every start, as a recipe must for its password to be rotatable.
APPLY_PASSWORD = """\
#!/bin/sh
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ -s "$PGDATA/PG_VERSION" ]; then
  printf "ALTER USER postgres PASSWORD '%s';\\n" "$(cat "$POSTGRES_PASSWORD_FILE")" |
    setpriv --reuid=postgres --regid=postgres --init-groups postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec /entrypoint.sh
"""


def db_recipe() -> dict[str, str]:
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/postgres:15
    entrypoint: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    secrets: [db_password]
    networks: [internal]
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=\\"$$(cat /run/secrets/db_password)\\" psql -h db -U postgres -tAc 'select 1'"]
      interval: 1s
      timeout: 3s
      retries: 3
      start_period: 30s
    stop_grace_period: 1s
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+15"
        - "coop-cloud.${{STACK_NAME}}.timeout=120"
  db:
    image: {REG}/coop-test/postgres:15
    entrypoint: ["/bin/sh", "/apply-password.sh"]
    environment:
      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password
    secrets: [db_password]
    configs:
      - source: apply_password
        target: /apply-password.sh
    volumes: [data:/var/lib/postgresql/data]
    networks: [internal]
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U postgres"]
      interval: 1s
      timeout: 3s
      retries: 5
      start_period: 30s
    stop_grace_period: 5s
    deploy:
      endpoint_mode: dnsrr
networks:
  internal:
volumes:
  data:
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
configs:
  apply_password:
    name: ${{STACK_NAME}}_apply_password_${{APPLY_PASSWORD_VERSION}}
    file: apply-password.sh
""",
        ".env.sample": "TYPE=pgapp\nDOMAIN=pgapp.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=32\n",
        "abra.sh": "export APPLY_PASSWORD_VERSION=v1\n",
        "apply-password.sh": APPLY_PASSWORD,
        "README.md": "# pgapp\n",
    }


def psql_as_client(stack: str) -> str:
    """Run a query from the app's container with the password it has now."""
    proc = subprocess.run(
        [
            "docker",
            "exec",
            container_of(stack, "app"),
            "sh",
            "-c",
            "PGPASSWORD=\"$(cat /run/secrets/db_password)\" psql -h db -U postgres -tAc 'select 42'",
        ],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() or proc.stderr.strip()


def test_rotating_a_database_password_leaves_the_app_healthy(coop, tmp_path, stack_name, local_server):
    import urllib.request

    try:
        urllib.request.urlopen(f"http://{REG}/v2/coop-test/postgres/manifests/15", timeout=5).close()
    except OSError:
        from conftest import require_rig

        require_rig("the PostgreSQL image coop-test/postgres:15 (built by rig/up)")
    app = new_app(coop, tmp_path, stack_name, local_server, db_recipe(), tags=(("1.0.0+15", {}),))
    r = coop("app", "deploy", app)
    assert r.code == 0, r
    assert psql_as_client(app) == "42"

    r = coop("app", "secret", "rotate", app, "db_password")
    assert r.code == 0, r
    assert secret_names(app) == [f"{app}_db_password_v2"]
    assert psql_as_client(app) == "42"  # the client's new password is the database's
    r = coop("app", "ps", app, "--json")
    assert r.code == 0 and "unhealthy" not in r.out, r
    r = coop("app", "diff", app)
    assert r.code == 0, r


def test_a_rotation_the_app_does_not_survive_is_rolled_back_and_the_old_version_kept(
    coop, tmp_path, stack_name, local_server
):
    from recipe_factory import make_recipe_repo

    # Healthy only while the secret holds the value the env expects: a new value breaks it.
    files = web_recipe(free_port(), healthcheck='grep -qx \\"$$GREETING\\" /run/secrets/api_key')
    repo = make_recipe_repo(tmp_path / "recipe", files, [("1.0.0+1.0.0", {})])
    r = coop(
        "app", "new", str(repo), "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name
    )
    assert r.code == 0, r
    app, env_file = stack_name, tmp_path / "abra" / "servers" / "default" / f"{stack_name}.env"
    env_file.write_text(env_file.read_text().replace("GREETING=hello", "GREETING=known-value"))
    assert coop("app", "secret", "insert", app, "api_key", "v1", "known-value").code == 0
    r = coop("app", "deploy", app)
    assert r.code == 0, r
    before = env_file.read_text()

    r = coop("app", "secret", "rotate", app, "api_key", "--no-input")
    assert r.code == 8, r
    assert env_file.read_text() == before  # back on v1
    assert secret_names(app) == [f"{app}_api_key_v1"]  # the new version is gone, the old one kept
    assert "known-value" not in r.out + r.err
    [event] = [e for e in json.loads(coop("app", "history", app, "--json").out) if e["command"] == "secret rotate"]
    assert event["result"] == "rolled back"
    assert coop("app", "diff", app).code == 0  # the app runs v1, as its env says
