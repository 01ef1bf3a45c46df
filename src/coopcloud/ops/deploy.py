"""Deploy an app: resolve, render, preflight (read-only), plan, apply, converge, record.

Everything that can be checked is checked before the first change on the
server, so a refused deploy leaves the server exactly as it was. See
DESIGN.md §6 for the pipeline; the steps below carry its numbers.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from coopcloud.domain.app import AppConfig
from coopcloud.domain.recipe import Recipe
from coopcloud.domain.version import Version
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import Conflict, CoopError, DeployFailed, InvalidError, NotFound, RolledBack
from coopcloud.ops.plan import Change, Plan, ServicePlan, plan_services, with_live_tasks
from coopcloud.settings import Settings
from coopcloud.sources import recipe_from_dir, recipe_from_git
from coopcloud.swarm import service_spec
from coopcloud.swarm.labels import STACK_LABEL, coop_label, main_service_name, timeout_seconds

# Between two looks at the services while waiting for convergence: the window's end is seen within it.
POLL_INTERVAL = 0.5

if TYPE_CHECKING:
    from coopcloud.ops.servers import ServerPool

# -- 1. resolve ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Which files of which recipe are deployed, and how that is labelled."""

    recipe: Recipe
    version: str  # the release tag, or for chaos the commit (+U when the tree is dirty)
    chaos: bool
    chaos_version: str | None = None
    warnings: tuple[str, ...] = ()


def releases(path: Path) -> tuple[list, list[str]]:
    """(versions oldest first, warnings) of the recipe repo at `path`; ([], []) when it is not a git repo."""
    from coopcloud.domain.version import versions_from_tags
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if not repo.is_repo():
        return [], []
    versions, issues = versions_from_tags(repo.tags())
    return sorted(versions), [str(i) for i in issues]


def chaos_target(path: Path, name: str, warnings: list[str]) -> Target:
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if repo.is_repo():
        commit = repo.head()[:8]
        dirty = repo.is_dirty()
        marker = f"{commit}+U" if dirty else commit
    else:
        marker = "working-tree"
    return Target(recipe_from_dir(path, name), marker, True, marker, tuple(warnings))


def resolve_target(settings: Settings, cfg: AppConfig, *, version: str | None = None, chaos: bool = False) -> Target:
    """Version choice as abra: explicit > --chaos > pinned in the env > latest release.

    A recipe without releases deploys its latest commit, labelled chaos.
    """
    from coopcloud.domain.version import latest, resolve_version
    from coopcloud.gitops import GitRepo

    from coopcloud.ops.identity import check_own_stack
    from coopcloud.ops.recipes import recipe_folder

    check_own_stack(settings, cfg.ref)
    name = cfg.recipe
    path = recipe_folder(settings, name)
    if chaos and version:
        raise InvalidError(f"app {cfg.ref.name}: give a VERSION or --chaos, not both")
    versions, warnings = releases(path)
    if chaos:
        return chaos_target(path, name, warnings)
    wanted = version or cfg.pinned_version
    v: Version | None
    if wanted:
        v = resolve_version(versions, wanted)
    else:
        newest = latest(versions)
        if newest is None:
            repo = GitRepo(path)
            if repo.is_repo():
                commit = repo.head()
                return Target(recipe_from_git(repo, commit, name), commit[:8], True, commit[:8], tuple(warnings))
            return chaos_target(path, name, warnings)
        v = newest
    return Target(recipe_from_git(GitRepo(path), v.tag, name), v.tag, False, None, tuple(warnings))


# -- 2. render + coop's labels ------------------------------------------------------------------


def add_coop_labels(stack: str, services: dict[str, dict], target: Target, env: Mapping[str, str] | None = None) -> str:
    """Label the main service as abra does; returns its name."""
    name = main_service_name(stack, services)
    labels = services[name].setdefault("Labels", {})
    # abra writes it on every deploy (off unless the env turns it on); its auto-updater reads it.
    labels[coop_label(stack, "autoupdate")] = (env or {}).get("ENABLE_AUTO_UPDATE", "false")
    labels[coop_label(stack, "version")] = target.version
    labels[coop_label(stack, "recipe")] = target.recipe.name
    labels[coop_label(stack, "chaos")] = "true" if target.chaos else "false"
    if target.chaos_version:
        labels[coop_label(stack, "chaos-version")] = target.chaos_version
    else:
        labels.pop(coop_label(stack, "chaos-version"), None)
    return name


