"""Steps 6–8 of a deploy: change the server, wait for convergence, and roll the whole app back
(or undo a change the engine refused half-way) when it does not converge."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import DeployFailed, RolledBack, interrupted
from coopcloud.ops.deploy.plan import ServicePlan, with_live_tasks
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import get_map, get_str, str_map
from coopcloud.settings import Settings

from .planning import DeployResult, Prepared
from .state import record

if TYPE_CHECKING:
    from coopcloud.ops.deploy.converge import ConvergeResult, NodeEngines, ServiceProgress
    from coopcloud.ops.server.servers import ServerPool

T = TypeVar("T")

# Between two looks at the services while waiting for convergence: the window's end is seen within it.
POLL_INTERVAL = 0.5


@dataclass
class Applied:
    """What apply changed on the server, in order: what undoing it takes."""

    networks: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # services
    updated: list[str] = field(default_factory=list)  # services whose spec changed
    resent: list[str] = field(default_factory=list)  # unchanged specs sent again to converge them

    @property
    def services(self) -> list[str]:
        return self.created + self.updated + self.resent

    @property
    def changed_services(self) -> bool:
        return bool(self.created or self.updated)


def _spec_changed(sp: ServicePlan) -> bool:
    """An update that changes the spec (not one that only re-sends it to converge a stuck service)."""
    return sp.action in ("update", "bookkeeping") and any(c.what != "state" for c in sp.changes)


def _apply_changes(client: Engine, prepared: Prepared, applied: Applied) -> None:
    """Create networks, secrets, configs, then create/update services, noting each change as it lands."""
    from coopcloud.swarm.spec import with_ids

    spec, pre = prepared.spec, prepared.pre
    for name in pre.networks_to_create:
        _landing(applied.networks, name, lambda: client.network_create(spec.networks[name]))
    secret_ids = dict(pre.secret_ids)
    for name in pre.secrets_to_create:
        body = spec.secrets[name]
        _landing(
            applied.secrets,
            name,
            lambda: client.secret_create(
                name, base64.b64decode(get_str(body, "Data")), labels=str_map(body.get("Labels"), "Labels")
            ),
        )
        secret_ids[name] = views.secret(client, name).id
    config_ids = dict(pre.config_ids)
    for name in pre.configs_to_create:
        body = spec.configs[name]
        created = _landing(
            applied.configs,
            name,
            lambda: client.config_create(
                name,
                base64.b64decode(get_str(body, "Data")),
                labels=str_map(body.get("Labels"), "Labels"),
                templating=get_map(body, "Templating"),
            ),
        )
        config_ids[name] = views.created_id(created)
    for sp in prepared.plan.services:
        if sp.action not in ("create", "update", "bookkeeping"):
            continue
        body = with_ids(prepared.desired[sp.name], secret_ids=secret_ids, config_ids=config_ids)
        if sp.action == "create":
            _landing(applied.created, sp.name, lambda: client.service_create(body))
        else:
            live = pre.live[sp.name]
            # Read the version now: swarm bumps it as an update or rollback of its own moves on.
            current = views.service(client, live.id)
            if not sp.restarts:
                body = with_live_tasks(body, live.spec)
            _landing(
                applied.updated if _spec_changed(sp) else applied.resent,
                sp.name,
                lambda: client.service_update(live.id, current.version, body),
            )


def _landing(noted: list[str], name: str, change: Callable[[], T]) -> T:
    """Make one change, noted before it is sent: a Ctrl-C during the request leaves it unknown whether
    it landed, and undo handles both (an object already gone, a spec already as it was)."""
    from coopcloud.errors import EngineError

    noted.append(name)
    try:
        return change()
    except EngineError:
        noted.pop()  # the engine answered: it did not land
        raise


def _why(result: ConvergeResult) -> tuple[str, str]:
    """(failing service, why) of a convergence that failed, in a few words."""
    bad = result.first_failure
    if bad is None:
        return "", "did not converge"
    if result.timed_out and not bad.error:
        return bad.name, f"not converged before the timeout ({bad.line().split(': ', 1)[1]})"
    return bad.name, bad.error or "did not converge"


def _details(result: ConvergeResult) -> list[str]:
    return list(result.details())


def _remove_quietly(remove: Callable[[str], None], name: str, deadline: float) -> bool:
    """Remove an object this deploy created; retried while a removed service's tasks still hold it."""
    from coopcloud.errors import EngineError, EngineNotFound

    while True:
        try:
            remove(name)
            return True
        except EngineNotFound:
            return True
        except EngineError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def undo(
    client: Engine,
    prepared: Prepared,
    applied: Applied,
    *,
    progress: Callable[[list[ServiceProgress]], None] | None = None,
    wait: bool = True,
    nodes: NodeEngines | None = None,
) -> ConvergeResult | None:
    """Put every service this deploy changed back on the spec captured in prepare, remove the services,
    configs, secrets and networks it created. Returns the convergence of the restored services (or None).
    `nodes`: where container health is read, as for `converge.wait`."""
    from coopcloud.errors import EngineNotFound
    from coopcloud.ops.deploy import converge as conv

    since = views.info(client).system_time
    watches = []
    for name in applied.updated:
        before = prepared.pre.live[name]
        try:
            current = views.service(client, before.id)
            client.service_update(before.id, current.version, before.spec)
        except EngineNotFound:
            continue  # removed meanwhile by someone else: nothing to put back
        watches.append(conv.Watch(name))
    for name in applied.created:
        try:
            client.service_remove(name)
        except EngineNotFound:
            pass
    outcome = None
    if watches and wait:
        outcome = conv.wait(
            client,
            watches,
            timeout=prepared.timeout,
            since=since,
            report=progress,
            interval=POLL_INTERVAL,
            nodes=nodes,
        )
    # Configs, secrets and networks it created, once nothing uses them; a leftover is no failure.
    deadline = time.monotonic() + 20
    for name in applied.configs:
        _remove_quietly(client.config_remove, name, deadline)
    for name in applied.secrets:
        _remove_quietly(client.secret_remove, name, deadline)
    for name in applied.networks:
        _remove_quietly(client.network_remove, name, deadline)
    return outcome


