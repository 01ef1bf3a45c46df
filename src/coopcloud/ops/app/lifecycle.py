"""App lifecycle around deploy: new (env from the recipe), undeploy (stack down), remove (forget)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef, pin_recipe
from coopcloud.domain.envfile import EnvFile
from coopcloud.engine import views
from coopcloud.errors import Conflict, DeployFailed, NotFound, RecipeError, UsageError
from coopcloud.fsutil import write_atomic
from coopcloud.ops.app.apps import find_app
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL

if TYPE_CHECKING:
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.app.secrets import Generated
    from coopcloud.ops.server.servers import ServerPool


@dataclass
class NewApp:
    ref: AppRef
    recipe: str
    version: str | None
    env_path: Path
    secrets: list[Generated] = field(default_factory=list)  # when --secrets
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> JSONDict:
        return {
            "app": self.ref.name,
            "server": self.ref.server,
            "recipe": self.recipe,
            "version": self.version,
            "env": str(self.env_path),
            "secrets": [g.to_json() for g in self.secrets],
        }


def new_app(
    settings: Settings,
    recipe: str,
    *,
    server: str,
    domain: str,
    name: str | None = None,
    version: str | None = None,
    offline: bool = False,
    pool: ServerPool | None = None,
    chaos: bool = False,
) -> NewApp:
    """Write servers/<server>/<app>.env from the recipe's .env.sample (of the chosen version). 0600.

    `chaos` (abra's `app new --chaos`) takes the working tree's .env.sample and pins no version.

    Names are checked before anything is written, cloned or linked: the domain is a hostname, the app
    name is valid, and its stack name is no other app's — here, or on the swarm (asked through
    `pool` when given; an unreachable server is a warning, and deploy checks again).
    """
    from coopcloud.domain.names import check_domain, check_recipe_name
    from coopcloud.domain.version import latest, resolve_version
    from coopcloud.gitops import GitRepo
    from coopcloud.ops.app.apps import check_own_stack
    from coopcloud.ops.deploy import releases
    from coopcloud.ops.deploy.identity import check_swarm_stack
    from coopcloud.ops.recipe.recipes import is_path, is_url, locate_recipe
    from coopcloud.ops.server.servers import resolve
    from coopcloud.sources import recipe_from_dir, recipe_from_git

    check_domain(domain)
    resolve(settings, server)  # refuses unregistered servers
    ref = AppRef(server, name or domain)
    for other in settings.servers_dir.glob(f"*/{ref.name}.env"):
        raise Conflict(f"app {ref.name} already exists ({other})", hint=f"see: coop app config {ref.name}")
    check_own_stack(settings, ref)
    warnings: list[str] = []

    def check_swarm(recipe_name: str) -> None:
        from coopcloud.errors import EngineUnreachable, ServerNotReady

        if pool is None:
            return
        try:
            check_swarm_stack(pool.client(server), ref, recipe_name, domain)
        except (EngineUnreachable, ServerNotReady) as exc:
            warnings.append(f"could not ask server {server} whether stack {ref.stack_name} is in use: {exc}")

    plain_name = not (is_url(recipe) or is_path(recipe))
    if plain_name:
        check_swarm(check_recipe_name(recipe))  # before a clone: a refused name leaves nothing behind
    recipe_name, path = locate_recipe(settings, recipe, offline=offline)
    if not plain_name:
        check_swarm(recipe_name)
    if chaos and version:
        raise UsageError(f"app {ref.name}: give a VERSION or --chaos, not both")
    versions, _ = releases(path)
    chosen = None if chaos else resolve_version(versions, version) if version else latest(versions)
    if version and chosen is None:
        raise NotFound(f"recipe {recipe_name} has no version {version}")
    source = recipe_from_git(GitRepo(path), chosen.tag, recipe_name) if chosen else recipe_from_dir(path, recipe_name)
    sample = source.env_sample()
    if sample is None:
        raise RecipeError(f"recipe {recipe_name} has no .env.sample", hint="add one to the recipe (lint rule R008)")
    env = EnvFile.parse(sample, name=f"{recipe_name}/.env.sample")
    env.set("DOMAIN", domain)
    pin_recipe(env, recipe_name, chosen.tag if chosen else None)
    target = ref.env_path(settings.servers_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, env.render(), mode=0o600)  # it names secrets' versions
    return NewApp(ref, recipe_name, chosen.tag if chosen else None, target, warnings=warnings)


# -- undeploy / remove ---------------------------------------------------------------------------


def stack_services(client: Engine, stack: str) -> list[views.Service]:
    return views.services(client, {"label": [f"{STACK_LABEL}={stack}"]})


@mutation
@dataclass(frozen=True)
class Undeployed:
    """`app undeploy`: what was removed (`pruned`: what `--prune` removed besides, by kind)."""

    app: AppRef
    services: list[str]
    networks: list[str]
    configs: list[str]
    pruned: dict[str, list[str]] | None = None

    def to_json(self) -> JSONDict:
        doc: JSONDict = {
            "app": self.app.name,
            "server": self.app.server,
            "services": self.services,
            "networks": self.networks,
            "configs": self.configs,
        }
        if self.pruned is not None:
            doc["pruned"] = self.pruned
        return doc


@dataclass(frozen=True)
class Removed:
    """`app remove`: what went with the env file, by kind."""

    app: AppRef
    volumes: list[str]
    secrets: list[str]
    configs: list[str]

    def by_kind(self) -> dict[str, list[str]]:
        return {"volumes": self.volumes, "secrets": self.secrets, "configs": self.configs}

    def to_json(self) -> JSONDict:
        return {"app": self.app.name, "server": self.app.server, **self.by_kind()}


def undeploy(client: Engine, ref: AppRef, *, timeout: float = 120) -> Undeployed:
    """Remove the stack's services, networks and configs (as `docker stack rm`); keep volumes and secrets.

    Waits until the services' containers and the networks are gone.
    """
    stack = ref.stack_name
    label = {"label": [f"{STACK_LABEL}={stack}"]}
    services = stack_services(client, stack)
    if not services:
        raise NotFound(f"app {ref.name} is not deployed on {ref.server}", hint="see: coop app ls --status")
    for svc in services:
        client.service_remove(svc.id)
    deadline = time.monotonic() + timeout
    # all=True: a stopped container still holds its volumes until swarm removes it.
    while client.tasks(filters={"label": [f"{STACK_LABEL}={stack}"]}) or client.containers(filters=label, all=True):
        if time.monotonic() > deadline:
            raise DeployFailed(f"app {ref.name}: services were removed but their containers are still stopping")
        time.sleep(0.5)
    networks = views.networks(client, label)
    configs = views.configs(client, label)
    for cfg in configs:
        client.config_remove(cfg.id)
    for net in networks:
        _remove_network(client, net.id, deadline)
    return Undeployed(
        ref,
        services=sorted(s.name for s in services),
        networks=sorted(n.name for n in networks),
        configs=sorted(c.name for c in configs),
    )


def _remove_network(client: Engine, net_id: str, deadline: float) -> None:
    from coopcloud.errors import EngineError, EngineNotFound

    while True:
        try:
            client.network_remove(net_id)
            return
        except EngineNotFound:
            return
        except EngineError:
            # Endpoints linger for a moment after the last container stops.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_for_containers_gone(client: Engine, ref: AppRef, *, timeout: float = 60) -> None:
    """Wait until swarm removed the stack's containers, stopped ones too: they hold its volumes
    (right after an undeploy, or a `docker stack rm`, they are still going)."""
    label = {"label": [f"{STACK_LABEL}={ref.stack_name}"]}
    deadline = time.monotonic() + timeout
    while left := views.containers(client, label, all=True):
        if time.monotonic() > deadline:
            names = ", ".join(sorted(c.name or "?" for c in left))
            raise Conflict(
                f"app {ref.name}: its containers are still there after {timeout:g} s ({names}), so its volumes are in use",
                hint=f"wait, then run again: coop app remove {ref.name} --force",
            )
        time.sleep(0.5)


def describe_leftovers(found: dict[str, list[str]]) -> str:
    """``2 volumes (db, files), 1 secret (db_password)`` — what `leftovers` found, in words."""
    from coopcloud.domain.words import plural

    return ", ".join(f"{plural(len(v), k[:-1])} ({', '.join(v)})" for k, v in found.items() if v) or "nothing"


def check_removable(settings: Settings, pool: ServerPool, name: str) -> AppRef:
    """The app, when it exists and is not deployed; else the error that says what to do."""
    ref = find_app(settings, name)
    if stack_services(pool.client(ref.server), ref.stack_name):
        raise Conflict(f"app {name} is deployed on {ref.server}", hint=f"run: coop app undeploy {name}")
    return ref


def leftovers(settings: Settings, client: Engine, ref: AppRef, *, purge: bool) -> dict[str, list[str]]:
    """What an undeployed app still has on its server: volumes, secrets and configs, by name (read-only).

    When its stack name is another app's, those objects are the other app's: none is this app's to
    delete (with `purge`, that is refused: exit 10)."""
    from coopcloud.domain.envfile import load as load_env
    from coopcloud.domain.envfile import secret_specs
    from coopcloud.ops.app import secrets as sec
    from coopcloud.ops.app.apps import check_own_stack

    try:
        check_own_stack(settings, ref)
    except Conflict:
        if purge:
            raise
        return {"volumes": [], "secrets": [], "configs": []}
    stack = ref.stack_name
    label = {"label": [f"{STACK_LABEL}={stack}"]}
    # Ours by label; abra's (unlabelled) by the names the app env declares: <stack>_<secret>_v<N>.
    declared = {s.name for s in secret_specs(load_env(ref.env_path(settings.servers_dir)))}
    ours = re.compile(rf"{re.escape(stack)}_({'|'.join(map(re.escape, declared)) or '(?!)'})_v\d+")
    return {
        "volumes": sorted(v.name for v in views.volumes(client, label)),
        "secrets": sorted(
            s.name for s in views.secrets(client) if s.labels.get(sec.SECRET_LABEL) == stack or ours.fullmatch(s.name)
        ),
        "configs": sorted(c.name for c in views.configs(client, label)),
    }


def refuse_leftovers(ref: AppRef, found: dict[str, list[str]], *, purge: bool) -> None:
    """Without purge, an app that still has volumes, secrets or configs is not forgotten (coop would lose them)."""
    if not purge and any(found.values()):
        raise Conflict(
            f"app {ref.name} still has {describe_leftovers(found)} on {ref.server}",
            hint=f"delete them with it: coop app remove {ref.name} --purge (their data is lost for good)",
        )


@mutation
def remove(
    settings: Settings, pool: ServerPool, name: str, *, purge: bool, found: dict[str, list[str]] | None = None
) -> Removed:
    """Forget an app: its env file (and lockfile); with purge, its volumes, secrets and configs too.

    `found`: what `leftovers` found and the operator approved; exactly that is removed. Without purge,
    an app that still has any of them on its server is refused (they would outlive the env file that
    lets coop find them): nothing is removed."""
    ref = check_removable(settings, pool, name)
    client = pool.client(ref.server)
    if found is None:
        found = leftovers(settings, client, ref, purge=purge)
    refuse_leftovers(ref, found, purge=purge)
    removed: dict[str, list[str]] = {"volumes": [], "secrets": [], "configs": []}
    if any(found.values()):
        wait_for_containers_gone(client, ref)
        secret_ids = {s.name: s.id for s in views.secrets(client)}
        config_ids = {c.name: c.id for c in views.configs(client)}
        for vol in found["volumes"]:
            client.volume_remove(vol)
            removed["volumes"].append(vol)
        for secret in found["secrets"]:
            client.secret_remove(secret_ids.get(secret, secret))
            removed["secrets"].append(secret)
        for config in found["configs"]:
            client.config_remove(config_ids.get(config, config))
            removed["configs"].append(config)
    path = ref.env_path(settings.servers_dir)
    path.unlink()
    lock = path.with_suffix(".lock.json")
    if lock.exists():
        lock.unlink()
    return Removed(ref, **removed)
