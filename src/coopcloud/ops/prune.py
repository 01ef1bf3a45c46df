"""`server prune` and `app undeploy --prune`: what a server no longer uses, minus what must stay.

`server prune` removes stopped containers, unused networks, dangling images (every unused image
with `all_images`) and, with `volumes`, unused volumes, as `docker system prune` does — but never
the `proxy` network, a network any app's recipe declares external, a volume of an app coop knows
(an undeployed app keeps its data) nor coop's own volumes (`coop-…`: the backup repository).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, EngineError, EngineNotFound
from coopcloud.rawdata import JSONDict, as_map, get_int, get_list, get_map, get_str
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL

PROXY_NETWORK = "proxy"
# Networks docker makes itself; never candidates.
_PREDEFINED = frozenset({"bridge", "host", "none", "ingress", "docker_gwbridge"})
COOP_VOLUME_PREFIX = "coop-"


@dataclass
class Pruned:
    server: str = ""
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    kept_networks: list[str] = field(default_factory=list)  # unused, but protected
    kept_volumes: list[str] = field(default_factory=list)
    space_reclaimed: int = 0

    def to_json(self) -> JSONDict:
        return dict(self.__dict__)


def _external_networks(settings: Settings, ref: AppRef) -> set[str]:
    """The networks the app's recipe (at its pinned version, with its env) declares external."""
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy import deploy_env, resolve_target
    from coopcloud.swarm.render import render

    cfg = load_app(settings, ref.name)
    target = resolve_target(settings, cfg)
    model = render(target.recipe, cfg.ref, deploy_env(cfg, target), warn=lambda _: None, deployable=False).model
    return {
        str(body.get("name") or name)
        for name, body in get_map(model, "networks").items()
        if isinstance(body, dict) and body.get("external")
    }


def protected_networks(settings: Settings, apps: list[AppRef], warn: Callable[[str], None]) -> set[str] | None:
    """`proxy` and every network the apps' recipes declare external; None when an app's recipe
    cannot be read here (then no network is safe to remove)."""
    names = {PROXY_NETWORK}
    for ref in apps:
        try:
            names |= _external_networks(settings, ref)
        except CoopError as exc:
            warn(f"networks not pruned: the external networks of app {ref.name} are not known here ({exc})")
            return None
    return names


def _prune_networks(client: Engine, protected: set[str], out: Pruned) -> None:
    used = {target for svc in views.services(client) for target in svc.networks}
    for net in views.networks(client):
        name, net_id = net.name, net.id
        if name in _PREDEFINED or net.ingress or name in used or net_id in used:
            continue
        if name in protected:
            out.kept_networks.append(name)
            continue
        try:
            client.network_remove(net_id)
        except EngineNotFound:
            continue
        except EngineError:
            continue  # a container still uses it: not unused after all
        out.networks.append(name)


def _prune_volumes(client: Engine, stacks: set[str], out: Pruned) -> None:
    sizes = client.volume_sizes()
    for vol in views.volumes(client, {"dangling": ["true"]}):
        name = vol.name
        stack = vol.labels.get(STACK_LABEL)
        if stack in stacks or any(name.startswith(f"{s}_") for s in stacks) or name.startswith(COOP_VOLUME_PREFIX):
            out.kept_volumes.append(name)
            continue
        try:
            client.volume_remove(name)
        except EngineError:
            continue  # in use again meanwhile
        out.volumes.append(name)
        out.space_reclaimed += max(0, sizes.get(name, 0))


def prune_server(
    settings: Settings,
    client: Engine,
    server: str,
    *,
    all_images: bool = False,
    volumes: bool = False,
    warn: Callable[[str], None],
) -> Pruned:
    """Prune `server` (see the module docstring). The apps coop knows are those whose env files
    are under servers/<server>/."""
    from coopcloud.ops.app.apps import all_apps

    apps = [a for a in all_apps(settings) if a.server == server]
    protected = protected_networks(settings, apps, warn)  # read before anything is removed
    out = Pruned(server)
    found = client.containers_prune()
    out.containers = sorted(str(c) for c in get_list(found, "ContainersDeleted"))
    out.space_reclaimed += get_int(found, "SpaceReclaimed")
    if protected is not None:
        _prune_networks(client, protected, out)
    found = client.images_prune(dangling_only=not all_images)
    deleted = (as_map(i, "ImagesDeleted") for i in get_list(found, "ImagesDeleted"))
    out.images = [get_str(i, "Untagged") or get_str(i, "Deleted") for i in deleted]
    out.space_reclaimed += get_int(found, "SpaceReclaimed")
    if volumes:
        _prune_volumes(client, {a.stack_name for a in apps}, out)
    for kind in (out.networks, out.volumes, out.kept_networks, out.kept_volumes):
        kind.sort()
    return out


def prune_app(client: Engine, ref: AppRef, other_stacks: set[str]) -> dict[str, list[str]]:
    """After an undeploy: the app's networks and configs (by name, `<stack>_…`) that nothing uses
    any more — those a stack label does not mark (made by other tools, or left by older deploys).
    A name that is another known app's (stack `a_b` beside `a`) is left alone."""
    prefix = f"{ref.stack_name}_"
    longer = [f"{s}_" for s in other_stacks if s.startswith(prefix)]

    def ours(name: str) -> bool:
        return name.startswith(prefix) and not any(name.startswith(p) for p in longer)

    removed: dict[str, list[str]] = {"networks": [], "configs": []}
    for cfg in views.configs(client):
        name = cfg.name
        if ours(name):
            try:
                client.config_remove(cfg.id)
            except EngineError:
                continue  # a service still uses it
            removed["configs"].append(name)
    for net in views.networks(client):
        name = net.name
        if ours(name):
            try:
                client.network_remove(net.id)
            except EngineError:
                continue
            removed["networks"].append(name)
    return {k: sorted(v) for k, v in removed.items()}
