"""Registry authentication: `WWW-Authenticate` challenges and docker's stored credentials.

A registry that wants a token answers 401 with
``WWW-Authenticate: Bearer realm="https://auth.example/token",service="reg",scope="repository:x:pull"``;
the client then GETs ``realm?service=...&scope=...`` (anonymously, or with basic auth
when docker has credentials for the registry) and retries with ``Authorization: Bearer``.

Credentials come from ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``), its
``auths`` entries (``auth`` = base64 of ``user:password``, or ``username``/``password``).
Credential helpers (``credsStore``/``credHelpers``) are not consulted. Credentials
are never logged and never part of an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coopcloud.registry.reference import DEFAULT_DOMAIN

_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercased: "bearer", "basic"
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate header value (RFC 7235) into its challenges.

    >>> parse_challenges('Bearer realm="https://a/token",service="reg",scope="repository:x:pull"')
    [Challenge(scheme='bearer', params={'realm': 'https://a/token', 'service': 'reg', 'scope': 'repository:x:pull'})]
    """
    out: list[Challenge] = []
    i, n = 0, len(header)
    current: Challenge | None = None

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and header[i] in chars:
            i += 1

    while i < n:
        skip(" \t,")
        if i >= n:
            break
        start = i
        while i < n and header[i] not in " \t,=":
            i += 1
        token = header[start:i]
        skip(" \t")
        if i < n and header[i] == "=" and current is not None:
            i += 1
            skip(" \t")
            if i < n and header[i] == '"':
                i += 1
                value = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    value.append(header[i])
                    i += 1
                i += 1  # closing quote
                current.params[token.lower()] = "".join(value)
            else:
                start = i
                while i < n and header[i] not in " \t,":
                    i += 1
                current.params[token.lower()] = header[start:i]
        elif token:
            current = Challenge(token.lower(), {})
            out.append(current)
    return out


def _normalise_key(key: str) -> str:
    key = key.strip().lower()
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0]


def credentials_for(domain: str, docker_config: Path) -> tuple[str, str] | None:
    """(username, password) docker stored for the registry `domain`, or None.

    Unreadable or malformed config files mean "no credentials", never an error.
    """
    import base64
    import json

    try:
        doc = json.loads((docker_config / "config.json").read_text())
    except (OSError, ValueError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    want = {domain.lower()}
    if domain == DEFAULT_DOMAIN or domain.lower() in _HUB_ALIASES:
        want = set(_HUB_ALIASES)
    for key, entry in auths.items():
        if _normalise_key(str(key)) not in want or not isinstance(entry, dict):
            continue
        user, password = entry.get("username"), entry.get("password")
        if isinstance(user, str) and isinstance(password, str) and user:
            return user, password
        raw = entry.get("auth")
        if isinstance(raw, str) and raw:
            try:
                decoded = base64.b64decode(raw).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
            user, sep, password = decoded.partition(":")
            if sep and user:
                return user, password
    return None


def basic_header(creds: tuple[str, str]) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
