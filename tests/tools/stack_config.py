"""The compose model as `docker stack config` renders it.

Until `coopcloud.compose.load()` exists this is the reference input for the
converter: ``yaml.safe_load`` of what ``docker stack config -c a.yml [-c b.yml]``
prints (docker CLI 28; no daemon needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def docker_stack_config(
    files: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> dict:
    args = [DOCKER, "stack", "config"]
    for f in files:
        args += ["-c", str(f)]
    full_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    proc = subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"docker stack config failed: {proc.stderr.strip()}")
    return yaml.safe_load(proc.stdout)
