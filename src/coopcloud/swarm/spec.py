"""The converter's output: Engine API bodies, and how object IDs are filled in."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from coopcloud.errors import ConvertError


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

    services: dict[str, dict]
    networks: dict[str, dict]
    configs: dict[str, dict]
    secrets: dict[str, dict]

    def to_json(self) -> dict:
        return {
            "services": copy.deepcopy(self.services),
            "networks": copy.deepcopy(self.networks),
            "configs": copy.deepcopy(self.configs),
            "secrets": copy.deepcopy(self.secrets),
        }


def with_ids(service: dict, *, secret_ids: Mapping[str, str], config_ids: Mapping[str, str]) -> dict:
    """A copy of a service body with SecretID/ConfigID filled from name → ID maps
    (what the engine's secret/config lists return), as `docker stack deploy` does.

    A config referenced with a ``Runtime`` target is the credential spec's: its ID
    also goes into ``Privileges.CredentialSpec.Config``.
    """
    body = copy.deepcopy(service)
    cs = body.get("TaskTemplate", {}).get("ContainerSpec", {})
    for ref in cs.get("Secrets", []):
        try:
            ref["SecretID"] = secret_ids[ref["SecretName"]]
        except KeyError:
            raise ConvertError(f"service {body.get('Name')}: secret not found: {ref['SecretName']}") from None
    for ref in cs.get("Configs", []):
        try:
            ref["ConfigID"] = config_ids[ref["ConfigName"]]
        except KeyError:
            raise ConvertError(f"service {body.get('Name')}: config not found: {ref['ConfigName']}") from None
        if "Runtime" in ref:
            cs.setdefault("Privileges", {}).setdefault("CredentialSpec", {})["Config"] = ref["ConfigID"]
    return body
