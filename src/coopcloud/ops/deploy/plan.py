"""The plan: what a deploy would change, computed from desired and live specs before touching anything.

Pure: takes the converter's specs and the engine's live service specs, returns
data. Secrets never appear in a plan, only that they changed: env values of secret-looking keys,
the password of any URL (``postgres://u:***@db``), and any value equal to one of the app's secrets
(the values of those keys, and whatever secret values the caller knows) are masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from coopcloud.rawdata import JSONDict, RawMap, as_map, get_int, get_list, get_map, get_str
from coopcloud.swarm import service_spec

# Values the engine fills in on create; absent in what we send, so not a change.
_ENGINE_DEFAULTS = {
    "Isolation": "default",
    "Runtime": "container",
    "Protocol": "tcp",
    "Mode": "vip",  # EndpointSpec.Mode
    "Replicas": 1,
    "FailureAction": "pause",  # UpdateConfig and RollbackConfig
    "Order": "stop-first",  # UpdateConfig and RollbackConfig
    "PublishMode": "ingress",  # EndpointSpec.Ports
    "Condition": "any",  # RestartPolicy
}
# coop labels each service it deploys with a hash of the spec it sent (image digest aside): equal
# hashes mean unchanged, whatever defaults the engine filled in. Services deployed by abra or
# `docker stack deploy` have none and are compared field by field.
SPEC_HASH_LABEL = "coop.spec-hash"
# Service labels only coop writes, about its own bookkeeping: a change of these alone is shown as
# bookkeeping, not as an update (service labels never restart a task).
COOP_LABEL_PREFIX = "coop."
# Maps of data, not of settings: an entry with an empty value still means something.
_DATA_MAPS = frozenset({"Labels", "Options", "DriverOpts", "Sysctls"})


def spec_hash(spec: RawMap) -> str:
    """The hash of what coop sends, without what follows from the image digest (the digest itself
    and the platforms image resolution adds), so a registry answer never reads as a change."""
    import hashlib
    import json

    body = _strip_map_ids(spec, _image_without_digest(service_spec.image(spec)))
    labels = dict(service_spec.labels(body))
    labels.pop(SPEC_HASH_LABEL, None)
    body = _without_empty_pointers(_without_platforms({**body, "Labels": labels}))
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]


def _without_empty_pointers(spec: RawMap) -> JSONDict:
    """`spec` without the empty objects docker always sends (and coop too, since it mirrors it), so
    hashes stay those of the services coop deployed before it sent them."""
    template = dict(service_spec.template(spec))
    container = dict(service_spec.container(spec))
    if container.get("Privileges") == {}:
        del container["Privileges"]
    if container:
        template["ContainerSpec"] = container
    for key in ("Resources", "Placement"):
        if template.get(key) == {}:
            del template[key]
    out: JSONDict = {k: v for k, v in spec.items() if not (k == "EndpointSpec" and v == {})}
    if template:
        out["TaskTemplate"] = template
    return out


def _without_platforms(spec: JSONDict) -> JSONDict:
    """`spec` without TaskTemplate.Placement.Platforms (and without a Placement left empty)."""
    placement = service_spec.placement(spec)
    if "Platforms" not in placement:
        return spec
    rest = {k: v for k, v in placement.items() if k != "Platforms"}
    template: JSONDict = {k: v for k, v in service_spec.template(spec).items() if k != "Placement"}
    if rest:
        template["Placement"] = rest
    return {**spec, "TaskTemplate": template}


_SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|SALT|CERT", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?P<at>@)")
HIDDEN = "(hidden)"


def mask_value(value: str, secrets: frozenset[str] = frozenset()) -> str:
    """`value` as a plan may show it: a known secret is hidden whole, a URL's password is starred."""
    if value in secrets:
        return HIDDEN
    return _URL_PASSWORD.sub(r"\g<head>***\g<at>", value)


@dataclass(frozen=True)
class Change:
    what: str  # e.g. "image", "env FOO", "replicas", "secret db_password"
    before: str | None
    after: str | None
    paths: tuple[str, ...] = ()  # "other settings": the spec's own paths (the plan shows them under --debug)

    def to_json(self) -> JSONDict:
        doc: JSONDict = {"what": self.what, "before": self.before, "after": self.after}
        return doc | ({"paths": list(self.paths)} if self.paths else {})


