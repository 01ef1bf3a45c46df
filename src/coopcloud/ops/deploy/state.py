"""Step 9 of a deploy: what the operator's files keep of it — the env pins the version that runs,
the lockfile beside it its exact images."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppConfig
from coopcloud.rawdata import RawMap
from coopcloud.settings import Settings
from coopcloud.swarm import service_spec

from .target import Target

if TYPE_CHECKING:
    from .planning import Prepared


def pin_version(settings: Settings, cfg: AppConfig, recipe: str, version: str) -> None:
    """Write TYPE=<recipe>:<version> into the env file as it is now (edits made meanwhile are kept)."""
    fresh = AppConfig.load(cfg.ref, settings.servers_dir)
    fresh.pin(version, recipe=recipe)
    fresh.save(settings.servers_dir)


def write_lockfile(settings: Settings, cfg: AppConfig, target: Target, desired: Mapping[str, RawMap]) -> Path:
    """`<app>.lock.json` beside the env: what exactly runs, by digest."""
    from coopcloud.fsutil import write_atomic

    images = {name: service_spec.image(body) for name, body in sorted(desired.items())}
    doc = {
        "app": cfg.ref.name,
        "recipe": target.recipe.name,
        "version": target.version,
        "chaos": target.chaos,
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "images": images,
    }
    path = cfg.ref.env_path(settings.servers_dir).with_suffix(".lock.json")
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def record(settings: Settings, prepared: Prepared) -> None:
    """Step 9: the env pins the version that runs, the lockfile its exact images."""
    if not prepared.chaos:
        pin_version(settings, prepared.cfg, prepared.target.recipe.name, prepared.version)
    write_lockfile(settings, prepared.cfg, prepared.target, prepared.desired)
