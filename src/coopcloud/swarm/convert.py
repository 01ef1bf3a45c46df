"""Compose model → the JSON bodies `docker stack deploy --resolve-image never` sends.

The input is the plain dict `docker stack config` prints (what
`coopcloud.compose.load()` returns): long-form ports and volumes, environment
as a mapping (``None`` for a bare name the loader could not resolve), command
lists, durations as Go strings (``"1m30s"``), sizes as byte strings.

The rules follow docker/cli 28's ``cli/compose/convert`` (service.go,
compose.go, volume.go) and ``cli/command/stack/swarm/deploy_composefile.go``,
and are checked against a real `docker stack deploy` by
``tests/integration/test_swarm_differential.py``. Where this module says
"as docker", it means that code.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

from coopcloud.compose.gotypes import str_or_empty as _str
from coopcloud.errors import ConvertError
from coopcloud.rawdata import JSONDict, RawDataError, RawMap, as_list, as_map, get_list, get_map
from coopcloud.swarm import names
from coopcloud.swarm.labels import STACK_LABEL
from coopcloud.swarm.spec import StackSpec
from coopcloud.swarm.units import duration_ns, nano_cpus, size_bytes, tagged_image

DEFAULT_NETWORK = "default"
DEFAULT_NETWORK_DRIVER = "overlay"
DEFAULT_FILE_MODE = 0o444


class Keep:
    """Marks a value that is kept even when it is a Go zero value (a set pointer)."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value


# Maps whose entries are data (labels, options): an empty string there is a value.
_DATA_MAPS = frozenset({"Labels", "Options", "DriverOpts", "Sysctls"})


def _compact(value: object, key: str | None = None) -> object:
    """Drop Go zero values (None, "", 0, False, empty lists/maps) from struct
    fields, recursively; `Keep` values stay. List items and data-map entries
    (labels, options) are never dropped."""
    keep = False
    if isinstance(value, Keep):
        keep, value = True, value.value
    if isinstance(value, dict):
        out: JSONDict
        if key in _DATA_MAPS:
            out = dict(value)
        else:
            out = {}
            for k, v in value.items():
                c = _compact(v, k)
                if c is not _DROP:
                    out[k] = c
        return out if (out or keep) else _DROP
    if isinstance(value, list):
        items = []
        for item in value:
            c = _compact(item)
            if c is _DROP:
                raw = item.value if isinstance(item, Keep) else item
                c = {} if isinstance(raw, dict) else raw
            items.append(c)
        return items if (items or keep) else _DROP
    if not keep and (value is None or value is False or value == "" or (type(value) in (int, float) and value == 0)):
        return _DROP
    return value


_DROP = object()


def _struct(body: JSONDict) -> JSONDict:
    """`_compact` of a create body (one is never dropped whole: it has a name)."""
    out = _compact(body)
    return out if isinstance(out, dict) else {}


def convert(model: RawMap, stack: str, *, read_file: Callable[[str], bytes]) -> StackSpec:
    """Convert a compose model into the create bodies for stack `stack`.

    `read_file(path)` returns the bytes of a non-external config or secret's
    ``file:`` (the absolute path as it is in the model). Raises `ConvertError`
    for anything `docker stack deploy` would refuse, and for names longer than
    the engine allows, before anything is returned.

    >>> spec = convert({"services": {"app": {"image": "nginx:1"}}}, "demo", read_file=open)
    >>> sorted(spec.services), sorted(spec.networks)
    (['demo_app'], ['demo_default'])
    """
    if not stack or stack.strip(" \t\n\"'") == "":
        raise ConvertError(f"invalid stack name: {stack!r}")
    try:
        return _convert(model, stack, read_file)
    except RawDataError as exc:  # the loader validated the model: not seen from `compose.load()`
        raise ConvertError(f"compose model: {exc}") from None


