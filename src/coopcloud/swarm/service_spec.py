"""Read one ServiceSpec body (what POST /services/create takes, and a live service's ``Spec``): the one
place that knows where each field sits, so callers never walk the nesting themselves.

Every reader takes the body as a mapping, tolerates missing or null levels (the engine and the converter
both leave Go zero values out) and returns the field's value or its empty form; none of them copies or
changes the body. Pure: no engine, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Spec = Mapping[str, Any]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def template(spec: Spec) -> Mapping[str, Any]:
    """``TaskTemplate``."""
    return _dict(spec.get("TaskTemplate"))


def container(spec: Spec) -> Mapping[str, Any]:
    """``TaskTemplate.ContainerSpec``."""
    return _dict(template(spec).get("ContainerSpec"))


def image(spec: Spec) -> str:
    """The container's image, as written (a digest included); "" when there is none."""
    return container(spec).get("Image") or ""


def labels(spec: Spec) -> Mapping[str, str]:
    """The service's own labels (``Labels``, not the container's)."""
    return _dict(spec.get("Labels"))


def container_labels(spec: Spec) -> Mapping[str, str]:
    """``ContainerSpec.Labels``."""
    return _dict(container(spec).get("Labels"))


def env(spec: Spec) -> dict[str, str]:
    """The container's ``Env`` as KEY -> value (a later entry wins, as in the container)."""
    out = {}
    for item in container(spec).get("Env") or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def mounts(spec: Spec) -> list[Mapping[str, Any]]:
    """``ContainerSpec.Mounts``."""
    return list(container(spec).get("Mounts") or [])


def refs(spec: Spec, kind: str) -> list[Mapping[str, Any]]:
    """The container's secret (`kind` ``"Secrets"``) or config (``"Configs"``) references."""
    return list(container(spec).get(kind) or [])


def ref_target(ref: Mapping[str, Any]) -> str:
    """Where a secret/config reference lands: its file name, "runtime" for a credential spec, else ""."""
    return _dict(ref.get("File")).get("Name") or (ref.get("Runtime") and "runtime") or ""


def networks(spec: Spec) -> list[Mapping[str, Any]]:
    """The network attachments (``TaskTemplate.Networks``, else the deprecated top-level ``Networks``)."""
    return list(template(spec).get("Networks") or spec.get("Networks") or [])


def ports(spec: Spec) -> list[Mapping[str, Any]]:
    """``EndpointSpec.Ports``."""
    return list(_dict(spec.get("EndpointSpec")).get("Ports") or [])


def replicas(spec: Spec) -> str:
    """ "global", or the replica count as text (1 when the spec names none, as the engine reads it)."""
    mode = _dict(spec.get("Mode"))
    if "Global" in mode:
        return "global"
    return str(_dict(mode.get("Replicated")).get("Replicas", 1))


def placement(spec: Spec) -> Mapping[str, Any]:
    """``TaskTemplate.Placement``."""
    return _dict(template(spec).get("Placement"))


def spread_descriptors(spec: Spec) -> list[str]:
    """The placement preferences' spread descriptors, in order ("" for a preference without one)."""
    return [_dict(p.get("Spread")).get("SpreadDescriptor") or "" for p in placement(spec).get("Preferences") or []]


def force_update(spec: Spec) -> int:
    """``TaskTemplate.ForceUpdate``: the counter a forced update bumps (0 when unset)."""
    return int(template(spec).get("ForceUpdate") or 0)


def stop_grace_nanos(spec: Spec) -> int:
    """``TaskTemplate.ContainerSpec.StopGracePeriod`` in nanoseconds (0 when unset: docker's 10 s)."""
    return int(_dict(_dict(spec.get("TaskTemplate")).get("ContainerSpec")).get("StopGracePeriod") or 0)


def update_monitor_nanos(spec: Spec) -> int:
    """``UpdateConfig.Monitor`` in nanoseconds (0 when unset)."""
    return int(_dict(spec.get("UpdateConfig")).get("Monitor") or 0)
