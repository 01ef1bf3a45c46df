"""`coop autoupdate` on the real swarm: a recipe with a good minor release and a failing major one, two
apps of it (one opted in), a webhook listening on 127.0.0.1.

dry run (nothing changes) -> real run (only the opted-in app moves; env pinned, history
"autoupdate", the webhook hears) -> --major (the failing release is rolled back whole, exit 8,
the webhook hears) -> a run with nothing new (exit 0, restarts nothing, no message) -> a new minor
release that a lock, then drift, hold back -> unlocked and clean, it is taken.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from backup_app import backup_env, backup_images, files_app, local_server, own_repository  # noqa: F401
from conftest import CoopResult, remove_stack
from live_app import container_of, free_port, get, live_spec, one_error_line, web_recipe
from recipe_factory import commit, make_recipe_repo, tag

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"


class Webhook:
    """A tiny HTTP server on 127.0.0.1 that keeps each POST (content type, JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, object]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.received.append((self.headers.get("Content-Type", ""), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def compose(image_tag: str, *, healthcheck: str = "echo | nc -w 1 127.0.0.1 8080") -> str:
    # the web app of the other live tests, its port from the env so two apps of the recipe can run
    port = 1
    text = web_recipe(port, image_tag=image_tag, healthcheck=healthcheck)["compose.yml"]
    return text.replace(f"published: {port}\n", "published: ${PORT}\n")


def recipe(path: Path) -> Path:
    files = web_recipe(1)
    files["compose.yml"] = compose("1.0.0")
    return make_recipe_repo(
        path,
        files,
        [
            ("1.0.0+1.0.0", {}),
            ("1.1.0+1.1.0", {"compose.yml": compose("1.1.0")}),  # the good minor release
            ("2.0.0+2.0.0", {"compose.yml": compose("2.0.0", healthcheck="exit 1")}),  # never healthy
        ],
    )


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def at_a_terminal(coop_env: dict, *argv: str, answers: str) -> CoopResult:
    from coopcloud.cli.main import main

    out, err = _TTY(), io.StringIO()
    code = main(list(argv), environ=coop_env, stdout=out, stderr=err, stdin=_TTY(answers))
    return CoopResult(int(code), out.getvalue(), err.getvalue())


def serves(port: int) -> str:
    """The image tag the app answers with (the test web image serves its name and tag)."""
    return get(port).strip().rsplit(":", 1)[-1]


def env_file(coop_env: dict, app: str) -> Path:
    return Path(coop_env["ABRA_DIR"]) / "servers" / "default" / f"{app}.env"


def pinned(coop_env: dict, app: str) -> str:
    [line] = [l for l in env_file(coop_env, app).read_text().splitlines() if l.startswith("TYPE=")]
    return line.split(":", 1)[1]


def version_label(app: str) -> str:
    return live_spec(app)["Labels"][f"coop-cloud.{app}.version"]


def history(coop, app: str) -> list[dict]:
    r = coop("app", "history", app, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def rows(r, *apps: str, server: str = "default") -> dict[str, dict]:
    found = {row["app"]: row for row in json.loads(r.out) if row["server"] == server}
    return {app: found[app] for app in apps}


def service_state(app: str) -> tuple:
    """What a restart would change: the service's spec version and its running tasks."""
    out = subprocess.run(
        ["docker", "service", "ps", "-q", "--filter", "desired-state=running", f"{app}_app"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    inspect = json.loads(
        subprocess.run(
            ["docker", "service", "inspect", f"{app}_app"], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    return inspect["Version"]["Index"], sorted(out)


@pytest.fixture
def two_apps(coop, coop_env, tmp_path, stack_name, local_server):
    """Two apps of the recipe deployed at 1.0.0: `on` opted in to auto-updates, `off` not."""
    repo = recipe(tmp_path / "webau")
    on, off = stack_name, f"{stack_name}_off"
    ports = {}
    try:
        for app, auto in ((on, "true"), (off, "false")):
            domain = f"{app}.example.org"
            r = coop("app", "new", str(repo), "--server", "default", "--domain", domain, "--name", app, "--secrets")
            assert r.code == 0, r
            ports[app] = free_port()
            with env_file(coop_env, app).open("a") as f:
                f.write(f"PORT={ports[app]}\nENABLE_AUTO_UPDATE={auto}\n")
            r = coop("app", "deploy", app, "1.0.0+1.0.0", "--no-input")
            assert r.code == 0, r
        yield repo, on, off, ports
    finally:
        remove_stack(off)


def test_autoupdate_upgrades_only_the_opted_in_app_and_rolls_back_a_failing_major(coop, coop_env, two_apps, webhook):
    repo, on, off, ports = two_apps
    events = len(history(coop, on))

    # A second server, the same engine over ssh: its stacks are the same, its env files none.
    assert coop("server", "add", "coop-test").code == 0

    # 1. --dry-run --json: the minor upgrade for `on`, `off` skipped; nothing changes, no lock, no history.
    r = coop("autoupdate", "--dry-run", "--json", "--notify-url", webhook.url)
    assert r.code == 0, r
    elsewhere = rows(r, on, server="coop-test")[on]
    assert elsewhere["result"] == "skipped" and elsewhere["reason"].startswith("env file missing: no coop-test/"), r
    found = rows(r, on, off)
    assert found[on] == {
        "app": on,
        "server": "default",
        "recipe": "webau",
        "version_from": "1.0.0+1.0.0",
        "version_to": "1.1.0+1.1.0",
        "result": "would upgrade",
        "reason": None,
        "major_available": "2.0.0+2.0.0",
    }
    assert found[off]["result"] == "skipped" and "auto-update is off" in found[off]["reason"]
    jsonschema.validate(json.loads(r.out), json.loads((SCHEMAS / "autoupdate.json").read_text()))
    # at a terminal the upgrades are listed and asked for: N is cancelled, exit 14
    r = at_a_terminal(coop_env, "autoupdate", "--app", on, "--app", off, answers="n\n")
    assert r.code == 14, r
    assert f"autoupdate: upgrade 1 app: {on} (1.0.0+1.0.0 -> 1.1.0+1.1.0)? [y/N]" in r.err
    assert version_label(on) == version_label(off) == "1.0.0+1.0.0"
    assert pinned(coop_env, on) == "1.0.0+1.0.0" and len(history(coop, on)) == events
    assert webhook.received == []  # nothing was upgraded, rolled back or failed

    # 2. A real run: only `on` moves, to the minor release; env pinned, history "autoupdate", webhook told.
    r = coop("autoupdate", "--notify-url", webhook.url)
    assert r.code == 0, r
    assert serves(ports[on]) == "1.1.0" and serves(ports[off]) == "1.0.0"
    assert version_label(on) == "1.1.0+1.1.0" and version_label(off) == "1.0.0+1.0.0"
    assert pinned(coop_env, on) == "1.1.0+1.1.0" and pinned(coop_env, off) == "1.0.0+1.0.0"
    last = history(coop, on)[-1]
    assert (last["command"], last["result"], last["version_from"], last["version_to"]) == (
        "autoupdate",
        "ok",
        "1.0.0+1.0.0",
        "1.1.0+1.1.0",
    )
    line = next(l for l in r.out.splitlines() if l.startswith(on + " ") and " default " in l)
    assert line.split()[1:] == ["default", "1.0.0+1.0.0", "1.1.0+1.1.0", "upgraded"]
    [(ctype, report)] = webhook.received
    assert ctype == "application/json"
    mine = {row["app"]: row for row in report if row["server"] == "default"}
    assert mine[on]["result"] == "upgraded" and mine[off]["result"] == "skipped"
    assert "secret-token" not in r.err + r.out

    # 3. --major takes the failing 2.0.0: the whole app is rolled back, exit 8, still serving 1.1.0.
    r = coop("autoupdate", "--major", "--app", on, "--notify-url", webhook.url)
    assert r.code == 8, r
    assert f"app {on} on default: rolled back" in one_error_line(r.err)
    assert serves(ports[on]) == "1.1.0" and version_label(on) == "1.1.0+1.1.0"
    assert pinned(coop_env, on) == "1.1.0+1.1.0"
    last = history(coop, on)[-1]
    assert (last["command"], last["result"], last["version_to"]) == ("autoupdate", "rolled back", "2.0.0+2.0.0")
    assert len(webhook.received) == 2
    [row] = webhook.received[1][1]
    assert (row["app"], row["version_from"], row["version_to"], row["result"]) == (
        on,
        "1.1.0+1.1.0",
        "2.0.0+2.0.0",
        "rolled back",
    )

    # 4. Nothing new within the major: exit 0, nothing restarted, no message.
    before = service_state(on)
    r = coop("autoupdate", "--json", "--app", on, "--app", off, "--notify-url", webhook.url)
    assert r.code == 0, r
    found = rows(r, on, off)
    assert (found[on]["result"], found[on]["major_available"]) == ("major available", "2.0.0+2.0.0")
    assert service_state(on) == before and len(webhook.received) == 2

    # 5. A new minor release, held back by a lock (another run's: skipped, not waited for), then by drift.
    commit(repo, {"compose.yml": compose("1.0.0")}, "1.2.0")
    tag(repo, "1.2.0+1.0.0")
    _locked_then_drifted(coop, coop_env, on, before)

    # 6. Unlocked and clean again: taken. A webhook that does not answer is a warning, never a failure.
    dead = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    r = coop("autoupdate", "--app", on, "--notify-url", dead)
    assert r.code == 0, r
    assert "warning: the report was not sent: the webhook at http://127.0.0.1:" in r.err
    assert "secret-token" not in r.err + r.out
    assert version_label(on) == "1.2.0+1.0.0" and serves(ports[on]) == "1.0.0"


def _locked_then_drifted(coop, coop_env, app: str, before: tuple) -> None:
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.ops.trail import lock
    from coopcloud.settings import Settings

    pool = ServerPool(Settings.from_environ(coop_env))
    try:
        held = lock.acquire(
            pool.client("default"), app=app, stack=app, command="autoupdate", operator="cron@always-on.example.org"
        )
        try:
            r = coop("autoupdate", "--json", "--app", app)
            assert r.code == 0, r
            [row] = json.loads(r.out)
            assert row["result"] == "skipped", row
            assert row["reason"].startswith("locked by cron@always-on.example.org: autoupdate")
        finally:
            held.release()
    finally:
        pool.close()
    assert service_state(app) == before

    env = env_file(coop_env, app)
    clean = env.read_text()
    env.write_text(clean + "GREETING=edited by hand\n")
    r = coop("autoupdate", "--app", app)
    assert r.code == 0, r
    assert f"{app}  default  1.1.0+1.1.0  -   skipped: drifted from 1.1.0+1.1.0" in r.out
    r = coop("autoupdate", "--app", app, "--json")
    assert json.loads(r.out)[0]["reason"] == f"drifted from 1.1.0+1.1.0 (see: coop app diff {app})"
    env.write_text(clean.replace("TYPE=webau:1.1.0+1.1.0", "TYPE=webau:1.0.0+1.0.0"))
    r = coop("autoupdate", "--app", app, "--json")
    assert json.loads(r.out)[0]["reason"] == "drifted: the env pins 1.0.0+1.0.0, the server runs 1.1.0+1.1.0"
    env.write_text(clean)
    assert service_state(app) == before and version_label(app) == "1.1.0+1.1.0"


def test_an_app_whose_snapshot_fails_is_not_upgraded(coop, coop_env, tmp_path, stack_name, local_server):
    """The pre-upgrade snapshot comes first: a failing one leaves the app as it was (exit 1); once it
    works, the upgrade goes on and the snapshot is there, why=pre-upgrade."""
    app = stack_name
    files = files_app("filesau", "backupbot.backup.pre-hook=test -f /data/ready")
    newer = files["compose.yml"].replace("web:1.0.0", "web:1.1.0")
    repo = make_recipe_repo(tmp_path / "filesau", files, [("1.0.0+1.0.0", {}), ("1.1.0+1.1.0", {"compose.yml": newer})])
    r = coop("app", "new", str(repo), "--server", "default", "--domain", f"{app}.example.org", "--name", app)
    assert r.code == 0, r
    with env_file(coop_env, app).open("a") as f:
        f.write("ENABLE_AUTO_UPDATE=true\n")
    assert coop("app", "deploy", app, "1.0.0+1.0.0", "--no-input").code == 0

    r = coop("autoupdate", "--app", app, "--json")
    assert r.code == 1, r
    [row] = json.loads(r.out)
    assert row["result"] == "failed" and row["reason"].startswith("not upgraded: "), row
    assert version_label(app) == "1.0.0+1.0.0" and pinned(coop_env, app) == "1.0.0+1.0.0"
    assert history(coop, app)[-1]["command"] == "autoupdate"

    subprocess.run(["docker", "exec", container_of(app, "app"), "touch", "/data/ready"], check=True)
    r = coop("autoupdate", "--app", app)
    assert r.code == 0, r
    assert version_label(app) == "1.1.0+1.1.0" and pinned(coop_env, app) == "1.1.0+1.1.0"
    snapshots = json.loads(coop("app", "backup", "ls", app, "--json").out)
    assert [(s["why"], s["version"]) for s in snapshots] == [("pre-upgrade", "1.0.0+1.0.0")], snapshots
