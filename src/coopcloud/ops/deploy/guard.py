"""The downgrade guard: a stale env must not silently take an app back to an older release.

Operators share `$ABRA_DIR` through git; one whose clone is a commit behind
pins the version the app ran before the last upgrade. Deploying that pin would
downgrade the app (and maybe its data). The running version is read from the
server (label ``coop-cloud.<stack>.version``); when the version to deploy was not
named on the command line and is older, the deploy is refused (exit 10) with
both versions and the command that does it on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from coopcloud.domain.version import parse_version
from coopcloud.errors import Conflict, RecipeError

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.engine.views import Service
    from coopcloud.ops.deploy import Prepared
    from coopcloud.ops.trail.audit import Change


class Downgrade(Conflict):
    """The env pins an older release than the one running (exit 10, as every conflict)."""


def check_downgrade(app: str, server: str, *, running: str | None, target: str, explicit: bool) -> None:
    """Raise `Downgrade` when `target` is older than `running` and the operator did not name it. Pure.

    A running or target version that is not a release (a chaos commit, no label)
    cannot be ordered and is let through.
    """
    if explicit or not running or running == target:
        return
    try:
        older = parse_version(target) < parse_version(running)
    except RecipeError:
        return
    if older:
        raise Downgrade(
            f"app {app}: the env pins {target}, older than {running} that runs on {server} "
            "(is your copy of the env behind?)",
            hint=f"to keep {running}: update the env (e.g. git pull); to go back on purpose run: "
            f"coop app deploy {app} {target}",
        )


class ChangedMeanwhile(Conflict):
    """The app's services changed between the plan and the lock (exit 10)."""


def check_unchanged(client: Engine, app: str, stack: str, planned: Mapping[str, Service]) -> None:
    """Once the lock is held: the app's service specs are the ones the plan was made from.

    Another operator may have deployed while this one read the plan (the lock is taken after
    it). Specs are compared, not version numbers: swarm bumps those itself as an update completes.
    """
    from coopcloud.engine.views import services
    from coopcloud.swarm.labels import STACK_LABEL

    now = {s.name: s.spec for s in services(client, {"label": [f"{STACK_LABEL}={stack}"]})}
    before = {name: svc.spec for name, svc in planned.items()}
    if now != before:
        raise ChangedMeanwhile(
            f"app {app} changed on the server while the plan was shown (someone else deployed?)",
            hint="run the command again to see the new plan",
        )


def lock_for_apply(change: Change, client: Engine, prepared: Prepared) -> None:
    """DESIGN §6 step 5, between the plan and the first change: note what is about to happen in the
    trail, take the app's lock, and check nobody changed the app since the plan was made."""
    note_plan(change, prepared)
    change.take_lock()
    check_unchanged(client, prepared.app, prepared.stack, prepared.pre.live)


def note_plan(change: Change, prepared: Prepared) -> None:
    """The trail's versions and plan summary for a prepared deploy (never a value)."""
    from coopcloud.ops.trail.audit import summarize

    change.version_from = prepared.previous_version
    change.version_to = prepared.version
    change.plan = summarize(prepared.plan)
