"""Normalisation for comparing Engine API create bodies.

Applied to both sides of a differential comparison, it removes only what
carries no meaning for the engine:

- Go zero values (null, "", 0, false, empty lists and maps): the engine decodes
  a missing field as the same zero value. Zeros behind a Go *pointer* do mean
  something (``Replicas: 0`` is not "default 1", ``Init: false`` is not "daemon
  default", ``MaxAttempts: 0`` is not "unlimited"...) and are kept: see KEEP.
- object IDs the engine assigns (SecretID, ConfigID, and a credential spec's
  Config, which docker fills with a config ID).

Entries of data maps (labels, options) are never dropped, and list items are
never dropped. Nothing is sorted except references that share a SecretName /
ConfigName, which docker itself leaves in random (Go map) order.
"""

from __future__ import annotations

import copy
from typing import Any

# (parent key, key) pairs whose zero values are kept: Go pointer fields.
KEEP = frozenset(
    {
        ("Mode", "Replicated"),
        ("Mode", "Global"),
        ("Mode", "ReplicatedJob"),
        ("Mode", "GlobalJob"),
        ("Replicated", "Replicas"),
        ("ReplicatedJob", "MaxConcurrent"),
        ("ReplicatedJob", "TotalCompletions"),
        ("RestartPolicy", "Delay"),
        ("RestartPolicy", "MaxAttempts"),
        ("RestartPolicy", "Window"),
        ("ContainerSpec", "Init"),
        ("ContainerSpec", "StopGracePeriod"),
        ("Configs", "Runtime"),
        ("Mounts", "ClusterOptions"),
        # Pointers docker always sets, even empty: swarm replaces tasks between an empty one and none.
        ("ContainerSpec", "Privileges"),
        ("TaskTemplate", "Resources"),
        ("TaskTemplate", "Placement"),
        (None, "EndpointSpec"),
    }
)
DATA_MAPS = frozenset({"Labels", "Options", "DriverOpts", "Sysctls"})
ID_KEYS = frozenset({"SecretID", "ConfigID"})

_DROP = object()


def normalise(body: Any) -> Any:
    body = copy.deepcopy(body)
    cs = (body.get("TaskTemplate") or {}).get("ContainerSpec") if isinstance(body, dict) else None
    if cs:
        cred = (cs.get("Privileges") or {}).get("CredentialSpec")
        if cred and "Config" in cred:
            del cred["Config"]  # a config ID
        for key, name in (("Secrets", "SecretName"), ("Configs", "ConfigName")):
            if cs.get(key):
                cs[key].sort(key=lambda r: (r.get(name, ""), "Runtime" in r, (r.get("File") or {}).get("Name", "")))
    out = _walk(body, None, None)
    return {} if out is _DROP else out


def _walk(value: Any, parent: str | None, key: str | None) -> Any:
    if isinstance(value, dict):
        if key in DATA_MAPS:
            return dict(value) if value else _DROP
        out = {}
        for k, v in value.items():
            if k in ID_KEYS:
                continue
            c = _walk(v, key, k)
            if c is not _DROP:
                out[k] = c
        if out or (parent, key) in KEEP:
            return out
        return _DROP
    if isinstance(value, list):
        items = []
        for item in value:
            c = _walk(item, parent, key)  # items stand for their list's key
            items.append(({} if isinstance(item, dict) else item) if c is _DROP else c)
        return items if items else _DROP
    if (parent, key) in KEEP and value is not None:
        return value
    if value is None or value is False or value == "" or (type(value) in (int, float) and value == 0):
        return _DROP
    return value
