"""The app lock: one Docker config per app on its server, created atomically.

Docker refuses a second config of the same name (409 Conflict), so creating
``coop-lock_<stack>`` is the test-and-set: of two operators, exactly one gets
it; the other is told who holds it, running what, since when (`LockHeld`,
exit 9). Its labels name the holder, command, pid, host, start and lease.

The lease is measured on the server's clock, never an operator's: it runs from
the config's ``UpdatedAt`` (set by the swarm manager, bumped by each renewal)
for ``coop.lock.lease`` seconds. A holder renews it while it works; a holder
that died (SIGKILL, lost laptop) leaves a lock that expires, or that another
operator breaks with ``coop app unlock APP``.

    with hold(client, app="cloud.example.org", stack="cloud_example_org",
              command="undeploy", operator="alice@example.org"):
        ...  # the app changes only in here
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from coopcloud.domain.words import human_time, json_time
from coopcloud.engine.views import Config
from coopcloud.errors import EngineConflict, EngineError, EngineNotFound, LockHeld
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.engine import Engine

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LOCK_LABEL = "coop.lock"  # = the stack; not com.docker.stack.namespace: undeploy would remove it
DEFAULT_LEASE = 15 * 60  # seconds; renewed every third of it while the holder works
NAME_LIMIT = 64  # Docker's limit for config names


def lock_name(stack: str) -> str:
    """``coop-lock_<stack>``; a stack too long for that keeps a prefix and a hash (still one name per stack)."""
    name = f"coop-lock_{stack}"
    if len(name) <= NAME_LIMIT:
        return name
    import hashlib

    digest = hashlib.sha256(stack.encode()).hexdigest()[:12]
    return f"coop-lock_{stack[: NAME_LIMIT - len('coop-lock__') - 12]}_{digest}"


def lease_seconds(settings: Settings) -> int:
    """``$COOP_LOCK_LEASE`` (seconds) or 15 minutes."""
    raw = settings.environ.get("COOP_LOCK_LEASE", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_LEASE
    except ValueError:
        return DEFAULT_LEASE


def utc_text(when: datetime) -> str:
    return human_time(when)


@dataclass(frozen=True)
class LockInfo:
    """A lock as found on the server."""

    id: str
    version: int
    stack: str
    app: str
    holder: str
    command: str
    pid: int | None
    host: str
    started: datetime
    renewed: datetime  # server time of the last renewal (the config's UpdatedAt)
    lease: int
    token: str

    @property
    def expires(self) -> datetime:
        return self.renewed + timedelta(seconds=self.lease)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def describe(self) -> str:
        """``alice@example.org: deploy (pid 4242 on laptop) since 2026-11-29 22:41:07 UTC``"""
        pid = f"pid {self.pid} on {self.host}" if self.pid else f"on {self.host}"
        return f"{self.holder}: {self.command} ({pid}) since {utc_text(self.started)}"

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "holder": self.holder,
            "command": self.command,
            "pid": self.pid,
            "host": self.host,
            "since": json_time(self.started),
            "expires": json_time(self.expires),
        }

    @classmethod
    def from_config(cls, config: Config) -> LockInfo:
        from coopcloud.engine.views import parse_time

        labels = config.labels

        def label(key: str, default: str = "") -> str:
            return labels.get(f"{LOCK_LABEL}.{key}", default)

        created = config.created_at or _EPOCH
        try:
            pid: int | None = int(label("pid"))
        except ValueError:
            pid = None
        try:
            lease = int(label("lease", str(DEFAULT_LEASE)))
        except ValueError:
            lease = DEFAULT_LEASE
        try:
            started = parse_time(label("start")) or created
        except ValueError:
            started = created
        return cls(
            id=config.id,
            version=config.version,
            stack=labels.get(LOCK_LABEL, ""),
            app=label("app"),
            holder=label("holder", "someone"),
            command=label("command", "a command"),
            pid=pid,
            host=label("host", "an unknown host"),
            started=started,
            renewed=config.updated_at or created,
            lease=lease,
            token=label("token"),
        )


def read(client: Engine, stack: str) -> LockInfo | None:
    """The app's lock, or None when it is free."""
    try:
        return LockInfo.from_config(Config.from_json(client.config(lock_name(stack))))
    except EngineNotFound:
        return None


def server_now(client: Engine) -> datetime:
    """The server's clock (``/info`` SystemTime): leases are judged by it, not by ours."""
    from coopcloud.engine import views

    try:
        return views.info(client).now or datetime.now(UTC)
    except ValueError:
        return datetime.now(UTC)


@dataclass(frozen=True)
class LockStatus:
    """`app lock`: who holds the app's lock, and whether its lease ran out (by the server's clock)."""

    app: str
    lock: LockInfo | None
    expired: bool

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "locked": self.lock is not None,
            "expired": self.expired,
            "lock": self.lock.to_json() if self.lock else None,
        }


def status(client: Engine, app: str, stack: str) -> LockStatus:
    """Who holds the app's lock, read-only."""
    found = read(client, stack)
    return LockStatus(app, found, found is not None and found.expired(server_now(client)))


@dataclass(frozen=True)
class Broken:
    """`app unlock`: the lock it broke (None when the app was not locked)."""

    app: str
    lock: LockInfo | None

    def to_json(self) -> JSONDict:
        return {"app": self.app, "broken": self.lock.to_json() if self.lock else None}


