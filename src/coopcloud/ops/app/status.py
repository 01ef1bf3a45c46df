"""What each server runs, for `app ls --status`: ONE round trip per server (services, the tasks of their
current specs, the engine's clock), servers in parallel."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from coopcloud.domain.app import stack_name
from coopcloud.engine import views
from coopcloud.engine.views import Service
from coopcloud.errors import CoopError
from coopcloud.fanout import fan_out
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import STACK_LABEL, coop_label, running_version

if TYPE_CHECKING:
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.server.servers import ServerPool


def deployed_version(client: Engine, stack: str) -> str | None:
    """The version label (``coop-cloud.<stack>.version``) of what the stack runs; None when it runs nothing."""
    return version_of(views.services(client, filters={"label": [f"{STACK_LABEL}={stack}"]}), stack)


def version_of(services: Iterable[Service], stack: str) -> str | None:
    """The version label among a stack's services (the main service first, as it normally carries it)."""
    return running_version(stack, {svc.name: svc.labels for svc in services})


@dataclass
class ServerView:
    """What one server runs, from one services request (and one networks request, for drift)."""

    services: dict[str, list[Service]]  # stack -> its services
    network_names: dict[str, str] = field(default_factory=dict)  # ID -> name
    current_tasks: dict[str, list[views.Task]] = field(default_factory=dict)  # service ID -> tasks of its current spec
    now: datetime | None = None  # the engine's clock
    extra: list[object] = field(default_factory=list)  # the decoded answers to `server_view`'s `also` requests

    def labels(self, stack: str) -> dict[str, str] | None:
        """The stack's coop-cloud.<stack>.* labels (any service may carry them; the app service normally does)."""
        if stack not in self.services:
            return None
        merged: dict[str, str] = {}
        for svc in self.services[stack]:
            merged.update({k: v for k, v in svc.labels.items() if k.startswith(coop_label(stack, ""))})
        return merged

    def not_converged(self, stack: str) -> list[str]:
        """The stack's services swarm paused or rolled back, or that run fewer tasks than they want."""
        return [svc.name for svc in self.services.get(stack, []) if _not_converged(svc)]

    def crash_loops(self, stack: str) -> list[str]:
        """The stack's services whose tasks of the current spec keep ending and being replaced."""
        from coopcloud.ops.deploy.converge import restarts

        return [
            svc.name
            for svc in self.services.get(stack, [])
            if restarts(svc, self.current_tasks.get(svc.id, []), self.now).crash_loop
        ]

    def status(self, stack: str) -> str:
        """crash loop | not converged | deployed."""
        if self.crash_loops(stack):
            return CRASH_LOOP
        return NOT_CONVERGED if self.not_converged(stack) else "deployed"


NOT_CONVERGED = "not converged"
CRASH_LOOP = "crash loop"


def _not_converged(svc: Service) -> bool:
    if svc.update_status is not None and svc.update_status.failed:
        return True
    return svc.desired_tasks is not None and (svc.running_tasks or 0) < svc.desired_tasks


def server_view(
    client: Engine, *, with_networks: bool, also: Sequence[tuple[str, Mapping[str, object]]] = ()
) -> ServerView:
    """What the server runs, in ONE round trip; `also`: more GETs asked in the same one (answers in `extra`)."""
    # Task counts come with the services request; the tasks of each service's current spec and the
    # engine's clock tell a crash loop; live specs name networks by ID and drift compares names, so
    # the networks come in the same round trip.
    from coopcloud.engine.stream import encode_filters

    wanted: list[tuple[str, Mapping[str, object]]] = [
        ("/services", {"status": True}),
        ("/tasks", {"filters": encode_filters({"_up-to-date": ["true"]})}),
        ("/info", {}),
    ]
    if with_networks:
        wanted.append(("/networks", {}))
    services, tasks, info, *rest = client.get_many(wanted + list(also))
    networks, extra = rest[: len(rest) - len(also)], rest[len(rest) - len(also) :]
    stacks: dict[str, list[Service]] = {}
    for svc in views.each(Service.from_json, services):
        stack = svc.labels.get(STACK_LABEL)
        if stack:
            stacks.setdefault(stack, []).append(svc)
    current: dict[str, list[views.Task]] = {}
    for t in views.each(views.Task.from_json, tasks):
        current.setdefault(t.service_id, []).append(t)
    names = {n.id: n.name for n in views.each(views.Network.from_json, networks[0])} if networks and stacks else {}
    return ServerView(stacks, names, current, views.one(views.Info.from_json, info).now, extra)


# What `deployed_status` and `fill_upgrades` add to a row, in the order `app ls` shows them.
STATUS_FIELDS = ("status", "deployed", "chaos", "differs", "drift", "upgrade", "autoupdate")


