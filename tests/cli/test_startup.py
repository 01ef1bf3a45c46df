"""`coop --help` must stay close to bare Python: no heavy module may be imported on the way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["rich.console", "yaml", "ruamel", "jsonschema", "http.client", "ssl", "docker", "pydantic"]

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
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("server", "--help"), ("app", "--help"), ("recipe", "--help"), ("catalogue", "--help"), ("--version",)],
)
def test_help_imports_nothing_heavy(argv):
    result = _imported_by(*argv)
    assert result["code"] == 0
    loaded = set(result["modules"])
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"coop {' '.join(argv)} imported {heavy}"
    assert "coop" in result["help"]
