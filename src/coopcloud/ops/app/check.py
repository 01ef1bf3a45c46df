"""`app check`: variables the recipe's .env.sample sets that the app's env lacks."""

from __future__ import annotations

from coopcloud.domain.envfile import EnvFile
from coopcloud.errors import RecipeError
from coopcloud.ops.app.apps import load_app
from coopcloud.settings import Settings


def missing_env(settings: Settings, app_name: str) -> tuple[list[str], str]:
    """(missing keys in sample order, the recipe version compared against)."""
    from coopcloud.ops.deploy import resolve_target

    cfg = load_app(settings, app_name)
    target = resolve_target(settings, cfg)
    sample = target.recipe.env_sample()
    if sample is None:
        raise RecipeError(f"recipe {cfg.recipe} ({target.version}) has no .env.sample")
    expected = EnvFile.parse(sample, name=".env.sample").keys()
    have = set(cfg.env.keys())
    return [k for k in expected if k not in have], target.version
