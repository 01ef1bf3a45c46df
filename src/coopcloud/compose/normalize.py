"""One validated, interpolated document → docker's normalized model (what ``stack config`` prints).

The model is plain dicts and lists, shaped like docker's Go structs marshalled with ``omitempty``:
a zero field is absent, a set pointer field is present even when zero (``replicas: 0``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from coopcloud.compose import KeyPath
from coopcloud.compose import gotypes as g
from coopcloud.rawdata import JSONDict, RawMap, as_list, as_map


class NormalizeError(Exception):
    def __init__(self, path: KeyPath, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _uint(v: object, path: KeyPath) -> int:
    if isinstance(v, float):
        v = int(v)
    if not isinstance(v, int):  # the schema lets only numbers reach here
        raise NormalizeError(path, f"cannot parse '{v}' as an integer")
    if v < 0:
        raise NormalizeError(path, f"cannot parse '{v}', it must not be negative")
    return v


def _text(v: object) -> str:
    """A field the schema validated as a string (a duration, a size)."""
    return v if isinstance(v, str) else str(v)


def _int(v: object) -> int:
    """`int()` of a field the schema validated as a number."""
    return int(v) if isinstance(v, (int, float, str)) else int(_text(v))


def _float(v: object) -> float:
    """`float()` of a field the schema validated as a number."""
    return float(v) if isinstance(v, (int, float, str)) else float(_text(v))


def _map_str(value: object, allow_nil: bool) -> JSONDict:
    if not value:
        return {}
    return {k: (g.go_str(x) if x is not None else (None if allow_nil else "")) for k, x in as_map(value).items()}


def mapping_or_list(v: object, sep: str, allow_nil: bool) -> JSONDict:
    if isinstance(v, Mapping):
        return _map_str(v, allow_nil)
    out: JSONDict = {}
    for item in as_list(v):
        key, found, val = _text(item).partition(sep)
        out[key] = val if found else (None if allow_nil else "")
    return out


def string_list(v: object) -> list[object]:
    if isinstance(v, str):
        return [v]
    return as_list(v)


def hosts_list(v: object) -> list[str]:
    if isinstance(v, Mapping):
        entries = sorted(f"{k}:{g.go_str(x)}" for k, x in v.items() if x is not None)
    else:
        entries = []
        for item in as_list(v):
            e = g.go_str(item)
            for sep in ("=", ":"):
                k, found, val = e.partition(sep)
                if found:
                    entries.append(f"{k}:{val}")
                    break
    out = []
    for e in entries:
        host, _, ip = e.partition(":")
        if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
            ip = ip[1:-1]
        out.append(f"{host}:{ip}")
    return out


def _duration(v: object) -> str:
    return g.format_duration(g.parse_duration(_text(v)))


def _abs(working_dir: str, p: str) -> str:
    if p.startswith("/"):
        return p
    return posixpath.normpath(posixpath.join(working_dir, p)) if p else posixpath.normpath(working_dir)


def _extras(d: RawMap) -> JSONDict:
    return {k: v for k, v in d.items() if k.startswith("x-")}


def _file_ref(value: object, path: KeyPath) -> JSONDict:
    if isinstance(value, str):
        return {"source": value} if value else {}
    v = as_map(value)
    out = {}
    for k in ("source", "target", "uid", "gid"):
        if v.get(k):
            out[k] = v[k]
    if v.get("mode") is not None:
        out["mode"] = _uint(v["mode"], path + ("mode",))
    return out


def _update_config(value: object, path: KeyPath) -> JSONDict:
    v = as_map(value)
    out: JSONDict = {}
    if v.get("parallelism") is not None:
        out["parallelism"] = _uint(v["parallelism"], path + ("parallelism",))
    for k in ("delay", "monitor"):
        if v.get(k):
            d = g.parse_duration(_text(v[k]))
            if d:
                out[k] = g.format_duration(d)
    for k in ("failure_action", "order"):
        if v.get(k):
            out[k] = v[k]
    if v.get("max_failure_ratio"):
        out["max_failure_ratio"] = _float(v["max_failure_ratio"])
    return out


def _deploy(value: object, path: KeyPath) -> JSONDict:
    v = as_map(value)
    out: JSONDict = {}
    for k in ("mode", "endpoint_mode"):
        if v.get(k):
            out[k] = v[k]
    if v.get("replicas") is not None:
        out["replicas"] = _uint(v["replicas"], path + ("replicas",))
    labels = mapping_or_list(v.get("labels"), "=", False)
    if labels:
        out["labels"] = labels
    for k in ("update_config", "rollback_config"):
        if k in v and v[k] is not None:
            out[k] = _update_config(v[k], path + (k,))
    res = as_map(v.get("resources"))
    resources: JSONDict = {}
    for k in ("limits", "reservations"):
        if k in res and res[k] is not None:
            r = as_map(res[k])
            rr: JSONDict = {}
            if r.get("cpus"):
                rr["cpus"] = r["cpus"]
            if r.get("memory"):
                try:
                    mem = g.ram_in_bytes(_text(r["memory"]))
                except ValueError as e:
                    raise NormalizeError(path + ("resources", k, "memory"), str(e)) from None
                if mem:
                    rr["memory"] = str(mem)
            if r.get("pids"):
                rr["pids"] = r["pids"]
            gr: list[JSONDict] = []
            for item in as_list(r.get("generic_resources")):
                spec = as_map(item).get("discrete_resource_spec")
                if spec is None:
                    gr.append({})
                    continue
                spec = as_map(spec)
                gr.append(
                    {"discrete_resource_spec": {"kind": spec.get("kind") or "", "value": _int(spec.get("value") or 0)}}
                )
            if gr:
                rr["generic_resources"] = gr
            resources[k] = rr
    if resources:
        out["resources"] = resources
    if v.get("restart_policy") is not None:
        rp = as_map(v["restart_policy"])
        policy: JSONDict = {}
        if rp.get("condition"):
            policy["condition"] = rp["condition"]
        for k in ("delay", "window"):
            if rp.get(k) is not None:
                policy[k] = _duration(rp[k])
        if rp.get("max_attempts") is not None:
            policy["max_attempts"] = _uint(rp["max_attempts"], path + ("restart_policy", "max_attempts"))
        out["restart_policy"] = policy
    pl = as_map(v.get("placement"))
    placement: JSONDict = {}
    if pl.get("constraints"):
        placement["constraints"] = as_list(pl["constraints"])
    if pl.get("preferences"):
        placement["preferences"] = [
            ({"spread": p["spread"]} if p.get("spread") else {}) for p in map(as_map, as_list(pl["preferences"]))
        ]
    if pl.get("max_replicas_per_node"):
        placement["max_replicas_per_node"] = _uint(pl["max_replicas_per_node"], path)
    if placement:
        out["placement"] = placement
    return out


def _healthcheck(value: object, path: KeyPath) -> JSONDict:
    v = as_map(value)
    out: JSONDict = {}
    test = v.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    elif test:
        out["test"] = as_list(test)
    for k in ("timeout", "interval", "start_period", "start_interval"):
        if v.get(k) is not None:
            out[k] = _duration(v[k])
    if v.get("retries") is not None:
        out["retries"] = _uint(v["retries"], path + ("retries",))
    if v.get("disable"):
        out["disable"] = True
    return out


def _shell(v: object, path: KeyPath) -> list[object]:
    if isinstance(v, str):
        try:
            return list(g.shlex_split(v))
        except ValueError as e:
            raise NormalizeError(path, str(e)) from None
    return as_list(v)


_PLAIN_STRINGS = (
    "cgroupns_mode",
    "cgroup_parent",
    "container_name",
    "domainname",
    "hostname",
    "image",
    "ipc",
    "isolation",
    "mac_address",
    "network_mode",
    "pid",
    "restart",
    "stop_signal",
    "user",
    "userns_mode",
    "working_dir",
)
_PLAIN_LISTS = ("cap_add", "cap_drop", "depends_on", "devices", "external_links", "links", "security_opt")
_BOOLS = ("privileged", "read_only", "stdin_open", "tty")


@dataclass(frozen=True)
class _Where:
    """What a section normalizer needs besides the service's mapping."""

    path: KeyPath  # ("services", name): where errors point
    working_dir: str
    lookup: Callable[[str], str | None]
    read_file: Callable[[str], str] | None