@mutation
def apply(
    settings: Settings,
    pool: ServerPool,
    prepared: Prepared,
    *,
    converge: bool = True,
    rollback: bool = True,
    progress: Callable[[list[ServiceProgress]], None] | None = None,
    notify: Callable[[str], None] | None = None,
    rollback_refused: Callable[[], str | None] | None = None,
) -> DeployResult:
    """Steps 6–9: change the server, wait for convergence, roll the whole app back on failure, record.
    Called by `execute()`, which owns the whole change.

    A deploy that does not converge, of an app
    that ran before, is rolled back (RolledBack, exit 8) unless `rollback` is False
    (DeployFailed, exit 7, the state as swarm left it), or unless `rollback_refused()` says why what
    ran before is no state to go back to (exit 7, naming it). The env pins and the lockfile
    record a version only once it converged.
    """
    from coopcloud.errors import EngineError, EngineUnreachable
    from coopcloud.ops.deploy import converge as conv
    from coopcloud.ops.server.nodes import node_engines

    client: Engine = pool.client(prepared.server)
    applied = Applied()
    try:
        _apply_changes(client, prepared, applied)
    except KeyboardInterrupt as exc:
        raise _interrupted_applying(client, prepared, applied, exc) from None
    except EngineError as exc:
        if isinstance(exc, EngineUnreachable):
            raise
        # Refused half-way: undo what landed, so a refused deploy leaves nothing behind.
        try:
            back = undo(client, prepared, applied, progress=progress)
            undone = "was undone" if back is None or back.ok else f"was put back but did not converge ({_why(back)[1]})"
        except EngineError as again:
            undone = f"could not be undone ({again.message})"
        raise EngineError(
            f"{exc.message} (app {prepared.app}: what this deploy had created or changed {undone})",
            status=exc.status,
            hint=exc.hint,
        ) from exc
    result = prepared.result(applied=True, services=applied.services)
    if converge:
        watches = [conv.Watch(n, created=True) for n in applied.created]
        watches += [conv.Watch(n) for n in applied.updated]
        watches += [conv.Watch(n, resent=True) for n in applied.resent]
        checked = [n for n in sorted(prepared.desired) if n not in applied.services]
        watches += [conv.Watch(n, changed=False) for n in checked]
        try:
            outcome = conv.wait(
                client,
                watches,
                timeout=prepared.timeout,
                since=prepared.pre.engine_time,
                report=progress,
                interval=POLL_INTERVAL,
                nodes=node_engines(settings, pool, prepared.server),
            )
        except KeyboardInterrupt as exc:
            # Every change is with swarm, which goes on rolling it out; only the watching stops. Not
            # rolled back: a Ctrl-C is as often impatience with a slow, healthy start as a change of mind.
            raise interrupted(
                exc,
                (
                    f"app {prepared.app}: {prepared.version} was applied and swarm goes on rolling it out unwatched; "
                    f"the env file was not pinned to it — see: coop app ps {prepared.app}; "
                    f"deploy again to watch it, or roll back: coop app rollback {prepared.app}"
                ),
            ) from None
        if not outcome.ok:
            _fail(
                client,
                prepared,
                applied,
                outcome,
                rollback=rollback,
                progress=progress,
                notify=notify,
                refused=rollback_refused,
            )
        result.checked = checked
        result.converge_seconds, result.stability_seconds = outcome.seconds, outcome.stability_seconds
    record(settings, prepared)
    return result


