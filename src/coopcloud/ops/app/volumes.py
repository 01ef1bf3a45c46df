"""An app's volumes: list them, and remove them once the app is undeployed."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from coopcloud.domain.results import RemovedFrom
from coopcloud.domain.words import json_time
from coopcloud.engine import views
from coopcloud.errors import Conflict, EngineError, EngineNotFound, NotFound, UsageError
from coopcloud.ops.app.ps import short_name, stack_filter
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine


@dataclass(frozen=True)
class AppVolume:
    """One of an app's volumes, as `app volume ls` reports it (`engine.views.Volume` is the engine's view)."""

    name: str
    volume: str  # short name (without "<stack>_")
    driver: str
    mountpoint: str
    created: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        return asdict(self)


def volumes(client: Engine, ref: AppRef) -> list[AppVolume]:
    """Volumes labelled with the app's stack (as `docker stack deploy` labels them): one request."""
    return [
        AppVolume(
            name=v.name,
            volume=short_name(ref.stack_name, v.name),
            driver=v.driver,
            mountpoint=v.mountpoint,
            created=json_time(v.created_at) or "",
            labels=dict(v.labels),
        )
        for v in views.volumes(client, stack_filter(ref.stack_name))
    ]


def volumes_to_remove(client: Engine, ref: AppRef, names: list[str], *, all_: bool = False) -> list[AppVolume]:
    """The volumes `volume rm` would remove. Refuses while the app is deployed; checks every name."""
    if bool(names) == all_:
        raise UsageError("name the volumes to remove, or pass --all", hint=f"see: coop app volume ls {ref.name}")
    if client.services(stack_filter(ref.stack_name)):
        raise Conflict(
            f"app {ref.name} is deployed on server {ref.server}; its volumes are in use",
            hint=f"run: coop app undeploy {ref.name} first",
        )
    known = volumes(client, ref)
    if all_:
        if not known:
            raise NotFound(f"app {ref.name} has no volumes on server {ref.server}")
        return known
    by_name = {v.volume: v for v in known} | {v.name: v for v in known}
    missing = [n for n in names if n not in by_name]
    if missing:
        from coopcloud.domain.words import did_you_mean

        have = ", ".join(v.volume for v in known) or "none"
        close = did_you_mean(missing[0], [v.volume for v in known]) if len(missing) == 1 else None
        raise NotFound(
            f"app {ref.name} has no volume {', '.join(missing)} on server {ref.server}",
            hint=f"its volumes: {have}" + (f"; {close}" if close else ""),
        )
    chosen: dict[str, AppVolume] = {}
    for n in names:
        chosen[by_name[n].name] = by_name[n]
    return list(chosen.values())


@mutation
def remove_volumes(client: Engine, ref: AppRef, chosen: list[AppVolume], *, wait: float = 10.0) -> RemovedFrom:
    """Remove the volumes; a volume still held by a stopping container is retried for `wait` seconds."""
    removed = []
    for v in chosen:
        deadline = time.monotonic() + wait
        while True:
            try:
                client.volume_remove(v.name)
                removed.append(v.volume)
                break
            except EngineNotFound:
                removed.append(v.volume)  # gone already: what was asked
                break
            except EngineError as exc:
                if getattr(exc, "status", None) != 409 or time.monotonic() >= deadline:
                    raise Conflict(
                        f"app {ref.name}: volume {v.volume} could not be removed ({exc.message})",
                        hint=f"removed so far: {', '.join(removed) or 'none'}; wait for the app's containers to stop, then retry",
                    ) from None
                time.sleep(0.5)
    return RemovedFrom(ref, removed)
