"""A compose file just under the 8 MiB a recipe file may hold renders in bounded time and memory
(issue 18, item 6: it took 92 s and 1.8 GB). Two shapes, each ~8 MiB: many services with interpolated
env and labels (the most work per byte for the loader, interpolation, validation and the converter),
and one service with a million tiny list items (the most YAML nodes per byte).

Each render runs in a fresh interpreter that reports its own CPU time and peak RSS: CPU time, not
the clock, so a loaded 2-core machine does not fail it; the clock only has a generous ceiling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from coopcloud.domain.recipe import MAX_RECIPE_FILE

MAX_CPU_SECONDS = 10.0
MAX_RSS_MB = 500
MAX_WALL_SECONDS = 90.0

_RENDER = """
import json, resource, sys, time
from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import load
from coopcloud.sources import recipe_from_dir
from coopcloud.swarm.render import render
start = time.process_time()
r = render(recipe_from_dir(sys.argv[1]), AppRef("default", "big.example.org"), load(sys.argv[1] + "/.env.sample"))
print(json.dumps({
    "services": len(r.spec.services),
    "cpu": time.process_time() - start,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def many_services(limit: int) -> str:
    lines, size, i = ['version: "3.8"', "services:"], 0, 0
    while True:
        block = [
            f"  s{i}:",
            f"    image: nginx:1.{i % 30}",
            "    environment:",
            *[f"      - VAR_{j}=${{DOMAIN}}-{j}" for j in range(5)],
            "    deploy:",
            "      labels:",
            f'        - "traefik.http.routers.s{i}.rule=Host(`${{DOMAIN}}`)"',
            "    networks: [internal]",
        ]
        grown = sum(len(line) + 1 for line in block)
        if size + grown > limit:
            break
        lines += block
        size += grown
        i += 1
    return "\n".join([*lines, "networks:", "  internal:", ""])


def many_items(limit: int) -> str:
    head = 'version: "3.8"\nservices:\n  app:\n    image: nginx:1\n    command:\n'
    return head + "      - a\n" * ((limit - len(head)) // 10)


@pytest.mark.parametrize("shape", [many_services, many_items], ids=lambda f: f.__name__)
def test_a_compose_file_near_the_size_cap_renders_in_bounded_time_and_memory(tmp_path, shape):
    recipe = tmp_path / "big"
    recipe.mkdir()
    text = shape(MAX_RECIPE_FILE - 4096)
    assert MAX_RECIPE_FILE - 64 * 1024 < len(text) <= MAX_RECIPE_FILE
    (recipe / "compose.yml").write_text(text)
    (recipe / ".env.sample").write_text("TYPE=big\nDOMAIN=big.example.org\n")
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-c", _RENDER, str(recipe)], capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - start
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout)
    assert got["services"] >= 1
    assert got["cpu"] < MAX_CPU_SECONDS and got["rss_mb"] < MAX_RSS_MB and wall < MAX_WALL_SECONDS, (got, wall)
