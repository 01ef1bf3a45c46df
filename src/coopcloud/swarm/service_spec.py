"""Read one ServiceSpec body (what POST /services/create takes, and a live service's ``Spec``): the one
place that knows where each field sits, so callers never walk the nesting themselves.

Every reader takes the body as a mapping, tolerates missing or null levels (the engine and the converter
both leave Go zero values out) and returns the field's value or its empty form, typed: a level of the
wrong type reads as empty, as a missing one. None changes the body; only `labels`, `container_labels` and
`env` copy (their string entries). Pure: no engine, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from coopcloud.rawdata import RawMap

# A ServiceSpec body: the converter's (a JSONDict) or a live service's decoded ``Spec``.
Spec = RawMap


def _dict(value: object) -> RawMap:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _strings(value: object) -> dict[str, str]:
    """A labels-like mapping, its string entries only (the engine's and the converter's are all strings)."""
    return {k: v for k, v in _dict(value).items() if isinstance(v, str)}


def _maps(value: object) -> list[RawMap]:
    return [item for item in _list(value) if isinstance(item, Mapping)]


def template(spec: Spec) -> RawMap:
    """``TaskTemplate``."""
    return _dict(spec.get("TaskTemplate"))


def container(spec: Spec) -> RawMap:
    """``TaskTemplate.ContainerSpec``."""
    return _dict(template(spec).get("ContainerSpec"))


def image(spec: Spec) -> str:
    """The container's image, as written (a digest included); "" when there is none."""
    return _text(container(spec).get("Image"))


def labels(spec: Spec) -> dict[str, str]:
    """The service's own labels (``Labels``, not the container's)."""
    return _strings(spec.get("Labels"))


def container_labels(spec: Spec) -> dict[str, str]:
    """``ContainerSpec.Labels``."""
    return _strings(container(spec).get("Labels"))


def env(spec: Spec) -> dict[str, str]:
    """The container's ``Env`` as KEY -> value (a later entry wins, as in the container)."""
    out = {}
    for item in _list(container(spec).get("Env")):
        key, _, value = _text(item).partition("=")
        out[key] = value
    return out


def mounts(spec: Spec) -> list[RawMap]:
    """``ContainerSpec.Mounts``."""
    return _maps(container(spec).get("Mounts"))


def refs(spec: Spec, kind: str) -> list[RawMap]:
    """The container's secret (`kind` ``"Secrets"``) or config (``"Configs"``) references."""
    return _maps(container(spec).get(kind))


def ref_target(ref: RawMap) -> str:
    """Where a secret/config reference lands: its file name, "runtime" for a credential spec, else ""."""
    return _text(_dict(ref.get("File")).get("Name")) or ("runtime" if ref.get("Runtime") else "")


def networks(spec: Spec) -> list[RawMap]:
    """The network attachments (``TaskTemplate.Networks``, else the deprecated top-level ``Networks``)."""
    return _maps(template(spec).get("Networks") or spec.get("Networks"))


def ports(spec: Spec) -> list[RawMap]:
    """``EndpointSpec.Ports``."""
    return _maps(_dict(spec.get("EndpointSpec")).get("Ports"))


def replicas(spec: Spec) -> str:
    """ "global", or the replica count as text (1 when the spec names none, as the engine reads it)."""
    mode = _dict(spec.get("Mode"))
    if "Global" in mode:
        return "global"
    return str(_dict(mode.get("Replicated")).get("Replicas", 1))


def placement(spec: Spec) -> RawMap:
    """``TaskTemplate.Placement``."""
    return _dict(template(spec).get("Placement"))


def spread_descriptors(spec: Spec) -> list[str]:
    """The placement preferences' spread descriptors, in order ("" for a preference without one)."""
    return [
        _text(_dict(_dict(p).get("Spread")).get("SpreadDescriptor")) for p in _list(placement(spec).get("Preferences"))
    ]


def force_update(spec: Spec) -> int:
    """``TaskTemplate.ForceUpdate``: the counter a forced update bumps (0 when unset)."""
    return _count(template(spec).get("ForceUpdate"))


def stop_grace_nanos(spec: Spec) -> int:
    """``TaskTemplate.ContainerSpec.StopGracePeriod`` in nanoseconds (0 when unset: docker's 10 s)."""
    return _count(container(spec).get("StopGracePeriod"))


def update_monitor_nanos(spec: Spec) -> int:
    """``UpdateConfig.Monitor`` in nanoseconds (0 when unset)."""
    return _count(_dict(spec.get("UpdateConfig")).get("Monitor"))
