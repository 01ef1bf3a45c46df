"""Apps on disk: find, list, create, forget. An app is `$ABRA_DIR/servers/<server>/<app>.env`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coopcloud.domain.app import AppConfig, AppRef, recipe_of
from coopcloud.errors import Conflict, EnvFileError, NotFound, UsageError
from coopcloud.settings import Settings

STACK_LABEL = "com.docker.stack.namespace"


def all_apps(settings: Settings) -> list[AppRef]:
    """Every app env file under servers/, sorted by server then name."""
    apps = []
    try:
        servers = sorted(p for p in settings.servers_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    for server in servers:
        for env in sorted(server.glob("*.env")):
            try:
                apps.append(AppRef.from_env_path(env))
            except UsageError:
                continue  # not an app file we can name; `app ls` should not die on it
    return apps


def find_app(settings: Settings, name: str) -> AppRef:
    """The app called `name`, on whichever server holds its env file."""
    found = [a for a in all_apps(settings) if a.name == name]
    if not found:
        raise NotFound(f"app {name} not found in {settings.servers_dir}", hint="see: coop app ls")
    if len(found) > 1:
        servers = ", ".join(a.server for a in found)
        raise Conflict(
            f"app {name} exists on several servers ({servers})",
            hint="remove the stale env file; app names are unique across servers",
        )
    return found[0]


def load_app(settings: Settings, name: str) -> AppConfig:
    return AppConfig.load(find_app(settings, name), settings.servers_dir)


@dataclass(frozen=True)
class AppRow:
    server: str
    name: str
    recipe: str
    version: str | None  # pinned in the env (TYPE=recipe:version)
    error: str | None = None

    @property
    def stack(self) -> str:
        return self.name.replace(".", "_")


def list_apps(settings: Settings, *, server: str | None = None, recipe: str | None = None) -> list[AppRow]:
    rows = []
    for ref in all_apps(settings):
        if server and ref.server != server:
            continue
        try:
            cfg = AppConfig.load(ref, settings.servers_dir)
            name, version = recipe_of(cfg.env.values(), cfg.env.name)
            row = AppRow(ref.server, ref.name, name, version)
        except (EnvFileError, UsageError, NotFound) as exc:
            row = AppRow(ref.server, ref.name, "?", None, error=str(exc))
        if recipe and row.recipe != recipe:
            continue
        rows.append(row)
    return rows


def env_path(settings: Settings, ref: AppRef) -> Path:
    return ref.env_path(settings.servers_dir)
