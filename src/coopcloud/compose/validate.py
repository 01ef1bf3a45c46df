"""coop's own validator for compose files, as ``docker stack deploy`` validates them.

It accepts and rejects the same documents as docker's JSON schema for the file's ``version``
(3.0 to 3.13; missing or "3" means 3.13), checked by tests against the published schema. The
schema is written here as Python data, small and readable; nothing is read from disk.
Keys added after 3.0 carry the version that introduced them (``since``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypedDict, Unpack

from coopcloud.compose import KeyPath, gotypes

VERSIONS = tuple(f"3.{i}" for i in range(14))
DEFAULT_VERSION = "3.13"

FORBIDDEN = {
    "extends": "Support for `extends` is not implemented yet.",
    "volume_driver": "define a volume using the top-level `volumes` option and specify the driver there",
    "volumes_from": "define the volume at the top level and reference it from each service that shares it",
    "cpu_quota": "set resource limits using deploy.resources",
    "cpu_shares": "set resource limits using deploy.resources",
    "cpuset": "set resource limits using deploy.resources",
    "mem_limit": "set resource limits using deploy.resources",
    "memswap_limit": "set resource limits using deploy.resources",
}
UNSUPPORTED = (
    "build",
    "cgroupns_mode",
    "cgroup_parent",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "restart",
    "security_opt",
    "shm_size",
    "userns_mode",
)


def vkey(version: str) -> int:
    return int(version.split(".")[1])


# --- the schema, as data ---------------------------------------------------------------------


class _Options(TypedDict, total=False):
    since: int  # the minor version (3.x) that introduced the key
    items: Schema
    unique: bool
    one_of: list[Schema]
    format: str
    enum: list[str]
    minimum: int
    required: list[str]


class Schema(_Options, total=False):
    """One node of the schema, JSON schema's words shortened."""

    type: set[str]
    props: dict[str, Schema]
    pattern: dict[str, Schema]
    additional: bool


def T(*types: str, **kw: Unpack[Schema]) -> Schema:
    d: Schema = {"type": set(types)} if types else {}
    d.update(kw)
    return d


def _since(schema: Schema, version: int) -> Schema:
    """`schema` for a key introduced in 3.`version`."""
    return {**schema, "since": version}


STR = T("string")
INT = T("integer")
NUM = T("number")
BOOL = T("boolean")
DURATION = T("string", format="duration")
LIST_OF_STRINGS = T("array", items=STR, unique=True)
STRING_OR_LIST: Schema = {"one_of": [STR, LIST_OF_STRINGS]}
LIST_OR_DICT: Schema = {
    "one_of": [
        T("object", pattern={".+": T("string", "number", "null")}, additional=False),
        T("array", items=STR, unique=True),
    ]
}
STR_NUM_OPTS = T("object", pattern={"^.+$": T("string", "number")})
NAME = "^[a-zA-Z0-9._-]+$"
X: dict[str, Schema] = {"^x-": {}}


def obj(
    props: dict[str, Schema],
    *,
    additional: bool = False,
    pattern: dict[str, Schema] | None = None,
    types: tuple[str, ...] = ("object",),
    **kw: Unpack[_Options],
) -> Schema:
    return T(*types, props=props, additional=additional, pattern=pattern or {}, **kw)