# -- 3. preflight (read-only) -------------------------------------------------------------------


@dataclass
class Preflight:
    live: dict[str, views.Service]  # full name -> live service
    secret_ids: dict[str, str]
    config_ids: dict[str, str]
    networks_to_create: list[str]
    configs_to_create: list[str]
    secrets_to_create: list[str]
    engine_time: str
    network_names: dict[str, str] = field(default_factory=dict)  # ID -> name (live specs hold IDs)
    pinned: dict[str, str] = field(default_factory=dict)  # service -> image@digest
    platforms: dict[str, tuple[dict[str, str], ...]] = field(default_factory=dict)  # service -> the image's platforms
    unpinned: dict[str, str] = field(default_factory=dict)  # image -> why not, briefly
    unpinned_why: dict[str, str] = field(default_factory=dict)  # image -> the engine's words (for --debug)


def _external(model: dict, kind: str) -> dict[str, str]:
    """key -> real name of the model's external networks/secrets/configs."""
    return {key: (cfg or {}).get("name") or key for key, cfg in (model.get(kind) or {}).items() if (cfg or {}).get("external")}


def _secret_label(env: dict[str, str], key: str) -> str:
    version = env.get(f"SECRET_{key.upper()}_VERSION")
    return f"{key} ({version})" if version else key


def preflight(client: Engine, app: str, rendered: Any, *, resolve_images: bool = True) -> Preflight:
    spec = rendered.spec
    now = views.snapshot(client, {"label": [f"{STACK_LABEL}={rendered.stack}"]})
    if not now.info.is_manager:
        client.require_manager()  # says so, in the one way coop says it
    for name, svc in spec.services.items():
        if not service_spec.image(svc):
            raise InvalidError(f"app {app}: service {name} has no image", hint="set image: in the recipe's compose file")
    live_networks = {n.name for n in now.networks}
    _check_external_networks(app, rendered, live_networks)
    live_secrets = {s.name: s.id for s in now.secrets}
    _check_external_secrets(app, rendered, live_secrets)
    live_configs = {c.name: c for c in now.configs}
    pre = Preflight(
        live={s.name: s for s in now.services},
        secret_ids=live_secrets,
        config_ids={n: c.id for n, c in live_configs.items()},
        networks_to_create=sorted(n for n in spec.networks if n not in live_networks),
        configs_to_create=_configs_to_create(app, spec.configs, live_configs),
        secrets_to_create=[n for n in sorted(spec.secrets) if n not in live_secrets],
        engine_time=now.info.system_time,
        network_names={n.id: n.name for n in now.networks},
    )
    if resolve_images:
        _pin_images(client, spec.services, pre)
    return pre


def _check_external_networks(app: str, rendered: Any, live_networks: set[str]) -> None:
    """External networks must exist; ours are created when missing."""
    used = {net.get("Target") for svc in rendered.spec.services.values() for net in service_spec.networks(svc)}
    missing = sorted(n for n in _external(rendered.model, "networks").values() if n in used and n not in live_networks)
    if missing:
        fix = "run: coop server init <server>" if missing == ["proxy"] else "create them on the server first"
        raise NotFound(f"app {app}: external network(s) missing on the server: {', '.join(missing)}", hint=fix)


def _check_external_secrets(app: str, rendered: Any, live_secrets: Mapping[str, str]) -> None:
    """Every referenced external secret must exist."""
    used = {ref["SecretName"] for svc in rendered.spec.services.values() for ref in service_spec.refs(svc, "Secrets")}
    missing = sorted(
        _secret_label(rendered.env, key)
        for key, real in _external(rendered.model, "secrets").items()
        if real in used and real not in live_secrets
    )
    if missing:
        raise NotFound(
            f"app {app}: secret(s) missing on the server: {', '.join(missing)}",
            hint=f"run: coop app secret generate {app} --all",
        )


