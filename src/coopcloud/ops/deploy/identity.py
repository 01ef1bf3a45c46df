"""Who owns a stack name: the app env files on this machine, and the swarm's labels.

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

from coopcloud.domain.app import AppRef
from coopcloud.errors import Conflict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, coop_label

if TYPE_CHECKING:
    from coopcloud.engine import Engine
    from coopcloud.engine.views import Service

_HOST_RULE = re.compile(r"Host\(\s*`([^`]+)`")


def same_stack(settings: Settings, ref: AppRef) -> AppRef | None:
    """Another app env file on `ref`'s server with `ref`'s stack name, or None."""
    from coopcloud.ops.app.apps import all_apps

    for other in all_apps(settings):
        if other.server == ref.server and other.name != ref.name and other.stack_name == ref.stack_name:
            return other
    return None


def check_own_stack(settings: Settings, ref: AppRef) -> None:
    """Conflict when another app env file on the server has `ref`'s stack name."""
    other = same_stack(settings, ref)
    if other is not None:
        raise Conflict(
            f"app {ref.name}: stack name {ref.stack_name} is already app {other.name}'s on server {ref.server}",
            hint=f"two apps cannot share a stack; choose another --name, or remove one of {other.name}, {ref.name}",
        )


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
    from coopcloud.swarm import service_spec

    services = client.services(filters={"label": [f"{STACK_LABEL}={stack}"]})
    if not services:
        return None
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
    if other_recipe or other_domain:
        what = f"recipe {owner.recipe}" if other_recipe else f"domain {', '.join(sorted(owner.domains))}"
        raise Conflict(
            f"app {ref.name}: stack {ref.stack_name} already runs on server {ref.server} as app {owner.name} ({what})",
            hint="choose another --name for the new app",
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
