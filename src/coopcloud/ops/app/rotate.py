"""Secret rotation: a new version of a secret, the app redeployed onto it, the old version removed.

Docker secrets cannot change, so a new value is a new version, as Co-op Cloud
names them: ``<stack>_<name>_v1`` -> ``<stack>_<name>_v2``. In order:

1. every new name is checked (length, not already on the server) before anything is created;
2. the new versions are created with generated values (the recipe's hints: length, charset);
3. ``SECRET_<NAME>_VERSION`` is bumped in the app's env (only those lines; comments kept);
4. the app is redeployed at its pinned version through the deploy path, which waits for convergence;
5. only then are the old versions removed.

When the redeploy fails, the env goes back to the old versions, the new
secrets are removed, and the error is raised again (the deploy path has put the
app back on what ran before, or says it could not). A secret that the services
need to see changed elsewhere too (a database password the database keeps in
its data) needs the recipe to apply it at start; coop only swaps the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coopcloud.errors import Conflict, EngineError, InvalidError, NotFound, UsageError
from coopcloud.ops.app import secrets as sec
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.deploy import DeployOptions

_VERSION_RE = re.compile(r"v(\d+)")


def next_version(app: str, name: str, version: str) -> str:
    """``v1`` -> ``v2``. Pure."""
    m = _VERSION_RE.fullmatch(version)
    if not m:
        raise InvalidError(
            f"app {app}: secret {name} has version {version!r}, not v<N>; coop cannot tell what comes next",
            hint=f"set SECRET_{name.upper()}_VERSION by hand, then run: coop app secret generate {app} {name}",
        )
    return f"v{int(m.group(1)) + 1}"


@dataclass
class Rotation:
    app: str
    rotated: list[tuple[sec.AppSecret, sec.AppSecret, str]] = field(default_factory=list)  # (old, new, value)
    removed: list[str] = field(default_factory=list)  # old versions removed after the app converged
    kept: list[str] = field(default_factory=list)  # old versions that could not be removed (why in warnings)
    version: str | None = None  # the release the app was redeployed at

    def plan_lines(self) -> list[str]:
        """For the audit trail: names and versions, never values."""
        return [f"~ secret {old.name}: {old.version} -> {new.version}" for old, new, _ in self.rotated]

    def to_json(self, *, show: bool) -> JSONDict:
        return {
            "app": self.app,
            "version": self.version,
            "secrets": [
                {
                    "name": old.name,
                    "from": old.version,
                    "to": new.version,
                    "remote_name": new.remote,
                    **({"value": value} if show else {}),
                }
                for old, new, value in self.rotated
            ],
            "removed": self.removed,
            "kept": self.kept,
        }


def choose(declared: list[sec.AppSecret], app: str, names: list[str] | None) -> list[sec.AppSecret]:
    """The secrets to rotate: those named, or (None) every one coop may generate."""
    if names is None:
        chosen = [s for s in declared if s.generate]
        if not chosen:
            raise NotFound(f"app {app} declares no secret that coop generates", hint=f"see: coop app secret ls {app}")
        return chosen
    by_name = {s.name: s for s in declared}
    out = []
    for name in names:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise NotFound(
                f"app {app} declares no secret {name} (declared: {known})", hint=f"see: coop app secret ls {app}"
            )
        if not by_name[name].generate:
            raise UsageError(
                f"app {app}: secret {name} is marked generate=false; coop cannot make its next value",
                hint=f"bump SECRET_{name.upper()}_VERSION by hand and run: coop app secret insert {app} {name} <version>",
            )
        out.append(by_name[name])
    return out


@mutation
def rotate(app: AppContext, chosen: list[sec.AppSecret], options: DeployOptions) -> Rotation:
    """Rotate `chosen` (secrets of the app) and redeploy it at its pinned version through
    `ops.deploy.execute` (`options`: its progress and notes). Inside `app.mutating("secret rotate")`."""
    from coopcloud.ops.app.secrets_gen import generate as make_value
    from coopcloud.ops.deploy import redeploy

    settings, client, name = app.settings, app.engine, app.name
    stack = app.stack
    pairs = []
    for old in chosen:
        version = next_version(name, old.name, old.version)
        new = sec.AppSecret(**{**old.__dict__, "version": version, "remote": sec.remote_name(stack, old.name, version)})
        sec.check_name_length(name, new.remote)
        pairs.append((old, new))
    from coopcloud.engine import views

    live = {s.name for s in views.secrets(client)}
    missing = [old for old, _ in pairs if old.remote not in live]
    if missing:
        raise NotFound(
            f"app {name}: secret {missing[0].name} ({missing[0].version}) is not on the server, nothing to rotate",
            hint=f"run: coop app secret generate {name} {missing[0].name}",
        )
    taken = [new for _, new in pairs if new.remote in live]
    if taken:
        raise Conflict(
            f"app {name}: secret {taken[0].remote} already exists on the server (a rotation that did not finish?)",
            hint=f"remove it if nothing uses it: docker secret rm {taken[0].remote}",
        )

    result = Rotation(name)
    created: list[sec.AppSecret] = []
    try:
        for old, new in pairs:
            value = make_value(new.length, new.charset)
            sec.create(client, name, stack, new, value)
            created.append(new)
            result.rotated.append((old, new, value))
        _set_versions(settings, name, {new.name: new.version for _, new in pairs})
        result.version = redeploy(app, options).version
    except BaseException:
        _set_versions(settings, name, {old.name: old.version for old, _ in pairs})
        for new in created:
            try:
                client.secret_remove(new.remote)
            except EngineError as exc:
                app.warn(f"app {name}: new secret {new.remote} was kept ({exc})")
        raise
    for old, _ in pairs:
        try:
            client.secret_remove(old.remote)
            result.removed.append(old.remote)
        except EngineError as exc:
            result.kept.append(old.remote)
            app.warn(
                f"app {name}: old secret {old.remote} was kept ({exc}); remove it later with: docker secret rm {old.remote}"
            )
    return result


def _set_versions(settings: Settings, app: str, versions: dict[str, str]) -> None:
    """Write ``SECRET_<NAME>_VERSION`` lines, re-reading the env first so edits made meanwhile are kept."""
    from coopcloud.ops.app.apps import load_app

    cfg = load_app(settings, app)
    for name, version in versions.items():
        cfg.env.set(f"SECRET_{name.upper()}_VERSION", version)
    cfg.save(settings.servers_dir)