def _configs_to_create(app: str, configs: Mapping[str, dict], live: Mapping[str, views.Config]) -> list[str]:
    """The configs not on the server yet; one that is must hold the same content (Docker cannot change it)."""
    out = []
    for name, body in sorted(configs.items()):
        if name not in live:
            out.append(name)
        elif live[name].data != base64.b64decode(body.get("Data") or ""):
            raise InvalidError(
                f"app {app}: config {name} already exists on the server with different content: "
                "the recipe changed the file without a new version in the config's name",
                hint="bump its *_VERSION (in abra.sh or the app env) so a new config is created",
            )
    return out


def _pin_images(client: Engine, services: dict[str, dict], pre: Preflight) -> None:
    """Resolve each tag to a digest, and its platforms, through the engine (which asks the
    registry), as `docker stack deploy` does by default: every image in one round trip."""
    from urllib.parse import quote

    from coopcloud.registry.resolve import ResolvedImage, resolved_image

    images = sorted({service_spec.image(svc) for svc in services.values()})
    images = [i for i in images if "@" not in i]
    answers = client.get_many([(f"/distribution/{quote(i, safe='/:@')}/json", {}) for i in images], return_errors=True)
    cache: dict[str, ResolvedImage | None] = {}
    for image, answer in zip(images, answers):
        try:
            if isinstance(answer, Exception):
                raise answer
            cache[image] = resolved_image(image, answer)
        except Exception as exc:  # no registry answer: deploy the tag, as docker does, and say so
            cache[image] = None
            pre.unpinned[image] = "the registry gave no digest"
            pre.unpinned_why[image] = str(exc)
    for name, svc in services.items():
        resolved = cache.get(service_spec.image(svc))
        if resolved:
            pre.pinned[name] = resolved.image
            if resolved.platforms:
                pre.platforms[name] = resolved.platforms


# -- 4. plan ------------------------------------------------------------------------------------


def desired_specs(spec: Any, pre: Preflight) -> dict[str, dict]:
    """Service bodies as they will be sent: digests pinned, ForceUpdate kept. IDs are filled at apply,
    once configs that are still to be created exist."""
    from coopcloud.ops.plan import SPEC_HASH_LABEL, spec_hash

    out = {}
    for name, body in spec.services.items():
        body = copy.deepcopy(body)
        if name in pre.pinned:
            body["TaskTemplate"]["ContainerSpec"]["Image"] = pre.pinned[name]
        if name in pre.platforms:
            body["TaskTemplate"].setdefault("Placement", {})["Platforms"] = [dict(p) for p in pre.platforms[name]]
        live = pre.live.get(name)
        if live is not None:
            # As docker does: keep the force-update counter so an unchanged redeploy restarts nothing.
            if live.force_update:
                body["TaskTemplate"]["ForceUpdate"] = live.force_update
        body.setdefault("Labels", {})[SPEC_HASH_LABEL] = spec_hash(body)
        out[name] = body
    return out


def _named_networks(spec: dict, names: dict[str, str]) -> dict:
    """The engine stores network IDs in a service spec; we send names. Compare like with like."""
    if not service_spec.template(spec).get("Networks"):
        return spec
    spec = copy.deepcopy(spec)
    for net in spec["TaskTemplate"]["Networks"]:
        net["Target"] = names.get(net.get("Target"), net.get("Target"))
    return spec


def unconverged(client: Engine, live: Mapping[str, views.Service], engine_time: str) -> dict[str, str]:
    """Live services that are not converged right now (paused, rolled back, not all running): name -> why.

    Read-only. A redeploy of such an app is never "nothing changed": it converges them or fails.
    """
    from coopcloud.ops import converge as conv

    if not live:
        return {}
    ids = {svc.id: name for name, svc in live.items()}
    by_service: dict[str, list[views.Task]] = {}
    for task in views.tasks(client, {"service": sorted(ids), "_up-to-date": ["true"]}):
        by_service.setdefault(task.service_id, []).append(task)
    since = views.parse_time(engine_time)
    out = {}
    for name, svc in sorted(live.items()):
        p = conv.assess(name, svc, by_service.get(svc.id, []), since)
        if p.error:
            out[name] = p.error
        elif not p.ready:
            want = "all nodes" if p.want is None else p.want
            state = f", update {p.update_state}" if p.update_state else ""
            out[name] = f"{p.running}/{want} running{state}"
    return out


