"""`coop app move APP SERVER`: an app, its data, its secrets and its env file, onto another swarm.

The steps, each undone when a later one fails or is interrupted, so the app runs on exactly one of
the two servers at every moment:

1. `plan_move` checks both servers, read-only (see plan.py); the locks are taken (the app's on the
   source, its stack's on the target).
2. Secrets: read on the source from a helper that mounts them, created on the target (same names).
3. Data, first pass while the app still runs: each volume streamed node to node (transfer.py).
4. The app stops on the source (its volumes and secrets stay there); the backup pre-hooks ran just
   before, so a recipe's dump is part of what moves.
5. Second pass: only what changed meanwhile; then every file is checked by sha256 on both sides.
6. The env file moves to `servers/<target>/` and the app deploys there at the same version, waiting
   until it is converged and healthy. If it is not, it is removed from the target, the env file goes
   back, and the app is deployed again on the source (exit 8).
7. `move` is recorded in both servers' histories.

The downtime is from step 4 to the end of step 6.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef
from coopcloud.errors import CoopError, RolledBack, interrupted
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from .plan import MovePlan, VolumePlan, plan_move
from .transfer import CopiedVolume, Helper, SecretMount, remove_helper, remove_leftovers, start_helper

if TYPE_CHECKING:
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.server.servers import ServerPool

__all__ = ["MovePlan", "MoveResult", "VolumePlan", "move", "plan_move"]

Say = Callable[[str], None]


@dataclass
class MoveResult:
    app: str
    source: str
    target: str
    version: str | None
    secrets: list[str] = field(default_factory=list)
    volumes: list[CopiedVolume] = field(default_factory=list)
    downtime: float = 0.0  # seconds, from the stop on the source to converged on the target

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "server": self.source,
            "target": self.target,
            "version": self.version,
            "secrets": self.secrets,
            "volumes": [
                {"volume": c.volume, "files": c.files, "bytes": c.bytes, "resent_files": c.resent_files}
                for c in self.volumes
            ],
            "downtime_seconds": round(self.downtime, 1),
        }


@dataclass
class _Made:
    """What this move created on the target, to remove if it does not finish."""

    secrets: list[str] = field(default_factory=list)
    volumes: list[tuple[Engine, str]] = field(default_factory=list)


def helper_image(settings: Settings) -> str:
    """Helpers need /bin/sh, cat, tar, find, xargs and sha256sum: the backup jobs' restic image has them."""
    from coopcloud.ops.backup import restic_image

    return restic_image(settings)


def move(
    settings: Settings,
    pool: ServerPool,
    plan: MovePlan,
    *,
    operator: str,
    say: Say = lambda _line: None,
    progress: Callable[[str, int], None] | None = None,
) -> MoveResult:
    """Carry out `plan` (from `plan_move`); see the module's docstring for the steps.

    Both servers' locks are held and both histories say "move" (started, then how it ended): the
    move is one change tracked on each server (`audit.tracked`), so its deploy and undeploy run as
    the `@mutation`s they are. `operator` is who the trail names (the settings' operator)."""
    from coopcloud.ops.trail import audit

    src, dst = pool.client(plan.source), pool.client(plan.target)
    with ExitStack() as stack:
        changes = [
            stack.enter_context(audit.tracked(settings, client, AppRef(server, plan.ref.name), "move", warn=say))
            for client, server in ((src, plan.source), (dst, plan.target))
        ]
        for change in changes:
            change.version_from = change.version_to = plan.version
            change.plan = [f"move {plan.source} -> {plan.target}"]
            change.begin()
        for left in remove_leftovers(src, plan.stack) + remove_leftovers(dst, plan.stack):
            say(f"removed {left}, left by an earlier move that did not finish")
        result = MoveResult(plan.ref.name, plan.source, plan.target, plan.version)
        made = _Made()
        _carry(settings, pool, plan, result, made, say, progress)
    return result


