"""`coop app restart`: force-update an app's services and wait, with the convergence engine deploy
uses, until their new tasks run and stay up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.ops.app.ps import app_services, pick_services, short_name, stack_filter
from coopcloud.ops.deploy import converge
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.swarm import service_spec
from coopcloud.swarm.labels import main_service_name, timeout_seconds


@dataclass(frozen=True)
class Restarted:
    service: str
    before: tuple[str, ...]  # task ids running before
    after: tuple[str, ...]  # task ids running now

    def to_json(self) -> JSONDict:
        return {"service": self.service, "before": list(self.before), "after": list(self.after)}


@mutation
def restart(
    client: Engine,
    ref: AppRef,
    services: list[str] | None = None,
    *,
    timeout: float | None = None,
    interval: float = 1.0,
    report: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    nodes: converge.NodeEngines | None = None,
) -> list[Restarted]:
    """Force-update the given services (all when None) and wait until their new tasks run.

    Like ``docker service update --force``: TaskTemplate.ForceUpdate is incremented at
    the service's current version, so swarm replaces every task. Done when each
    service converged on its new tasks (`converge.wait`: tasks of the current spec, their
    containers running and healthy where they run, the update seen to start, the stability
    window). Raises DeployFailed on timeout, a paused or rolled-back update, an unhealthy
    container, or new tasks that keep failing. `nodes`: as for `converge.wait`.
    """
    all_services = app_services(client, ref)
    chosen = pick_services(ref, all_services, services) if services else all_services
    if timeout is None:
        timeout = _timeout_label(ref, all_services)
    since = views.info(client).system_time
    running_before: dict[str, list[str]] = {}
    for t in views.tasks(client, stack_filter(ref.stack_name)):
        if t.running:
            running_before.setdefault(t.service_id, []).append(t.id)
    _force_update(client, ref.stack_name, chosen, report)
    names = [svc.name for svc in chosen]
    outcome = converge.wait(
        client,
        [converge.Watch(n) for n in names],
        timeout=timeout,
        since=since,
        interval=interval,
        report=_lines(ref, report),
        nodes=nodes,
        clock=clock or time.monotonic,
        sleep=sleep or time.sleep,
    )
    if not outcome.ok:
        raise converge.converge_failure(
            ref.name, outcome, timeout=timeout, verb="restart", name=lambda n: short_name(ref.stack_name, n)
        )
    after: dict[str, list[str]] = {}
    for name in names:
        for t in views.tasks(client, {"service": [name], "_up-to-date": ["true"]}):
            if t.running:
                after.setdefault(name, []).append(t.id)
    return [
        Restarted(
            short_name(ref.stack_name, svc.name),
            tuple(sorted(running_before.get(svc.id, []))),
            tuple(sorted(after.get(svc.name, []))),
        )
        for svc in chosen
    ]


def _force_update(
    client: Engine, stack: str, chosen: list[views.Service], report: Callable[[str], None] | None
) -> None:
    """``docker service update --force``: ForceUpdate+1 at each service's current version."""
    for svc in chosen:
        spec = dict(svc.spec)
        spec["TaskTemplate"] = {**service_spec.template(svc.spec), "ForceUpdate": svc.force_update + 1}
        client.service_update(svc.id, svc.version, spec, registry_auth_from="spec")
        if report:
            report(f"restarting {short_name(stack, svc.name)}")


def _lines(
    ref: AppRef, report: Callable[[str], None] | None
) -> Callable[[list[converge.ServiceProgress]], None] | None:
    """Progress as lines, each said once when it changes."""
    if report is None:
        return None
    last: dict[str, str] = {}

    def say(progress: list[converge.ServiceProgress]) -> None:
        for p in progress:
            line = f"{short_name(ref.stack_name, p.name)}: {p.line().split(': ', 1)[1]}"
            if last.get(p.name) != line:
                last[p.name] = line
                report(line)

    return say


def _timeout_label(ref: AppRef, services: list[views.Service]) -> float:
    """The main service's coop-cloud.<stack>.timeout label, as deploy reads it."""
    by_name = {s.name: s for s in services}
    return timeout_seconds(ref.stack_name, by_name[main_service_name(ref.stack_name, by_name)].labels)
