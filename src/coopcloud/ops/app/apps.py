"""Apps on disk: find, list, create, forget. An app is `$ABRA_DIR/servers/<server>/<app>.env`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coopcloud.domain.app import AppConfig, AppRef, check_no_twin, recipe_of, stack_name
from coopcloud.errors import Conflict, CoopError, NotFound, UsageError
from coopcloud.settings import Settings

BROKEN = "(broken)"  # the recipe column of an app whose env file cannot be read


def env_files(settings: Settings) -> list[Path]:
    """Every ``servers/<server>/*.env``, sorted by server then name (valid app names or not)."""
    try:
        servers = sorted(p for p in settings.servers_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    return [env for server in servers for env in sorted(server.glob("*.env"))]


def all_apps(settings: Settings) -> list[AppRef]:
    """Every app env file under servers/ whose name is a valid app name, sorted by server then name."""
    apps = []
    for env in env_files(settings):
        try:
            apps.append(AppRef.from_env_path(env))
        except UsageError:
            continue  # not an app we can name; `app ls` shows it as broken
    return apps


def find_app(settings: Settings, name: str) -> AppRef:
    """The app called `name`, on whichever server holds its env file."""
    apps = all_apps(settings)
    found = [a for a in apps if a.name == name]
    if not found:
        from coopcloud.domain.words import did_you_mean

        hint = did_you_mean(name, [a.name for a in apps])
        raise NotFound(f"app {name} not found in {settings.servers_dir}", hint=hint or "see: coop app ls")
    if len(found) > 1:
        servers = ", ".join(a.server for a in found)
        raise Conflict(
            f"app {name} exists on several servers ({servers})",
            hint="remove the stale env file; app names are unique across servers",
        )
    # Its lock, secrets, history and services would be another app's too: refused before any command acts.
    check_no_twin(found[0], apps, hint=f"move one of their env files out of {settings.servers_dir}")
    return found[0]


def check_own_stack(settings: Settings, ref: AppRef) -> None:
    """Conflict when another app env file is one Docker cannot tell from `ref` (see `coopcloud.domain.app.twin`)."""
    check_no_twin(ref, all_apps(settings))


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
        return stack_name(self.name)


def list_apps(settings: Settings, *, server: str | None = None, recipe: str | None = None) -> list[AppRow]:
    """One row per env file; a file that cannot be read is a row with `error` set (shown as broken),
    so one bad file never hides the others. An unknown `server` is an error, not an empty list."""
    if server and not settings.server_dir(server).is_dir():
        from coopcloud.ops.server.servers import unknown_server

        raise unknown_server(settings, server)
    rows = []
    for path in env_files(settings):
        if server and path.parent.name != server:
            continue
        name = path.name[: -len(".env")]
        try:
            ref = AppRef.from_env_path(path)
            cfg = AppConfig.load(ref, settings.servers_dir)
            recipe_name, version = recipe_of(cfg.env.values(), cfg.env.name)
            row = AppRow(ref.server, ref.name, recipe_name, version)
        except (CoopError, OSError) as exc:
            row = AppRow(path.parent.name, name, BROKEN, None, error=str(exc))
        if recipe and row.recipe != recipe:
            continue
        rows.append(row)
    return rows


def env_path(settings: Settings, ref: AppRef) -> Path:
    return ref.env_path(settings.servers_dir)
