"""Run coop as an attacker's victim would: a real process, timed, its peak memory read from the kernel.

`run_measured` starts coop in a fresh Python and reads its peak memory from ``VmHWM`` in
``/proc/self/status`` at exit (the high-water mark of the process's own memory since exec; a child's
``ru_maxrss`` would also count the pytest process it was forked from), so tests can say "refused
within a second, in tens of MB".
`tree_state` fingerprints a folder, so tests can say "nothing changed on disk".
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    max_rss_mb: float

    @property
    def error_line(self) -> str:
        """The one line an error must be (asserts there is exactly one)."""
        lines = self.err.splitlines()
        assert len(lines) == 1, f"expected one error line, got: {self.err!r}"
        return lines[0]


_WRAPPER = """
import atexit, os, runpy, sys

def _record_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["COOP_TEST_PEAK_FILE"], "w") as out:
        out.write(peak)

atexit.register(_record_peak)
sys.argv[0] = "coop"
runpy.run_module("coopcloud", run_name="__main__", alter_sys=True)
"""


def run_measured(args: list[str], env: dict[str, str], *, timeout: float = 60, cwd: str | None = None) -> Measured:
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *args],
            env={**env, "COOP_TEST_PEAK_FILE": str(peak_file)},
            capture_output=True,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            timeout=timeout,
        )
        seconds = time.monotonic() - start
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
        return Measured(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            seconds,
            peak_kib / 1024,
        )


def tree_state(root: Path) -> dict[str, str]:
    """path -> content hash (or link target) of everything under `root`."""
    state: dict[str, str] = {}
    if not root.exists():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                state[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                state[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                state[rel] = "dir"
    return state


def swarm_objects(stack: str) -> list[str]:
    """Names of every Docker object labelled with stack `stack` (services, networks, configs, secrets, volumes)."""
    found = []
    for kind in ("service", "network", "config", "secret", "volume"):
        p = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}"],
            capture_output=True,
            text=True,
            check=True,
        )
        found += [f"{kind} {x}" for x in p.stdout.split()]
    return found
