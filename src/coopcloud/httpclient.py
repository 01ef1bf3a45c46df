"""coop's one HTTP client: registries (registry/), the recipe catalogue download and the autoupdate
webhook send their requests through `request`. (Docker's API is engine/'s own, over its transport.)

In one place: the timeout, the proxy (``http_proxy`` / ``https_proxy`` / ``no_proxy`` from the
environment, never for loopback), TLS (urllib's defaults: the system's CA store, certificates and host
names verified), the User-Agent, a bounded body, credentials that never follow a redirect, and what a
request that got no answer says (`Unreachable`). An HTTP error status is an answer: the caller reads
it from `Response.status` and words its own one-line error, naming what it asked for.

Standard library only; urllib is imported when a request is sent, so importing this costs nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from urllib.request import OpenerDirector

MAX_BODY = 16 * 1024 * 1024  # what is read of an answer's body, at most


@dataclass(frozen=True)
class Response:
    status: int  # every status urllib does not follow (redirects) is returned, errors included
    reason: str  # the status line's words, e.g. "Not Found"
    headers: Message
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Unreachable(Exception):
    """No answer: DNS, a refused connection, TLS, a timeout, a missing file:// file. `reason` says which."""

    def __init__(self, reason: object) -> None:
        super().__init__(str(reason))
        self.reason = reason


_openers: dict[str, OpenerDirector] = {}  # by scheme and proxy ("" for none); urllib's openers can be shared
_lock = threading.Lock()


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    authorization: str | None = None,
    data: bytes | None = None,
    timeout: float,
    environ: Mapping[str, str] | None = None,
    max_body: int | None = MAX_BODY,
) -> Response:
    """Send one request to `url` (http://, https:// or file://) and read its answer (no body for HEAD;
    `max_body` None reads it whole). `authorization` is never sent on to where a redirect points.
    `environ` (default: the process's) gives the proxy. Unreachable when no answer came."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", user_agent())
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if authorization:
        req.add_unredirected_header("Authorization", authorization)
    size = -1 if max_body is None else max_body
    try:
        with _opener(url, os.environ if environ is None else environ).open(req, timeout=timeout) as answer:
            body = answer.read(size) if method != "HEAD" else b""
            # a file:// answer has no status line: it is there, so it reads as 200 OK
            return Response(answer.status or 200, getattr(answer, "reason", "OK"), answer.headers, body)
    except urllib.error.HTTPError as err:
        try:
            body = err.read(size) if method != "HEAD" else b""
        except OSError:
            body = b""
        return Response(err.code, str(err.reason), err.headers, body)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        raise Unreachable(getattr(err, "reason", None) or err) from None


def user_agent() -> str:
    from coopcloud import __version__

    return f"coop/{__version__}"


def _opener(url: str, environ: Mapping[str, str]) -> OpenerDirector:
    """An opener with the proxy `environ` names for this URL (none for loopback, no_proxy, file://)."""
    import urllib.request
    from urllib.parse import urlsplit

    from coopcloud.registry.reference import is_loopback

    parts = urlsplit(url)
    direct = parts.scheme not in ("http", "https") or is_loopback(parts.netloc)
    proxy = None if direct or _no_proxy(parts.hostname or "", environ) else _env_get(environ, f"{parts.scheme}_proxy")
    key = f"{parts.scheme} {proxy}" if proxy else ""
    with _lock:
        opener = _openers.get(key)
        if opener is None:
            handler = urllib.request.ProxyHandler({parts.scheme: proxy} if proxy else {})
            opener = _openers[key] = urllib.request.build_opener(handler)
    return opener


def _env_get(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name.lower()) or environ.get(name.upper()) or None


def _no_proxy(host: str, environ: Mapping[str, str]) -> bool:
    value = _env_get(environ, "no_proxy") or ""
    host = host.lower()
    for entry in value.split(","):
        entry = entry.strip().lower().lstrip(".")
        if not entry:
            continue
        if entry == "*" or host == entry or host.endswith("." + entry):
            return True
    return False