def service(
    name: str,
    v: RawMap,
    working_dir: str,
    lookup: Callable[[str], str | None],
    read_file: Callable[[str], str] | None = None,
) -> JSONDict:
    """One service, section by section (`_SECTIONS`, in docker's field order), then its ``x-`` keys."""
    where = _Where(("services", name), working_dir, lookup, read_file)
    out: JSONDict = {}
    for section in _SECTIONS:
        out.update(section(v, where))
    out.update(_extras(v))
    return out


def _plain(v: RawMap, where: _Where) -> JSONDict:
    """Strings, lists and booleans copied as they are (when set), shm_size, oom_score_adj."""
    out: JSONDict = {}
    for k in _PLAIN_STRINGS:
        if v.get(k):
            out[k] = v[k]
    for k in _PLAIN_LISTS:
        if v.get(k):
            out[k] = as_list(v[k])
    for k in _BOOLS:
        if v.get(k):
            out[k] = True
    if v.get("shm_size") is not None:
        if not isinstance(v["shm_size"], str):
            raise NormalizeError(where.path + ("shm_size",), "must be a string")
        if v["shm_size"]:
            out["shm_size"] = v["shm_size"]
    if v.get("oom_score_adj"):
        out["oom_score_adj"] = v["oom_score_adj"]
    return out


