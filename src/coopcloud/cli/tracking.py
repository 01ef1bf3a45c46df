"""The audit trail around a command that plans before it changes (deploy, upgrade, rollback).

The trail starts before the plan, so a refused command (a downgrade, a lock held by
someone else) is recorded too; the lock is taken after the plan was shown and
approved (`coopcloud.ops.deploy.guard.lock_for_apply`). A dry run is neither locked nor recorded.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from coopcloud.cli.context import Runtime
from coopcloud.ops.trail.audit import Change


def tracking(rt: Runtime, app_name: str, command: str, *, dry_run: bool) -> AbstractContextManager[Change]:
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.trail import audit

    if dry_run:
        return nullcontext(Change(record=False))
    ref = find_app(rt.settings, app_name)
    return audit.tracked(
        rt.settings, rt.servers().client(ref.server), ref, command, lock=False, check_free=True, warn=rt.out.warn
    )
