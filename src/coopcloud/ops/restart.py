"""`coop app restart`: force-update an app's services and wait until their new tasks run."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable

from coopcloud.errors import DeployFailed
from coopcloud.ops.ps import (
    BAD_UPDATE_STATES,
    FAILED_STATES,
    app_services,
    classify_failure,
    pick_services,
    short_name,
    spec_replicas,
    stack_filter,
)

DEFAULT_RESTART_TIMEOUT = 300  # seconds; label coop-cloud.<stack>.timeout overrides it
MAX_RESTART_FAILURES = 3


@dataclass(frozen=True)
class Restarted:
    service: str
    before: tuple[str, ...]  # task ids running before
    after: tuple[str, ...]  # task ids running now


def restart(
    client: Any,
    ref: Any,
    services: list[str] | None = None,
    *,
    timeout: float | None = None,
    interval: float = 0.5,
    report: Callable[[str], None] | None = None,
) -> list[Restarted]:
    """Force-update the given services (all when None) and wait until their tasks run again.

    Like ``docker service update --force``: TaskTemplate.ForceUpdate is
    incremented at the service's current version, so swarm replaces every
    task. Done when each service runs as many *new* tasks as it wants and no
    old one runs. Raises DeployFailed on timeout, a paused or rolled-back
    update, or new tasks that keep failing.
    """
    all_services = app_services(client, ref)
    chosen = pick_services(ref, all_services, services) if services else all_services
    if timeout is None:
        timeout = _timeout_label(ref, all_services)
    before = client.tasks(stack_filter(ref.stack_name))
    old_ids = {t.get("ID") for t in before}
    running_before: dict[str, list[str]] = {}
    for t in before:
        if _running(t):
            running_before.setdefault(t.get("ServiceID", ""), []).append(t.get("ID", ""))
    for svc in chosen:
        spec = copy.deepcopy(svc.get("Spec") or {})
        template = spec.setdefault("TaskTemplate", {})
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        client.service_update(svc["ID"], svc["Version"]["Index"], spec, registry_auth_from="spec")
        if report:
            report(f"restarting {short_name(ref.stack_name, spec.get('Name', ''))}")
    want = {}
    for svc in chosen:
        replicas = spec_replicas(svc.get("Spec") or {})
        want[svc["ID"]] = max(1, len(running_before.get(svc["ID"], []))) if replicas is None else replicas
    ids = [svc["ID"] for svc in chosen]
    short = {svc["ID"]: short_name(ref.stack_name, svc["Spec"]["Name"]) for svc in chosen}
    deadline = time.monotonic() + timeout
    while True:
        tasks = client.tasks({"service": ids})
        pending = []
        for sid in ids:
            mine = [t for t in tasks if t.get("ServiceID") == sid]
            new = [t for t in mine if t.get("ID") not in old_ids]
            new_running = [t for t in new if _running(t)]
            old_running = [t for t in mine if t.get("ID") in old_ids and _running(t)]
            failed = [t for t in new if (t.get("Status") or {}).get("State") in FAILED_STATES]
            if len(failed) >= MAX_RESTART_FAILURES:
                _, message, _ = classify_failure(failed[-1])
                raise DeployFailed(
                    f"app {ref.name}: service {short[sid]} fails to start again ({len(failed)} failed tasks: {message})",
                    hint=f"see: coop app errors {ref.name}",
                )
            if len(new_running) < want[sid] or old_running:
                pending.append((sid, len(new_running)))
        if pending:
            for svc in client.services({"id": [sid for sid, _ in pending]}):
                update = svc.get("UpdateStatus") or {}
                if update.get("State") in BAD_UPDATE_STATES:
                    raise DeployFailed(
                        f"app {ref.name}: service {short.get(svc.get('ID'), svc.get('ID'))} update "
                        f"{update['State']}: {update.get('Message', '')}".rstrip(": "),
                        hint=f"see: coop app errors {ref.name}",
                    )
        if not pending:
            break
        if time.monotonic() >= deadline:
            detail = ", ".join(f"{short[sid]} {n}/{want[sid]} running" for sid, n in pending)
            raise DeployFailed(
                f"app {ref.name}: not running again after {timeout:g}s ({detail})",
                hint=f"see: coop app ps {ref.name} and coop app errors {ref.name}",
            )
        time.sleep(interval)
    result = []
    for sid in ids:
        after = sorted(t.get("ID", "") for t in tasks if t.get("ServiceID") == sid and _running(t))
        result.append(Restarted(short[sid], tuple(sorted(running_before.get(sid, []))), tuple(after)))
    return result


def _running(task: dict) -> bool:
    return task.get("DesiredState") == "running" and (task.get("Status") or {}).get("State") == "running"


def _timeout_label(ref: Any, services: list[dict]) -> float:
    key = f"coop-cloud.{ref.stack_name}.timeout"
    for svc in services:
        value = ((svc.get("Spec") or {}).get("Labels") or {}).get(key)
        if value:
            try:
                return float(value)
            except ValueError:
                pass
    return DEFAULT_RESTART_TIMEOUT