FILE_REF = T("object", props={"source": STR, "target": STR, "uid": STR, "gid": STR, "mode": NUM})
UPDATE_CONFIG = obj(
    {
        "parallelism": INT,
        "delay": DURATION,
        "failure_action": STR,
        "monitor": DURATION,
        "max_failure_ratio": NUM,
        "order": T("string", enum=["start-first", "stop-first"], since=4),
    }
)
HEALTHCHECK = obj(
    {
        "disable": BOOL,
        "interval": DURATION,
        "retries": NUM,
        "test": {"one_of": [STR, T("array", items=STR)]},
        "timeout": DURATION,
        "start_period": _since(DURATION, 4),
        "start_interval": _since(DURATION, 12),
    }
)
DEPLOY = obj(
    {
        "mode": STR,
        "endpoint_mode": _since(STR, 2),
        "replicas": INT,
        "labels": LIST_OR_DICT,
        "rollback_config": _since(UPDATE_CONFIG, 7),
        "update_config": UPDATE_CONFIG,
        "resources": obj(
            {
                "limits": obj({"cpus": STR, "memory": STR, "pids": _since(INT, 9)}),
                "reservations": obj(
                    {
                        "cpus": STR,
                        "memory": STR,
                        "generic_resources": T(
                            "array",
                            since=5,
                            items=obj(
                                {
                                    "discrete_resource_spec": obj({"kind": STR, "value": NUM}),
                                }
                            ),
                        ),
                    }
                ),
            }
        ),
        "restart_policy": obj({"condition": STR, "delay": DURATION, "max_attempts": INT, "window": DURATION}),
        "placement": obj(
            {
                "constraints": T("array", items=STR),
                "preferences": T("array", since=3, items=obj({"spread": STR})),
                "max_replicas_per_node": _since(INT, 8),
            }
        ),
    },
    types=("object", "null"),
)

SERVICE = obj(
    {
        "deploy": DEPLOY,
        "build": {
            "one_of": [
                STR,
                obj(
                    {
                        "context": STR,
                        "dockerfile": STR,
                        "args": LIST_OR_DICT,
                        "labels": _since(LIST_OR_DICT, 3),
                        "cache_from": _since(LIST_OF_STRINGS, 2),
                        "network": _since(STR, 4),
                        "target": _since(STR, 4),
                        "shm_size": T("integer", "string", since=5),
                        "extra_hosts": _since(LIST_OR_DICT, 9),
                    },
                    additional=True,
                ),
            ]
        },
        "cap_add": T("array", items=STR, unique=True),
        "cap_drop": T("array", items=STR, unique=True),
        "cgroupns_mode": T("string", since=9),
        "cgroup_parent": STR,
        "command": {"one_of": [STR, T("array", items=STR)]},
        "configs": T("array", since=3, items={"one_of": [STR, FILE_REF]}),
        "container_name": STR,
        "credential_spec": T(
            "object", since=3, props={"config": _since(STR, 8), "file": STR, "registry": STR}, additional=False
        ),
        "depends_on": LIST_OF_STRINGS,
        "devices": T("array", items=STR, unique=True),
        "dns": STRING_OR_LIST,
        "dns_search": STRING_OR_LIST,
        "domainname": STR,
        "entrypoint": {"one_of": [STR, T("array", items=STR)]},
        "env_file": STRING_OR_LIST,
        "environment": LIST_OR_DICT,
        "expose": T("array", items=T("string", "number"), unique=True),
        "external_links": T("array", items=STR, unique=True),
        "extra_hosts": LIST_OR_DICT,
        "healthcheck": HEALTHCHECK,
        "hostname": STR,
        "image": STR,
        "init": T("boolean", since=7),
        "ipc": STR,
        "isolation": T("string", since=5),
        "labels": LIST_OR_DICT,
        "links": T("array", items=STR, unique=True),
        "logging": obj({"driver": STR, "options": T("object", pattern={"^.+$": T("string", "number", "null")})}),
        "mac_address": STR,
        "network_mode": STR,
        "networks": {
            "one_of": [
                LIST_OF_STRINGS,
                obj(
                    {},
                    pattern={
                        NAME: {
                            "one_of": [
                                obj(
                                    {
                                        "aliases": LIST_OF_STRINGS,
                                        "driver_opts": _since(STR_NUM_OPTS, 13),
                                        "ipv4_address": STR,
                                        "ipv6_address": STR,
                                    }
                                ),
                                T("null"),
                            ]
                        }
                    },
                ),
            ]
        },
        "pid": T("string", "null"),
        "ports": T(
            "array",
            unique=True,
            items={
                "one_of": [
                    T("number", format="ports"),
                    T("string", format="ports"),
                    obj({"mode": STR, "target": INT, "published": INT, "protocol": STR}, since=2),
                ]
            },
        ),
        "privileged": BOOL,
        "read_only": BOOL,
        "restart": STR,
        "security_opt": T("array", items=STR, unique=True),
        "shm_size": T("number", "string"),
        "secrets": T("array", since=1, items={"one_of": [STR, FILE_REF]}),
        "sysctls": LIST_OR_DICT,
        "stdin_open": BOOL,
        "stop_grace_period": DURATION,
        "stop_signal": STR,
        "tmpfs": STRING_OR_LIST,
        "tty": BOOL,
        "ulimits": T(
            "object",
            pattern={
                "^[a-z]+$": {
                    "one_of": [
                        INT,
                        obj({"hard": INT, "soft": INT}, required=["soft", "hard"]),
                    ]
                }
            },
        ),
        "oom_score_adj": T("integer", since=13),
        "user": STR,
        "userns_mode": STR,
        "volumes": T(
            "array",
            unique=True,
            items={
                "one_of": [
                    STR,
                    obj(
                        {
                            "type": STR,
                            "source": STR,
                            "target": STR,
                            "read_only": BOOL,
                            "consistency": STR,
                            "bind": T("object", props={"propagation": STR}),
                            "volume": T("object", props={"nocopy": BOOL}),
                            "tmpfs": T("object", since=6, props={"size": T("integer", minimum=0)}),
                        },
                        required=["type"],
                        since=2,
                    ),
                ]
            },
        ),
        "working_dir": STR,
    },
    pattern={"^x-": {"since": 7}},
)

