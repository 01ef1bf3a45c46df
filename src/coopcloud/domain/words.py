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
    """``did you mean: git.example.org?`` when a candidate is close to `name` (case-insensitive), else None.

    Only the closest: those within a hair of the best match, at most three."""
    by_lower = {c.lower(): c for c in sorted(set(candidates))}
    scored = sorted(((difflib.SequenceMatcher(None, name.lower(), low).ratio(), low) for low in by_lower), reverse=True)
    if not scored or scored[0][0] < 0.75:
        return None
    close = [low for score, low in scored[:3] if score >= max(0.75, scored[0][0] - 0.05)]
    return "did you mean: " + " or ".join(by_lower[c] for c in close) + "?"


def yes_no(value: object) -> str:
    """A table cell: True/False read ``yes``/``no``; None is empty."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


def human_time(when: datetime | None) -> str:
    """The one human form of a time: ``2026-12-05 00:40:53 UTC`` ("" for None)."""
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def json_time(when: datetime | None) -> str | None:
    """The one JSON form of a time: RFC 3339, UTC, whole seconds (``2026-12-05T00:40:53Z``)."""
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
