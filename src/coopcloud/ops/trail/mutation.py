"""The guard on every operation that changes a server: `@mutation`, and the change it runs in.

An ops function that changes a server is decorated `@mutation`. It runs only while a
`TrackedChange` is active — `coopcloud.ops.trail.audit.tracked()` makes one active, and commands
reach it through `coopcloud.ops.app.context.AppContext.mutating()` — and its first call begins that
change (lock held, plan re-checked, "started" written). Called outside, it raises `OutsideMutating`.

This module is the bottom of ops/trail: the lock (`lock.break_lock` is a mutation) and the audit
trail both import it; it imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, Protocol, TypeVar, overload


class Releasable(Protocol):
    """What a change needs of the app lock it holds (a `coopcloud.ops.trail.lock.HeldLock`)."""

    warnings: list[str]

    def release(self) -> None: ...


@dataclass
class TrackedChange:
    """What a tracked command fills in as it learns it; recorded when the block ends."""

    version_from: str | None = None
    version_to: str | None = None
    plan: list[str] = field(default_factory=list)
    detail: str | None = None
    result: str | None = None  # set to override what the outcome implies (e.g. ROLLED_BACK)
    failed_run: str | None = None  # a backup failed after its restic run began: that run's tag (see Event)
    run: str | None = None  # `backup create`'s run tag, known before its start is written (see Event)
    lock: Releasable | None = None  # when the command took the lock
    record: bool = True  # False: nothing happened worth a line (the operator answered no)
    recheck: list[Callable[[], None]] = field(default_factory=list)  # run by begin() once the lock is held
    started: str | None = None  # the "started" event's config, once begin() wrote it
    _take: Callable[[], Releasable] | None = field(default=None, repr=False)
    _start: Callable[[TrackedChange], str] | None = field(default=None, repr=False)

    def take_lock(self) -> Releasable:
        """Take the app's lock now, if this change does not hold it yet."""
        if self.lock is None:
            if self._take is None:
                raise RuntimeError("take_lock() outside tracked()")
            self.lock = self._take()
        return self.lock

    def begin(self) -> None:
        """Right before the first change (DESIGN §6 step 5): write the "started" line, hold the lock, and
        re-check that nothing changed since the plan (`recheck`). Idempotent; `@mutation` calls it.

        The line comes first, so a lock anyone can see always has its line: a command killed
        while it holds the lock reads "did not finish", never nothing. A lock refused or a
        re-check failed here completes that line as refused.
        """
        if self.started is not None:
            return
        if self._start is None:
            raise RuntimeError("begin() outside tracked()")
        self.started = self._start(self)
        if self._take is not None:
            self.take_lock()
        for check in self.recheck:
            check()


ACTIVE: ContextVar[TrackedChange | None] = ContextVar("coop_change", default=None)  # set by audit.tracked()


def active() -> TrackedChange | None:
    """The change being tracked in this thread of work, or None."""
    return ACTIVE.get()


class OutsideMutating(RuntimeError):
    """A server-changing operation was called outside `AppContext.mutating()`: a programming error."""


P = ParamSpec("P")
R = TypeVar("R")


@overload
def mutation(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def mutation(
    *, before: Callable[Concatenate[TrackedChange, P], None]
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def mutation(
    func: Callable[P, R] | None = None, /, *, before: Callable[Concatenate[TrackedChange, P], None] | None = None
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark an ops function that changes a server. It runs only inside `tracked()` (reached through
    `AppContext.mutating()`), and its first call begins the change: lock held, plan re-checked,
    "started" written. `before(change, *args, **kwargs)` runs first (to note the plan and its
    re-check). tests/unit/test_mutating.py finds every CLI command that reaches one.
    """
    if func is None:
        return lambda f: _mutation(f, before)
    return _mutation(func, before)


def _mutation(func: Callable[P, R], before: Callable[Concatenate[TrackedChange, P], None] | None) -> Callable[P, R]:
    import functools

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        change = ACTIVE.get()
        if change is None:
            raise OutsideMutating(f"{func.__module__}.{func.__qualname__} changes a server: call it in mutating()")
        if before is not None and change.started is None:
            before(change, *args, **kwargs)
        change.begin()
        return func(*args, **kwargs)

    wrapper.__coop_mutation__ = True  # type: ignore[attr-defined]
    return wrapper