def make_plan(desired: dict[str, dict], pre: Preflight, not_converged: dict[str, str] | None = None) -> Plan:
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


def _spec_changed(sp: ServicePlan) -> bool:
    """An update that changes the spec (not one that only re-sends it to converge a stuck service)."""
    return sp.action in ("update", "bookkeeping") and any(c.what != "state" for c in sp.changes)


# -- prepare: everything decided, nothing changed -----------------------------------------------


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
    spec: Any  # swarm.StackSpec
    desired: dict[str, dict]
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

    def result(self, *, applied: bool = False, services: Sequence[str] = ()) -> "DeployResult":
        return DeployResult(
            self.app, self.server, self.version, self.chaos, self.plan, applied, list(services),
            dict(self.unpinned), list(self.warnings), self.previous_version,
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
    from coopcloud.ops.apps import load_app
    from coopcloud.ops.identity import check_live_recipe
    from coopcloud.swarm.render import render

    cfg = load_app(settings, app_name)
    target = resolve_target(settings, cfg, version=version, chaos=chaos)
    warnings = list(target.warnings)
    rendered = render(target.recipe, cfg.ref, cfg.env, warn=warnings.append)
    stack_spec: Any = rendered.spec  # swarm.StackSpec
    main = add_coop_labels(rendered.stack, stack_spec.services, target, rendered.env)
    timeout = timeout_seconds(rendered.stack, service_spec.labels(stack_spec.services[main]))
    check_state_writable(cfg, settings)

    client = pool.client(cfg.ref.server)
    pre = preflight(client, cfg.ref.name, rendered)
    check_live_recipe(cfg.ref, pre.live.values(), target.recipe.name)
    desired = desired_specs(rendered.spec, pre)
    stuck = unconverged(client, {n: s for n, s in pre.live.items() if n in desired}, pre.engine_time)
    plan = make_plan(desired, pre, stuck)

    live_main = pre.live.get(main)
    live_version = live_main.labels.get(coop_label(rendered.stack, "version")) if live_main is not None else None
    if not target.chaos:
        from coopcloud.ops.guard import check_downgrade

        check_downgrade(cfg.ref.name, cfg.ref.server, running=live_version, target=target.version, explicit=version is not None)
    if expect_version is not None and live_version != expect_version:
        # upgrade/rollback chose from what ran when they asked; someone deployed since
        raise Conflict(
            f"app {cfg.ref.name} changed meanwhile: it now runs {live_version or 'nothing'}, not {expect_version}",
            hint="run the command again",
        )
    if check_conflict and live_main is not None and not force and not stuck:
        if live_version == target.version or require_new_version:
            raise Conflict(
                f"app {cfg.ref.name} is already deployed at {live_version or 'an unknown version'}",
                hint=f"pass --force to redeploy, or run: coop app upgrade {cfg.ref.name}",
            )
    return Prepared(
        cfg=cfg, target=target, stack=rendered.stack, main=main, timeout=timeout, spec=rendered.spec,
        desired=desired, pre=pre, plan=plan, previous_version=live_version, not_converged=stuck,
        warnings=tuple(warnings),
    )


# -- 6. apply + 7. converge + 8. roll back ------------------------------------------------------


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


def _apply_changes(client: Engine, prepared: Prepared, applied: Applied) -> None:
    """Create networks, secrets, configs, then create/update services, noting each change as it lands."""
    from coopcloud.swarm.spec import with_ids

    spec, pre = prepared.spec, prepared.pre
    for name in pre.networks_to_create:
        client.network_create(spec.networks[name])
        applied.networks.append(name)
    secret_ids = dict(pre.secret_ids)
    for name in pre.secrets_to_create:
        body = spec.secrets[name]
        client.secret_create(name, base64.b64decode(body.get("Data", "")), labels=body.get("Labels"))
        applied.secrets.append(name)
        secret_ids[name] = views.secret(client, name).id
    config_ids = dict(pre.config_ids)
    for name in pre.configs_to_create:
        body = spec.configs[name]
        created = client.config_create(
            name, base64.b64decode(body.get("Data", "")), labels=body.get("Labels"), templating=body.get("Templating")
        )
        applied.configs.append(name)
        config_ids[name] = views.created_id(created)
    for sp in prepared.plan.services:
        if sp.action not in ("create", "update", "bookkeeping"):
            continue
        body = with_ids(prepared.desired[sp.name], secret_ids=secret_ids, config_ids=config_ids)
        if sp.action == "create":
            client.service_create(body)
            applied.created.append(sp.name)
        else:
            live = pre.live[sp.name]
            # Read the version now: swarm bumps it as an update or rollback of its own moves on.
            current = views.service(client, live.id)
            if not sp.restarts:
                body = with_live_tasks(body, live.spec)
            client.service_update(live.id, current.version, body)
            (applied.updated if _spec_changed(sp) else applied.resent).append(sp.name)


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

    def to_json(self) -> dict:
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


def _why(result: Any) -> tuple[str, str]:
    """(failing service, why) of a convergence that failed, in a few words."""
    bad = result.first_failure
    if bad is None:
        return "", "did not converge"
    if result.timed_out and not bad.error:
        return bad.name, f"not converged before the timeout ({bad.line().split(': ', 1)[1]})"
    return bad.name, bad.error or "did not converge"


def _details(result: Any) -> list[str]:
    details = []
    for p in result.failed:
        details.append(p.line())
        details += [f"  task: {f}" for f in p.failures[-3:]]
        details += [f"  log: {line}" for line in result.logs.get(p.name, [])]
    return details


def converge_failure(app: str, result: Any) -> DeployFailed:
    """One line for the error; the details ride along for the CLI to show above it."""
    bad = result.failed
    if result.timed_out:
        what = f"did not converge before the timeout ({', '.join(p.name for p in bad)} not ready)"
    else:
        name, why = _why(result)
        what = f"service {name} failed: {why}" if name else why
    return DeployFailed(f"app {app}: {what}", hint=f"see: coop app errors {app}; coop app logs {app}", details=_details(result))


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
    progress: Callable[[list], None] | None = None,
    wait: bool = True,
) -> Any:
    """Put every service this deploy changed back on the spec captured in prepare, remove the services,
    configs, secrets and networks it created. Returns the convergence of the restored services (or None)."""
    from coopcloud.errors import EngineNotFound
    from coopcloud.ops import converge as conv

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
        outcome = conv.wait(client, watches, timeout=prepared.timeout, since=since, report=progress, interval=POLL_INTERVAL)
    # Configs, secrets and networks it created, once nothing uses them; a leftover is no failure.
    deadline = time.monotonic() + 20
    for name in applied.configs:
        _remove_quietly(client.config_remove, name, deadline)
    for name in applied.secrets:
        _remove_quietly(client.secret_remove, name, deadline)
    for name in applied.networks:
        _remove_quietly(client.network_remove, name, deadline)
    return outcome


