"""`docker stack config` as an oracle for coop's compose loader (tests only)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from coopcloud.compose import ComposeFile, load


class _OracleLoader(yaml.SafeLoader):
    """PyYAML's safe loader, minus YAML 1.1's `=` value tag: docker prints `image: =` as a plain string."""


_OracleLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_docker_output(text: str):
    return yaml.load(text, Loader=_OracleLoader)


DOCKER = shutil.which("docker") or ("/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else None)


def oracle(files: list[tuple[str, str]], env: dict[str, str], working_dir: str | None = None):
    """(ok, model or stderr) from docker stack config for these (name, text) files."""
    if DOCKER is None:
        pytest.skip("docker CLI not installed: no oracle")
    with tempfile.TemporaryDirectory() as tmp:
        wd = working_dir or tmp
        args = []
        for name, text in files:
            p = os.path.join(tmp, name)
            with open(p, "w") as fh:
                fh.write(text)
            args += ["-c", p]
        full_env = {"DOCKER_CONFIG": os.path.join(tmp, ".docker"), **env}
        r = subprocess.run([DOCKER, "stack", "config", *args], capture_output=True, text=True, env=full_env, cwd=wd)
        if r.returncode != 0:
            return False, r.stderr
        return True, parse_docker_output(r.stdout)


def both(files: list[tuple[str, str]], env: dict[str, str] | None = None):
    """Run coop and docker; return (coop result or exception, docker ok, docker result)."""
    env = env or {}
    with tempfile.TemporaryDirectory() as tmp:
        ok, want = oracle_in(files, env, tmp)
        try:
            got = load([ComposeFile(n, t) for n, t in files], env, working_dir=tmp)
        except Exception as e:
            got = e
    return got, ok, want


def oracle_in(files, env, tmp):
    if DOCKER is None:
        pytest.skip("docker CLI not installed: no oracle")
    args = []
    for name, text in files:
        p = os.path.join(tmp, name)
        with open(p, "w") as fh:
            fh.write(text)
        args += ["-c", p]
    full_env = {"DOCKER_CONFIG": os.path.join(tmp, ".docker"), **env}
    r = subprocess.run([DOCKER, "stack", "config", *args], capture_output=True, text=True, env=full_env, cwd=tmp)
    if r.returncode != 0:
        return False, r.stderr
    return True, parse_docker_output(r.stdout)
