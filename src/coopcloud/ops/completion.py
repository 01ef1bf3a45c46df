"""Names shell completion offers, from local state only (no server, no network): apps, servers,
recipes, an app's services and a recipe's versions. Anything unreadable completes to nothing."""

from __future__ import annotations

from coopcloud.errors import CoopError
from coopcloud.rawdata import get_map
from coopcloud.settings import Settings


def app_names(settings: Settings) -> list[str]:
    from coopcloud.ops.app.apps import all_apps

    return sorted({a.name for a in all_apps(settings)})


def server_names(settings: Settings) -> list[str]:
    from coopcloud.ops.server.servers import list_servers

    return [s.name for s in list_servers(settings)]


def recipe_names(settings: Settings) -> list[str]:
    """Cloned recipes, and the synced catalogue's."""
    from coopcloud.ops.recipe.catalogue import load

    names = {p.name for p in settings.recipes_dir.glob("*") if p.is_dir() and not p.name.startswith(".")}
    try:
        names |= set(load(settings))
    except (CoopError, OSError):
        pass
    return sorted(names)


def recipe_versions(settings: Settings, recipe: str) -> list[str]:
    """The release tags of a cloned recipe, newest first."""
    from coopcloud.ops.deploy import releases

    versions, _ = releases(settings.recipes_dir / recipe)
    return [v.tag for v in reversed(versions)]


def app_recipe(settings: Settings, app_name: str) -> str | None:
    from coopcloud.ops.app.apps import load_app

    try:
        return load_app(settings, app_name).recipe
    except CoopError:
        return None


def app_services(settings: Settings, app_name: str) -> list[str]:
    """The services of the app, as its pinned version and env render them (short names: app, db)."""
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy import deploy_env, resolve_target
    from coopcloud.swarm.render import render

    try:
        cfg = load_app(settings, app_name)
        target = resolve_target(settings, cfg)
        model = render(target.recipe, cfg.ref, deploy_env(cfg, target), warn=lambda _: None, deployable=False).model
    except CoopError:
        return []
    return sorted(get_map(model, "services"))