EXTERNAL = T("boolean", "object", props={"name": STR}, additional=False)
EXTERNAL_OPEN = T("boolean", "object", props={"name": STR})
NETWORK = obj(
    {
        "name": _since(STR, 5),
        "driver": STR,
        "driver_opts": STR_NUM_OPTS,
        "ipam": obj({"driver": STR, "config": T("array", items=obj({"subnet": STR}))}),
        "external": EXTERNAL,
        "internal": BOOL,
        "attachable": _since(BOOL, 2),
        "labels": LIST_OR_DICT,
    },
    pattern={"^x-": {"since": 7}},
    types=("object", "null"),
)
SEGMENTS = T("array", items=T("object", props={"segments": LIST_OR_DICT}))
VOLUME = obj(
    {
        "name": _since(STR, 4),
        "driver": STR,
        "driver_opts": STR_NUM_OPTS,
        "external": EXTERNAL,
        "labels": LIST_OR_DICT,
        "x-cluster-spec": T(
            "object",
            since=10,
            props={
                "group": STR,
                "access_mode": T(
                    "object",
                    props={
                        "scope": STR,
                        "sharing": STR,
                        "block_volume": T("object"),
                        "mount_volume": T("object", props={"fs_type": STR, "mount_flags": T("array", items=STR)}),
                    },
                ),
                "accessibility_requirements": T("object", props={"requisite": SEGMENTS, "preferred": SEGMENTS}),
                "capacity_range": T("object", props={"required_bytes": STR, "limit_bytes": STR}),
                "availability": STR,
            },
        ),
    },
    pattern={"^x-": {"since": 7}},
    types=("object", "null"),
)
SECRET = obj(
    {
        "name": _since(STR, 5),
        "file": STR,
        "external": EXTERNAL_OPEN,
        "labels": LIST_OR_DICT,
        "driver": _since(STR, 8),
        "driver_opts": _since(STR_NUM_OPTS, 8),
        "template_driver": _since(STR, 8),
    },
    pattern={"^x-": {"since": 7}},
)
CONFIG = obj(
    {
        "name": _since(STR, 5),
        "file": STR,
        "external": EXTERNAL_OPEN,
        "labels": LIST_OR_DICT,
        "template_driver": _since(STR, 8),
    },
    pattern={"^x-": {"since": 7}},
)