def _convert(model: RawMap, stack: str, read_file: Callable[[str], bytes]) -> StackSpec:
    services = get_map(model, "services")
    net_configs = get_map(model, "networks")
    vol_configs = get_map(model, "volumes")
    secret_configs = get_map(model, "secrets")
    config_configs = get_map(model, "configs")

    networks = _networks(stack, net_configs, services)
    secrets = _file_objects("secret", stack, secret_configs, read_file)
    configs = _file_objects("config", stack, config_configs, read_file)
    out_services: dict[str, JSONDict] = {}
    for svc_name in services:
        try:
            body = _service(
                stack, svc_name, as_map(services[svc_name]), net_configs, vol_configs, secret_configs, config_configs
            )
        except ConvertError as exc:
            if exc.message.startswith("service "):
                raise
            raise ConvertError(f"service {svc_name}: {exc.message}", hint=exc.hint) from None
        except RawDataError as exc:
            raise ConvertError(f"service {svc_name}: {exc}") from None
        out_services[names.scope(stack, svc_name)] = body
    return StackSpec(services=out_services, networks=networks, configs=configs, secrets=secrets)


# -- helpers -------------------------------------------------------------


def _int(value: object, what: str) -> int:
    """`int()` of a number or numeric string of the model."""
    if isinstance(value, (int, float, str)):
        return int(value)
    raise ConvertError(f"{what}: expected a number, got {value!r}")


def _float(value: object, what: str) -> float:
    """`float()` of a number or numeric string of the model."""
    if isinstance(value, (int, float, str)):
        return float(value)
    raise ConvertError(f"{what}: expected a number, got {value!r}")


def _str_map(value: object, what: str) -> dict[str, str] | None:
    """A mapping of strings, from a mapping or a ``["k=v", ...]`` list."""
    if value is None:
        return None
    if isinstance(value, list):
        out = {}
        for item in value:
            k, _, v = _str(item).partition("=")
            out[k] = v
        return out
    if isinstance(value, Mapping):
        return {str(k): _str(v) for k, v in value.items()}
    raise ConvertError(f"{what}: expected a mapping, got {value!r}")


def _str_list(value: object, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)):
        return [_str(value)]
    return [_str(v) for v in as_list(value, what)]


def _stack_labels(stack: str, labels: object, what: str) -> dict[str, str]:
    out = _str_map(labels, what) or {}
    out[STACK_LABEL] = stack
    return out


def _is_external(config: RawMap) -> bool:
    ext = config.get("external")
    if isinstance(ext, Mapping):  # deprecated `external: {name: x}`
        return True
    return bool(ext)


def _real_name(stack: str, key: str, config: RawMap) -> str:
    """The engine name of a network/volume/secret/config: its `name:`, else
    the key itself when external, else ``<stack>_<key>``."""
    if config.get("name"):
        return _str(config["name"])
    ext = config.get("external")
    if isinstance(ext, Mapping) and ext.get("name"):
        return _str(ext["name"])
    if _is_external(config):
        return key
    return names.scope(stack, key)


def _is_user_defined_network(target: str) -> bool:
    # container.NetworkMode(target).IsUserDefined() on Linux
    return target not in ("default", "bridge", "host", "none") and not target.startswith("container:")


# -- networks, secrets, configs -------------------------------------------