def _carry(
    settings: Settings,
    pool: ServerPool,
    plan: MovePlan,
    result: MoveResult,
    made: _Made,
    say: Say,
    progress: Callable[[str, int], None] | None,
) -> None:
    from coopcloud.errors import EngineError

    src, dst = pool.client(plan.source), pool.client(plan.target)
    image = helper_image(settings)
    helpers: list[Helper] = []
    stopped_at: float | None = None
    try:
        result.secrets = _copy_secrets(src, dst, plan, image, made, say)
        pairs = _first_pass(settings, pool, plan, image, helpers, made, say, progress, result)
        _hooks(settings, pool, plan, "pre-hook", say)
        say(f"stopping {plan.ref.name} on {plan.source} (its volumes and secrets stay there)")
        from coopcloud.ops.app.lifecycle import undeploy

        stopped_at = time.monotonic()
        undeploy(src, plan.ref)
        for (source, target), copied in zip(pairs, result.volumes):
            say(f"{copied.volume}: second pass, then every file checked by sha256")
            sync_progress = (lambda n, v=copied.volume: progress(v, n)) if progress else None
            from .transfer import sync_volume

            sync_volume(source, target, copied, progress=sync_progress)
        for helper in helpers:
            remove_helper(helper.manager, helper.service)
        helpers.clear()
        _deploy_on_target(settings, pool, plan, say)
        result.downtime = time.monotonic() - stopped_at
        try:
            _hooks(settings, pool, plan, "post-hook", say)
        except CoopError as exc:
            say(f"warning: {exc}")
    except BaseException as exc:
        for helper in helpers:
            remove_helper(helper.manager, helper.service)
        # and any this move made that it did not get to know: one whose service_create an interruption
        # cut short after the engine had created it (the move holds both locks: each is this move's)
        for manager in (src, dst):
            try:
                remove_leftovers(manager, plan.stack)
            except EngineError:
                pass  # unreachable: the next move of the app removes them (remove_leftovers at its start)
        back = _put_back(settings, pool, plan, made, stopped_at is not None, say)
        if isinstance(exc, KeyboardInterrupt):
            raise interrupted(exc, f"app {plan.ref.name}: move interrupted; {back}") from None
        if stopped_at is not None and not isinstance(exc, RolledBack):
            raise RolledBack(f"app {plan.ref.name} was not moved ({exc}); {back}") from exc
        raise


def _copy_secrets(src: Engine, dst: Engine, plan: MovePlan, image: str, made: _Made, say: Say) -> list[str]:
    from .transfer import read_secrets

    if not plan.secrets:
        return []
    mounts = [SecretMount(s.id, s.name) for s in plan.secrets]
    helper = start_helper(src, src, stack=plan.stack, image=image, node_id=plan.source_manager.id, secrets=mounts)
    try:
        values = read_secrets(helper, mounts)
    finally:
        remove_helper(src, helper.service)
    for secret in plan.secrets:
        dst.secret_create(secret.name, values.pop(secret.name), labels=secret.labels)
        made.secrets.append(secret.name)
    say(f"{len(plan.secrets)} secret{'s' if len(plan.secrets) != 1 else ''} created on {plan.target}")
    return [s.name for s in plan.secrets]


def _first_pass(
    settings: Settings,
    pool: ServerPool,
    plan: MovePlan,
    image: str,
    helpers: list[Helper],
    made: _Made,
    say: Say,
    progress: Callable[[str, int], None] | None,
    result: MoveResult,
) -> list[tuple[Helper, Helper]]:
    from coopcloud.ops.server.nodes import engine_for_node

    from .transfer import copy_volume

    src, dst = pool.client(plan.source), pool.client(plan.target)
    pairs = []
    for vol in plan.volumes:
        src_node = engine_for_node(settings, pool, plan.source, vol.source_node.id, why=f"to copy {vol.name}")
        dst_node = engine_for_node(settings, pool, plan.target, vol.target_node.id, why=f"to receive {vol.name}")
        dst_node.volume_create(vol.name, labels=vol.labels, driver=vol.driver)
        made.volumes.append((dst_node, vol.name))
        source = start_helper(src, src_node, stack=plan.stack, image=image, node_id=vol.source_node.id, volume=vol.name)
        helpers.append(source)
        target = start_helper(
            dst,
            dst_node,
            stack=plan.stack,
            image=image,
            node_id=vol.target_node.id,
            volume=vol.name,
            read_only=False,
        )
        helpers.append(target)
        say(f"{vol.name}: copying from {vol.source_node.hostname} to {vol.target_node.hostname}")
        step = (lambda n, v=vol.name: progress(v, n)) if progress else None
        result.volumes.append(copy_volume(source, target, vol.name, progress=step))
        pairs.append((source, target))
    return pairs