# What a person calls a service spec's settings (a path's last known prefix wins; the rest is de-camel-cased).
_SETTING_WORDS = {
    "TaskTemplate.ContainerSpec.Healthcheck.Test": "healthcheck command",
    "TaskTemplate.ContainerSpec.Healthcheck.Interval": "healthcheck interval",
    "TaskTemplate.ContainerSpec.Healthcheck.Timeout": "healthcheck timeout",
    "TaskTemplate.ContainerSpec.Healthcheck.Retries": "healthcheck retries",
    "TaskTemplate.ContainerSpec.Healthcheck.StartPeriod": "healthcheck start period",
    "TaskTemplate.ContainerSpec.Healthcheck": "healthcheck",
    "TaskTemplate.ContainerSpec.Command": "entrypoint",
    "TaskTemplate.ContainerSpec.Args": "command",
    "TaskTemplate.ContainerSpec.Dir": "working directory",
    "TaskTemplate.ContainerSpec.CapabilityAdd": "capabilities",
    "TaskTemplate.ContainerSpec.CapabilityDrop": "capabilities",
    "TaskTemplate.ContainerSpec.Hosts": "extra hosts",
    "TaskTemplate.ContainerSpec.DNSConfig": "DNS settings",
    "TaskTemplate.ContainerSpec.ReadOnly": "read-only root filesystem",
    "TaskTemplate.ContainerSpec.TTY": "tty",
    "TaskTemplate.Resources.Limits": "resource limits",
    "TaskTemplate.Resources.Reservations": "resource reservations",
    "TaskTemplate.RestartPolicy": "restart policy",
    "TaskTemplate.LogDriver": "logging",
    "UpdateConfig": "update config",
    "RollbackConfig": "rollback config",
    "EndpointSpec.Mode": "endpoint mode",
}


def setting_words(paths: list[str]) -> str:
    """``healthcheck command, user`` for ``TaskTemplate.ContainerSpec.Healthcheck.Test``, ``….User``."""
    import re

    words: list[str] = []
    for path in paths:
        known = next((_SETTING_WORDS[p] for p in _prefixes(path) if p in _SETTING_WORDS), None)
        word = known or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", path.rsplit(".", 1)[-1]).lower()
        if word not in words:
            words.append(word)
    return ", ".join(words)


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