def _networks(stack: str, net_configs: RawMap, services: RawMap) -> dict[str, JSONDict]:
    """Networks used by at least one service (``default`` for services that
    name none), minus external ones — as docker, declared but unused networks
    are not created."""
    used: set[str] = set()
    for svc in services.values():
        svc_nets = as_map(svc).get("networks")
        if not svc_nets:
            used.add(DEFAULT_NETWORK)
        else:
            used.update(svc_nets if isinstance(svc_nets, Mapping) else (_str(n) for n in as_list(svc_nets, "networks")))
    out: dict[str, JSONDict] = {}
    for key in sorted(used):
        nw = get_map(net_configs, key)
        if _is_external(nw):
            continue
        name = _real_name(stack, key, nw)
        names.check_network_name(name, stack, key)
        ipam = get_map(nw, "ipam")
        ipam_body = None
        if ipam.get("driver") or ipam.get("config"):
            ipam_body = Keep(
                {
                    "Driver": ipam.get("driver"),
                    "Config": [{"Subnet": as_map(pool).get("subnet")} for pool in get_list(ipam, "config")],
                }
            )
        out[name] = _struct(
            {
                "Name": name,
                # sent by the docker client for API < 1.44; ignored by newer engines
                "CheckDuplicate": True,
                "Driver": nw.get("driver") or DEFAULT_NETWORK_DRIVER,
                "Internal": bool(nw.get("internal")),
                "Attachable": bool(nw.get("attachable")),
                "IPAM": ipam_body,
                "Options": _str_map(nw.get("driver_opts"), f"network {key}: driver_opts"),
                "Labels": _stack_labels(stack, nw.get("labels"), f"network {key}: labels"),
            }
        )
    return out


def _file_objects(kind: str, stack: str, configs: RawMap, read_file: Callable[[str], bytes]) -> dict[str, JSONDict]:
    """Every non-external secret/config declared in the file (used or not, as docker)."""
    out: dict[str, JSONDict] = {}
    for key in sorted(configs):
        obj = as_map(configs[key])
        if _is_external(obj):
            continue
        name = _real_name(stack, key, obj)
        names.check_file_object_name(kind, name, stack, key)
        driver = obj.get("driver") if kind == "secret" else None
        data = b""
        if not driver:
            path = _str(obj.get("file"))
            if not path:
                raise ConvertError(
                    f"{kind} {key}: needs `file:`, `external: true`" + (" or `driver:`" if kind == "secret" else "")
                )
            try:
                data = read_file(path)
            except OSError as exc:
                raise ConvertError(f"{kind} {key}: cannot read {path}: {exc.strerror or exc}") from None
        body: JSONDict = {
            "Name": name,
            "Labels": _stack_labels(stack, obj.get("labels"), f"{kind} {key}: labels"),
            "Data": base64.b64encode(data).decode("ascii"),
        }
        if driver:
            body["Driver"] = {"Name": driver, "Options": _str_map(obj.get("driver_opts"), f"{kind} {key}: driver_opts")}
        if obj.get("template_driver"):
            body["Templating"] = {"Name": obj["template_driver"]}
        out[name] = _struct(body)
    return out


# -- services ------------------------------------------------------------


