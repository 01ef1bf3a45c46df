"""`coop dashboard` in a real browser: Playwright drives Debian's chromium-headless-shell (installed by rig/up)
against the real command, serving an ABRA_DIR with an app deployed on the rig's engine.

Screenshots of each page are saved under the test's output (printed), and under $COOP_DASHBOARD_SHOTS
when set (docs/dashboard/ holds a set made that way).
"""

from __future__ import annotations

import http.client
import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from backup_app import RESTIC_IMAGE, files_app
from conftest import RIG_SSH_CONFIG, CoopResult, remove_stack, require_rig
from live_app import new_app

pytestmark = pytest.mark.integration

BROWSER = "/usr/bin/chromium-headless-shell"
TOKEN = "test-token-" + uuid.uuid4().hex
ENV_SECRET = "hunter2-" + uuid.uuid4().hex  # a secret-looking env value: never on a page


class Coop:
    """`coop` in-process with this module's own state (the function-scoped `coop` fixture cannot serve a module)."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *argv: str):
        from coopcloud.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), environ=self.env, stdout=out, stderr=err, stdin=io.StringIO())
        return CoopResult(int(code), out.getvalue(), err.getvalue())


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """`coop dashboard --port 0 --no-open ARGS` in its own process; returns it and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coopcloud", "dashboard", "--port", "0", "--no-open", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line


