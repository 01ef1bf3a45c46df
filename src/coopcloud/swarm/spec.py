"""The converter's output: Engine API bodies, and how object IDs are filled in."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from coopcloud.errors import ConvertError
from coopcloud.rawdata import JSONDict, RawMap, get_str


@dataclass(frozen=True)
class StackSpec:
    """Everything `docker stack deploy` would create for one stack.

    Each value is the JSON body of the create call, keyed by the object's full
    name: ``services`` for POST /services/create, ``networks`` for POST
    /networks/create, ``configs`` / ``secrets`` for POST /configs/create and
    /secrets/create. External networks, secrets and configs are not here (they
    are not created) but service bodies reference them by their real names.

    Go zero values are left out (the engine reads a missing field as its zero
    value); a zero that means something (``Replicas: 0``, ``Init: false``,
    ``MaxAttempts: 0``, ``StopGracePeriod: 0``...) is kept.

    Secret and config references carry names only: ``SecretID`` / ``ConfigID``
    (and a credential spec's config ID) are known only once the objects exist
    on the engine; the deploy step fills them with `with_ids`.
    """

    services: dict[str, JSONDict]
    networks: dict[str, JSONDict]
    configs: dict[str, JSONDict]
    secrets: dict[str, JSONDict]

    def to_json(self) -> JSONDict:
        return {
            "services": copy.deepcopy(self.services),
            "networks": copy.deepcopy(self.networks),
            "configs": copy.deepcopy(self.configs),
            "secrets": copy.deepcopy(self.secrets),
        }


def _dicts(value: object) -> list[JSONDict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def with_ids(service: RawMap, *, secret_ids: Mapping[str, str], config_ids: Mapping[str, str]) -> JSONDict:
    """A copy of a service body with SecretID/ConfigID filled from name → ID maps
    (what the engine's secret/config lists return), as `docker stack deploy` does.

    A config referenced with a ``Runtime`` target is the credential spec's: its ID
    also goes into ``Privileges.CredentialSpec.Config``.
    """
    body: JSONDict = copy.deepcopy(dict(service))
    template = body.get("TaskTemplate")
    cs = template.get("ContainerSpec") if isinstance(template, dict) else None
    if not isinstance(cs, dict):
        return body
    for ref in _dicts(cs.get("Secrets")):
        name = get_str(ref, "SecretName")
        if name not in secret_ids:
            raise ConvertError(f"service {body.get('Name')}: secret not found: {name}")
        ref["SecretID"] = secret_ids[name]
    for ref in _dicts(cs.get("Configs")):
        name = get_str(ref, "ConfigName")
        if name not in config_ids:
            raise ConvertError(f"service {body.get('Name')}: config not found: {name}")
        ref["ConfigID"] = config_ids[name]
        if "Runtime" in ref:
            privileges = cs.setdefault("Privileges", {})
            if isinstance(privileges, dict):
                credential_spec = privileges.setdefault("CredentialSpec", {})
                if isinstance(credential_spec, dict):
                    credential_spec["Config"] = ref["ConfigID"]
    return body