# One unit on purpose: a literal mirror of docker/cli's convert.Service, field by field, so the
# two read side by side (the differential tests compare their output).
def _service(
    stack: str,
    svc_name: str,
    svc: RawMap,
    net_configs: RawMap,
    vol_configs: RawMap,
    secret_configs: RawMap,
    config_configs: RawMap,
) -> JSONDict:
    full = names.scope(stack, svc_name)
    names.check_service_name(full, stack, svc_name)
    deploy = get_map(svc, "deploy")
    image = _str(svc.get("image"))

    secrets = _secret_refs(stack, get_list(svc, "secrets"), secret_configs)
    configs = _config_refs(stack, svc, config_configs)
    cap_add, cap_drop = _effective_caps(get_list(svc, "cap_add"), get_list(svc, "cap_drop"))

    log_driver = None
    if svc.get("logging") is not None:
        logging = get_map(svc, "logging")
        log_driver = Keep(
            {"Name": logging.get("driver"), "Options": _str_map(logging.get("options"), "logging.options")}
        )

    service_labels = _stack_labels(stack, deploy.get("labels"), "deploy.labels")
    service_labels[names.IMAGE_LABEL] = image

    placement = get_map(deploy, "placement")
    body: JSONDict = {
        "Name": full,
        "Labels": service_labels,
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": tagged_image(image) if image else "",
                "Labels": _stack_labels(stack, svc.get("labels"), "labels"),
                "Command": _str_list(svc.get("entrypoint"), "entrypoint"),
                "Args": _str_list(svc.get("command"), "command"),
                "Hostname": svc.get("hostname"),
                "Env": _environment(svc.get("environment")),
                "Dir": svc.get("working_dir"),
                "User": _str(svc.get("user")),
                "Mounts": [_mount(stack, v, vol_configs) for v in get_list(svc, "volumes")],
                "StopGracePeriod": _opt_duration(svc.get("stop_grace_period"), "stop_grace_period"),
                "StopSignal": svc.get("stop_signal"),
                "TTY": bool(svc.get("tty")),
                "OpenStdin": bool(svc.get("stdin_open")),
                "ReadOnly": bool(svc.get("read_only")),
                "Healthcheck": _healthcheck(svc.get("healthcheck")),
                "Hosts": _extra_hosts(svc.get("extra_hosts")),
                "DNSConfig": _dns(svc.get("dns"), svc.get("dns_search")),
                "Secrets": secrets,
                "Configs": configs,
                # Privileges, Resources, Placement and EndpointSpec are pointers docker always sets:
                # swarm tells an empty one from none, and would replace tasks between the two tools.
                "Privileges": Keep({"CredentialSpec": _credential_spec(svc.get("credential_spec"))}),
                "Isolation": svc.get("isolation"),
                "Init": Keep(bool(svc["init"])) if svc.get("init") is not None else None,
                "Sysctls": _str_map(svc.get("sysctls"), "sysctls"),
                "CapabilityAdd": cap_add,
                "CapabilityDrop": cap_drop,
                "Ulimits": _ulimits(svc.get("ulimits")),
                # no OomScoreAdj: docker 28's loader never fills it (no mapstructure
                # tag), so `docker stack deploy` ignores `oom_score_adj`; so do we
            },
            "LogDriver": log_driver,
            "Resources": Keep(_resources(get_map(deploy, "resources"))),
            "RestartPolicy": _restart_policy(svc.get("restart"), deploy.get("restart_policy")),
            "Placement": Keep(
                {
                    "Constraints": _str_list(placement.get("constraints"), "placement.constraints"),
                    "Preferences": [
                        {"Spread": {"SpreadDescriptor": as_map(p).get("spread")}}
                        for p in get_list(placement, "preferences")
                    ],
                    "MaxReplicas": _int(placement.get("max_replicas_per_node") or 0, "max_replicas_per_node"),
                }
            ),
            "Networks": _service_networks(stack, svc_name, svc.get("networks"), net_configs),
        },
        "Mode": _mode(deploy.get("mode"), deploy.get("replicas")),
        "UpdateConfig": _update_config(deploy.get("update_config"), "update_config"),
        "RollbackConfig": _update_config(deploy.get("rollback_config"), "rollback_config"),
        "EndpointSpec": Keep(
            {
                "Mode": _str(deploy.get("endpoint_mode")).lower(),
                "Ports": _ports(get_list(svc, "ports")),
            }
        ),
    }
    return _struct(body)


def _environment(env: object) -> list[str]:
    """``K=V`` strings, bare ``K`` for an unset variable, sorted (as docker).
    Resolving a bare name from the operator's environment is the loader's job."""
    if env is None:
        return []
    if isinstance(env, list):
        env = {k: (v if sep else None) for k, sep, v in (_str(e).partition("=") for e in env)}
    return sorted(k if v is None else f"{k}={_str(v)}" for k, v in as_map(env, "environment").items())


def _opt_duration(value: object, what: str) -> Keep | None:
    return None if value is None else Keep(duration_ns(value, what))


def _extra_hosts(hosts: object) -> list[str]:
    """``host:ip`` → ``"ip host"`` (SwarmKit's notation), split at the first
    colon, order kept (as docker). A mapping form is accepted too."""
    if not hosts:
        return []
    if isinstance(hosts, Mapping):
        hosts = [f"{k}:{v}" for k, v in hosts.items()]
    out = []
    for entry in as_list(hosts, "extra_hosts"):
        host, sep, ip = _str(entry).partition(":")
        if sep:
            out.append(f"{ip} {host}")
    return out


