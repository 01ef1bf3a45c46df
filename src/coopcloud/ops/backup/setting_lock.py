"""The server-wide lock around a change of a backup repository setting (`coop server backup-repo`).

A setting is a generation of secrets shared by every operator of the server: two changes at once
would each be told they won and leave two generations. The change holds the app lock machinery's
config ``coop-lock_coop-backup-settings`` (created atomically, leased, renewed); a second change
meanwhile is refused at once with exit 9, naming who holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from coopcloud.engine.protocol import Engine
from coopcloud.errors import LockHeld
from coopcloud.settings import Settings

LOCK_STACK = "coop-backup-settings"  # not an app: the lock's name only


@contextmanager
def changing_settings(settings: Settings, client: Engine, server: str, command: str) -> Iterator[None]:
    """Hold the server's backup-settings lock around a change; `LockHeld` (exit 9) when someone else holds it."""
    from coopcloud.ops.trail import lock
    from coopcloud.ops.trail.operator import operator

    what = f"server {server}: backup repository settings"
    try:
        held = lock.acquire(
            client,
            app=what,
            stack=LOCK_STACK,
            command=command,
            operator=operator(settings),
            lease=lock.lease_seconds(settings),
        )
    except LockHeld as exc:
        found = lock.read(client, LOCK_STACK)
        who = found.describe() if found is not None else "someone else"
        raise LockHeld(
            f"{what} are being changed by {who}; nothing was changed",
            hint=f"run it again once that change ended (see: coop server backup-repo {server})",
        ) from exc
    try:
        yield
    finally:
        held.release()