def _build(v: RawMap, where: _Where) -> JSONDict:
    """build: a context path, or the mapping (args, labels, cache_from, extra_hosts…)."""
    if "build" not in v or v["build"] is None:
        return {}
    b = {"context": v["build"]} if isinstance(v["build"], str) else as_map(v["build"])
    build: JSONDict = {}
    for k in ("context", "dockerfile", "network", "target"):
        if b.get(k):
            build[k] = b[k]
    for k, sep, nil in (("args", "=", True), ("labels", "=", False)):
        m = mapping_or_list(b.get(k), sep, nil)
        if m:
            build[k] = m
    if b.get("cache_from"):
        build["cache_from"] = string_list(b["cache_from"])
    if b.get("extra_hosts"):
        build["extra_hosts"] = hosts_list(b["extra_hosts"])
    return {"build": build} if build else {}


def _commands(v: RawMap, where: _Where) -> JSONDict:
    """command, entrypoint: a list, or a string split as a shell would."""
    out: JSONDict = {}
    for k in ("command", "entrypoint"):
        if k in v:
            cmd = _shell(v[k], where.path + (k,))
            if cmd:
                out[k] = cmd
    return out


def _file_refs(v: RawMap, where: _Where) -> JSONDict:
    """configs, secrets: short names or {source, target, uid, gid, mode}."""
    out: JSONDict = {}
    for k in ("configs", "secrets"):
        if v.get(k):
            out[k] = [_file_ref(x, where.path + (k, i)) for i, x in enumerate(as_list(v[k]))]
    return out


def _credential_spec(v: RawMap, where: _Where) -> JSONDict:
    given = as_map(v.get("credential_spec"))
    cs = {k: given[k] for k in ("config", "file", "registry") if given.get(k)}
    return {"credential_spec": cs} if cs else {}


def _deploy_section(v: RawMap, where: _Where) -> JSONDict:
    deploy = _deploy(v.get("deploy"), where.path + ("deploy",))
    return {"deploy": deploy} if deploy else {}


def _string_lists(v: RawMap, where: _Where) -> JSONDict:
    """dns, dns_search, tmpfs, env_file: a string or a list, as a list; expose; extra_hosts."""
    out: JSONDict = {}
    for k in ("dns", "dns_search", "tmpfs", "env_file"):
        if v.get(k) is not None:
            lst = string_list(v[k])
            if lst:
                out[k] = lst
    if v.get("expose"):
        out["expose"] = [g.go_str(x) for x in as_list(v["expose"])]
    if v.get("extra_hosts"):
        out["extra_hosts"] = hosts_list(v["extra_hosts"])
    return out


def _health_init(v: RawMap, where: _Where) -> JSONDict:
    out: JSONDict = {}
    if v.get("healthcheck") is not None:
        out["healthcheck"] = _healthcheck(v["healthcheck"], where.path + ("healthcheck",))
    if v.get("init") is not None:
        out["init"] = v["init"]
    return out


def _label_maps(v: RawMap, where: _Where) -> JSONDict:
    """labels, sysctls: a mapping or a list of KEY=VALUE."""
    out: JSONDict = {}
    for k in ("labels", "sysctls"):
        m = mapping_or_list(v.get(k), "=", False)
        if m:
            out[k] = m
    return out