ROOT = obj(
    {
        "version": STR,
        "services": obj({}, pattern={NAME: SERVICE}),
        "networks": T("object", pattern={NAME: NETWORK}),
        "volumes": obj({}, pattern={NAME: VOLUME}),
        "secrets": obj({}, pattern={NAME: SECRET}, since=1),
        "configs": obj({}, pattern={NAME: CONFIG}, since=3),
    },
    pattern={"^x-": {"since": 4}},
)


# --- the engine --------------------------------------------------------------------------------


class Invalid(Exception):
    def __init__(self, path: KeyPath, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


_RE_CACHE: dict[str, re.Pattern[str]] = {}


def _re(p: str) -> re.Pattern[str]:
    r = _RE_CACHE.get(p)
    if r is None:
        r = _RE_CACHE[p] = re.compile(p)
    return r


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "string"  # timestamps: docker's JSON round trip makes them strings


_HUMAN = {
    "object": "a mapping",
    "array": "a list",
    "null": "null",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
}


def _type_ok(types: set[str], v: object) -> bool:
    t = _json_type(v)
    return t in types or (t == "integer" and "number" in types)


def check(schema: Schema, v: object, path: KeyPath, version: int) -> None:
    """Raise `Invalid` for the first problem found (depth first)."""
    if "one_of" in schema:
        errors = []
        ok = 0
        for sub in schema["one_of"]:
            if sub.get("since", 0) > version:
                continue
            try:
                check(sub, v, path, version)
                ok += 1
            except Invalid as e:
                errors.append(e)
        if ok == 1:
            return
        if ok == 0:
            # the most specific error: the deepest one, then one from a branch of the right type
            raise max(errors, key=lambda e: (len(e.path), not e.message.startswith("must be")))
        raise Invalid(path, "matches more than one allowed form")
    types = schema.get("type")
    if types is not None and not _type_ok(types, v):
        names = sorted(_HUMAN[t] for t in types)
        raise Invalid(path, f"must be {' or '.join(names)}")
    if isinstance(v, dict):
        props = schema.get("props", {})
        pattern = schema.get("pattern", {})
        additional = schema.get("additional", True)
        for key, value in v.items():
            prop = props.get(key)
            if prop is not None and prop.get("since", 0) <= version:
                check(prop, value, path + (key,), version)
                continue
            matched = False
            for pat, psub in pattern.items():
                if _re(pat).search(key) and psub.get("since", 0) <= version:
                    matched = True
                    if psub:
                        check(psub, value, path + (key,), version)
            if not matched and additional is False:
                raise Invalid(path + (key,), f"additional property {key} is not allowed")
        for req in schema.get("required", ()):
            if req not in v:
                raise Invalid(path, f"{req} is required")
    elif isinstance(v, list):
        items = schema.get("items")
        if items is not None:
            for i, x in enumerate(v):
                check(items, x, path + (i,), version)
        if schema.get("unique") and len(v) > 1:
            seen = set()
            for i, x in enumerate(v):
                k = json.dumps(x, sort_keys=True, default=str)
                if k in seen:
                    raise Invalid(path + (i,), "duplicate item in a list whose items must be unique")
                seen.add(k)
    fmt = schema.get("format")
    if fmt == "duration" and isinstance(v, str):
        try:
            gotypes.parse_duration(v)
        except ValueError:
            raise Invalid(path, f'invalid duration "{v}"') from None
    elif fmt == "ports":
        spec = v if isinstance(v, str) else gotypes.go_number_str(v) if not isinstance(v, bool) else ""
        try:
            gotypes.parse_port_spec(spec)
        except ValueError:
            raise Invalid(path, f'invalid port "{v}"') from None
    if "enum" in schema and v not in schema["enum"]:
        raise Invalid(path, f"must be one of: {', '.join(schema['enum'])}")
    if "minimum" in schema and isinstance(v, (int, float)) and v < schema["minimum"]:
        raise Invalid(path, f"must be at least {schema['minimum']}")


def validate(doc: Mapping[str, object], version: str) -> None:
    check(ROOT, doc, (), vkey(version))
