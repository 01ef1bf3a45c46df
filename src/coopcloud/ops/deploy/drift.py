"""Drift: how the live services differ from what deploying the pinned version with the current env would send.

A redeploy of an app whose server matches its recipe and env would change
nothing; anything it would change is drift: a hand-made ``docker service
update``, an env edited since the last deploy, a tag that now points at another
digest, a service the recipe no longer has. It is computed exactly as a deploy
plans (same render, same read-only preflight, same comparison), so `coop app
diff` shows it in the plan's format and a redeploy undoes it.

`app ls --status` shows a drift column from the one services list it already
fetches per server: rendered locally, images compared by tag (no registry
request), so a moved tag is only seen by `app diff`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppConfig
from coopcloud.engine.views import Service
from coopcloud.errors import NotFound
from coopcloud.ops.deploy.plan import Plan
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, running_version

if TYPE_CHECKING:
    from coopcloud.ops.server.servers import ServerPool


@dataclass(frozen=True)
class Drift:
    app: str
    server: str
    version: str
    chaos: bool
    plan: Plan
    unpinned: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return plan_drifts(self.plan)

    @property
    def services(self) -> list[str]:
        """Services that differ (orphans included)."""
        return [s.name for s in self.plan.services if s.action in _DRIFT_ACTIONS] + list(self.plan.orphans)

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "server": self.server,
            "version": self.version,
            "chaos": self.chaos,
            "drift": self.drifted,
            "services": self.services,
            "plan": self.plan.to_json(),
            "unpinned_images": dict(self.unpinned),
        }


# coop's own bookkeeping labels differing (an app deployed by abra) is not drift: nothing runs differently.
_DRIFT_ACTIONS = ("create", "update", "remove")


def plan_drifts(plan: Plan) -> bool:
    """Whether a redeploy would change what runs: a service to create, update or that the recipe lacks,
    a network or config to create."""
    return bool(plan.networks or plan.configs or plan.orphans) or any(s.action in _DRIFT_ACTIONS for s in plan.services)


def _wanted_version(cfg: AppConfig, running: str | None) -> str | None:
    """The pinned version; without a pin, the release that runs (a deploy would take the latest)."""
    if cfg.pinned_version:
        return cfg.pinned_version
    from coopcloud.domain.version import parse_version
    from coopcloud.errors import RecipeError

    try:
        return parse_version(running).tag if running else None
    except RecipeError:
        return None  # a chaos commit: compare with what a deploy would pick


def diff(settings: Settings, pool: ServerPool, app_name: str) -> Drift:
    """Plan a redeploy of the pinned version with the current env against the live services. Read-only."""
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy import add_coop_labels, deploy_env, desired_specs, make_plan, preflight, resolve_target
    from coopcloud.swarm.render import render

    cfg = load_app(settings, app_name)
    client = pool.client(cfg.ref.server)
    live = client.services(filters={"label": [f"{STACK_LABEL}={cfg.ref.stack_name}"]})
    if not live:
        raise NotFound(f"app {app_name} is not deployed on {cfg.ref.server}", hint=f"run: coop app deploy {app_name}")
    running = running_version(cfg.ref.stack_name, {s.name: s.labels for s in map(Service.from_json, live)})
    target = resolve_target(settings, cfg, version=_wanted_version(cfg, running))
    rendered = render(target.recipe, cfg.ref, deploy_env(cfg, target), warn=lambda _: None)
    spec = rendered.spec
    add_coop_labels(rendered.stack, spec.services, target, rendered.env)
    pre = preflight(client, cfg.ref.name, rendered, require_images=False)
    plan = make_plan(desired_specs(spec, pre), pre)
    return Drift(cfg.ref.name, cfg.ref.server, target.version, target.chaos, plan, dict(pre.unpinned))


def drifted_offline(settings: Settings, cfg: AppConfig, live: list[Service], network_names: dict[str, str]) -> bool:
    """Whether the stack's `live` services differ from what its pinned version and env render to.

    No request: images are compared by tag, networks by the names in `network_names` (ID -> name).
    """
    from coopcloud.ops.deploy import Preflight, add_coop_labels, deploy_env, desired_specs, make_plan, resolve_target
    from coopcloud.swarm.render import render

    running = running_version(cfg.ref.stack_name, {s.name: s.labels for s in live})
    target = resolve_target(settings, cfg, version=_wanted_version(cfg, running))
    rendered = render(target.recipe, cfg.ref, deploy_env(cfg, target), warn=lambda _: None)
    spec = rendered.spec
    add_coop_labels(rendered.stack, spec.services, target, rendered.env)
    pre = Preflight(
        live={s.name: s for s in live},
        secret_ids={},
        config_ids={},
        networks_to_create=[],
        configs_to_create=[],
        secrets_to_create=[],
        engine_time="",
        network_names=network_names,
    )
    return plan_drifts(make_plan(desired_specs(spec, pre), pre))
