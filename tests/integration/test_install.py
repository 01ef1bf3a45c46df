"""`pipx install` of a clone gives a working `coop` that names the commit it was built from."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from coopcloud import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_pipx_install_of_a_clone(tmp_path):
    if shutil.which("pipx") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pipx is missing: rig/up installs it")
        pytest.skip("pipx is not installed (rig/up installs it)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, check=True, capture_output=True, text=True)
    env = {**os.environ, "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    env.pop("PYTHONPATH", None)  # the installed copy, not this checkout
    subprocess.run(["pipx", "install", str(clone)], env=env, check=True, capture_output=True, timeout=280)
    coop = str(tmp_path / "bin" / "coop")
    version = subprocess.run([coop, "--version"], env=env, check=True, capture_output=True, text=True).stdout
    assert version == f"coop {__version__} (commit {sha.stdout.strip()[:12]})\n"
    page = subprocess.run([coop, "--help"], env=env, check=True, capture_output=True, text=True).stdout
    assert "Usage: coop" in page and "app" in page and "server" in page
