"""`app ps --watch` and `app errors --watch` against a deployed app: a block per round without a
terminal, and Ctrl-C ends it cleanly (exit 0, no error line, no traceback)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from live_app import free_port, new_app, web_recipe

pytestmark = pytest.mark.integration


def watch_for(env: dict, *argv: str, seconds: float = 2.5) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "coopcloud", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_ps_and_errors_watch_until_ctrl_c(coop, coop_env, tmp_path, stack_name, local_server):
    app = new_app(coop, tmp_path, stack_name, local_server, web_recipe(free_port()))
    try:
        assert coop("app", "deploy", app, "-n").code == 0
        code, out, err = watch_for(coop_env, "app", "ps", app, "-w", "--interval", "0.4")
        assert code == 0, err
        blocks = [b for b in out.split("\n\n") if b.strip()]
        assert len(blocks) >= 2, out
        assert all(b.startswith("SERVICE") and "\napp " in b for b in blocks), out
        assert "error" not in err and "Traceback" not in err, err

        code, out, err = watch_for(coop_env, "app", "errors", app, "--watch", "--interval", "0.4")
        assert code == 0, err
        assert out.count(f"app {app}: no recent errors") >= 2, out
        assert "Traceback" not in err, err
    finally:
        coop("app", "undeploy", app, "-n")
