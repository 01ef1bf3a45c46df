"""The autoupdate report's webhook: one POST of the JSON report, Content-Type application/json.

A generic webhook that Matrix, Slack, ntfy or a mail gateway can take. The URL often carries a
token (in its path or query), so errors and warnings name only its scheme, host and port.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from coopcloud.errors import CoopError, UsageError

from . import NOTIFY_ON, Outcome


@dataclass(frozen=True)
class Webhook:
    """Where the report is POSTed. `shown` names it without path or query (a token often hides there)."""

    url: str
    shown: str = field(init=False)

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                "--notify-url must be an http:// or https:// URL",
                hint="e.g. https://ntfy.example.org/topic (COOP_NOTIFY_URL keeps it out of the command line)",
            )
        object.__setattr__(
            self, "shown", f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        )

    def wanted(self, outcomes: Sequence[Outcome]) -> bool:
        """Only a run where something was upgraded, rolled back or failed is worth a message."""
        return any(o.result in NOTIFY_ON for o in outcomes)

    def post(self, outcomes: Sequence[Outcome], *, timeout: float = 15.0) -> None:
        """POST the report (the `--json` list), Content-Type application/json. CoopError naming only `shown`."""
        from coopcloud.httpclient import Unreachable, request

        body = json.dumps([o.to_json() for o in outcomes]).encode()
        try:
            answer = request(
                self.url,
                method="POST",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=timeout,
                max_body=65536,
            )
        except Unreachable as exc:
            raise CoopError(f"the webhook at {self.shown} could not be reached ({exc.reason})") from None
        if not answer.ok:
            raise CoopError(f"the webhook at {self.shown} answered HTTP {answer.status}")