def _dns(dns: object, search: object) -> JSONDict | None:
    if dns is None and search is None:
        return None
    return {"Nameservers": _str_list(dns, "dns"), "Search": _str_list(search, "dns_search")}


def _healthcheck(value: object) -> JSONDict | None:
    if value is None:
        return None
    hc = as_map(value, "healthcheck")
    test = hc.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if hc.get("disable"):
        if test:
            raise ConvertError("healthcheck: test and disable can't be set at the same time")
        return {"Test": ["NONE"]}
    return {
        "Test": _str_list(test, "healthcheck.test"),
        "Interval": duration_ns(hc["interval"], "healthcheck.interval") if hc.get("interval") is not None else 0,
        "Timeout": duration_ns(hc["timeout"], "healthcheck.timeout") if hc.get("timeout") is not None else 0,
        "StartPeriod": duration_ns(hc["start_period"], "healthcheck.start_period")
        if hc.get("start_period") is not None
        else 0,
        "StartInterval": (
            duration_ns(hc["start_interval"], "healthcheck.start_interval")
            if hc.get("start_interval") is not None
            else 0
        ),
        "Retries": _int(hc.get("retries") or 0, "healthcheck.retries"),
    }


def _restart_policy(restart: object, policy_value: object) -> JSONDict | Keep | None:
    if policy_value is None:
        # the service-level `restart:` is used only without deploy.restart_policy
        text = _str(restart)
        if text == "":
            return None
        mode, sep, count = text.partition(":")
        if sep and mode == "":
            raise ConvertError("invalid restart policy format: no policy provided before colon")
        attempts = 0
        if count:
            try:
                attempts = int(count)
            except ValueError:
                raise ConvertError("invalid restart policy format: maximum retry count must be an integer") from None
        if mode == "no":
            return None
        if mode in ("always", "unless-stopped"):
            return {"Condition": "any"}
        if mode == "on-failure":
            return {"Condition": "on-failure", "MaxAttempts": Keep(attempts)}
        raise ConvertError(f"unknown restart policy: {text}")
    policy = as_map(policy_value, "restart_policy")
    attempts_value = policy.get("max_attempts")
    return Keep(
        {
            "Condition": policy.get("condition"),
            "Delay": _opt_duration(policy.get("delay"), "restart_policy.delay"),
            "MaxAttempts": None
            if attempts_value is None
            else Keep(_int(attempts_value, "restart_policy.max_attempts")),
            "Window": _opt_duration(policy.get("window"), "restart_policy.window"),
        }
    )


def _update_config(value: object, what: str) -> Keep | None:
    if value is None:
        return None
    cfg = as_map(value, what)
    parallelism = cfg.get("parallelism")
    return Keep(
        {
            "Parallelism": 1 if parallelism is None else _int(parallelism, f"{what}.parallelism"),
            "Delay": duration_ns(cfg["delay"], f"{what}.delay") if cfg.get("delay") is not None else 0,
            "FailureAction": cfg.get("failure_action"),
            "Monitor": duration_ns(cfg["monitor"], f"{what}.monitor") if cfg.get("monitor") is not None else 0,
            "MaxFailureRatio": _float(cfg.get("max_failure_ratio") or 0, f"{what}.max_failure_ratio"),
            "Order": cfg.get("order"),
        }
    )


