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
    from coopcloud.ops.trail.audit import Event


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


def unfinished_change(client: Engine, stack: str, running: str) -> Event | None:
    """The newest change in the app's history that took it to `running` and did not finish (killed, or
    interrupted while swarm went on rolling it out): why the env does not pin what runs."""
    from coopcloud.ops.trail.audit import DID_NOT_FINISH, INTERRUPTED, history

    for event in reversed(history(client, stack)):
        if event.version_to == running:
            return event if event.result in (DID_NOT_FINISH, INTERRUPTED) else None
    return None


def check_pinned(
    client: Engine, app: str, server: str, stack: str, *, running: str | None, target: str, explicit: bool
) -> None:
    """`check_downgrade`, told apart from a crash: when the release that runs came from a change that
    did not finish here (the env was never pinned to it), say so and name the deploy that pins it."""
    try:
        check_downgrade(app, server, running=running, target=target, explicit=explicit)
    except Downgrade as exc:
        assert running is not None
        event = unfinished_change(client, stack, running)
        if event is None:
            raise
        how = "was interrupted" if event.result == "interrupted" else "did not finish"
        raise Downgrade(
            f"app {app}: {server} runs {running}, from a {event.command} by {event.who} at {event.when} that {how}, "
            f"so the env still pins {target}",
            hint=f"to keep {running} and pin it, run: coop app deploy {app} {running}; "
            f"to go back on purpose: coop app deploy {app} {target}",
        ) from exc


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
