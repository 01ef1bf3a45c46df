"""How coop says things, the same way everywhere (docs/grammar.md): counts, suggestions, yes/no, times."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import UTC, datetime

_IRREGULAR = {"was": "were", "is": "are", "has": "have", "entry": "entries", "repository": "repositories"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 service``, ``2 services``, ``0 volumes``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {many or _IRREGULAR.get(noun) or noun + 's'}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean: git.example.org?`` when a candidate is close to `name` (case-insensitive), else None."""
    known = sorted(set(candidates))
    by_lower = {c.lower(): c for c in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean: " + " or ".join(by_lower[c] for c in close) + "?"


def yes_no(value: object) -> str:
    """A table cell: True/False read ``yes``/``no``; None is empty."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def human_time(rfc3339: str | None) -> str:
    """The one human format for a time: ``2026-12-05 00:40:53 UTC`` (from any RFC 3339 / ISO 8601 string)."""
    if not rfc3339:
        return ""
    text = rfc3339.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Docker's nanoseconds are more than datetime parses
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = head + "." + digits[:6] + rest[len(digits) :]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return rfc3339
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def rfc3339(when: str | datetime | None) -> str | None:
    """The one JSON form of a time: RFC 3339, UTC, whole seconds (``2026-12-05T00:40:53Z``)."""
    if when is None or when == "":
        return None
    if isinstance(when, str):
        text = human_time(when)
        if not text.endswith(" UTC"):
            return when
        return text[:-4].replace(" ", "T") + "Z"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
