"""Shared fixtures. The real services come from the test rig (`rig/up`), started by `make test`.

Tests that need the rig are marked `integration`. Without the rig they are
skipped locally, but under CI (CI=true) a missing rig is a failure: CI must
prove the real thing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "recipes"
ORACLES = SHARED / "oracles"
DOCKER_SOCK = "/var/run/docker.sock"


def _socket_answers(path: str) -> bool:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.")
        s.close()
        return ok
    except OSError:
        return False


def require_rig(what: str) -> None:
    """Skip locally, fail under CI, when a rig component is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"test rig: {what} is not available (run rig/up)")
    pytest.skip(f"test rig: {what} is not available (run rig/up)")


@pytest.fixture(scope="session")
def local_engine_socket() -> str:
    """Path of the local Docker engine socket (swarm mode, `proxy` network present)."""
    if not _socket_answers(DOCKER_SOCK):
        require_rig(f"docker engine at {DOCKER_SOCK}")
    return DOCKER_SOCK