def _logging(v: RawMap, where: _Where) -> JSONDict:
    if v.get("logging") is None:
        return {}
    lg = as_map(v["logging"])
    logging: JSONDict = {}
    if lg.get("driver"):
        logging["driver"] = lg["driver"]
    opts = _map_str(lg.get("options"), False)
    if opts:
        logging["options"] = opts
    return {"logging": logging}


def _networks(v: RawMap, where: _Where) -> JSONDict:
    """networks: a list of names, or a mapping name → null | {aliases, driver_opts, ipv4/6_address}."""
    nets = v.get("networks")
    if not nets:
        return {}
    if isinstance(nets, list):
        return {"networks": dict.fromkeys(nets)}
    networks: JSONDict = {}
    for n, cfg_value in as_map(nets).items():
        if cfg_value is None:
            networks[n] = None
            continue
        cfg = as_map(cfg_value)
        c: JSONDict = {}
        if cfg.get("aliases"):
            c["aliases"] = as_list(cfg["aliases"])
        opts = _map_str(cfg.get("driver_opts"), False)
        if opts:
            c["driver_opts"] = opts
        for k in ("ipv4_address", "ipv6_address"):
            if cfg.get(k):
                c[k] = cfg[k]
        networks[n] = c
    return {"networks": networks}


def _ports(v: RawMap, where: _Where) -> JSONDict:
    """ports: long syntax mappings, or short ``[ip:]published:target[/proto]`` strings and numbers."""
    if not v.get("ports"):
        return {}
    path = where.path
    ports = []
    for i, p in enumerate(as_list(v["ports"])):
        if isinstance(p, dict):
            pc = {}
            for k in ("mode", "protocol"):
                if p.get(k):
                    pc[k] = p[k]
            for k in ("target", "published"):
                if p.get(k):
                    pc[k] = _uint(p[k], path + ("ports", i, k))
            ports.append(pc)
            continue
        if isinstance(p, float) and not p.is_integer():
            raise NormalizeError(path + ("ports", i), "invalid type float64 for port")
        try:
            ports.extend(g.port_configs(p if isinstance(p, str) else str(_int(p))))
        except ValueError as e:
            raise NormalizeError(path + ("ports", i), f'invalid port "{p}": {e}') from None
    return {"ports": ports} if ports else {}


def _stop_ulimits(v: RawMap, where: _Where) -> JSONDict:
    out: JSONDict = {}
    if v.get("stop_grace_period") is not None:
        out["stop_grace_period"] = _duration(v["stop_grace_period"])
    if v.get("ulimits"):
        ul: JSONDict = {}
        for k, x in as_map(v["ulimits"]).items():
            if isinstance(x, dict):
                u = {kk: x[kk] for kk in ("soft", "hard") if x.get(kk)}
                ul[k] = u
            else:
                ul[k] = x if x else {}
        out["ulimits"] = ul
    return out


def _volumes(v: RawMap, where: _Where) -> JSONDict:
    """volumes: short ``src:dst[:mode]`` strings or long mappings; bind sources made absolute."""
    vols = v.get("volumes")
    if not vols:
        return {}
    vs = []
    for i, x in enumerate(as_list(vols)):
        vol = _volume_mount(x, where.path + ("volumes", i))
        if vol.get("type") == "bind":
            source = vol.get("source")
            vol["source"] = _bind_source(source if isinstance(source, str) else "", where, where.path + ("volumes", i))
        vs.append(vol)
    return {"volumes": vs}


def _volume_mount(value: object, path: KeyPath) -> JSONDict:
    if isinstance(value, str):
        try:
            return g.parse_volume(value)
        except ValueError as e:
            raise NormalizeError(path, str(e)) from None
    x = as_map(value)
    vol: JSONDict = {}
    for k in ("type", "source", "target", "consistency"):
        if x.get(k):
            vol[k] = x[k]
    if x.get("read_only"):
        vol["read_only"] = True
    if x.get("bind") is not None:
        bind = as_map(x["bind"], "bind")
        vol["bind"] = {"propagation": bind["propagation"]} if bind.get("propagation") else {}
    if x.get("volume") is not None:
        volume = as_map(x["volume"], "volume")
        options: JSONDict = {"nocopy": True} if volume.get("nocopy") else {}
        if volume.get("subpath"):
            options["subpath"] = volume["subpath"]
        vol["volume"] = options
    if x.get("tmpfs") is not None:
        tmpfs = as_map(x["tmpfs"], "tmpfs")
        vol["tmpfs"] = {"size": tmpfs["size"]} if tmpfs.get("size") else {}
    return vol