def apply(
    settings: Settings,
    pool: ServerPool,
    prepared: Prepared,
    *,
    converge: bool = True,
    rollback: bool = True,
    progress: Callable[[list], None] | None = None,
    notify: Callable[[str], None] | None = None,
    before_first_change: Sequence[Callable[[Prepared], None]] = (),
) -> DeployResult:
    """Steps 6–9: change the server, wait for convergence, roll the whole app back on failure, record.

    `before_first_change` steps run after every check and before anything changes (an
    upgrade's data snapshot belongs there). A deploy that does not converge, of an app
    that ran before, is rolled back (RolledBack, exit 8) unless `rollback` is False
    (DeployFailed, exit 7, the state as swarm left it). The env pins and the lockfile
    record a version only once it converged.
    """
    from coopcloud.errors import EngineError, EngineUnreachable
    from coopcloud.ops import converge as conv

    for step in before_first_change:
        step(prepared)
    client: Engine = pool.client(prepared.server)
    applied = Applied()
    try:
        _apply_changes(client, prepared, applied)
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
        watches += [conv.Watch(n) for n in applied.updated + applied.resent]
        checked = [n for n in sorted(prepared.desired) if n not in applied.services]
        watches += [conv.Watch(n, changed=False) for n in checked]
        outcome = conv.wait(
            client, watches, timeout=prepared.timeout, since=prepared.pre.engine_time, report=progress,
            interval=POLL_INTERVAL,
        )
        if not outcome.ok:
            _fail(client, prepared, applied, outcome, rollback=rollback, progress=progress, notify=notify)
        result.checked = checked
        result.converge_seconds, result.stability_seconds = outcome.seconds, outcome.stability_seconds
    record(settings, prepared)
    return result


