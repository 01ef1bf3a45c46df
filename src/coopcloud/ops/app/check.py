"""`app check`: variables the recipe's .env.sample sets that the app's env lacks."""

from __future__ import annotations

from dataclasses import dataclass

from coopcloud.domain.app import AppRef
from coopcloud.domain.envfile import EnvFile
from coopcloud.errors import RecipeError
from coopcloud.ops.app.apps import load_app
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings


@dataclass(frozen=True)
class Missing:
    """`app check`: the keys the app's env lacks, in the sample's order, and the version compared against."""

    app: AppRef
    version: str
    missing: list[str]

    def to_json(self) -> JSONDict:
        return {"app": self.app.name, "server": self.app.server, "version": self.version, "missing": self.missing}


def missing_env(settings: Settings, app_name: str) -> Missing:
    """What the recipe's .env.sample sets that the app's env lacks."""
    from coopcloud.ops.deploy import resolve_target

    cfg = load_app(settings, app_name)
    target = resolve_target(settings, cfg)
    sample = target.recipe.env_sample()
    if sample is None:
        raise RecipeError(f"recipe {cfg.recipe} ({target.version}) has no .env.sample")
    expected = EnvFile.parse(sample, name=".env.sample").keys()
    have = set(cfg.env.keys())
    return Missing(cfg.ref, target.version, [k for k in expected if k not in have])
