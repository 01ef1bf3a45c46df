"""The catalogue download: the one place coop fetches ``recipes.json`` over HTTP(S) (or file://).

`ops.catalogue.sync` decides where from and what to do when it fails; this module
only fetches, with a timeout, and turns every failure into `FetchFailed`.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

FETCH_TIMEOUT = 30.0  # seconds


class FetchFailed(Exception):
    """A transient failure: the last copy may stand in."""


def fetch_url(url: str) -> bytes:
    """The body at `url` (http://, https:// or file://); FetchFailed when it cannot be had."""
    if not re.match(r"(https?|file)://", url):
        from coopcloud.errors import UsageError

        raise UsageError(f"catalogue URL {url!r} is not http(s):// or file://")
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": _user_agent()})
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise FetchFailed(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchFailed(f"unreachable ({getattr(exc, 'reason', exc)})") from None


def _user_agent() -> str:
    from coopcloud import __version__

    return f"coop/{__version__}"
