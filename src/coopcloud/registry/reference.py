"""Image references, parsed as docker parses them (distribution/reference "normalized named").

    >>> r = parse_image_ref("nginx:1.27")
    >>> (r.domain, r.path, r.tag, r.api_host, r.scheme)
    ('docker.io', 'library/nginx', '1.27', 'registry-1.docker.io', 'https')
    >>> str(parse_image_ref("127.0.0.1:5000/coop-test/web"))
    '127.0.0.1:5000/coop-test/web:latest'

Rules (docker's `splitDockerDomain`): the first path component is a registry
host when it contains ``.`` or ``:``, is ``localhost``, or has an uppercase
letter; otherwise the image is on Docker Hub (``docker.io``), where a
one-component name gets ``library/``. ``index.docker.io`` is ``docker.io``;
Docker Hub's API lives at ``registry-1.docker.io``. No tag and no digest means
``latest``. Registries on loopback (127.0.0.0/8, ``localhost``, ``::1``) are
spoken to over plain HTTP, as docker treats them as insecure; all others over
HTTPS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coopcloud.domain.imagetag import DOCKER_DIGEST, DOCKER_TAG, split_image
from coopcloud.registry.errors import ImageRefError

DEFAULT_DOMAIN = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
LEGACY_DOMAIN = "index.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(DOCKER_TAG + r"\Z")
_DIGEST = re.compile(DOCKER_DIGEST + r"\Z")
_DOMAIN = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?\Z"
)


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference: `domain/path[:tag][@digest]`."""

    domain: str  # as docker names it: "docker.io", "127.0.0.1:5000", "ghcr.io"
    path: str  # "library/nginx", "coop-test/web"
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def repository(self) -> str:
        """`domain/path`, without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """host[:port] of the registry's HTTP API."""
        return DOCKER_HUB_API if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def scheme(self) -> str:
        return "http" if is_loopback(self.domain) else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_host}"

    @property
    def familiar_name(self) -> str:
        """The short repository name docker shows: `nginx`, `user/app`, `ghcr.io/o/app`."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN:
            return path[len("library/") :] if path.startswith("library/") and path.count("/") == 1 else path
        return f"{self.domain}/{path}"

    def familiar(self) -> str:
        """The short form docker shows: `nginx:1.27`, `user/app:1`, `ghcr.io/o/app:1`."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.domain, self.path, tag, None)

    def _suffix(self) -> str:
        out = ""
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self.repository + self._suffix()


def parse_image_ref(ref: str, *, default_tag: str | None = DEFAULT_TAG) -> ImageRef:
    """Parse and normalise an image reference; `default_tag=None` keeps a tagless ref tagless.

    Raises ImageRefError (exit status INVALID) naming the reference and what is wrong.
    """
    text = ref.strip()
    if not text:
        raise ImageRefError("image reference is empty")
    parts = split_image(text)
    tag, digest = parts.tag, parts.digest
    if "@" in text and not _DIGEST.match(digest or ""):
        raise ImageRefError(f"image {ref!r}: invalid digest {digest or ''!r}")
    if tag is not None and not _TAG.match(tag):
        raise ImageRefError(f"image {ref!r}: invalid tag {tag!r}")
    domain, path = _split_domain(parts.name, ref)
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise ImageRefError(
                f"image {ref!r}: invalid repository name component {component!r}",
                hint="names are lowercase letters, digits and separators (. _ __ -)",
            )
    if len(f"{domain}/{path}") > 255:
        raise ImageRefError(f"image {ref!r}: repository name longer than 255 characters")
    if tag is None and digest is None:
        tag = default_tag
    return ImageRef(domain, path, tag, digest)


def _split_domain(name: str, ref: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        if not _DOMAIN.match(first):
            raise ImageRefError(f"image {ref!r}: invalid registry host {first!r}")
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if not path:
        raise ImageRefError(f"image {ref!r}: missing repository name")
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path


def host_of(domain: str) -> str:
    """The host part of `host[:port]` / `[v6]:port`, lowercased, without brackets."""
    if domain.startswith("["):
        return domain[1 : domain.index("]")].split("%")[0].lower()
    return domain.rsplit(":", 1)[0].lower() if ":" in domain else domain.lower()


def is_loopback(domain: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    import ipaddress

    host = host_of(domain)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