def _interrupted_applying(
    client: Engine, prepared: Prepared, applied: Applied, exc: KeyboardInterrupt
) -> BaseException:
    """A Ctrl-C between two changes: put back what landed (without waiting), so no half-deployed app is left."""
    from coopcloud.errors import EngineError

    if not (applied.services or applied.configs or applied.secrets or applied.networks):
        return interrupted(exc, f"app {prepared.app}: nothing was changed")
    try:
        undo(client, prepared, applied, wait=False)
        state = "what this deploy had changed was put back"
    except EngineError as again:
        state = f"what this deploy had changed could not all be put back ({again.message}) — see: coop app diff {prepared.app}"
    return interrupted(exc, f"app {prepared.app}: interrupted while applying; {state}")


def _fail(
    client: Engine,
    prepared: Prepared,
    applied: Applied,
    outcome: ConvergeResult,
    *,
    rollback: bool,
    progress: Callable[[list[ServiceProgress]], None] | None,
    notify: Callable[[str], None] | None,
    refused: Callable[[], str | None] | None = None,
) -> None:
    """Raise the failure of a deploy; first roll the whole app back when that is asked and possible."""
    from coopcloud.errors import EngineError
    from coopcloud.ops.deploy.converge import converge_failure

    failure = converge_failure(prepared.app, outcome, timeout=prepared.timeout)
    if not rollback or not prepared.was_deployed or not applied.changed_services:
        raise failure
    why_not = refused() if refused else None
    if why_not:
        raise DeployFailed(f"{failure.message}; not rolled back: {why_not}", hint=failure.hint, details=failure.details)
    previous = prepared.previous_version or "the previous specs"
    service, why = _why(outcome)
    if notify:
        notify(
            f"app {prepared.app}: {prepared.version} did not converge ({service}: {why}); rolling every service back to {previous}"
        )
    app = prepared.app
    outcome.wait_stopped()  # a container swarm still stops for its health would hold what the rollback needs
    try:
        back = undo(client, prepared, applied, progress=progress, nodes=outcome.nodes)
    except EngineError as exc:
        raise DeployFailed(
            f"app {app}: release {prepared.version} failed (service {service}: {why}) "
            f"and rolling back to {previous} failed too ({exc.message})",
            hint=f"see: coop app errors {app}; coop app logs {app}",
            details=failure.details,
        ) from exc
    if back is not None and not back.ok:
        b_service, b_why = _why(back)
        err = DeployFailed(
            f"app {app}: release {prepared.version} failed (service {service}: {why}) "
            f"and rolling back to {previous} failed too (service {b_service}: {b_why})",
            hint=f"see: coop app errors {app}; coop app logs {app}",
            details=failure.details + _details(back),
        )
        raise err
    err = RolledBack(
        f"app {app}: release {prepared.version} failed (service {service}: {why}); every service was rolled back to {previous}",
        hint=f"see: coop app errors {app}; coop app logs {app}",
        details=failure.details,
    )
    raise err
