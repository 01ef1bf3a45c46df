"""`coop app logs`: an app's log lines, merged in time order, or followed live.

`logs` takes an engine client and an `AppRef` and returns an iterator of
`LogLine` (never prints). Following streams each service on a connection of
its own (`client.clone()`).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from coopcloud.errors import UsageError
from coopcloud.ops.app.ps import app_services, pick_services, short_name

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.engine.stream import Frame


@dataclass(frozen=True)
class LogLine:
    service: str
    stream: str  # stdout | stderr
    text: str
    timestamp: str | None = None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_since(value: str | None, now: float | None = None) -> str | None:
    """The engine's `since` (a UNIX timestamp) from what the docker CLI accepts.

    A Go duration (``10m``, ``1h30m``, ``45s``) counts back from now; an
    RFC 3339 date or a plain date is taken as UTC unless it has an offset; a
    number is already a timestamp.

    >>> parse_since("10m", now=1000.0)
    '400'
    >>> parse_since("1970-01-01T00:01:00Z")
    '60'
    """
    if value is None or value == "":
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    if re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(text))
        base = time.time() if now is None else now
        return _fmt_ts(base - seconds)
    iso = text.replace("Z", "+00:00").replace(" ", "T")
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither a duration nor a date",
            hint="use e.g. 10m, 2h, 2024-05-01 or 2024-05-01T10:00:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _fmt_ts(when.timestamp())


def _fmt_ts(ts: float) -> str:
    whole = int(ts)
    frac = ts - whole
    return str(whole) if frac < 1e-9 else f"{ts:.9f}".rstrip("0")


def timestamp_key(ts: str | None) -> tuple[str, str]:
    """Sort key for RFC 3339 timestamps whose fraction may be trimmed (Go's RFC3339Nano)."""
    if not ts:
        return ("", "")
    head, _, rest = ts.partition(".")
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    return (head.rstrip("Z"), digits.ljust(9, "0"))


def split_timestamp(line: str) -> tuple[str | None, str]:
    """``"2024-…Z text"`` → (timestamp, text), as the engine sends lines with timestamps=1."""
    head, sep, rest = line.partition(" ")
    if sep and re.match(r"\d{4}-\d\d-\d\dT", head):
        return head, rest
    return None, line


def logs(
    client: Engine,
    ref: AppRef,
    service: str | None = None,
    *,
    tail: int | str | None = None,
    since: str | None = None,
    follow: bool = False,
    now: float | None = None,
) -> Iterator[LogLine]:
    """Log lines of one service or of all the app's services.

    Without `follow`, the lines of several services are merged in time order.
    With `follow`, each service streams on its own connection (`client.clone()`)
    and lines come as they arrive; closing the iterator (or Ctrl-C in the
    caller) ends every stream and closes those connections.
    """
    services = app_services(client, ref)
    chosen = pick_services(ref, services, [service]) if service else services
    names = [(short_name(ref.stack_name, s.name), s.name) for s in chosen]
    since_ts = parse_since(since, now)
    if follow:
        return _follow(client, names, tail=tail, since=since_ts)
    return _collect(client, names, tail=tail, since=since_ts)


def _to_line(short: str, frame: Frame) -> LogLine:
    text = frame.data.decode("utf-8", "replace").rstrip("\r")
    ts, text = split_timestamp(text)
    return LogLine(short, frame.stream, text, ts)


def _collect(
    client: Engine, names: list[tuple[str, str]], *, tail: int | str | None, since: str | None
) -> Iterator[LogLine]:
    lines: list[LogLine] = []
    for short, full in names:
        frames = client.service_logs(full, tail=tail, since=since, timestamps=True, lines=True)
        lines.extend(_to_line(short, f) for f in frames)
    if len(names) > 1:
        lines.sort(key=lambda l: timestamp_key(l.timestamp))  # stable: one service's order is kept
    return iter(lines)


def _follow(
    client: Engine, names: list[tuple[str, str]], *, tail: int | str | None, since: str | None
) -> Iterator[LogLine]:
    items: queue.Queue[LogLine | BaseException | None] = queue.Queue()  # None: a stream ended
    stop = threading.Event()
    streams = [client.clone() for _ in names]

    def pump(short: str, full: str, stream: Engine) -> None:
        try:
            for frame in stream.service_logs(full, follow=True, tail=tail, since=since, timestamps=True, lines=True):
                if stop.is_set():
                    break
                items.put(_to_line(short, frame))
        except BaseException as exc:  # handed to the reader, which raises it in the caller's thread
            if not stop.is_set():
                items.put(exc)
        finally:
            items.put(None)

    threads = [
        threading.Thread(target=pump, args=(short, full, stream), daemon=True, name=f"logs-{short}")
        for (short, full), stream in zip(names, streams)
    ]
    for t in threads:
        t.start()
    try:
        remaining = len(threads)
        while remaining:
            try:
                item = items.get(timeout=0.25)  # short waits keep Ctrl-C responsive
            except queue.Empty:
                continue
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for stream in streams:
            stream.hang_up()  # wakes a thread blocked reading it (close alone does not)
        for t in threads:
            t.join(timeout=5)
        for stream in streams:
            stream.close()
