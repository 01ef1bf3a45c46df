"""Registry client: reference parsing, auth challenges, and a local token-protected registry."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from coopcloud.errors import ExitStatus
from coopcloud.registry import (
    ImageRefError,
    RegistryClient,
    RegistryError,
    RegistryNotFound,
    RegistryOffline,
    RegistryUnreachable,
    is_loopback,
    parse_image_ref,
)
from coopcloud.registry.auth import Challenge, credentials_for, parse_challenges

DIGEST = "sha256:" + "a" * 64


# ------------------------------------------------------------------ references


@pytest.mark.parametrize(
    "text, domain, path, tag, digest, api",
    [
        ("nginx", "docker.io", "library/nginx", "latest", None, "registry-1.docker.io"),
        ("nginx:1.27.2", "docker.io", "library/nginx", "1.27.2", None, "registry-1.docker.io"),
        ("docker.io/nginx:1", "docker.io", "library/nginx", "1", None, "registry-1.docker.io"),
        ("index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", None, "registry-1.docker.io"),
        ("gitea/gitea:1.22-rootless", "docker.io", "gitea/gitea", "1.22-rootless", None, "registry-1.docker.io"),
        ("ghcr.io/org/app:v2.4.8", "ghcr.io", "org/app", "v2.4.8", None, "ghcr.io"),
        ("127.0.0.1:5000/coop-test/web:1.0.0", "127.0.0.1:5000", "coop-test/web", "1.0.0", None, "127.0.0.1:5000"),
        ("localhost/app", "localhost", "app", "latest", None, "localhost"),
        ("localhost:5000/a/b/c:x", "localhost:5000", "a/b/c", "x", None, "localhost:5000"),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None, "[::1]:5000"),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, DIGEST, "registry-1.docker.io"),
        (f"nginx:1.27@{DIGEST}", "docker.io", "library/nginx", "1.27", DIGEST, "registry-1.docker.io"),
        ("Registry/app:1", "Registry", "app", "1", None, "Registry"),  # uppercase first part = a host
        ("my_user/app", "docker.io", "my_user/app", "latest", None, "registry-1.docker.io"),
        ("postgres:17-3.5-alpine", "docker.io", "library/postgres", "17-3.5-alpine", None, "registry-1.docker.io"),
    ],
)
def test_parse_image_ref(text, domain, path, tag, digest, api):
    ref = parse_image_ref(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest, ref.api_host) == (domain, path, tag, digest, api)


def test_reference_strings_and_schemes():
    ref = parse_image_ref("nginx:1.27")
    assert str(ref) == "docker.io/library/nginx:1.27"
    assert ref.familiar() == "nginx:1.27" and ref.familiar_name == "nginx"
    assert ref.scheme == "https" and ref.base_url == "https://registry-1.docker.io"
    assert parse_image_ref("user/app").familiar() == "user/app:latest"
    local = parse_image_ref("127.0.0.1:5000/coop-test/web:1.0.0")
    assert local.familiar() == "127.0.0.1:5000/coop-test/web:1.0.0"
    assert local.base_url == "http://127.0.0.1:5000"
    assert parse_image_ref("nginx", default_tag=None).tag is None
    assert parse_image_ref(f"nginx@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(
    "domain, loopback",
    [
        ("127.0.0.1:5000", True),
        ("127.3.4.5", True),
        ("localhost", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry-1.docker.io", False),
        ("127.example.org", False),
        ("ghcr.io", False),
    ],
)
def test_loopback(domain, loopback):
    assert is_loopback(domain) is loopback
    assert parse_image_ref(f"{domain}/x/y:1").scheme == ("http" if loopback else "https")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UPPER",
        "nginx:",
        "nginx@",
        "nginx:-bad",
        "a//b",
        "nginx@sha256:short",
        "-x/y",
        "host:port:/x",
        "ghcr.io/",
        "x/y:" + "t" * 200,
    ],
)
def test_invalid_references(text):
    with pytest.raises(ImageRefError) as info:
        parse_image_ref(text)
    assert info.value.exit_status == ExitStatus.INVALID


# ------------------------------------------------------------------ challenges


def test_parse_bearer_challenge():
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull",
            },
        )
    ]


def test_parse_several_challenges_unquoted_and_escaped():
    header = 'Basic realm="Registry \\"R\\"", Bearer realm=https://a/t , service=reg,error="invalid_token"'
    assert parse_challenges(header) == [
        Challenge("basic", {"realm": 'Registry "R"'}),
        Challenge("bearer", {"realm": "https://a/t", "service": "reg", "error": "invalid_token"}),
    ]
    assert parse_challenges("") == []
    assert parse_challenges("Basic") == [Challenge("basic", {})]


def test_credentials_from_docker_config(tmp_path):
    auth = base64.b64encode(b"alice:s3cret:with:colons").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": auth},
                    "127.0.0.1:5000": {"username": "bob", "password": "pw"},
                    "https://ghcr.io": {"auth": base64.b64encode(b"carol:tok").decode()},
                    "broken.example": {"auth": "!!!"},
                }
            }
        )
    )
    assert credentials_for("docker.io", tmp_path) == ("alice", "s3cret:with:colons")
    assert credentials_for("127.0.0.1:5000", tmp_path) == ("bob", "pw")
    assert credentials_for("ghcr.io", tmp_path) == ("carol", "tok")
    assert credentials_for("broken.example", tmp_path) is None
    assert credentials_for("quay.io", tmp_path) is None
    assert credentials_for("quay.io", tmp_path / "missing") is None
    (tmp_path / "config.json").write_text("{not json")
    assert credentials_for("docker.io", tmp_path) is None


# ------------------------------------------------------- a local token registry


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops concurrent connects (1 s SYN retry)
    daemon_threads = True


class FakeRegistry:
    """A registry on 127.0.0.1 that demands a bearer token (and, optionally, basic creds for it)."""

    def __init__(self, *, creds: tuple[str, str] | None = None, digest_header: bool = True, page_size: int = 2):
        self.creds = creds
        self.digest_header = digest_header
        self.page_size = page_size
        self.log: list[tuple[str, str, dict]] = []
        self.manifests = {
            "team/app": {
                t: json.dumps({"schemaVersion": 2, "tag": t}).encode() for t in ("1.0", "1.1", "2.0", "latest", "3.0")
            },
        }
        self.token = "tok-" + "x" * 8
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _serve(self, head):
                parts = urlsplit(self.path)
                outer.log.append((self.command, self.path, dict(self.headers)))
                if parts.path == "/token":
                    if outer.creds:
                        want = "Basic " + base64.b64encode(":".join(outer.creds).encode()).decode()
                        if self.headers.get("Authorization") != want:
                            return self._send(401, b'{"details":"bad creds"}')
                    q = parse_qs(parts.query)
                    outer.token_queries.append(q)
                    return self._send(200, json.dumps({"token": outer.token}).encode())
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    repo = parts.path.split("/")[2:4]
                    realm = f"http://127.0.0.1:{outer.port}/token"
                    scope = f"repository:{'/'.join(repo)}:pull"
                    return self._send(
                        401,
                        b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                        {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake-reg",scope="{scope}"'},
                    )
                segs = parts.path.split("/")
                if len(segs) >= 6 and segs[4] == "manifests":
                    repo, tag = "/".join(segs[2:4]), segs[5]
                    body = outer.manifests.get(repo, {}).get(tag)
                    if body is None:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
                    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
                    if outer.digest_header:
                        headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
                    return self._send(200, body, headers)
                if len(segs) >= 6 and segs[4:6] == ["tags", "list"]:
                    repo = "/".join(segs[2:4])
                    if repo not in outer.manifests:
                        return self._send(
                            404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'
                        )
                    tags = sorted(outer.manifests[repo])
                    last = parse_qs(parts.query).get("last", [""])[0]
                    rest = [t for t in tags if t > last]
                    page = rest[: outer.page_size]
                    headers = {"Content-Type": "application/json"}
                    if len(rest) > len(page):
                        headers["Link"] = f'</v2/{repo}/tags/list?n={outer.page_size}&last={page[-1]}>; rel="next"'
                    return self._send(200, json.dumps({"name": repo, "tags": page}).encode(), headers)
                return self._send(404)

        self.token_queries: list[dict] = []
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    servers = []

    def make(**kw):
        s = FakeRegistry(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_bearer_token_flow_and_request_counting(fake, tmp_path):
    reg = fake()
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    want = _sha(reg.manifests["team/app"]["1.0"])
    assert client.digest(f"{reg.host}/team/app:1.0") == want
    # HEAD (401) + token + HEAD with the token
    assert client.requests == 3
    assert [m for m, _, _ in reg.log] == ["HEAD", "GET", "HEAD"]
    assert reg.token_queries == [{"service": ["fake-reg"], "scope": ["repository:team/app:pull"]}]
    assert "Authorization" not in reg.log[1][2]  # anonymous token
    accept = reg.log[2][2]["Accept"]
    for media in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media in accept
    # same answer again: cached, no request
    assert client.digest(f"{reg.host}/team/app:1.0") == want
    assert client.requests == 3
    # another tag of the same repository reuses the token: one request
    assert client.digest(f"{reg.host}/team/app:2.0") == _sha(reg.manifests["team/app"]["2.0"])
    assert client.requests == 4
    # a digest reference needs no request at all
    assert client.digest(f"{reg.host}/team/app@{DIGEST}") == DIGEST
    assert client.requests == 4


def test_token_with_stored_credentials_never_leaks(fake, tmp_path):
    reg = fake(creds=("alice", "hunter2-secret"))
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {reg.host: {"auth": base64.b64encode(b"alice:hunter2-secret").decode()}}})
    )
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    assert client.digest(f"{reg.host}/team/app:1.1") == _sha(reg.manifests["team/app"]["1.1"])

    # wrong stored password: a clear error that does not show it
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {reg.host: {"username": "alice", "password": "wrong-pass-123"}}})
    )
    with pytest.raises(RegistryError) as info:
        RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)}).digest(f"{reg.host}/team/app:1.1")
    text = str(info.value)
    assert reg.host in text and "team/app:1.1" in text and "docker login" in text
    assert "wrong-pass-123" not in text and "alice" not in text


def test_digest_falls_back_to_hashing_the_manifest(fake, tmp_path):
    reg = fake(digest_header=False)
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    assert client.digest(f"{reg.host}/team/app:latest") == _sha(reg.manifests["team/app"]["latest"])
    assert [m for m, _, _ in reg.log] == ["HEAD", "GET", "HEAD", "GET"]


def test_tags_follow_link_pagination(fake, tmp_path):
    reg = fake(page_size=2)
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    assert client.tags(f"{reg.host}/team/app:ignored") == ["1.0", "1.1", "2.0", "3.0", "latest"]
    pages = [path for _, path, headers in reg.log if "tags/list" in path and "Authorization" in headers]
    assert len(pages) == 3 and "last=1.1" in pages[1] and "last=3.0" in pages[2]
    before = client.requests
    assert client.tags(f"{reg.host}/team/app") == ["1.0", "1.1", "2.0", "3.0", "latest"]
    assert client.requests == before


def test_not_found_names_image_and_registry(fake, tmp_path):
    reg = fake()
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    with pytest.raises(RegistryNotFound) as info:
        client.digest(f"{reg.host}/team/app:9.9")
    assert info.value.exit_status == ExitStatus.NOT_FOUND
    assert f"{reg.host}/team/app:9.9" in str(info.value) and f"registry {reg.host}" in str(info.value)
    with pytest.raises(RegistryNotFound):
        client.tags(f"{reg.host}/team/none")


def test_offline_sends_nothing(fake, tmp_path):
    reg = fake()
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)}, offline=True)
    with pytest.raises(RegistryOffline) as info:
        client.digest(f"{reg.host}/team/app:1.0")
    assert "--offline" in str(info.value) and reg.host in str(info.value)
    with pytest.raises(RegistryOffline):
        client.tags(f"{reg.host}/team/app")
    assert reg.log == [] and client.requests == 0
    assert isinstance(info.value, RegistryUnreachable)


def test_unreachable_registry(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)}, timeout=5)
    with pytest.raises(RegistryUnreachable) as info:
        client.digest(f"127.0.0.1:{port}/team/app:1.0")
    assert info.value.exit_status == ExitStatus.ENGINE_UNREACHABLE
    assert f"127.0.0.1:{port}" in str(info.value) and "team/app:1.0" in str(info.value)


def test_loopback_ignores_proxy_settings(fake, tmp_path):
    reg = fake()
    env = {"DOCKER_CONFIG": str(tmp_path), "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    assert RegistryClient(environ=env).digest(f"{reg.host}/team/app:1.0").startswith("sha256:")


def test_shared_between_threads(fake, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    reg = fake()
    client = RegistryClient(environ={"DOCKER_CONFIG": str(tmp_path)})
    refs = [f"{reg.host}/team/app:{t}" for t in ("1.0", "1.1", "2.0", "3.0", "latest")] * 4
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(client.digest, refs))
    assert got == [_sha(reg.manifests["team/app"][r.rsplit(":", 1)[1]]) for r in refs]
    assert client.requests == len(reg.log)
    # one token for all threads; each tag asked at most twice (before and after the token)
    assert len(reg.token_queries) == 1
    heads = [p for m, p, _ in reg.log if m == "HEAD"]
    assert sorted(set(heads)) == sorted(f"/v2/team/app/manifests/{t}" for t in ("1.0", "1.1", "2.0", "3.0", "latest"))
    assert all(heads.count(h) <= 2 for h in heads)


def test_one_tag_grammar_for_the_converter_the_registry_and_the_recipe_tools():
    """Docker's tag grammar is ASCII (Go's \\w): every reader refuses what the engine would."""
    from coopcloud.domain.imagetag import DOCKER_TAG_RE
    from coopcloud.swarm.units import tagged_image

    assert DOCKER_TAG_RE.fullmatch("1.25_alpine-3") and not DOCKER_TAG_RE.fullmatch("caf\u00e9")
    assert parse_image_ref("nginx:1.25").tag == "1.25"
    with pytest.raises(ImageRefError):
        parse_image_ref("nginx:caf\u00e9")
    assert tagged_image("nginx") == "nginx:latest"
    assert tagged_image("nginx:caf\u00e9") == "nginx:caf\u00e9"  # not docker's grammar: sent as written