@dataclass(frozen=True)
class ServicePlan:
    name: str
    action: str  # create | update | bookkeeping (coop's own labels only) | unchanged | remove
    changes: tuple[Change, ...] = ()
    # An update restarts tasks only when the task template or the endpoint changes; the other
    # fields (labels, replicas, update and rollback settings) are the service's alone.
    restarts: bool = False

    def to_json(self) -> JSONDict:
        return {
            "name": self.name,
            "action": self.action,
            "restarts": self.restarts,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Plan:
    services: tuple[ServicePlan, ...]
    networks: tuple[str, ...] = ()  # to create
    configs: tuple[str, ...] = ()  # to create
    orphans: tuple[str, ...] = field(default=())  # live services the recipe no longer has: kept, as docker does

    @property
    def changes_anything(self) -> bool:
        return bool(self.networks or self.configs) or any(s.action != "unchanged" for s in self.services)

    def audit_lines(self) -> list[str]:
        """The plan as the trail's lines: what changes, by name; never a value (a secret's may be among them)."""
        lines = [f"+ network {n}" for n in self.networks] + [f"+ config {n}" for n in self.configs]
        for sp in self.services:
            if sp.action == "unchanged":
                continue
            what = sorted({c.what for c in sp.changes})
            symbol = _SYMBOLS.get(sp.action, "~")
            lines.append(f"{symbol} service {sp.name}: {sp.action}" + (f" ({', '.join(what)})" if what else ""))
        return lines

    def to_json(self) -> JSONDict:
        return {
            "services": [s.to_json() for s in self.services],
            "networks": list(self.networks),
            "configs": list(self.configs),
            "orphans": list(self.orphans),
            "changes": self.changes_anything,
        }


_SYMBOLS = {"create": "+", "update": "~", "bookkeeping": "=", "remove": "-"}


def _is_zero(value: object) -> bool:
    return value in (None, 0, "", False) or value == [] or value == {}


def _is_default(value: object, key: str | None = None) -> bool:
    """What the engine or the docker CLI would have filled in on its own: a Go zero value, one of the
    engine's defaults, or a settings object made only of those (`Privileges: {CredentialSpec:
    null}`, `EndpointSpec: {Mode: vip}`)."""
    if _is_zero(value) or (key is not None and _ENGINE_DEFAULTS.get(key) == value):
        return True
    if isinstance(value, dict) and key not in _DATA_MAPS:
        return all(_is_default(v, k) for k, v in value.items())
    return False


def same_spec(desired: object, live: object) -> bool:
    """Equal up to what the engine adds: Go zero values and the engine's own defaults."""
    if isinstance(desired, dict) and isinstance(live, dict):
        for key in desired.keys() | live.keys():
            d, l = desired.get(key), live.get(key)
            if key not in desired:
                if _is_default(l, key):
                    continue
                return False
            if key not in live:
                if _is_default(d, key):
                    continue
                return False
            if not same_spec(d, l):
                return False
        return True
    if isinstance(desired, list) and isinstance(live, list):
        return len(desired) == len(live) and all(same_spec(d, l) for d, l in zip(desired, live))
    if _is_zero(desired) and _is_zero(live):
        return True
    return desired == live


def differing_paths(desired: object, live: object, path: str = "") -> list[str]:
    """Where two specs differ (same rules as `same_spec`), as dotted paths: `TaskTemplate.Placement`."""
    if isinstance(desired, dict) and isinstance(live, dict):
        out = []
        for key in sorted(desired.keys() | live.keys()):
            d, l = desired.get(key), live.get(key)
            if key not in desired and _is_default(l, key):
                continue
            if key not in live and _is_default(d, key):
                continue
            if key in desired and key in live and same_spec(d, l):
                continue
            sub = f"{path}.{key}" if path else key
            deeper = differing_paths(d, l, sub) if isinstance(d, dict) and isinstance(l, dict) else []
            out += deeper or [sub]
        return out
    return [] if same_spec(desired, live) else [path]


def _refs(spec: RawMap, kind: str, name_key: str) -> dict[str, str]:
    return {get_str(ref, name_key): service_spec.ref_target(ref) for ref in service_spec.refs(spec, kind)}


def _mounts(spec: RawMap) -> list[str]:
    return sorted(
        f"{m.get('Type', 'volume')}:{m.get('Source', '')}:{m.get('Target', '')}{':ro' if m.get('ReadOnly') else ''}"
        for m in service_spec.mounts(spec)
    )


def _networks(spec: RawMap) -> list[str]:
    return sorted(get_str(n, "Target") for n in service_spec.networks(spec))


def _ports(spec: RawMap) -> list[str]:
    return sorted(
        f"{p.get('PublishedPort', '')}:{p.get('TargetPort', '')}/{p.get('Protocol', 'tcp')}({p.get('PublishMode', 'ingress')})"
        for p in service_spec.ports(spec)
    )


def _placement(spec: RawMap) -> list[str]:
    placement = service_spec.placement(spec)
    out = sorted(f"constraint {c}" for c in get_list(placement, "Constraints"))
    out += [f"spread {d}" for d in service_spec.spread_descriptors(spec)]
    if placement.get("MaxReplicas"):
        out.append(f"max replicas per node {placement['MaxReplicas']}")
    return out


def _dict_changes(
    prefix: str,
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    redact: bool,
    secrets: frozenset[str] = frozenset(),
) -> list[Change]:
    changes = []
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if redact and _SECRET_KEY.search(key):
            b = None if b is None else HIDDEN
            a = None if a is None else HIDDEN
        changes.append(
            Change(
                f"{prefix} {key}",
                None if b is None else mask_value(b, secrets),
                None if a is None else mask_value(a, secrets),
            )
        )
    return changes


def shown_env(values: Mapping[str, str]) -> dict[str, str]:
    """Env values as coop may show them (the dashboard): secret-looking keys hidden, the same value under
    another key hidden, a URL's password starred."""
    secrets = _secret_values(dict(values))
    return {k: HIDDEN if v and _SECRET_KEY.search(k) else mask_value(v, secrets) for k, v in values.items()}


def _secret_values(*envs: dict[str, str]) -> frozenset[str]:
    """Values of secret-looking env keys: the same value under another key is hidden too."""
    return frozenset(v for env in envs for k, v in env.items() if v and _SECRET_KEY.search(k))


def _image_without_digest(image: str) -> str:
    return image.split("@", 1)[0]


def _compared_image(desired: RawMap, live: RawMap) -> tuple[str, str]:
    """(desired, live) images as compared: by tag alone when coop could not pin a digest."""
    d_img, l_img = service_spec.image(desired), service_spec.image(live)
    if "@" not in d_img:
        l_img = _image_without_digest(l_img)
    return d_img, l_img


def service_changes(desired: RawMap, live: RawMap, secrets: frozenset[str] = frozenset()) -> list[Change]:
    """What differs between two service specs, in words an operator reads; `secrets` are values to hide.

    coop's own labels (`coop.*`) are left out: see `bookkeeping_changes`. The whole spec is compared,
    whatever the spec-hash labels say: a hand-made `docker service update` (of the env, the user, the
    healthcheck, the update config...) keeps the label but changes the service (drift), and a deploy
    must put it back. What the engine fills in on its own (Go zero values, its defaults) is no change.
    """
    d_img, l_img = _compared_image(desired, live)
    changes: list[Change] = []
    if d_img != l_img:
        changes.append(Change("image", l_img, d_img))
    secrets = secrets | _secret_values(service_spec.env(live), service_spec.env(desired))
    changes += _dict_changes("env", service_spec.env(live), service_spec.env(desired), redact=True, secrets=secrets)
    changes += _dict_changes(
        "label", _labels(live, coop=False), _labels(desired, coop=False), redact=False, secrets=secrets
    )
    changes += _dict_changes(
        "container label",
        service_spec.container_labels(live),
        service_spec.container_labels(desired),
        redact=False,
        secrets=secrets,
    )
    if service_spec.replicas(desired) != service_spec.replicas(live):
        changes.append(Change("replicas", service_spec.replicas(live), service_spec.replicas(desired)))
    changes += _dict_changes(
        "secret", _refs(live, "Secrets", "SecretName"), _refs(desired, "Secrets", "SecretName"), redact=False
    )
    changes += _dict_changes(
        "config", _refs(live, "Configs", "ConfigName"), _refs(desired, "Configs", "ConfigName"), redact=False
    )
    for what, fn in (("mounts", _mounts), ("networks", _networks), ("ports", _ports), ("placement", _placement)):
        if fn(desired) != fn(live):
            changes.append(Change(what, ", ".join(fn(live)) or None, ", ".join(fn(desired)) or None))
    paths = differing_paths(
        _ports_as_set(_comparable(desired, l_img)), _ports_as_set(_comparable(live, l_img, desired=desired))
    )
    if changes:
        # the fields above are shown already; the rest (command, healthcheck, resources...) must not
        # hide behind them (every release changes its version label)
        paths = [p for p in paths if not p.startswith(_SHOWN_FIELDS)]
    if paths:
        changes.append(Change("other settings", None, setting_words(paths), tuple(paths)))
    return changes


# Spec paths that service_changes reports field by field (a path under one is not "other settings").
_SHOWN_FIELDS = (
    "Labels",
    "Mode",
    "TaskTemplate.ContainerSpec.Image",
    "TaskTemplate.ContainerSpec.Env",
    "TaskTemplate.ContainerSpec.Labels",
    "TaskTemplate.ContainerSpec.Secrets",
    "TaskTemplate.ContainerSpec.Configs",
    "TaskTemplate.ContainerSpec.Mounts",
    "TaskTemplate.Networks",
    "TaskTemplate.Placement",
    "EndpointSpec.Ports",
    "Networks",
)


def bookkeeping_changes(desired: RawMap, live: RawMap) -> list[Change]:
    """Changes of coop's own service labels (its spec hash...): they restart nothing and change no
    setting, so the plan shows them apart from updates."""
    return _dict_changes("label", _labels(live, coop=True), _labels(desired, coop=True), redact=False)


def restarts_tasks(desired: RawMap, live: RawMap) -> bool:
    """Whether sending `desired` over `live` makes swarm replace the service's tasks: it does when the
    task template or the endpoint changes, and for nothing else (labels, replicas, update settings)."""
    d_img, l_img = _compared_image(desired, live)
    if d_img != l_img:
        return True
    d, l = _comparable(desired, l_img), _comparable(live, l_img, desired=desired)
    return not same_spec(_task_part(d), _task_part(l))


def _task_part(spec: RawMap) -> JSONDict:
    return {k: spec[k] for k in ("TaskTemplate", "EndpointSpec") if k in spec}


def with_live_tasks(body: RawMap, live: RawMap) -> JSONDict:
    """`body` carrying the live task template and endpoint, byte for byte.

    For an update that `restarts_tasks` found changes neither: the engine stores a spec as it got
    it, and swarm compares task specs field by field, so an equal template written differently
    (an empty `Privileges` sent or not, platforms added by image resolution) would still replace
    every task. Sending back what runs restarts nothing.
    """
    out: JSONDict = {k: v for k, v in body.items() if k not in ("TaskTemplate", "EndpointSpec")}
    for key in ("TaskTemplate", "EndpointSpec"):
        if key in live:
            out[key] = live[key]
    return out


def _labels(spec: RawMap, *, coop: bool) -> dict[str, str]:
    """The service's labels that are coop's own (coop=True) or not."""
    return {k: v for k, v in service_spec.labels(spec).items() if k.startswith(COOP_LABEL_PREFIX) == coop}


def _comparable(spec: RawMap, image: str, *, desired: RawMap | None = None) -> JSONDict:
    """`spec` for a field-by-field comparison: without IDs (names decide), with `image` (compared
    already), without coop's own labels; for a live spec (`desired` given), without the platforms
    image resolution added when the desired spec names none. Both with what the engine fills in."""
    out = _strip_map_ids(spec, image)
    out["Labels"] = _labels(out, coop=False)
    _fill_engine_defaults(out)  # the engine's live spec has them already
    if desired is not None and not service_spec.placement(desired).get("Platforms"):
        out = _without_platforms(out)
    return out


_SECOND = 1_000_000_000
# What the engine stores for a settings object a create or update left out, or for its fields left out
# (seen on Docker 20.10 to 27): compared as if sent, so a service that runs as deployed shows no change
# and a hand-made `docker service update --restart-delay …` shows as one.
_ENGINE_FILLED = {
    "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * _SECOND, "Order": "stop-first"},
    "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * _SECOND, "Order": "stop-first"},
}
_ENGINE_FILLED_FIELDS = {"FailureAction": "pause", "Order": "stop-first"}  # in an UpdateConfig sent without them


def _fill_engine_defaults(spec: JSONDict) -> None:
    """Fill `spec` (a copy) in place with what the engine adds to a service spec it is sent."""
    for key, whole in _ENGINE_FILLED.items():
        if not spec.get(key):
            spec[key] = dict(whole)
        else:
            spec[key] = {**_ENGINE_FILLED_FIELDS, **as_map(spec[key], key)}
    template = spec.get("TaskTemplate")
    if not isinstance(template, dict):
        return
    restart = get_map(template, "RestartPolicy")
    template["RestartPolicy"] = {"Condition": "any", "Delay": 5 * _SECOND, **restart}
    container = template.get("ContainerSpec")
    if isinstance(container, dict) and container.get("StopGracePeriod") is None:
        container["StopGracePeriod"] = 10 * _SECOND


def _strip_ids(spec: object, image: str) -> object:
    """IDs of secrets/configs differ between engines (names decide); the image was compared already."""
    if isinstance(spec, Mapping):
        return {
            k: image if k == "Image" else _strip_ids(v, image)
            for k, v in spec.items()
            if k not in ("SecretID", "ConfigID")
        }
    if isinstance(spec, list):
        return [_strip_ids(v, image) for v in spec]
    return spec


def _strip_map_ids(spec: Mapping[str, object], image: str) -> dict[str, object]:
    """`_strip_ids` of a spec object."""
    out = _strip_ids(spec, image)
    assert isinstance(out, dict)
    return out


def _ports_as_set(spec: JSONDict) -> JSONDict:
    """Ports in one canonical order: docker's sort.Slice leaves ties (same published port) in an order
    of its own past 12 ports, so the order of a service `docker stack deploy` made is no change."""
    endpoint = spec.get("EndpointSpec")
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("Ports"), list):
        return spec

    def key(item: object) -> tuple[int, int, str, str, str]:  # defaults filled in: desired and live sort alike
        p = as_map(item, "Ports")
        return (
            get_int(p, "PublishedPort"),
            get_int(p, "TargetPort"),
            get_str(p, "Protocol") or "tcp",
            get_str(p, "PublishMode") or "ingress",
            get_str(p, "Name"),
        )

    return {**spec, "EndpointSpec": {**endpoint, "Ports": sorted(endpoint["Ports"], key=key)}}


def plan_services(
    desired: Mapping[str, RawMap],
    live: Mapping[str, RawMap],
    *,
    remove_orphans: bool = False,
    secrets: frozenset[str] = frozenset(),
) -> list[ServicePlan]:
    """Compare desired specs (by service name) with live ones; `secrets`: values never to show."""
    plans = []
    for name in sorted(desired):
        if name not in live:
            plans.append(ServicePlan(name, "create"))
            continue
        changes = service_changes(desired[name], live[name], secrets)
        if changes:
            restarts = restarts_tasks(desired[name], live[name])
            plans.append(ServicePlan(name, "update", tuple(changes), restarts=restarts))
        elif bookkeeping := bookkeeping_changes(desired[name], live[name]):
            plans.append(ServicePlan(name, "bookkeeping", tuple(bookkeeping)))
        else:
            plans.append(ServicePlan(name, "unchanged"))
    if remove_orphans:
        plans += [ServicePlan(name, "remove") for name in sorted(live.keys() - desired.keys())]
    return plans
