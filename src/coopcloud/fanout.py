"""One function over many items in parallel: the one home for coop's thread pools.

Servers, nodes and recipes are asked at once (`fan_out`: a bounded pool, results in input order);
DNS names are asked with a deadline (`fan_out_within`: a lookup still stuck is left behind).
Per-item errors are the caller's: `fn` catches what should not hide the other items and returns it
as a value; anything else it raises is raised here. Long-lived single threads (log pumps, lock
renewal, stdin feeders) are not fan-outs and stay with their owners.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 8  # at most this many at once: servers and registries, not the CPU, are the bottleneck


def fan_out(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = WORKERS,
    meanwhile: Callable[[], object] | None = None,
    on_interrupt: Callable[[], object] | None = None,
) -> list[R]:
    """`fn(item)` for each item, at most `workers` at once; the results in the order of `items`.

    Every call ends before this returns or raises; when some raised, the first of them in input order
    is raised. One item (and no `meanwhile`) runs in this thread. `meanwhile` runs here while the
    workers do (e.g. imports the results will need). `on_interrupt` is called when Ctrl-C reaches
    this thread while workers run (they finish what they started first; say so, or tell them to stop).
    """
    todo = list(items)
    if len(todo) <= 1 and meanwhile is None:
        return [fn(item) for item in todo]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo))))
    try:
        futures = [pool.submit(fn, item) for item in todo]
        if meanwhile is not None:
            meanwhile()
        return [f.result() for f in futures]
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt()
        raise
    finally:
        pool.shutdown(wait=True)


def fan_out_within(fn: Callable[[T], R], items: Iterable[T], timeout: float) -> dict[T, R | None]:
    """item -> `fn(item)`, or None for an item whose call did not end within `timeout` seconds.
    All are asked at once, one daemon thread each; a stuck call is left behind, never waited for."""
    results: dict[T, R] = {}
    lock = threading.Lock()

    def ask(item: T) -> None:
        found = fn(item)
        with lock:
            results[item] = found

    threads = {item: threading.Thread(target=ask, args=(item,), daemon=True) for item in dict.fromkeys(items)}
    for t in threads.values():
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads.values():
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return {item: results.get(item) for item in threads}
