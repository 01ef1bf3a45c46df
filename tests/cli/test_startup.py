"""`coop --help` must stay close to bare Python: no heavy module may be imported on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = [
    "rich.console",
    "yaml",
    "ruamel",
    "jsonschema",
    "http.client",
    "ssl",
    "docker",
    "pydantic",
    "starlette",
    "uvicorn",
    "jinja2",
    "coopcloud.web",  # the dashboard's (an optional extra)
]

PROBE = """
import io, json, sys
from coopcloud.cli.main import main
out = io.StringIO()
sys.stdout = out
code = main(sys.argv[1:], stdout=out, stderr=out)
sys.stdout = sys.__stdout__
print(json.dumps({"code": code, "modules": sorted(sys.modules), "help": out.getvalue()}))
"""


def _imported_by(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("server", "--help"),
        ("app", "--help"),
        ("recipe", "--help"),
        ("catalogue", "--help"),
        ("dashboard", "--help"),
        ("--version",),
    ],
)
def test_help_imports_nothing_heavy(argv):
    result = _imported_by(*argv)
    assert result["code"] == 0
    loaded = set(result["modules"])
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"coop {' '.join(argv)} imported {heavy}"
    assert "coop" in result["help"]


FAST_PROBE = """
import io, json, sys
out = io.StringIO()
sys.stdout = out
sys.argv = ["coop", *sys.argv[1:]]
from coopcloud.cli.fast import run
try:
    run()
except SystemExit as exc:
    code = exc.code
sys.stdout = sys.__stdout__
print(json.dumps({"code": code, "click": "click" in sys.modules, "page": out.getvalue()}))
"""


def _fast(tmp_path, *argv):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-c", FAST_PROBE, *argv], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("app", "--help")])
def test_help_page_is_cached_and_served_without_click(tmp_path, argv):
    first = _fast(tmp_path, *argv)
    second = _fast(tmp_path, *argv)
    assert first["code"] == second["code"] == 0
    assert first["click"] is True and second["click"] is False
    assert second["page"] == first["page"] and "Usage: coop" in first["page"]


def test_version_needs_no_click(tmp_path):
    result = _fast(tmp_path, "--version")
    assert result["code"] == 0 and result["page"].startswith("coop ") and result["click"] is False


def test_a_failing_command_is_never_cached(tmp_path):
    assert _fast(tmp_path, "nosuchgroup", "--help")["code"] == 2
    assert not list((tmp_path / "cache").glob("**/*nosuchgroup*"))
