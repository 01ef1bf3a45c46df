"""The one owner of a change to a deployed app (DESIGN §6 steps 5–9): begin (lock, re-check, "started")
→ snapshot → apply → converge → whole-app rollback → optional data restore → record.

deploy, upgrade, rollback and secret rotation all call `execute()`; a CLI command only parses,
prepares, shows, confirms, calls it, and renders what it returns::

    app = AppContext.open(settings, pool, "cloud.example.org")
    with app.mutating("upgrade", lock="at begin"):
        prepared = deploy.prepare(settings, pool, app.name, version="2.0.0+2.0")
        result = deploy.execute(prepared, app, DeployOptions(snapshot="pre-upgrade"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coopcloud.errors import CoopError, DeployFailed, RolledBack
from coopcloud.ops.trail.mutation import mutation

from .planning import DeployResult, Prepared

if TYPE_CHECKING:
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.backup import Created
    from coopcloud.ops.deploy.converge import ServiceProgress
    from coopcloud.ops.trail.audit import Event
    from coopcloud.ops.trail.mutation import TrackedChange


@dataclass(frozen=True)
class DeployOptions:
    """How `execute()` runs. The defaults are `coop app deploy`'s."""

    converge: bool = True  # wait for convergence (False: --no-converge-checks)
    rollback: bool = True  # roll the whole app back when it does not converge (False: --no-rollback, exit 7)
    snapshot: str | None = None  # "pre-upgrade", "pre-rollback": snapshot the app's data first, if it declares backups
    backup: bool = True  # False (--no-backup): no snapshot even so, with a warning
    restore_on_failure: bool = False  # rolled back: also restore the data from that snapshot
    progress: Callable[[list[ServiceProgress]], None] | None = None  # convergence progress rows
    notify: Callable[[str], None] | None = None  # informational lines ("rolling every service back...")
    on_password: Callable[[str], None] | None = None  # a backup repository password generated now: show it once


def _begin(change: TrackedChange, prepared: Prepared, app: AppContext, options: DeployOptions) -> None:
    """DESIGN §6 step 5, between the approved plan and the first change: the trail notes versions and
    plan; once the lock is held, the app must be as the plan found it (`check_unchanged`)."""
    from coopcloud.ops.deploy.guard import check_unchanged

    change.version_from, change.version_to = prepared.previous_version, prepared.version
    change.plan = prepared.plan.audit_lines()
    change.recheck.append(lambda: check_unchanged(app.engine, prepared.app, prepared.stack, prepared.pre.live))


@mutation(before=_begin)
def execute(prepared: Prepared, app: AppContext, options: DeployOptions) -> DeployResult:
    """Change the server as `prepared` says, inside `app.mutating(...)`; returns the result once it converged.

    Raises RolledBack (exit 8: every service back on what ran before; the snapshot taken first is
    named, or restored with `restore_on_failure`), DeployFailed (exit 7), or the error that stopped
    it before anything changed. The env pins the version and the trail records it only once converged.
    """
    from .rollout import apply

    snapshot = _snapshot(prepared, app, options)
    try:
        return apply(
            app.settings,
            app.pool,
            prepared,
            converge=options.converge,
            rollback=options.rollback,
            progress=options.progress,
            notify=options.notify,
            rollback_refused=lambda: rollback_refused(prepared, app),
        )
    except DeployFailed as exc:
        raise _naming_the_snapshot(app, exc, snapshot, options) from exc


def last_converged(events: Sequence[Event]) -> str | None:
    """The release of the last change recorded "ok" here: the last state known to converge. Pure."""
    from coopcloud.ops.trail.audit import OK

    return next((e.version_to for e in reversed(events) if e.result == OK and e.version_to), None)


def rollback_refused(prepared: Prepared, app: AppContext) -> str | None:
    """Why the state before this change is no place to roll the whole app back to (None: it is).

    A whole-app rollback goes back only to a state that converged: the release of the last "ok"
    in the app's history. An app with no "ok" in its history (deployed by abra, trail lost) is
    trusted if it was converged when this change was prepared.
    """
    from coopcloud.ops.trail.audit import history

    last = last_converged(history(app.engine, app.stack))
    previous = prepared.previous_version
    if last is not None and last == previous:
        return None
    if last is None and not prepared.not_converged:
        return None
    what = f"what ran before ({previous or 'unlabelled'})"
    if prepared.not_converged:
        name, why = next(iter(sorted(prepared.not_converged.items())))
        what += f" was not converged when this deploy began ({name}: {why})"
    else:
        what += " never converged here"
    if last is None:
        return f"{what}, and no release converged here — see: coop app errors {app.name}"
    return f"{what}; the last release that converged here is {last} — to go back to it, run: coop app deploy {app.name} {last}"


def _snapshot(prepared: Prepared, app: AppContext, options: DeployOptions) -> Created | None:
    """The data snapshot taken before anything changes (None when not asked, or the app declares no backups)."""
    from coopcloud.ops import backup as backups

    if options.snapshot is None or not backups.declares_backups(app.engine, app.ref):
        return None
    direction = options.snapshot.removeprefix("pre-")
    if not options.backup:
        app.warn(
            f"app {app.name}: no snapshot of its data before this {direction} (--no-backup): "
            "if the new release damages the data, there is no copy to restore"
        )
        return None
    _note(options, f"app {app.name}: taking a {options.snapshot} snapshot of its data")
    try:
        taken = backups.create(
            app.settings,
            app.engine,
            app.ref,
            why=options.snapshot,
            on_password=options.on_password,
            engine_for=app.engine_for_service,
        )
    except CoopError as exc:  # a failed snapshot stops the change before anything changed (exit 1)
        exc.hint = f"nothing was changed; fix it, or {direction} without a snapshot: --no-backup"
        raise
    for warning in taken.warnings:  # an empty declared directory, a failing post-hook...
        app.warn(warning)
    _note(options, f"app {app.name}: {options.snapshot} snapshot {taken.short_id} taken ({taken.files} files)")
    return taken


def _note(options: DeployOptions, line: str) -> None:
    if options.notify:
        options.notify(line)


def _naming_the_snapshot(
    app: AppContext, exc: DeployFailed, snapshot: Created | None, options: DeployOptions
) -> DeployFailed:
    """The failure, with the snapshot taken first named (and, when asked and rolled back, restored)."""
    from coopcloud.ops import backup as backups

    if snapshot is None:
        return exc
    short, command = snapshot.short_id, f"coop app restore {app.name} {snapshot.short_id}"
    kind = type(exc)
    if options.restore_on_failure and isinstance(exc, RolledBack):
        _note(options, f"app {app.name}: restoring its data from snapshot {short}")
        try:
            backups.restore(app.settings, app.engine, app.ref, snapshot.snapshot, engine_for=app.engine_for_service)
        except CoopError as failed:
            return kind(
                f"{exc.message}; restoring the data from snapshot {short} failed too: {failed.message}",
                hint=f"run: {command}",
                details=exc.details,
            )
        return kind(
            f"{exc.message}; the data was restored from the {options.snapshot} snapshot {short}",
            hint=exc.hint,
            details=exc.details,
        )
    return kind(
        f"{exc.message}; the data as it was before is in snapshot {short}",
        hint=f"to bring it back too, run: {command}",
        details=exc.details,
    )
