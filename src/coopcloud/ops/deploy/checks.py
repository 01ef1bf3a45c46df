"""Step 3 of a deploy: check the server, read-only, before anything changes on it.

One round trip reads the engine, its networks, secrets, configs and the app's services; what
is missing or in the way is refused here, so a refused deploy leaves the server as it was.
Image tags are resolved to digests (and platforms) through the engine, as docker does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import EngineNotFound, InvalidError, NotFound
from coopcloud.rawdata import RawMap, as_map, get_map, get_str
from coopcloud.swarm import service_spec
from coopcloud.swarm.labels import STACK_LABEL

if TYPE_CHECKING:
    from coopcloud.swarm.render import Rendered


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
    unknown_to_registry: list[str] = field(default_factory=list)  # images its registry says it has not got


def _external(model: RawMap, kind: str) -> dict[str, str]:
    """key -> real name of the model's external networks/secrets/configs."""
    declared = {key: as_map(cfg, f"{kind}.{key}") for key, cfg in get_map(model, kind).items()}
    return {key: get_str(cfg, "name") or key for key, cfg in declared.items() if cfg.get("external")}


def _secret_label(env: dict[str, str], key: str) -> str:
    version = env.get(f"SECRET_{key.upper()}_VERSION")
    return f"{key} ({version})" if version else key


def preflight(
    client: Engine,
    app: str,
    rendered: Rendered,
    *,
    resolve_images: bool = True,
    require_images: bool = True,
) -> Preflight:
    """`require_images`: refuse an image its registry says it does not have (and the server does not
    hold either), which swarm would only find out by stopping the old task and failing to pull."""
    spec = rendered.spec
    now = views.swarm_state(client, {"label": [f"{STACK_LABEL}={rendered.stack}"]})
    if not now.info.is_manager:
        client.require_manager()  # says so, in the one way coop says it
    for name, svc in spec.services.items():
        if not service_spec.image(svc):
            raise InvalidError(
                f"app {app}: service {name} has no image", hint="set image: in the recipe's compose file"
            )
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
        if require_images:
            _check_images_exist(client, app, spec.services, pre)
    return pre


def _check_external_networks(app: str, rendered: Rendered, live_networks: set[str]) -> None:
    """External networks must exist; ours are created when missing."""
    used = {net.get("Target") for svc in rendered.spec.services.values() for net in service_spec.networks(svc)}
    missing = sorted(n for n in _external(rendered.model, "networks").values() if n in used and n not in live_networks)
    if missing:
        fix = "run: coop server init <server>" if missing == ["proxy"] else "create them on the server first"
        raise NotFound(f"app {app}: external network(s) missing on the server: {', '.join(missing)}", hint=fix)


def _check_external_secrets(app: str, rendered: Rendered, live_secrets: Mapping[str, str]) -> None:
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


def _configs_to_create(app: str, configs: Mapping[str, RawMap], live: Mapping[str, views.Config]) -> list[str]:
    """The configs not on the server yet; one that is must hold the same content (Docker cannot change it)."""
    out = []
    for name, body in sorted(configs.items()):
        if name not in live:
            out.append(name)
        elif live[name].data != base64.b64decode(get_str(body, "Data")):
            raise InvalidError(
                f"app {app}: config {name} already exists on the server with different content: "
                "the recipe changed the file without a new version in the config's name",
                hint="bump its *_VERSION (in abra.sh or the app env) so a new config is created",
            )
    return out


def _pin_images(client: Engine, services: Mapping[str, RawMap], pre: Preflight) -> None:
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
            if isinstance(exc, EngineNotFound) and "manifest unknown" in str(exc):
                pre.unknown_to_registry.append(image)
            pre.unpinned_why[image] = str(exc)
    for name, svc in services.items():
        resolved = cache.get(service_spec.image(svc))
        if resolved:
            pre.pinned[name] = resolved.image
            if resolved.platforms:
                pre.platforms[name] = resolved.platforms


def _check_images_exist(client: Engine, app: str, services: Mapping[str, RawMap], pre: Preflight) -> None:
    """An image its registry does not know (a mistyped or deleted tag) is refused before anything changes,
    unless the server holds it itself (an image built there). A registry that does not answer, or asks
    for credentials, proves nothing: that image is deployed by tag, as docker does."""
    for image in pre.unknown_to_registry:
        try:
            client.image(image)
            continue
        except EngineNotFound:
            pass
        users = sorted(name for name, svc in services.items() if service_spec.image(svc) == image)
        raise NotFound(
            f"app {app}: image {image} (service {', '.join(users)}) is not in its registry (manifest unknown) "
            "nor on the server; nothing was changed",
            hint="check the image tag in the recipe's compose file, or push the image first",
        )