def _hooks(settings: Settings, pool: ServerPool, plan: MovePlan, which: str, say: Say) -> None:
    """The recipe's backup pre-hooks (a database dump, typically) run on the source just before the stop,
    so a consistent dump is part of what moves (a failing one stops the move while the app still runs);
    its post-hooks (removing the dump) run on the target once the app converged there."""
    from coopcloud.errors import NotFound
    from coopcloud.ops.backup import inspect_app, run_hook
    from coopcloud.ops.server.nodes import engine_for_service

    server = plan.source if which == "pre-hook" else plan.target
    ref = AppRef(server=server, name=plan.ref.name)
    client = pool.client(server)
    try:
        app = inspect_app(settings, client, ref)
    except NotFound:
        return  # the recipe declares no backups
    for svc in app.spec.services:
        hook = svc.pre_hook if which == "pre-hook" else svc.post_hook
        if hook:
            say(f"{svc.service}: backup {which}")
            run_hook(
                client,
                ref,
                svc,
                f"backup {which}",
                hook,
                engine_for=lambda name: engine_for_service(settings, pool, ref, name),
            )


def _deploy_on_target(settings: Settings, pool: ServerPool, plan: MovePlan, say: Say) -> None:
    from coopcloud.ops.deploy import apply, prepare

    say(f"deploying {plan.ref.name} {plan.version or ''} on {plan.target}".replace("  ", " "))
    try:
        _move_env(settings, plan, plan.source, plan.target)
        prepared = prepare(settings, pool, plan.ref.name, version=plan.version, force=True)
        apply(settings, pool, prepared, rollback=False)
    except BaseException:
        _move_env(settings, plan, plan.target, plan.source, missing_ok=True)
        raise


def _move_env(settings: Settings, plan: MovePlan, frm: str, to: str, *, missing_ok: bool = False) -> bool:
    """Move the app's env file (and its lockfile) from servers/<frm>/ to servers/<to>/."""
    base = settings.servers_dir
    (base / to).mkdir(parents=True, exist_ok=True)
    moved = False
    for name in (f"{plan.ref.name}.env", f"{plan.ref.name}.lock.json"):
        here = base / frm / name
        if here.exists():
            shutil.move(str(here), str(base / to / name))
            moved = True
    if not moved and not missing_ok:
        raise CoopError(f"app {plan.ref.name}: its env file is no longer in {base / frm}")
    return moved


def _put_back(settings: Settings, pool: ServerPool, plan: MovePlan, made: _Made, stopped: bool, say: Say) -> str:
    """Undo: remove what the move made on the target, and start the app again on the source when it was
    stopped. Returns where the app is now, for the error line."""
    from coopcloud.errors import EngineError
    from coopcloud.ops.app.lifecycle import stack_services, undeploy

    dst = pool.client(plan.target)
    notes = []
    # Wherever an interruption left it, the env file belongs to the source again.
    _move_env(settings, plan, plan.target, plan.source, missing_ok=True)
    try:
        if stack_services(dst, plan.stack):
            undeploy(dst, AppRef(server=plan.target, name=plan.ref.name))
        for node_engine, volume in made.volumes:
            _remove_volume(node_engine, volume)
        for secret in made.secrets:
            dst.secret_remove(secret)
    except EngineError as exc:
        notes.append(f"some of what it made on {plan.target} is left ({exc.message})")
    if not stopped:
        return f"it runs on {plan.source} as before" + (f"; {notes[0]}" if notes else "")
    try:
        say(f"starting {plan.ref.name} again on {plan.source}")
        from coopcloud.ops.deploy import apply, prepare

        apply(settings, pool, prepare(settings, pool, plan.ref.name, version=plan.version, force=True))
    except CoopError as again:
        return f"and starting it again on {plan.source} failed too ({again}): run coop app deploy {plan.ref.name}"
    return f"it runs on {plan.source} again, as before" + (f"; {notes[0]}" if notes else "")


def _remove_volume(engine: Engine, volume: str, *, wait: float = 60.0) -> None:
    """Remove a volume this move made; its helper's container may still be stopping, holding it."""
    from coopcloud.errors import EngineError, EngineNotFound

    deadline = time.monotonic() + wait
    while True:
        try:
            engine.volume_remove(volume, force=True)
            return
        except EngineNotFound:
            return
        except EngineError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