def _resources(res: RawMap) -> JSONDict:
    out: JSONDict = {}
    if res.get("limits") is not None:
        limits = get_map(res, "limits")
        out["Limits"] = Keep(
            {
                "NanoCPUs": nano_cpus(limits["cpus"], "resources.limits.cpus")
                if limits.get("cpus") not in (None, "")
                else 0,
                "MemoryBytes": size_bytes(limits["memory"], "resources.limits.memory")
                if limits.get("memory") is not None
                else 0,
                "Pids": _int(limits.get("pids") or 0, "resources.limits.pids"),
            }
        )
    if res.get("reservations") is not None:
        reservations = get_map(res, "reservations")
        generic = []
        for item in get_list(reservations, "generic_resources"):
            spec = get_map(as_map(item), "discrete_resource_spec")
            generic.append(
                {
                    "DiscreteResourceSpec": {
                        "Kind": spec.get("kind"),
                        "Value": _int(spec.get("value") or 0, "discrete_resource_spec.value"),
                    }
                    if spec
                    else None
                }
            )
        out["Reservations"] = Keep(
            {
                "NanoCPUs": (
                    nano_cpus(reservations["cpus"], "resources.reservations.cpus")
                    if reservations.get("cpus") not in (None, "")
                    else 0
                ),
                "MemoryBytes": (
                    size_bytes(reservations["memory"], "resources.reservations.memory")
                    if reservations.get("memory") is not None
                    else 0
                ),
                "GenericResources": generic,
            }
        )
    return out


def _mode(mode_value: object, replicas: object) -> JSONDict:
    mode = _str(mode_value)
    count = None if replicas is None else _int(replicas, "replicas")
    if mode in ("global", "global-job"):
        if count is not None:
            raise ConvertError("replicas can only be used with replicated or replicated-job mode")
        return {"Global" if mode == "global" else "GlobalJob": Keep({})}
    if mode == "replicated-job":
        return {
            "ReplicatedJob": Keep(
                {
                    "MaxConcurrent": None if count is None else Keep(count),
                    "TotalCompletions": None if count is None else Keep(count),
                }
            )
        }
    if mode in ("replicated", ""):
        return {"Replicated": Keep({"Replicas": None if count is None else Keep(count)})}
    raise ConvertError(f"unknown deploy mode: {mode} (use replicated, global, replicated-job or global-job)")


def _ports(ports: list[object]) -> list[JSONDict]:
    out: list[tuple[int, JSONDict]] = []
    for port in ports:
        if not isinstance(port, Mapping):
            raise ConvertError(f"ports: expected the long form (a mapping), got {port!r}")
        published = _int(port.get("published") or 0, "ports.published")
        body: JSONDict = {
            "Protocol": _str(port.get("protocol")),
            "TargetPort": _int(port.get("target") or 0, "ports.target"),
            "PublishedPort": published,
            "PublishMode": _str(port.get("mode")),
        }
        out.append((published, body))
    # sorted by published port, ties in file order (as docker's sort.Slice on short lists)
    out.sort(key=lambda p: p[0])
    return [body for _, body in out]


