"""Merging normalized files in order, with the docker CLI's rules (loader/merge.go over mergo).

Per service field, what ``docker stack config -c base -c override`` does:

- strings, ints, booleans: the override wins when it is set (a ``false``/``0``/``""`` never wins);
- ``command``, ``entrypoint``: replaced when the override is non-empty;
- ``ports`` (keyed by published port), ``volumes`` (by target), ``secrets``/``configs`` (by source):
  merged by key and sorted by it, when the base has some; otherwise the override's list as is;
- every other list (``depends_on``, ``dns``, ``expose``, ``extra_hosts``, ``healthcheck.test``,
  ``placement.constraints``…) is appended;
- ``labels``, ``sysctls``, ``deploy.labels``: merged key by key, override wins;
- ``environment``: merged key by key; an override value wins only if non-empty, except over a bare name;
- ``networks``: merged by name; a non-null override replaces ``aliases`` and sets the addresses;
- ``logging``: a different driver replaces it; otherwise options merged (only if the base had some);
- ``ulimits``: replaced per name; ``x-`` keys: mappings merged deeply, lists appended.

Top level: ``networks``/``volumes``/``secrets``/``configs`` replaced by name; ``x-`` keys and
``version`` come from the first file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from coopcloud.rawdata import JSONDict, RawMap

_APPEND = (
    "cap_add",
    "cap_drop",
    "depends_on",
    "devices",
    "dns",
    "dns_search",
    "env_file",
    "expose",
    "external_links",
    "extra_hosts",
    "links",
    "security_opt",
    "tmpfs",
)
_MAP = ("labels", "sysctls")
_KEYED = {"ports": "published", "volumes": "target", "secrets": "source", "configs": "source"}
_DURATION_PTRS = ("stop_grace_period",)


def _struct(value: object) -> JSONDict:
    """A struct of a normalized model: always a dict (the loader's own, merged in place)."""
    if isinstance(value, dict):
        return value
    raise TypeError(f"normalized model: expected a mapping, found {type(value).__name__}")


def _items(value: object) -> list[object]:
    """A list of a normalized model."""
    if isinstance(value, list):
        return value
    raise TypeError(f"normalized model: expected a list, found {type(value).__name__}")


def _is_zero_duration(d: object) -> bool:
    return d == "0s"


def _ptr_struct(dst: JSONDict, src: RawMap, key: str, fields: Callable[[JSONDict, RawMap], None]) -> None:
    if key not in src:
        return
    if key not in dst:
        dst[key] = src[key]
        return
    fields(_struct(dst[key]), _struct(src[key]))


def _scalar(dst: JSONDict, src: RawMap, key: str) -> None:
    if key in src:
        dst[key] = src[key]


def _dur_ptr(dst: JSONDict, src: RawMap, key: str) -> None:
    if key not in src:
        return
    if key not in dst or not _is_zero_duration(src[key]):
        dst[key] = src[key]


def _append(dst: JSONDict, src: RawMap, key: str) -> None:
    if key in src:
        dst[key] = _items(dst.get(key, [])) + _items(src[key])


def _map(dst: JSONDict, src: RawMap, key: str) -> None:
    if key in src:
        dst[key] = {**_struct(dst.get(key, {})), **_struct(src[key])}


def _env(dst: JSONDict, src: RawMap, key: str) -> None:
    if key not in src:
        return
    out = dict(_struct(dst.get(key, {})))
    for k, v in _struct(src[key]).items():
        if out.get(k) is None or v:
            out[k] = v
    dst[key] = out


def _keyed(dst: JSONDict, src: RawMap, key: str, by: str) -> None:
    # mergo runs docker's transformer whenever the base has the list, even if the override has
    # none: the base list is then de-duplicated by key and sorted too.
    if key not in dst:
        if key in src:
            dst[key] = src[key]
        return
    m: dict[int | str, object] = {}
    for item in [*_items(dst[key]), *_items(src.get(key, []))]:
        k = _struct(item).get(by, 0 if by == "published" else "")
        if not isinstance(k, (int, str)):
            raise TypeError(f"normalized model: {key}.{by} is a {type(k).__name__}")
        m[k] = item
    # one type per list (published ports are ints, the others strings): ordered as sorted(m)
    dst[key] = [m[k] for k in sorted(m, key=lambda k: (k, "") if isinstance(k, int) else (0, k))]


def _update_config(d: JSONDict, s: RawMap) -> None:
    for k in ("parallelism", "delay", "monitor", "failure_action", "order", "max_failure_ratio"):
        _scalar(d, s, k)


def _resource(d: JSONDict, s: RawMap) -> None:
    for k in ("cpus", "memory", "pids"):
        _scalar(d, s, k)
    _append(d, s, "generic_resources")


def _restart(d: JSONDict, s: RawMap) -> None:
    _scalar(d, s, "condition")
    _scalar(d, s, "max_attempts")
    for k in ("delay", "window"):
        _dur_ptr(d, s, k)


def _deploy(d: JSONDict, s: RawMap) -> None:
    for k in ("mode", "endpoint_mode", "replicas"):
        _scalar(d, s, k)
    _map(d, s, "labels")
    for k in ("update_config", "rollback_config"):
        _ptr_struct(d, s, k, _update_config)
    if "resources" in s:
        r = _struct(d.setdefault("resources", {}))
        for k in ("limits", "reservations"):
            _ptr_struct(r, _struct(s["resources"]), k, _resource)
    _ptr_struct(d, s, "restart_policy", _restart)
    if "placement" in s:
        p, sp = _struct(d.setdefault("placement", {})), _struct(s["placement"])
        _append(p, sp, "constraints")
        _append(p, sp, "preferences")
        _scalar(p, sp, "max_replicas_per_node")


def _healthcheck(d: JSONDict, s: RawMap) -> None:
    _append(d, s, "test")
    for k in ("timeout", "interval", "start_period", "start_interval"):
        _dur_ptr(d, s, k)
    _scalar(d, s, "retries")
    _scalar(d, s, "disable")


def _logging(dst: JSONDict, src: RawMap) -> None:
    if "logging" not in src:
        return
    if "logging" not in dst:
        dst["logging"] = src["logging"]
        return
    d, s = _struct(dst["logging"]), _struct(src["logging"])
    dd, sd = d.get("driver", ""), s.get("driver", "")
    if dd == sd or not dd or not sd:
        if not dd and sd:
            d["driver"] = sd
        if d.get("options") and s.get("options"):
            d["options"] = {**_struct(d["options"]), **_struct(s["options"])}
    else:
        dst["logging"] = s


def _networks(dst: JSONDict, src: RawMap) -> None:
    if "networks" not in src:
        return
    out = dict(_struct(dst.get("networks", {})))
    for name, attach in _struct(src["networks"]).items():
        base = out.get(name)
        if base is None:
            out[name] = attach
        elif attach is not None:
            s = _struct(attach)
            d = dict(_struct(base))
            d.pop("aliases", None)
            if s.get("aliases"):
                d["aliases"] = s["aliases"]
            for k in ("ipv4_address", "ipv6_address"):
                _scalar(d, s, k)
            out[name] = d
    dst["networks"] = out


def _ulimits(dst: JSONDict, src: RawMap) -> None:
    if "ulimits" in src:
        dst["ulimits"] = {**_struct(dst.get("ulimits", {})), **_struct(src["ulimits"])}


def merge_any_map(d: RawMap, s: RawMap) -> JSONDict:
    """mergo's merge of two ``map[string]any`` (x- extensions)."""
    out = dict(d)
    for k, sv in s.items():
        dv = out.get(k)
        if isinstance(sv, dict) and isinstance(dv, dict):
            out[k] = merge_any_map(dv, sv)
        elif isinstance(sv, list) and isinstance(dv, list):
            out[k] = dv + sv
        else:
            out[k] = sv
    return out


_SCALARS = ("build_dummy",)


def merge_service(base: RawMap, override: RawMap) -> JSONDict:
    d = copy.deepcopy(_struct(base))
    s = override
    for k, by in _KEYED.items():
        if k in d and k not in s:
            _keyed(d, s, k, by)
    for k, v in s.items():
        if k in _APPEND:
            _append(d, s, k)
        elif k in _MAP:
            _map(d, s, k)
        elif k in _KEYED:
            _keyed(d, s, k, _KEYED[k])
        elif k == "environment":
            _env(d, s, k)
        elif k == "deploy":
            _deploy(_struct(d.setdefault("deploy", {})), _struct(v))
        elif k == "healthcheck":
            _ptr_struct(d, s, k, _healthcheck)
        elif k == "logging":
            _logging(d, s)
        elif k == "networks":
            _networks(d, s)
        elif k == "ulimits":
            _ulimits(d, s)
        elif k in _DURATION_PTRS:
            _dur_ptr(d, s, k)
        elif k == "init":
            if "init" not in d or v:
                d["init"] = v
        elif k == "build":
            b, sb = _struct(d.setdefault("build", {})), _struct(v)
            for kk in ("context", "dockerfile", "network", "target"):
                _scalar(b, sb, kk)
            _env(b, sb, "args")
            _map(b, sb, "labels")
            _append(b, sb, "cache_from")
            _append(b, sb, "extra_hosts")
        elif k == "credential_spec":
            d[k] = {**_struct(d.get(k, {})), **_struct(v)}
        elif k.startswith("x-"):
            d[k] = merge_any_map({k: d[k]} if k in d else {}, {k: v})[k]
        else:  # strings, ints, booleans, command/entrypoint: set means override
            d[k] = v
    return d


def merge(models: list[JSONDict]) -> JSONDict:
    """Merge normalized per-file models in order; the first file is the base, and becomes the result
    (the models are the loader's own, used once: a copy of an 8 MiB file's model cost seconds)."""
    out = models[0]
    for m in models[1:]:
        services = _struct(out["services"])
        for name, svc in _struct(m["services"]).items():
            services[name] = (
                merge_service(_struct(services[name]), _struct(svc)) if name in services else copy.deepcopy(svc)
            )
        for key in ("networks", "volumes", "secrets", "configs"):
            _struct(out[key]).update(copy.deepcopy(_struct(m[key])))
    return out