@pytest.fixture(scope="module")
def site(tmp_path_factory, local_engine_socket, registry):
    if not Path(BROWSER).exists():
        require_rig(f"{BROWSER} (Debian's chromium-headless-shell)")
    tmp = tmp_path_factory.mktemp("dashboard")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABRA_", "DOCKER_", "COOP_"))}
    env.update(ABRA_DIR=str(tmp / "abra"), DOCKER_CONFIG=str(tmp / "docker"), COOP_DASHBOARD_TOKEN=TOKEN)
    if RIG_SSH_CONFIG.is_file():
        env["COOP_SSH_CONFIG"] = str(RIG_SSH_CONFIG)
    env["COOP_RESTIC_IMAGE"] = RESTIC_IMAGE
    repository = f"coop-test-backups-{uuid.uuid4().hex[:8]}"  # this module's own (the server's is shared)
    env["COOP_BACKUP_REPOSITORY"] = f"volume:{repository}"
    coop = Coop(env)
    assert coop("server", "add", "--local").code == 0
    app = f"tdash_{uuid.uuid4().hex[:6]}"
    try:
        new_app(coop, tmp, app, "default", files_app("files", "backupbot.backup.pre-hook=echo hello > /data/hello.txt"))
        env_file = tmp / "abra" / "servers" / "default" / f"{app}.env"
        env_file.write_text(env_file.read_text() + f"SMTP_PASSWORD={ENV_SECRET}\nENABLE_AUTO_UPDATE=true\n")
        r = coop("app", "deploy", app, "--no-input")
        assert r.code == 0, r
        r = coop("app", "backup", "create", app, "--no-input")
        assert r.code == 0, r
        clone = tmp / "abra" / "recipes" / f"recipe-{app}"  # a newer release: an upgrade is available
        subprocess.run(["git", "-C", str(clone), "tag", "-a", "-m", "1.1.0", "1.1.0+1.0.0"], check=True)
        # A server that does not answer (nothing listens on port 1): shown unreachable, the rest still shown.
        from coopcloud.ops.server.servers import write_context
        from coopcloud.settings import Settings

        write_context(Settings.from_environ(env), "ghost", "ssh://root@127.0.0.1:1")
        (tmp / "abra" / "servers" / "ghost").mkdir()
        (tmp / "abra" / "servers" / "ghost" / "ghost.example.org.env").write_text(
            "TYPE=webapp:1.0.0+1.0.0\nDOMAIN=ghost.example.org\n"
        )
        proc, url = _start(env)
        try:
            yield {"url": url, "app": app, "coop": coop, "env": env, "shots": tmp / "screenshots"}
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        remove_stack(app)
        for _ in range(40):  # the last restic job's container may hold it a moment longer
            if subprocess.run(["docker", "volume", "rm", "-f", repository], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield b
        b.close()


def _shoot(page, site, name: str) -> None:
    site["shots"].mkdir(exist_ok=True)
    path = site["shots"] / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    if os.environ.get("COOP_DASHBOARD_SHOTS"):
        Path(os.environ["COOP_DASHBOARD_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["COOP_DASHBOARD_SHOTS"]) / path.name)


def _watched_page(browser, origin: str):
    """A page that records every request it makes and every console error (a CSP violation is one)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.seen = []  # type: ignore[attr-defined]
    page.problems = []  # type: ignore[attr-defined]
    page.on("request", lambda req: page.seen.append(req.url))  # type: ignore[attr-defined]
    page.on("console", lambda msg: msg.type == "error" and _problem(msg.text) and page.problems.append(msg.text))  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))  # type: ignore[attr-defined]
    return page


def _problem(text: str) -> bool:
    # Other tests add and remove Docker networks meanwhile: Chromium may then drop a request in flight
    # (net::ERR_NETWORK_CHANGED) and htmx asks again at the next refresh. That is the machine, not the page.
    return "ERR_NETWORK_CHANGED" not in text


def _goto(page, url: str) -> None:
    """page.goto, once more if Chromium dropped it for a network change (see _problem)."""
    for attempt in (1, 2, 3):
        try:
            page.goto(url)
            return
        except Exception as exc:  # Chromium shows its error page for a dropped load: chrome-error://
            if attempt == 3 or not ("ERR_NETWORK_CHANGED" in str(exc) or "chrome-error://" in str(exc)):
                raise
            page.wait_for_timeout(500)


def _cookie_name(url: str) -> str:
    return f"coop_dashboard_{_origin(url).rsplit(':', 1)[1]}"


def _origin(url: str) -> str:
    return url.split("/?", 1)[0]


def test_the_overview_shows_the_app_and_its_page_shows_services_and_history(site, browser):
    app, origin = site["app"], _origin(site["url"])
    page = _watched_page(browser, origin)
    _goto(page, site["url"])
    assert page.url == origin + "/"  # the token was traded for a cookie and left the address bar
    row = page.locator(f'tr[data-app="{app}"]')
    assert "converged" in row.inner_text()
    assert "1.0.0+1.0.0" in row.inner_text()
    assert row.locator("td").nth(5).inner_text() == "1.1.0+1.0.0"  # upgrade
    assert row.locator("td").nth(6).inner_text() == "yes"  # auto-update
    assert time.strftime("%Y-%m-%d", time.gmtime()) in row.locator("td").last.inner_text()  # the last backup
    server = page.locator('tr[data-server="default"]')
    assert "yes" in server.inner_text() and "1/1" in server.inner_text()
    assert "no" in page.locator('tr[data-server="ghost"]').inner_text()
    assert "unreachable" in page.locator('tr[data-app="ghost.example.org"]').inner_text()
    page.wait_for_timeout(300)  # htmx is loaded and has processed the page
    _shoot(page, site, "overview")

    row.get_by_role("link", name=app).click()
    page.wait_for_url(f"{origin}/app/{app}")
    services = page.locator('tr[data-service="app"]')
    assert "127.0.0.1:5000/coop-test/web:1.0.0" in services.inner_text()
    assert "1/1" in services.inner_text()
    history = page.locator("table.history").inner_text()
    assert "deploy" in history and "ok" in history
    env = page.locator("table.env").inner_text()
    assert "SMTP_PASSWORD" in env and "(hidden)" in env
    page.locator("table.snapshots").wait_for(timeout=60_000)  # the lazily loaded `backup ls`
    snapshots = page.locator("table.snapshots tbody tr")
    assert snapshots.count() == 1 and "manual" in snapshots.inner_text() and "app" in snapshots.inner_text()
    page.locator("table.drift, p:has-text('no drift')").first.wait_for(timeout=60_000)
    assert "no drift" in page.content()
    assert ENV_SECRET not in page.content()
    _shoot(page, site, "app")

    page.get_by_role("link", name="default").first.click()
    page.wait_for_url(f"{origin}/server/default")
    assert page.locator("table.nodes").inner_text().count("ready") == 1
    assert app in page.locator("table.apps").inner_text()
    assert "deploy" in page.locator("table.history").inner_text()
    _shoot(page, site, "server")

    foreign = [u for u in page.seen if not u.startswith(origin + "/")]  # type: ignore[attr-defined]
    assert foreign == [], f"requests to another origin: {foreign}"
    assert any(u.endswith("/static/htmx.min.js") for u in page.seen)  # type: ignore[attr-defined]
    assert page.problems == [], page.problems  # type: ignore[attr-defined]
    page.close()


def test_pages_work_without_javascript(site, browser):
    app, origin = site["app"], _origin(site["url"])
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _goto(page, site["url"])
    assert "converged" in page.locator(f'tr[data-app="{app}"]').inner_text()
    page.get_by_role("link", name=app).click()
    page.wait_for_url(f"{origin}/app/{app}")
    assert "1/1" in page.locator('tr[data-service="app"]').inner_text()
    assert "deploy" in page.locator("table.history").inner_text()
    page.get_by_role("link", name="list the snapshots").click()  # without htmx, a plain link to the fragment's page
    page.wait_for_url(f"{origin}/app/{app}/snapshots")
    assert "manual" in page.locator("table.snapshots").inner_text()
    context.close()


def _request(url: str, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None):
    host_port = _origin(url).removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return resp, body


def test_token_host_and_method_refusals(site):
    url, name = site["url"], _cookie_name(site["url"])
    cookie = {"Cookie": f"{name}={TOKEN}"}
    assert _request(url)[0].status == 401
    assert _request(url, path="/?token=wrong")[0].status == 401
    assert _request(url, path="/static/htmx.min.js")[0].status == 401
    assert _request(url, headers={"Cookie": f"{name}=wrong"})[0].status == 401
    assert _request(url, headers={"Cookie": f"coop_dashboard_1={TOKEN}"})[0].status == 401  # another port's

    resp, _ = _request(url, path=f"/?token={TOKEN}")
    assert resp.status == 303 and resp.getheader("Location") == "/"
    set_cookie = resp.getheader("Set-Cookie")
    assert f"{name}={TOKEN}" in set_cookie and "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie

    resp, body = _request(url, headers=cookie)
    assert resp.status == 200 and site["app"] in body
    csp = resp.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert ENV_SECRET not in body and ENV_SECRET not in _request(url, path=f"/app/{site['app']}", headers=cookie)[1]

    port = _origin(url).rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}"):
        resp, _ = _request(url, headers={**cookie, "Host": host})
        assert resp.status == 403, host
    assert _request(url, headers={**cookie, "Host": f"localhost:{port}"})[0].status == 200

    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        resp, _ = _request(url, method=method, path=f"/app/{site['app']}", headers=cookie)
        assert resp.status == 405, method
        assert resp.getheader("Allow") == "GET"


def test_a_non_loopback_bind_warns(site):
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True).stdout.split()
    if "inet" not in out:
        pytest.skip("no non-loopback address (docker0) to bind to")
    address = out[out.index("inet") + 1].split("/")[0]
    proc, url = _start(site["env"], "--bind", address)
    try:
        assert url.startswith(f"http://{address}:")
        assert _request(url, headers={"Cookie": f"{_cookie_name(url)}={TOKEN}"})[0].status == 200
    finally:
        proc.terminate()
        proc.wait(10)
    assert "not loopback" in proc.stderr.read()


def test_a_lock_held_elsewhere_shows_its_holder_and_goes(site, browser):
    from coopcloud.engine import connect
    from coopcloud.ops.trail import lock

    app, origin = site["app"], _origin(site["url"])
    page = _watched_page(browser, origin)
    _goto(page, site["url"])
    row = page.locator(f'tr[data-app="{app}"]')
    assert "alice@example.org" not in row.inner_text()
    with connect("unix:///var/run/docker.sock") as engine:
        with lock.hold(engine, app=app, stack=app, command="upgrade", operator="alice@example.org"):
            page.locator(f'tr[data-app="{app}"] td:has-text("alice@example.org: upgrade")').wait_for(timeout=10_000)
        page.locator(f'tr[data-app="{app}"] td:has-text("alice@example.org")').wait_for(
            state="detached", timeout=10_000
        )
    assert page.problems == []  # type: ignore[attr-defined]


def test_an_undeploy_from_the_cli_shows_on_the_open_pages(site, browser):
    """Runs last: it takes the app down."""
    app, origin = site["app"], _origin(site["url"])
    overview, app_page = _watched_page(browser, origin), _watched_page(browser, origin)
    _goto(overview, site["url"])
    _goto(app_page, f"{origin}/app/{app}?token={TOKEN}")  # a page of its own: its own cookie jar
    assert app_page.url == f"{origin}/app/{app}"
    assert "converged" in overview.locator(f'tr[data-app="{app}"]').inner_text()
    for page in (overview, app_page):
        page.evaluate("window.stillTheSamePage = true")  # gone if the page were reloaded
    started = time.monotonic()
    r = site["coop"]("app", "undeploy", app, "--no-input")
    assert r.code == 0, r
    # Within 10 s of the command's end (a refresh during the undeploy may show half of it first).
    overview.locator(f'tr[data-app="{app}"] .st:text("undeployed")').wait_for(timeout=10_000)
    app_page.locator('table.services:has-text("not deployed")').wait_for(timeout=10_000)
    app_page.locator('table.history td:text-is("undeploy")').wait_for(timeout=10_000)
    print(f"undeploy seen after {time.monotonic() - started:.1f} s")
    for page in (overview, app_page):
        assert page.evaluate("window.stillTheSamePage") is True
        assert page.problems == []  # type: ignore[attr-defined]
    _shoot(overview, site, "overview-undeployed")