def _mount(stack: str, vol: object, vol_configs: RawMap) -> JSONDict:
    if not isinstance(vol, Mapping):
        raise ConvertError(f"volumes: expected the long form (a mapping), got {vol!r}")
    vtype = _str(vol.get("type")) or "volume"
    source = _str(vol.get("source"))
    target = vol.get("target")
    mount: JSONDict = {
        "Type": vol.get("type"),
        "Source": source,
        "Target": target,
        "ReadOnly": bool(vol.get("read_only")),
        "Consistency": vol.get("consistency"),
    }
    options = {k for k in ("bind", "volume", "image", "tmpfs", "cluster") if vol.get(k) is not None}
    allowed = {
        "volume": {"volume"},
        "bind": {"bind"},
        "tmpfs": {"tmpfs"},
        "npipe": {"bind"},
        "image": {"image"},
        "cluster": set(),
    }
    if vtype not in allowed:
        raise ConvertError(f"volume {target}: type must be volume, bind, tmpfs, npipe, image or cluster")
    for extra in sorted(options - allowed[vtype]):
        raise ConvertError(f"volume {target}: {extra} options are incompatible with type {vtype}")

    if vtype == "volume":
        if not source:  # anonymous volume
            return mount
        if source not in vol_configs:
            raise ConvertError(f"undefined volume {source!r}", hint="declare it under the top-level `volumes:`")
        stack_vol = get_map(vol_configs, source)
        mount["Source"] = _real_name(stack, source, stack_vol)
        opts = get_map(vol, "volume")
        vo: JSONDict = {"NoCopy": bool(opts.get("nocopy")), "Subpath": opts.get("subpath")}
        if not _is_external(stack_vol):
            vo["Labels"] = _stack_labels(stack, stack_vol.get("labels"), f"volume {source}: labels")
            if stack_vol.get("driver") or stack_vol.get("driver_opts") is not None:
                vo["DriverConfig"] = {
                    "Name": stack_vol.get("driver"),
                    "Options": _str_map(stack_vol.get("driver_opts"), f"volume {source}: driver_opts"),
                }
        mount["VolumeOptions"] = vo
    elif vtype in ("bind", "npipe"):
        if not source:
            raise ConvertError(f"volume {target}: invalid {vtype} source, source cannot be empty")
        if vol.get("bind") is not None:
            mount["BindOptions"] = {"Propagation": get_map(vol, "bind").get("propagation")}
    elif vtype == "tmpfs":
        if source:
            raise ConvertError(f"volume {target}: invalid tmpfs source, source must be empty")
        if vol.get("tmpfs") is not None:
            tmpfs = get_map(vol, "tmpfs")
            mount["TmpfsOptions"] = {
                "SizeBytes": size_bytes(tmpfs["size"], "tmpfs.size") if tmpfs.get("size") is not None else 0,
            }
    elif vtype == "image":
        if not source:
            raise ConvertError(f"volume {target}: invalid image source, source cannot be empty")
        if vol.get("image") is not None:
            mount["ImageOptions"] = {"Subpath": get_map(vol, "image").get("subpath")}
    elif vtype == "cluster":
        if not source:
            raise ConvertError(f"volume {target}: invalid cluster source, source cannot be empty")
        if not source.startswith("group:"):
            if source not in vol_configs:
                raise ConvertError(f"undefined volume {source!r}", hint="declare it under the top-level `volumes:`")
            mount["Source"] = _real_name(stack, source, get_map(vol_configs, source))
        mount["ClusterOptions"] = Keep({})
    return mount


def _service_networks(stack: str, svc_name: str, svc_nets: object, net_configs: RawMap) -> list[JSONDict]:
    attachments: RawMap
    if not svc_nets:
        attachments = {DEFAULT_NETWORK: None}
    elif isinstance(svc_nets, Mapping):
        attachments = svc_nets
    else:
        attachments = dict.fromkeys(_str(n) for n in as_list(svc_nets, "networks"))
    out: list[tuple[str, JSONDict]] = []
    for key, attach_value in attachments.items():
        if key not in net_configs and key != DEFAULT_NETWORK:
            raise ConvertError(f"undefined network {key!r}", hint="declare it under the top-level `networks:`")
        target = _real_name(stack, key, get_map(net_configs, key))
        attach = as_map(attach_value, f"networks.{key}")
        aliases = _str_list(attach.get("aliases"), f"networks.{key}.aliases") or []
        if _is_user_defined_network(target):
            aliases = [*aliases, svc_name]  # the service name is always an alias on user networks
        body: JSONDict = {
            "Target": target,
            "Aliases": aliases,
            "DriverOpts": _str_map(attach.get("driver_opts"), f"networks.{key}.driver_opts"),
        }
        out.append((target, body))
    out.sort(key=lambda n: n[0])
    return [body for _, body in out]


def _ref_file(stack: str, ref_value: object, declared: RawMap, kind: str) -> tuple[str, str, JSONDict]:
    """The real name of a secret/config reference, its target file name, and its ``File`` body."""
    ref = {"source": ref_value} if isinstance(ref_value, str) else as_map(ref_value, f"{kind}s")
    source = _str(ref.get("source"))
    if source not in declared:
        raise ConvertError(f"undefined {kind} {source!r}", hint=f"declare it under the top-level `{kind}s:`")
    name = _real_name(stack, source, get_map(declared, source))
    mode = ref.get("mode")
    if mode is None:
        mode = DEFAULT_FILE_MODE
    elif isinstance(mode, str):
        mode = int(mode, 8)
    target = _str(ref.get("target")) or source
    file: JSONDict = {
        "Name": target,
        "UID": _str(ref.get("uid")) or "0",
        "GID": _str(ref.get("gid")) or "0",
        "Mode": Keep(_int(mode, f"{kind}s.mode")),
    }
    return name, target, file


