"""The catalogue download: where coop fetches ``recipes.json`` (over `coopcloud.httpclient`).

`ops.catalogue.sync` decides where from and what to do when it fails; this module
only fetches, with a timeout, and turns every failure into `FetchFailed`.
"""

from __future__ import annotations

import re

FETCH_TIMEOUT = 30.0  # seconds


class FetchFailed(Exception):
    """A transient failure: the last copy may stand in."""


def fetch_url(url: str) -> bytes:
    """The body at `url` (http://, https:// or file://); FetchFailed when it cannot be had."""
    from coopcloud.httpclient import Unreachable, request

    if not re.match(r"(https?|file)://", url):
        from coopcloud.errors import UsageError

        raise UsageError(f"catalogue URL {url!r} is not http(s):// or file://")
    try:
        answer = request(url, headers={"Accept": "application/json"}, timeout=FETCH_TIMEOUT, max_body=None)
    except Unreachable as exc:
        raise FetchFailed(f"unreachable ({exc.reason})") from None
    if not answer.ok:
        raise FetchFailed(f"HTTP {answer.status} {answer.reason}")
    return answer.body
