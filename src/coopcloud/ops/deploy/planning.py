"""Step 4 of a deploy, and `prepare` (steps 1–4): the specs to send, the plan against what runs,
every refusal decided — as a `Prepared` value the operator sees before anything changes."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppConfig
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import Conflict, CoopError
from coopcloud.ops.deploy.plan import Change, Plan, ServicePlan, plan_services
from coopcloud.rawdata import JSONDict, RawMap, get_list, get_str, setdefault_map
from coopcloud.settings import Settings
from coopcloud.swarm import service_spec
from coopcloud.swarm.labels import coop_label, timeout_seconds

from .checks import Preflight, preflight
from .target import Target, add_coop_labels, deploy_env, keep_abra_chaos_version, resolve_target

if TYPE_CHECKING:
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.swarm.spec import StackSpec


def desired_specs(spec: StackSpec, pre: Preflight) -> dict[str, JSONDict]:
    """Service bodies as they will be sent: digests pinned, ForceUpdate kept. IDs are filled at apply,
    once configs that are still to be created exist."""
    from coopcloud.ops.deploy.plan import SPEC_HASH_LABEL, spec_hash

    out = {}
    for name, source in spec.services.items():
        body = copy.deepcopy(source)
        if name in pre.pinned:
            setdefault_map(setdefault_map(body, "TaskTemplate"), "ContainerSpec")["Image"] = pre.pinned[name]
        if name in pre.platforms:
            placement = setdefault_map(setdefault_map(body, "TaskTemplate"), "Placement")
            placement["Platforms"] = [dict(p) for p in pre.platforms[name]]
        live = pre.live.get(name)
        # As docker does: keep the force-update counter so an unchanged redeploy restarts nothing.
        if live is not None and live.force_update:
            setdefault_map(body, "TaskTemplate")["ForceUpdate"] = live.force_update
        if live is not None:
            keep_abra_chaos_version(setdefault_map(body, "Labels"), live.labels)
        setdefault_map(body, "Labels")[SPEC_HASH_LABEL] = spec_hash(body)
        out[name] = body
    return out


def _named_networks(spec: RawMap, names: Mapping[str, str]) -> RawMap:
    """The engine stores network IDs in a service spec; we send names. Compare like with like."""
    if not service_spec.template(spec).get("Networks"):
        return spec
    named: JSONDict = copy.deepcopy(dict(spec))
    for item in get_list(setdefault_map(named, "TaskTemplate"), "Networks"):
        if isinstance(item, dict):
            target = get_str(item, "Target")
            item["Target"] = names.get(target, target)
    return named


def unconverged(client: Engine, live: Mapping[str, views.Service], engine_time: str) -> dict[str, str]:
    """Live services that are not converged right now (paused, rolled back, not all running): name -> why.

    Read-only. A redeploy of such an app is never "nothing changed": it converges them or fails.
    """
    from coopcloud.ops.deploy import converge as conv

    if not live:
        return {}
    ids = {svc.id: name for name, svc in live.items()}
    by_service: dict[str, list[views.Task]] = {}
    for task in views.tasks(client, {"service": sorted(ids), "_up-to-date": ["true"]}):
        by_service.setdefault(task.service_id, []).append(task)
    since = views.parse_time(engine_time)
    out = {}
    for name, svc in sorted(live.items()):
        p = conv.assess(name, svc, by_service.get(svc.id, []), since, lookback=True)
        if p.error:
            out[name] = p.error
        elif not p.ready:
            want = "all nodes" if p.want is None else p.want
            state = f", update {p.update_state}" if p.update_state else ""
            out[name] = f"{p.running}/{want} running{state}"
    return out


def make_plan(desired: Mapping[str, RawMap], pre: Preflight, not_converged: dict[str, str] | None = None) -> Plan:
    """The plan; a service whose spec is unchanged but which is not converged is updated to converge it."""
    live_specs = {name: _named_networks(svc.spec, pre.network_names) for name, svc in pre.live.items()}
    services = []
    for sp in plan_services(desired, live_specs):
        why = (not_converged or {}).get(sp.name)
        if sp.action == "unchanged" and why:
            sp = ServicePlan(sp.name, "update", (Change("state", why, "converged"),))
        services.append(sp)
    return Plan(
        services=tuple(services),
        networks=tuple(pre.networks_to_create),
        configs=tuple(pre.configs_to_create),
        orphans=tuple(sorted(live_specs.keys() - desired.keys())),
    )


@dataclass(frozen=True)
class Prepared:
    """A deploy decided and checked, as data: shown to the operator, then applied (or not).

    `pre.live` holds the live specs of every service of the app as they were when
    this was prepared: what a whole-app rollback puts back.
    """

    cfg: AppConfig
    target: Target
    stack: str
    main: str
    timeout: int
    spec: StackSpec
    desired: dict[str, JSONDict]
    pre: Preflight
    plan: Plan
    previous_version: str | None  # the main service's version label before this deploy
    not_converged: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def app(self) -> str:
        return self.cfg.ref.name

    @property
    def server(self) -> str:
        return self.cfg.ref.server

    @property
    def version(self) -> str:
        return self.target.version

    @property
    def chaos(self) -> bool:
        return self.target.chaos

    @property
    def unpinned(self) -> dict[str, str]:
        return self.pre.unpinned

    @property
    def was_deployed(self) -> bool:
        return bool(self.pre.live)

    def result(self, *, applied: bool = False, services: Sequence[str] = ()) -> DeployResult:
        return DeployResult(
            self.app,
            self.server,
            self.version,
            self.chaos,
            self.plan,
            applied,
            list(services),
            dict(self.unpinned),
            list(self.warnings),
            self.previous_version,
        )


def check_state_writable(cfg: AppConfig, settings: Settings) -> None:
    """The env file's folder must take the version pin and lockfile: found before anything is applied."""
    import os
    import tempfile

    path = cfg.ref.env_path(settings.servers_dir)
    try:
        fd, probe = tempfile.mkstemp(prefix=".coop-probe-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(path)
    except OSError as exc:
        raise CoopError(
            f"app {cfg.ref.name}: cannot write to {path.parent} ({exc.strerror or 'not writable'}), "
            "so the deployed version could not be recorded",
            hint="make that folder writable, then deploy again",
        ) from None


def prepare(
    settings: Settings,
    pool: ServerPool,
    app_name: str,
    *,
    version: str | None = None,
    chaos: bool = False,
    force: bool = False,
    require_new_version: bool = False,
    expect_version: str | None = None,
    check_conflict: bool = True,
) -> Prepared:
    """Steps 1–4 of DESIGN.md §6: resolve, render, check the server read-only, plan. Changes nothing.

    Refuses (Conflict) to redeploy the version that runs unless `force`, or unless the app
    is not converged (a retry of a failed deploy converges it). `expect_version`: the
    version label upgrade/rollback saw when the operator chose; a different one now means
    someone deployed meanwhile.
    """
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy.identity import check_live_recipe, check_stack_case
    from coopcloud.swarm.render import render

    cfg = load_app(settings, app_name)
    target = resolve_target(settings, cfg, version=version, chaos=chaos)
    warnings = list(target.warnings)
    rendered = render(target.recipe, cfg.ref, deploy_env(cfg, target), warn=warnings.append)
    stack_spec = rendered.spec
    main = add_coop_labels(rendered.stack, stack_spec.services, target, rendered.env)
    timeout = timeout_seconds(rendered.stack, service_spec.labels(stack_spec.services[main]))
    check_state_writable(cfg, settings)

    client = pool.client(cfg.ref.server)
    pre = preflight(client, cfg.ref.name, rendered)
    check_live_recipe(cfg.ref, pre.live.values(), target.recipe.name)
    if not pre.live:
        check_stack_case(client, cfg.ref)  # a first deploy: no stack of another case may run
    desired = desired_specs(rendered.spec, pre)
    stuck = unconverged(client, {n: s for n, s in pre.live.items() if n in desired}, pre.engine_time)
    plan = make_plan(desired, pre, stuck)

    live_main = pre.live.get(main)
    live_version = live_main.labels.get(coop_label(rendered.stack, "version")) if live_main is not None else None
    if not target.chaos:
        from coopcloud.ops.deploy.guard import check_pinned

        check_pinned(
            client,
            cfg.ref.name,
            cfg.ref.server,
            rendered.stack,
            running=live_version,
            target=target.version,
            explicit=version is not None,
        )
    if expect_version is not None and live_version != expect_version:
        # upgrade/rollback chose from what ran when they asked; someone deployed since
        raise Conflict(
            f"app {cfg.ref.name} changed meanwhile: it now runs {live_version or 'nothing'}, not {expect_version}",
            hint="run the command again",
        )
    # The env pins another release than the one that runs (a deploy killed after swarm took it):
    # deploying what runs is not "already deployed", it pins it.
    pin = cfg.pinned_version  # a full tag, or its bare semver
    unpinned = (
        not target.chaos and pin is not None and target.version != pin and not target.version.startswith(f"{pin}+")
    )
    already = (live_version == target.version and not unpinned) or require_new_version
    if check_conflict and live_main is not None and not force and not stuck and already:
        raise Conflict(
            f"app {cfg.ref.name} is already deployed at {live_version or 'an unknown version'}",
            hint=f"pass --force to redeploy, or run: coop app upgrade {cfg.ref.name}",
        )
    return Prepared(
        cfg=cfg,
        target=target,
        stack=rendered.stack,
        main=main,
        timeout=timeout,
        spec=rendered.spec,
        desired=desired,
        pre=pre,
        plan=plan,
        previous_version=live_version,
        not_converged=stuck,
        warnings=tuple(warnings),
    )


@dataclass
class DeployResult:
    app: str
    server: str
    version: str
    chaos: bool
    plan: Plan
    applied: bool
    services: list[str] = field(default_factory=list)
    unpinned: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    previous_version: str | None = None  # the main service's version label before this deploy
    checked: list[str] = field(default_factory=list)  # services found converged without a change
    converge_seconds: float | None = None  # how long the convergence wait took (None: not waited)
    stability_seconds: float | None = None  # of which, the stability window (see converge.ConvergeResult)

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "server": self.server,
            "version": self.version,
            "previous_version": self.previous_version,
            "chaos": self.chaos,
            "plan": self.plan.to_json(),
            "applied": self.applied,
            "services": self.services,
            "checked": self.checked,
            "converge_seconds": None if self.converge_seconds is None else round(self.converge_seconds, 2),
            "stability_seconds": None if self.stability_seconds is None else round(self.stability_seconds, 2),
            "unpinned_images": self.unpinned,
            "warnings": self.warnings,
        }