def _secret_refs(stack: str, refs: list[object], declared: RawMap) -> list[JSONDict]:
    out: list[tuple[str, str, JSONDict]] = []
    targets: set[str] = set()
    for ref in refs:
        name, target, file = _ref_file(stack, ref, declared, "secret")
        if target in targets:
            raise ConvertError(f"duplicate secret target for {name} not allowed")
        targets.add(target)
        out.append((name, target, {"File": file, "SecretName": name}))
    # sort to ensure idempotence (as docker); docker leaves ties in random order, we sort them by target
    out.sort(key=lambda r: (r[0], r[1]))
    return [body for _, _, body in out]


def _config_refs(stack: str, svc: RawMap, declared: RawMap) -> list[JSONDict]:
    out: list[tuple[tuple[str, bool, str], JSONDict]] = []
    targets: set[str] = set()
    for ref in get_list(svc, "configs"):
        name, target, file = _ref_file(stack, ref, declared, "config")
        if target in targets:
            raise ConvertError(f"duplicate config target for {name} not allowed")
        targets.add(target)
        out.append(((name, False, target), {"File": file, "ConfigName": name}))
    cred_config = _str(get_map(svc, "credential_spec").get("config"))
    if cred_config:
        if cred_config not in declared:
            raise ConvertError(f"undefined config {cred_config!r}", hint="declare it under the top-level `configs:`")
        # a Runtime target: not mounted, used by the runtime (credential spec)
        name = _real_name(stack, cred_config, get_map(declared, cred_config))
        out.append(((name, True, ""), {"ConfigName": name, "Runtime": Keep({})}))
    out.sort(key=lambda r: r[0])
    return [body for _, body in out]


def _credential_spec(value: object) -> JSONDict | None:
    if not value:
        return None
    spec = as_map(value, "credential_spec")
    given = [k for k in ("config", "file", "registry") if spec.get(k)]
    if len(given) > 1:
        raise ConvertError(f"invalid credential spec: cannot specify both {' and '.join(given)}")
    if not given:
        return None
    if given[0] == "config":
        # the config's ID goes here; known only on the engine (see spec.with_ids)
        return None
    return {given[0].capitalize(): spec[given[0]]}


def _effective_caps(add: list[object], drop: list[object]) -> tuple[list[str], list[str]]:
    def norm(cap: object) -> str:
        cap = _str(cap).strip().upper()
        if cap in ("ALL", "RESET") or cap.startswith("CAP_"):
            return cap
        return "CAP_" + cap

    adds = {norm(c) for c in add}
    drops = {norm(c) for c in drop}
    if "ALL" in adds:
        adds = {"ALL"}
    if "ALL" in drops:
        drops = {"ALL"}
    cap_drop = sorted(c for c in drops if c not in adds and c != "RESET")
    cap_add = sorted(c for c in adds if c != "RESET")
    return cap_add, cap_drop


def _ulimits(ulimits: object) -> list[JSONDict]:
    out: list[JSONDict] = []
    # sorted by name (keys are unique: the same order as sorting the bodies, as docker)
    for name, value in sorted(as_map(ulimits, "ulimits").items(), key=lambda kv: kv[0]):
        what = f"ulimits.{name}"
        if isinstance(value, Mapping):
            soft, hard = _int(value.get("soft") or 0, what), _int(value.get("hard") or 0, what)
            single = _int(value.get("single") or 0, what)
            if single:
                soft = hard = single
        else:
            soft = hard = _int(value, what)
        out.append({"Name": name, "Soft": soft, "Hard": hard})
    return out