def _bind_source(src: str, where: _Where, path: KeyPath) -> str:
    if not src:
        raise NormalizeError(path, 'invalid mount config for type "bind": field Source must not be empty')
    if src.startswith("~"):
        home = where.lookup("HOME")
        if home is not None:
            src = src.replace("~", home, 1)
    if not src.startswith("/") and not (len(src) > 2 and src[1] == ":" and src[2] in "\\/"):
        src = _abs(where.working_dir, src)
    return src


def _environment(v: RawMap, where: _Where) -> JSONDict:
    """environment last: env_file, then environment, with values from the environment for bare names."""
    env: JSONDict = {}
    if v.get("env_file"):
        for f in string_list(v["env_file"]):
            text = _read_env_file(_abs(where.working_dir, _text(f)), where.read_file, where.path + ("env_file",))
            _update_env(env, _parse_env_lines(text), where.lookup)
    _update_env(env, mapping_or_list(v.get("environment"), "=", True), where.lookup)
    return {"environment": env} if env else {}


# The service's sections in the order docker's ServiceConfig lists its fields (the output keeps it).
_SECTIONS: tuple[Callable[[RawMap, _Where], JSONDict], ...] = (
    _plain,
    _build,
    _commands,
    _file_refs,
    _credential_spec,
    _deploy_section,
    _string_lists,
    _health_init,
    _label_maps,
    _logging,
    _networks,
    _ports,
    _stop_ulimits,
    _volumes,
    _environment,
)


def _read_env_file(p: str, read_file: Callable[[str], str] | None, path: KeyPath) -> str:
    try:
        if read_file is not None:
            return read_file(p)
        with open(p, encoding="utf-8") as fh:
            return fh.read()
    except OSError as e:
        raise NormalizeError(path, f"cannot read env file {p}: {e.strerror}") from None


def _parse_env_lines(text: str) -> JSONDict:
    out: JSONDict = {}
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, found, val = line.partition("=")
        if not found:
            out[key.rstrip()] = None
        else:
            out[key] = val
    return out


def _update_env(env: JSONDict, values: RawMap, lookup: Callable[[str], str | None]) -> None:
    for k, val in values.items():
        if not val:
            from_env = lookup(k)
            if from_env is not None:
                env[k] = from_env
                continue
        env[k] = val


def _external(v: object) -> JSONDict | None:
    if v is None or v is False:
        return None
    if v is True:
        return {"external": True}
    return {"external": True, "name": as_map(v).get("name") or ""}


def _external_name(out: JSONDict, ext: RawMap, path: KeyPath, kind: str, name: str) -> None:
    """An external object's real name: `external.name` (legacy) or `name`, never both; else its key."""
    if ext.get("name"):
        if out.get("name"):
            raise NormalizeError(
                path, f"{kind} {name}: {kind}.external.name and {kind}.name conflict; only use {kind}.name"
            )
        out["name"] = ext["name"]
    elif not out.get("name"):
        out["name"] = name


def _name_driver_opts(v: RawMap) -> JSONDict:
    """The keys networks and volumes share: name, driver, driver_opts."""
    out: JSONDict = {}
    for k in ("name", "driver"):
        if v.get(k):
            out[k] = v[k]
    opts = _map_str(v.get("driver_opts"), False)
    if opts:
        out["driver_opts"] = opts
    return out


def network(name: str, value: object, path: KeyPath) -> JSONDict:
    v = as_map(value)
    out = _name_driver_opts(v)
    ipam = as_map(v.get("ipam"))
    ip: JSONDict = {}
    if ipam.get("driver"):
        ip["driver"] = ipam["driver"]
    if ipam.get("config"):
        ip["config"] = [
            ({"subnet": c["subnet"]} if c.get("subnet") else {}) for c in map(as_map, as_list(ipam["config"]))
        ]
    if ip:
        out["ipam"] = ip
    for k in ("internal", "attachable"):
        if v.get(k):
            out[k] = True
    labels = mapping_or_list(v.get("labels"), "=", False)
    if labels:
        out["labels"] = labels
    ext = _external(v.get("external"))
    if ext:
        _external_name(out, ext, path, "network", name)
        out["external"] = True
        out.update(_extras(v))
    return out