def _fail(
    client: Engine,
    prepared: Prepared,
    applied: Applied,
    outcome: Any,
    *,
    rollback: bool,
    progress: Callable[[list], None] | None,
    notify: Callable[[str], None] | None,
) -> None:
    """Raise the failure of a deploy; first roll the whole app back when that is asked and possible."""
    from coopcloud.errors import EngineError

    failure = converge_failure(prepared.app, outcome)
    if not rollback or not prepared.was_deployed or not applied.changed_services:
        raise failure
    previous = prepared.previous_version or "the previous specs"
    service, why = _why(outcome)
    if notify:
        notify(f"app {prepared.app}: {prepared.version} did not converge ({service}: {why}); rolling every service back to {previous}")
    app = prepared.app
    try:
        back = undo(client, prepared, applied, progress=progress)
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


# -- 9. record ----------------------------------------------------------------------------------


def pin_version(settings: Settings, cfg: AppConfig, recipe: str, version: str) -> None:
    """Write TYPE=<recipe>:<version> into the env file as it is now (edits made meanwhile are kept)."""
    fresh = AppConfig.load(cfg.ref, settings.servers_dir)
    key = "RECIPE" if fresh.env.get("RECIPE") else "TYPE"
    fresh.env.set(key, f"{recipe}:{version}")
    fresh.save(settings.servers_dir)


def write_lockfile(settings: Settings, cfg: AppConfig, target: Target, desired: dict[str, dict]) -> Path:
    """`<app>.lock.json` beside the env: what exactly runs, by digest."""
    from coopcloud.fsutil import write_atomic

    images = {
        name: service_spec.image(body) for name, body in sorted(desired.items())
    }
    doc = {
        "app": cfg.ref.name,
        "recipe": target.recipe.name,
        "version": target.version,
        "chaos": target.chaos,
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "images": images,
    }
    path = cfg.ref.env_path(settings.servers_dir).with_suffix(".lock.json")
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def record(settings: Settings, prepared: Prepared) -> None:
    """Step 9: the env pins the version that runs, the lockfile its exact images."""
    if not prepared.chaos:
        pin_version(settings, prepared.cfg, prepared.target.recipe.name, prepared.version)
    write_lockfile(settings, prepared.cfg, prepared.target, prepared.desired)


# -- the whole pipeline, for callers that need no plan review -----------------------------------


def deploy(
    settings: Settings,
    pool: ServerPool,
    app_name: str,
    *,
    version: str | None = None,
    chaos: bool = False,
    force: bool = False,
    dry_run: bool = False,
    converge: bool = True,
    rollback: bool = True,
    progress: Callable[[list], None] | None = None,
    require_new_version: bool = False,
    expect_version: str | None = None,
) -> DeployResult:
    """prepare() then, unless `dry_run`, apply()."""
    prepared = prepare(
        settings, pool, app_name, version=version, chaos=chaos, force=force or dry_run,
        require_new_version=require_new_version, expect_version=expect_version,
    )
    if dry_run:
        return prepared.result()
    return apply(settings, pool, prepared, converge=converge, rollback=rollback, progress=progress)
