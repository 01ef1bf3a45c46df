"""A small Docker registry (distribution v2) client: manifest digests and tag lists.

    >>> client = RegistryClient()
    >>> client.digest("127.0.0.1:5000/coop-test/web:1.0.0")   # doctest: +SKIP
    'sha256:…'
    >>> client.tags("127.0.0.1:5000/coop-test/web")            # doctest: +SKIP
    ['1.0.0', '1.1.0', '2.0.0', 'latest']

- `digest` sends ``HEAD /v2/<repo>/manifests/<tag>`` accepting OCI index, OCI
  manifest, Docker manifest list and Docker v2 manifest, and returns the
  ``Docker-Content-Digest`` header; without the header it GETs the manifest
  and hashes the body (sha256), which is what the digest is by definition.
- `tags` GETs ``/v2/<repo>/tags/list`` and follows ``Link: <…>; rel="next"``.
- Token auth: on 401 with a Bearer challenge, a token is fetched from the
  realm (anonymously, or with docker's stored basic credentials, see `auth`)
  and kept per (registry, repository) for the client's life.
- Loopback registries speak plain HTTP, others HTTPS (see `reference`).
- `offline=True` raises `RegistryOffline` for anything not already cached,
  without touching the network.

One instance caches answers (digests per image reference, tag lists per
repository) and counts the HTTP requests it sent (`requests`), token
requests included. It is safe to share between threads: threads asking the
same question at once wait for one request's answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from coopcloud.httpclient import Response, Unreachable, request
from coopcloud.registry.auth import basic_header, credentials_for, parse_challenges
from coopcloud.registry.errors import RegistryError, RegistryNotFound, RegistryOffline, RegistryUnreachable
from coopcloud.registry.reference import ImageRef, parse_image_ref

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DEFAULT_TIMEOUT = 30.0
_MAX_PAGES = 1000


class RegistryClient:
    """Ask registries for manifest digests and tags. See the module docstring."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        offline: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        docker_config: Path | str | None = None,
    ):
        self.environ = dict(os.environ if environ is None else environ)
        self.offline = offline
        self.timeout = timeout
        if docker_config is None:
            value = self.environ.get("DOCKER_CONFIG", "")
            home = self.environ.get("HOME") or str(Path.home())
            docker_config = Path(value).expanduser() if value else Path(home) / ".docker"
        self.docker_config = Path(docker_config)
        self._lock = threading.Lock()
        self._requests = 0
        self._digests: dict[str, str] = {}
        self._tags: dict[str, list[str]] = {}
        self._auth: dict[tuple[str, str], str] = {}  # (api host, repo path) -> Authorization value
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    # ----------------------------------------------------------------- public

    @property
    def requests(self) -> int:
        """How many HTTP requests this client has sent (token requests included)."""
        return self._requests

    def digest(self, image_ref: str) -> str:
        """The manifest digest (`sha256:…`) the registry serves for `image_ref`.

        A reference that already carries a digest returns it without asking.
        Raises RegistryNotFound (unknown repository or tag), RegistryUnreachable
        (network), RegistryOffline (offline and not cached), RegistryError (other).
        """
        ref = parse_image_ref(image_ref)
        if ref.digest:
            return ref.digest
        key = str(ref)
        with self._key_lock(("digest", key)):
            with self._lock:
                if key in self._digests:
                    return self._digests[key]
            value = self._fetch_digest(ref)
            with self._lock:
                self._digests[key] = value
            return value

    def _fetch_digest(self, ref: ImageRef) -> str:
        self._check_online(ref, f"resolve {ref.familiar()} to a digest")
        url = f"{ref.base_url}/v2/{ref.path}/manifests/{_quote(ref.reference)}"
        accept = ", ".join(MANIFEST_MEDIA_TYPES)
        resp = self._call("HEAD", url, ref, accept=accept)
        value = resp.headers.get("Docker-Content-Digest", "").strip() if resp.status == 200 else ""
        if resp.status == 200 and not value:
            resp = self._call("GET", url, ref, accept=accept)
            if resp.status == 200:
                import hashlib

                value = "sha256:" + hashlib.sha256(resp.body).hexdigest()
        if resp.status != 200:
            raise self._failure(resp, ref, what=f"image {ref.familiar()}")
        return value

    def tags(self, image_ref_or_repo: str) -> list[str]:
        """Every tag of the repository (a tag or digest in the argument is ignored), registry order."""
        ref = parse_image_ref(image_ref_or_repo, default_tag=None)
        repo = ImageRef(ref.domain, ref.path)
        key = repo.repository
        with self._key_lock(("tags", key)):
            with self._lock:
                if key in self._tags:
                    return list(self._tags[key])
            out = self._fetch_tags(repo)
            with self._lock:
                self._tags[key] = list(out)
            return out

    def _fetch_tags(self, repo: ImageRef) -> list[str]:
        self._check_online(repo, f"list the tags of {repo.familiar()}")
        from urllib.parse import urljoin, urlsplit

        url: str | None = f"{repo.base_url}/v2/{repo.path}/tags/list"
        seen: set[str] = set()
        out: list[str] = []
        while url and url not in seen and len(seen) < _MAX_PAGES:
            seen.add(url)
            resp = self._call("GET", url, repo, accept="application/json")
            if resp.status != 200:
                raise self._failure(resp, repo, what=f"repository {repo.familiar()}")
            out.extend(_tags_from_body(resp.body, repo))
            link = _next_link(resp.headers.get_all("Link") or [])
            url = urljoin(url, link) if link else None
            if url and urlsplit(url)[:2] != urlsplit(repo.base_url)[:2]:
                # Our token is for this registry only; never send it elsewhere.
                raise RegistryError(
                    f"registry {repo.domain}: tags of {repo.familiar()} continue on "
                    f"another host ({urlsplit(url).netloc}); not followed"
                )
        return out

    # --------------------------------------------------------------- internals

    def _key_lock(self, key: tuple[str, str]) -> threading.Lock:
        """One lock per question, so threads asking the same thing wait for one answer."""
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock

    def _check_online(self, ref: ImageRef, doing: str) -> None:
        if self.offline:
            raise RegistryOffline(
                f"cannot {doing}: registry {ref.domain} is not contacted under --offline",
                hint="run again without --offline",
            )

    def _call(self, method: str, url: str, ref: ImageRef, *, accept: str) -> Response:
        """Send a request for `ref`, authenticating once on a 401 challenge."""
        key = (ref.api_host, ref.path)
        with self._lock:
            auth = self._auth.get(key)
        resp = self._send(method, url, ref, accept=accept, authorization=auth)
        if resp.status != 401:
            return resp
        with self._key_lock(("auth", f"{ref.api_host}/{ref.path}")):
            with self._lock:
                current = self._auth.get(key)
            new: str | None
            if current is not None and current != auth:
                new = current  # another thread authenticated meanwhile
            else:
                new = self._authenticate(ref, resp)
                if new is None:
                    return resp
                with self._lock:
                    self._auth[key] = new
        return self._send(method, url, ref, accept=accept, authorization=new)

    def _authenticate(self, ref: ImageRef, resp: Response) -> str | None:
        """The Authorization value to retry with after a 401, or None when there is none to try."""
        import json
        from urllib.parse import urlencode

        challenges = []
        for value in resp.headers.get_all("WWW-Authenticate") or []:
            challenges.extend(parse_challenges(value))
        creds = credentials_for(ref.domain, self.docker_config)
        for ch in challenges:
            if ch.scheme == "bearer" and ch.params.get("realm", "").startswith(("https://", "http://")):
                realm = ch.params["realm"]
                query = {"scope": ch.params.get("scope") or f"repository:{ref.path}:pull"}
                if ch.params.get("service"):
                    query = {"service": ch.params["service"], **query}
                token_url = realm + ("&" if "?" in realm else "?") + urlencode(query)
                token_resp = self._send(
                    "GET",
                    token_url,
                    ref,
                    accept="application/json",
                    authorization=basic_header(creds) if creds else None,
                )
                if token_resp.status != 200:
                    who = "with the stored credentials" if creds else "anonymously"
                    raise RegistryError(
                        f"registry {ref.domain}: token request for {ref.familiar()} refused {who} "
                        f"(HTTP {token_resp.status})",
                        hint=f"run: docker login {ref.domain}",
                    )
                try:
                    doc = json.loads(token_resp.body or b"{}")
                    token = doc.get("token") or doc.get("access_token")
                except (ValueError, AttributeError):
                    token = None
                if not isinstance(token, str) or not token:
                    raise RegistryError(f"registry {ref.domain}: token service at {realm} answered without a token")
                return f"Bearer {token}"
            if ch.scheme == "basic" and creds:
                return basic_header(creds)
        return None

    def _send(self, method: str, url: str, ref: ImageRef, *, accept: str, authorization: str | None) -> Response:
        with self._lock:
            self._requests += 1
        try:
            return request(
                url,
                method=method,
                headers={"Accept": accept},
                authorization=authorization,  # never sent on to where a redirect points (blob storage)
                timeout=self.timeout,
                environ=self.environ,
            )
        except Unreachable as err:
            raise RegistryUnreachable(
                f"registry {ref.domain} is unreachable for {ref.familiar()}: {err.reason}",
                hint="check the network and the registry address, or use --offline",
            ) from None

    def _failure(self, resp: Response, ref: ImageRef, *, what: str) -> RegistryError:
        detail = _error_detail(resp)
        where = f"registry {ref.domain}"
        if resp.status == 404:
            return RegistryNotFound(
                f"{what}: not found on {where}{detail}",
                hint="check the image name and tag",
            )
        if resp.status in (401, 403):
            return RegistryNotFound(
                f"{what}: not found on {where} or access denied (HTTP {resp.status}){detail}",
                hint=f"if it is private, run: docker login {ref.domain}",
            )
        if resp.status == 429:
            return RegistryError(
                f"{what}: {where} is rate-limiting requests (HTTP 429){detail}",
                hint="wait and retry, or log in to raise the limit",
            )
        if resp.status >= 500:
            return RegistryUnreachable(f"{what}: {where} failed (HTTP {resp.status}){detail}", hint="retry later")
        return RegistryError(f"{what}: {where} answered HTTP {resp.status}{detail}")


def _tags_from_body(body: bytes, ref: ImageRef) -> list[str]:
    import json

    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise RegistryError(f"registry {ref.domain}: tags list of {ref.familiar()} is not JSON") from None
    tags = doc.get("tags") if isinstance(doc, dict) else None
    return [t for t in (tags or []) if isinstance(t, str)]


def _next_link(values: list[str]) -> str | None:
    """The target of the rel="next" entry of Link headers, or None."""
    for value in values:
        for part in value.split(","):
            if "<" not in part or ">" not in part:
                continue
            target = part[part.index("<") + 1 : part.index(">")]
            params = part[part.index(">") + 1 :].replace(" ", "").lower()
            if 'rel="next"' in params or "rel=next" in params:
                return target
    return None


def _error_detail(resp: Response) -> str:
    """` (CODE: message)` from a registry's JSON error body, or ''."""
    import json

    try:
        errors = json.loads(resp.body).get("errors") or []
        first = errors[0]
        return f" ({first.get('code', '')}: {first.get('message', '')})".replace("(: ", "(")
    except (ValueError, AttributeError, IndexError, TypeError, KeyError):
        return ""


def _quote(reference: str) -> str:
    from urllib.parse import quote

    return quote(reference, safe=":")