def volume(name: str, value: object, path: KeyPath) -> JSONDict:
    v = as_map(value)
    out = _name_driver_opts(v)
    labels = mapping_or_list(v.get("labels"), "=", False)
    if labels:
        out["labels"] = labels
    if v.get("x-cluster-spec") is not None:
        out["x-cluster-spec"] = _cluster_spec(as_map(v["x-cluster-spec"]))
    ext = _external(v.get("external"))
    if ext:
        for k in ("driver", "driver_opts", "labels"):
            if out.get(k):
                raise NormalizeError(path, f'conflicting parameters "external" and "{k}" specified for volume "{name}"')
        _external_name(out, ext, path, "volume", name)
        out["external"] = True
        out.update({k: x for k, x in _extras(v).items() if k != "x-cluster-spec"})
    return out


def _cluster_spec(v: RawMap) -> JSONDict:
    out: JSONDict = {}
    for k in ("group", "availability"):
        if v.get(k):
            out[k] = v[k]
    if v.get("access_mode") is not None:
        am = as_map(v["access_mode"])
        a: JSONDict = {k: am[k] for k in ("scope", "sharing") if am.get(k)}
        if am.get("mount_volume") is not None:
            mv = as_map(am["mount_volume"])
            a["mount_volume"] = {k: mv[k] for k in ("fs_type", "mount_flags") if mv.get(k)}
        if am.get("block_volume") is not None:
            a["block_volume"] = {}
        out["access_mode"] = a
    if v.get("accessibility_requirements") is not None:
        ar = as_map(v["accessibility_requirements"])
        r: JSONDict = {}
        for k in ("requisite", "preferred"):
            if ar.get(k):
                r[k] = [
                    ({"segments": mapping_or_list(t.get("segments"), "=", False)} if t.get("segments") else {})
                    for t in map(as_map, as_list(ar[k]))
                ]
        out["accessibility_requirements"] = r
    if v.get("capacity_range") is not None:
        cr = as_map(v["capacity_range"])
        c: JSONDict = {}
        for k in ("required_bytes", "limit_bytes"):
            if cr.get(k):
                n = g.ram_in_bytes(_text(cr[k]))
                if n:
                    c[k] = str(n)
        out["capacity_range"] = c
    return out


def file_object(kind: str, name: str, v: RawMap, working_dir: str, path: KeyPath) -> JSONDict:
    out: JSONDict = {}
    for k in ("name", "file", "driver", "template_driver"):
        if v.get(k):
            out[k] = v[k]
    for k in ("labels",):
        m = mapping_or_list(v.get(k), "=", False)
        if m:
            out[k] = m
    opts = _map_str(v.get("driver_opts"), False)
    if opts:
        out["driver_opts"] = opts
    ext = _external(v.get("external"))
    if ext:
        _external_name(out, ext, path, kind, name)
        out["external"] = True
    elif out.get("driver"):
        if out.get("file"):
            raise NormalizeError(path, f"{kind} {name}: {kind}.driver and {kind}.file conflict; only use {kind}.driver")
    else:
        out["file"] = _abs(working_dir, _text(out.get("file", "")))
    out.update(_extras(v))
    return out


def document(
    doc: RawMap,
    version: str,
    working_dir: str,
    lookup: Callable[[str], str | None],
    read_file: Callable[[str], str] | None = None,
) -> JSONDict:
    """A whole validated document → the normalized model of that one file."""
    out: JSONDict = {"version": version}
    out["services"] = {
        n: service(n, as_map(s), working_dir, lookup, read_file) for n, s in as_map(doc.get("services")).items()
    }
    for key, fn in (("networks", network), ("volumes", volume)):
        out[key] = {n: fn(n, x, (key, n)) for n, x in as_map(doc.get(key)).items()}
    for key, kind in (("secrets", "secret"), ("configs", "config")):
        out[key] = {n: file_object(kind, n, as_map(x), working_dir, (key, n)) for n, x in as_map(doc.get(key)).items()}
    out["extras"] = _extras(doc)
    return out
