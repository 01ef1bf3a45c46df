"""The registry client against the rig's real registry at 127.0.0.1:5000."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from coopcloud.errors import ExitStatus
from coopcloud.registry import RegistryClient, RegistryNotFound

pytestmark = pytest.mark.integration


def _docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _repo_digest(image: str) -> str:
    return _docker("inspect", "--format", "{{index .RepoDigests 0}}", image).split("@", 1)[1]


def test_digest_equals_what_docker_reports(registry, tmp_path):
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    for tag in ("1.0.0", "1.1.0", "2.0.0"):
        image = f"{registry}/coop-test/web:{tag}"
        assert client.digest(image) == _repo_digest(image)
    d105 = client.digest(f"{registry}/coop-test/db:10.5")
    d106 = client.digest(f"{registry}/coop-test/db:10.6")
    assert d105 != d106 and d105.startswith("sha256:") and len(d105) == 71
    assert client.requests == 5


def test_pushed_image_digest_and_tags(registry, tmp_path):
    name = f"{registry}/coop-test-registry-{uuid.uuid4().hex[:8]}/app"
    for src, tag in (("1.0.0", "0.1"), ("2.0.0", "0.2")):
        _docker("tag", f"{registry}/coop-test/web:{src}", f"{name}:{tag}")
        push = _docker("push", f"{name}:{tag}")
        pushed = push.rsplit("digest: ", 1)[1].split()[0]
        client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
        assert client.digest(f"{name}:{tag}") == pushed
    try:
        client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
        assert sorted(client.tags(name)) == ["0.1", "0.2"]
        assert sorted(client.tags(f"{registry}/coop-test/web")) == ["1.0.0", "1.1.0", "2.0.0", "latest"]
        assert sorted(client.tags(f"{registry}/coop-test/db:10.5")) == ["10.5", "10.6"]
    finally:
        subprocess.run(["docker", "rmi", f"{name}:0.1", f"{name}:0.2"], capture_output=True)


def test_unknown_tag_and_repository(registry, tmp_path):
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    with pytest.raises(RegistryNotFound) as info:
        client.digest(f"{registry}/coop-test/web:9.9.9")
    assert info.value.exit_status == ExitStatus.NOT_FOUND
    assert "coop-test/web:9.9.9" in str(info.value) and f"registry {registry}" in str(info.value)
    with pytest.raises(RegistryNotFound):
        client.tags(f"{registry}/coop-test/no-such-repo")
