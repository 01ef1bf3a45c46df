"""What the live tests (tests/integration/) share to set an app up on the rig and look at it.

One home for the test web recipe, `new_app`, the quick healthcheck every test service uses (a
slow one would cost the 15-minute suite seconds per deploy), and the `docker` look-ups the tests
check coop against. The `local_server` fixture is in tests/conftest.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

from recipe_factory import make_recipe_repo

REG = "127.0.0.1:5000"
WEB_ALIVE = "echo | nc -w 1 127.0.0.1 8080"  # the coop-test/web image answers on 8080


def quick_health(test: str = WEB_ALIVE, *, retries: int = 2) -> str:
    """A service's healthcheck and stop grace, short so a deploy converges in seconds (compose YAML,
    indented for a service's keys)."""
    return f"""\
    healthcheck:
      test: ["CMD-SHELL", "{test}"]
      interval: 1s
      timeout: 1s
      retries: {retries}
      start_period: 1s
    # busybox httpd as PID 1 ignores SIGTERM: do not wait the default 10 s for it.
    stop_grace_period: 1s
"""


# Under a service's `deploy:`: a failed task restarts after 1 s, and an update is watched 1 s
# (coop's stability window after convergence; docker's default is 5 s).
QUICK_UPDATES = """\
      restart_policy:
        delay: 1s
      update_config:
        monitor: 1s
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_recipe(
    port: int, *, image_tag: str = "1.0.0", healthcheck: str = WEB_ALIVE, command: str | None = None
) -> dict[str, str]:
    """The web app most tests deploy: a port, the proxy and an internal network, a secret, a config."""
    cmd = f"\n    command: {json.dumps(command)}" if command else ""
    return {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {REG}/coop-test/web:{image_tag}{cmd}
    environment:
      - GREETING=${{GREETING:-hello}}
    ports:
      - target: 8080
        published: {port}
        mode: host
    networks: [proxy, internal]
    secrets: [api_key]
    configs:
      - source: motd
        target: /www/motd.txt
{quick_health(healthcheck)}\
    deploy:
{QUICK_UPDATES}\
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+{image_tag}"
        - "coop-cloud.${{STACK_NAME}}.timeout=${{TIMEOUT:-60}}"
networks:
  proxy:
    external: true
  internal:
secrets:
  api_key:
    external: true
    name: ${{STACK_NAME}}_api_key_${{SECRET_API_KEY_VERSION}}
configs:
  motd:
    name: ${{STACK_NAME}}_motd_${{MOTD_VERSION}}
    file: motd.txt
""",
        ".env.sample": "TYPE=webapp\nDOMAIN=webapp.example.com\nGREETING=hello\nSECRET_API_KEY_VERSION=v1 # length=24\n",
        "abra.sh": "export MOTD_VERSION=v1\n",
        "motd.txt": "message of the day\n",
        "README.md": "# webapp\n",
    }


def new_app(coop, tmp_path, stack: str, server: str, files: dict, *, tags=(("1.0.0+1.0.0", {}),)) -> str:
    """A recipe repo of `files` released as `tags`, and `coop app new` of it (secrets generated)."""
    repo = make_recipe_repo(tmp_path / f"recipe-{stack}", files, list(tags))
    r = coop(
        "app", "new", str(repo), "--server", server, "--domain", f"{stack}.example.org", "--name", stack, "--secrets"
    )
    assert r.code == 0, r
    return stack


def deploy_at_once(coop, apps) -> dict:
    """`coop app deploy` of each app, all at the same time (one thread each): app -> result."""
    import threading

    results = {}

    def run(app):
        results[app] = coop("app", "deploy", app)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def one_error_line(err: str) -> str:
    """The one `error:` line a failed command prints (never a traceback)."""
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def get(port: int, path: str = "/index.html") -> str:
    deadline = time.time() + 15
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def secret_names(stack: str) -> list[str]:
    out = subprocess.run(["docker", "secret", "ls", "--format", "{{.Name}}"], capture_output=True, text=True).stdout
    return sorted(n for n in out.split() if n.startswith(stack + "_"))


def container_of(stack: str, service: str) -> str:
    """A running container of the stack's service, as docker sees it."""
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_{service}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out, f"no running container of {stack}_{service}"
    return out[0]


def live_spec(stack: str, service: str = "app") -> dict:
    """The service's spec as `docker service inspect` shows it."""
    out = subprocess.run(
        ["docker", "service", "inspect", f"{stack}_{service}"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return json.loads(out)[0]["Spec"]


def with_db(compose: str, db: str) -> str:
    """The web recipe's compose with a second service, `db` (a long sleep standing in for a database, at
    image tag `db`), on the internal network."""
    return compose.replace(
        "networks:\n  proxy:",
        f"  db:\n    image: {REG}/coop-test/db:{db}\n    stop_grace_period: 1s\n    networks: [internal]\n"
        "    deploy:\n      update_config:\n        monitor: 1s\n"
        "networks:\n  proxy:",
        1,
    )


def image_tag(stack: str, service: str) -> str:
    """The image tag the stack's service is specified with, as `docker service inspect` shows it."""
    out = subprocess.run(
        [
            "docker",
            "service",
            "inspect",
            f"{stack}_{service}",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().split("@")[0].rsplit(":", 1)[1]
