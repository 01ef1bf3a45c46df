"""Who owns a stack name on the swarm: its labels (the env files on this machine are compared by
`coopcloud.domain.app.twin`, through `ops.app.apps.check_own_stack`).

Apps ``a.b`` and ``a_b`` both run as stack ``a_b`` and would share every Docker object: the second
would take over the first's services and secrets, and removing one would delete the other's. So a
new app whose stack name is already another app's is refused (exit 10, naming it), whether that app
is an env file here or only a stack on the swarm (``com.docker.stack.namespace``) of another recipe
or domain — an app deployed from someone else's machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef, docker_key
from coopcloud.errors import Conflict
from coopcloud.swarm.labels import STACK_LABEL, coop_label

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.engine.views import Service

_HOST_RULE = re.compile(r"Host\(\s*`([^`]+)`")


@dataclass(frozen=True)
class StackOwner:
    """What the swarm says about a deployed stack: its recipe label and the domains it serves."""

    stack: str
    recipe: str | None
    domains: frozenset[str]

    @property
    def name(self) -> str:
        """How to name the app that owns the stack: its domain when one is known."""
        return sorted(self.domains)[0] if self.domains else f"(stack {self.stack})"


def stack_owner(client: Engine, stack: str) -> StackOwner | None:
    """The deployed stack `stack` on the swarm, or None when nothing runs under that name."""
    from coopcloud.engine import views
    from coopcloud.rawdata import get_map
    from coopcloud.swarm import service_spec

    services = client.services(filters={"label": [f"{STACK_LABEL}={stack}"]})
    if not services:  # a stack whose name differs only in case is the same to Docker
        services = [
            svc
            for svc in client.services(filters={"label": [STACK_LABEL]})
            if docker_key(service_spec.labels(get_map(svc, "Spec")).get(STACK_LABEL, "")) == docker_key(stack)
        ]
        if not services:
            return None
        stack = service_spec.labels(get_map(services[0], "Spec"))[STACK_LABEL]
    recipe = None
    domains: set[str] = set()
    for svc in map(views.Service.from_json, services):
        recipe = recipe or svc.labels.get(coop_label(stack, "recipe"))
        for key, value in svc.labels.items():
            if key.startswith("traefik.") and key.endswith(".rule"):
                domains.update(_HOST_RULE.findall(value))
        domains.add(service_spec.env(svc.spec).get("DOMAIN", ""))
    return StackOwner(stack, recipe, frozenset(d for d in domains if d))


def check_swarm_stack(client: Engine, ref: AppRef, recipe: str, domain: str) -> None:
    """Conflict when the swarm runs `ref`'s stack for another recipe or another domain."""
    owner = stack_owner(client, ref.stack_name)
    if owner is None:
        return
    other_recipe = owner.recipe is not None and owner.recipe != recipe
    other_domain = bool(owner.domains) and domain not in owner.domains
    other_case = owner.stack != ref.stack_name
    if other_recipe or other_domain or other_case:
        what = f"recipe {owner.recipe}" if other_recipe else f"domain {', '.join(sorted(owner.domains))}"
        if not (other_recipe or other_domain):
            what = f"stack {owner.stack}: Docker compares names case-insensitively"
        raise Conflict(
            f"app {ref.name}: stack {ref.stack_name} already runs on server {ref.server} as app {owner.name} ({what})",
            hint="choose another --name for the new app",
        )


def check_stack_case(client: Engine, ref: AppRef) -> None:
    """Conflict when the swarm runs a stack whose name is `ref`'s but for case (deployed from elsewhere):
    to Docker it is the same stack, so a deploy would collide with its services half-way."""
    owner = stack_owner(client, ref.stack_name)
    if owner is not None and owner.stack != ref.stack_name:
        raise Conflict(
            f"app {ref.name}: stack {owner.stack} already runs on server {ref.server} as app {owner.name}, "
            "and Docker compares names case-insensitively",
            hint="name the app as that stack is named, or undeploy it first",
        )


def check_live_recipe(ref: AppRef, live: Iterable[Service], recipe: str) -> None:
    """Conflict when the stack running under `ref`'s name was deployed from another recipe.

    `app new` asks the swarm once; an env file made or copied by hand (or the other app deployed
    after it) is caught here, from the services the deploy's preflight read anyway: a deploy must
    never turn someone else's app into this one.
    """
    label = coop_label(ref.stack_name, "recipe")
    for svc in live:
        running = svc.labels.get(label)
        if running and running != recipe:
            raise Conflict(
                f"app {ref.name}: stack {ref.stack_name} on server {ref.server} runs recipe {running}, not {recipe}: "
                "another app's, deployed from elsewhere, or this app's under another recipe",
                hint=f"if it is this app's and you mean to replace it, run: coop app undeploy {ref.name} "
                "(volumes are kept), then deploy",
            )
