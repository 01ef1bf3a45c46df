"""What the templates need beyond the ops' own results: a few display filters and the slow fragments."""

from __future__ import annotations

from datetime import date

from coopcloud.web.board import Board

# `app ls --status` words, as the dashboard shows them (the vocabulary); others pass through.
STATUS_TEXT = {"deployed": "converged", "unknown": "unreachable"}


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status)


def status_class(status: str) -> str:
    """A CSS class per status: ok, warn (not converged...), off, bad."""
    return {"deployed": "ok", "undeployed": "off", "unknown": "bad", "crash loop": "bad"}.get(status, "warn")


def yesno(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "–" if value is None or value == "" else str(value)


def when(value: object) -> str:
    """``2026-12-05T00:41:07Z`` (or a datetime) → ``2026-12-05 00:41:07``."""
    if value is None or value == "":
        return "–"
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text[:19].replace("T", " ")


def versions(before: str | None, after: str | None) -> str:
    if before and after and before != after:
        return f"{before} → {after}"
    return after or before or ""


FILTERS = {"status_text": status_text, "status_class": status_class, "yesno": yesno, "when": when, "versions": versions}


def snapshots(board: Board, name: str) -> dict[str, object]:
    return {"name": name, "snapshots": board.snapshots(name)}


def drift(board: Board, name: str) -> dict[str, object]:
    return {"name": name, "drift": board.drift(name)}