def held_message(app: str, info: LockInfo) -> LockHeld:
    return LockHeld(
        f"app {app} is locked by {info.describe()}, lease until {utc_text(info.expires)}",
        hint=f"wait for it to finish, or if it no longer runs: coop app unlock {app}",
    )


@dataclass
class HeldLock:
    """A lock this process holds; renewed in the background until `release()`."""

    client: Engine
    app: str
    stack: str
    name: str
    token: str
    lease: int
    took_over: LockInfo | None = None  # an expired lock this one replaced
    lost: bool = False  # someone broke it while we worked
    warnings: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name=f"lock-renew-{self.stack}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        # The main thread keeps its connection; renewals go over a second one (the client is not thread-safe).
        other = None
        try:
            while not self._stop.wait(max(0.5, self.lease / 3)):
                if other is None:
                    other = self.client.clone(timeout=60)
                if not self.renew(other):
                    return
        except Exception as exc:  # a failed renewal must not kill the command; the lease still runs
            self.warnings.append(f"app {self.app}: renewing the lock failed ({exc}); it may expire")
        finally:
            if other is not None:
                other.close()

    def renew(self, client: Engine) -> bool:
        """Push the lease forward (a label update bumps the config's UpdatedAt). False when the lock is no longer ours."""
        try:
            found = Config.from_json(client.config(self.name))
        except EngineNotFound:
            self.lost = True
            return False
        if found.labels.get(f"{LOCK_LABEL}.token") != self.token:
            self.lost = True
            return False
        labels = dict(found.labels)
        labels[f"{LOCK_LABEL}.renewals"] = str(int(labels.get(f"{LOCK_LABEL}.renewals", "0") or 0) + 1)
        # The engine lets only labels change; name and data go back as they are.
        spec = {"Name": found.name, "Labels": labels, "Data": base64.b64encode(found.data).decode()}
        client.config_update(found.id, found.version, spec)
        return True

    def release(self) -> None:
        """Remove the lock if it is still ours. Never raises: the command's own outcome matters more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            found = Config.from_json(self.client.config(self.name))
            if found.labels.get(f"{LOCK_LABEL}.token") != self.token:
                self.lost = True
            else:
                self.client.config_remove(found.id)
        except EngineNotFound:
            self.lost = True
        except EngineError as exc:
            self.warnings.append(
                f"app {self.app}: the lock could not be released ({exc}); it expires by itself, "
                f"or run: coop app unlock {self.app}"
            )
        if self.lost:
            self.warnings.append(f"app {self.app}: the lock was broken by someone else while this command ran")


def acquire(
    client: Engine,
    *,
    app: str,
    stack: str,
    command: str,
    operator: str,
    lease: int = DEFAULT_LEASE,
    host: str | None = None,
) -> HeldLock:
    """Take the app's lock or raise `LockHeld` naming the holder. An expired lock is replaced."""
    from coopcloud.ops.trail.operator import hostname

    name = lock_name(stack)
    token = _random.token_hex(8)
    now_local = datetime.now(UTC)
    labels = {
        LOCK_LABEL: stack,
        f"{LOCK_LABEL}.app": app,
        f"{LOCK_LABEL}.holder": operator,
        f"{LOCK_LABEL}.command": command,
        f"{LOCK_LABEL}.pid": str(os.getpid()),
        f"{LOCK_LABEL}.host": host or hostname(),
        f"{LOCK_LABEL}.start": now_local.strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{LOCK_LABEL}.lease": str(lease),
        f"{LOCK_LABEL}.token": token,
    }
    body = json.dumps({k.removeprefix(f"{LOCK_LABEL}."): v for k, v in labels.items() if not k.endswith(".token")})
    took_over = None
    for attempt in (1, 2):
        try:
            client.config_create(name, body.encode(), labels=labels)
            break
        except EngineConflict:
            found = read(client, stack)
            if found is None and attempt == 1:
                continue  # released between our create and our read: try once more
            if found is None or attempt == 2 or not found.expired(server_now(client)):
                raise (
                    held_message(app, found)
                    if found
                    else LockHeld(f"app {app} is being locked by someone else right now", hint="try again in a moment")
                ) from None
            try:
                client.config_remove(found.id)  # by ID: a newer lock under the same name is not touched
            except EngineNotFound:
                pass
            took_over = found
    held = HeldLock(client, app, stack, name, token, lease, took_over=took_over)
    held.start_renewing()
    return held


@contextmanager
def hold(
    client: Engine, *, app: str, stack: str, command: str, operator: str, lease: int = DEFAULT_LEASE
) -> Iterator[HeldLock]:
    """The lock around a block: released on success, failure and Ctrl-C."""
    held = acquire(client, app=app, stack=stack, command=command, operator=operator, lease=lease)
    try:
        yield held
    finally:
        held.release()


def check_free(client: Engine, app: str, stack: str) -> None:
    """Raise `LockHeld` when someone holds the app's lock now (read-only; an expired lock counts as free)."""
    found = read(client, stack)
    if found is not None and not found.expired(server_now(client)):
        raise held_message(app, found)


@mutation
def break_lock(client: Engine, stack: str) -> LockInfo | None:
    """Remove the app's lock whoever holds it; returns what it was (None when it was free)."""
    found = read(client, stack)
    if found is None:
        return None
    try:
        client.config_remove(found.id)
    except EngineNotFound:
        pass
    return found