@dataclass
class AppStatus:
    """One app as `app ls` reports it: its env file's facts and, once its server was asked
    (`deployed_status`, `fill_upgrades`), what runs. The JSON carries the status fields that were
    filled in: an app whose server did not answer has no `autoupdate`, an undeployed one no `drift`."""

    server: str
    app: str
    recipe: str
    version: str | None  # pinned in the env
    error: str | None = None
    status: str | None = None
    deployed: str | None = None
    chaos: bool | None = None
    differs: bool | None = None
    drift: bool | None = None
    upgrade: str | None = None
    autoupdate: bool | None = None
    filled: set[str] = field(default_factory=set)  # the STATUS_FIELDS set so far

    def fill(self, **values: str | bool | None) -> None:
        for key, value in values.items():
            assert key in STATUS_FIELDS, key
            setattr(self, key, value)
            self.filled.add(key)

    def cell(self, key: str) -> object:
        """A column of `app ls`'s table."""
        return getattr(self, key)

    def to_json(self) -> JSONDict:
        doc: JSONDict = {
            "server": self.server,
            "app": self.app,
            "recipe": self.recipe,
            "version": self.version,
            "error": self.error,
        }
        doc.update({key: getattr(self, key) for key in STATUS_FIELDS if key in self.filled})
        return doc


def app_rows(
    settings: Settings, *, server: str | None = None, recipe: str | None = None, app: str | None = None
) -> list[AppStatus]:
    """The rows `app ls` starts from, one per env file (as `list_apps` reads them), before any server is asked."""
    from coopcloud.ops.app.apps import list_apps

    return [
        AppStatus(r.server, r.name, r.recipe, r.version, r.error)
        for r in list_apps(settings, server=server, recipe=recipe)
        if app is None or r.name == app
    ]


def deployed_status(pool: ServerPool, rows: list[AppStatus], settings: Settings | None = None) -> None:
    """Fill status/deployed/chaos/differs/autoupdate (and, given `settings`, drift) into each row.

    ONE services request per server, servers in parallel; drift is computed locally from it.
    """
    servers = sorted({r.server for r in rows})

    def ask(server: str) -> tuple[str, ServerView | None, str | None]:
        try:
            return server, server_view(pool.client(server), with_networks=settings is not None), None
        except Exception as exc:  # one unreachable server marks its apps unknown, the rest still print
            return server, None, str(exc)

    def load_drift() -> None:  # drift needs the renderer and the planner: load them while servers answer
        import coopcloud.ops.deploy
        import coopcloud.ops.deploy.drift
        import coopcloud.swarm.render  # noqa: F401

    asked = fan_out(ask, servers, meanwhile=None if settings is None else load_drift)
    answers = {s: (view, err) for s, view, err in asked}
    for row in rows:
        view, err = answers[row.server]
        stack = stack_name(row.app)
        if view is None:
            row.fill(status="unknown", deployed=None, chaos=None, differs=None)
            row.error = row.error or err
            continue
        labels = view.labels(stack)
        if labels is None:
            row.fill(status="undeployed", deployed=None, chaos=None, differs=None, autoupdate=False)
            continue
        deployed = labels.get(coop_label(stack, "version"))
        chaos = labels.get(coop_label(stack, "chaos")) == "true"
        row.fill(
            status=view.status(stack),
            deployed=deployed,
            chaos=chaos,
            differs=bool(row.version) and deployed != row.version,
            autoupdate=labels.get(coop_label(stack, "autoupdate")) == "true",
        )
        if settings is not None:
            row.fill(drift=_drift(settings, row, view.services[stack], view.network_names))


def fill_upgrades(settings: Settings, rows: list[AppStatus]) -> None:
    """Each row's `upgrade` (after `deployed_status`): the newest release above the deployed one,
    "latest" when there is none, None when that is not known (not deployed, chaos, no releases).
    From local state only: the recipe clone's tags, else the catalogue (no fetch)."""
    from coopcloud.ops.releases import ReleaseLookup, available

    lookup = ReleaseLookup(settings, fetch=False)
    for row in rows:
        row.fill(upgrade=None)
        if not row.deployed or row.chaos or not row.recipe:
            continue
        versions = lookup.get(row.recipe).versions
        found = available(versions, row.deployed, major=True)
        if versions and found.deployed is not None:
            row.fill(upgrade=found.upgrade.tag if found.upgrade else "latest")


def _drift(settings: Settings, row: AppStatus, live: list[Service], network_names: dict[str, str]) -> bool | None:
    from coopcloud.domain.app import AppConfig, AppRef
    from coopcloud.ops.deploy.drift import drifted_offline

    try:
        cfg = AppConfig.load(AppRef(row.server, row.app), settings.servers_dir)
        return drifted_offline(settings, cfg, live, network_names)
    except CoopError as exc:  # a recipe that does not render here: drift unknown, said why
        row.error = row.error or f"drift unknown: {exc}"
        return None
