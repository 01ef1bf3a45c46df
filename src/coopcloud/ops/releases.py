"""Which release an app could move to: a recipe's releases, looked up once per recipe, and the newest above a deployed one.

The releases are the recipe clone's annotated tags (``$ABRA_DIR/recipes/<name>``), fetched from
its origin first as `coop app upgrade` does (not under ``--offline``; a failed fetch is a warning
and the tags already here count); a recipe that is not cloned is looked up in the catalogue
(``recipes.json``). `ReleaseLookup` asks once per recipe however many apps and threads ask
(`coop autoupdate`, `app ls --status`).

    >>> from coopcloud.domain.version import parse_version as v
    >>> vs = [v("1.0.0+1"), v("1.1.0+1"), v("2.0.0+2")]
    >>> a = available(vs, "1.0.0+1")
    >>> a.upgrade.tag, a.major.tag
    ('1.1.0+1', '2.0.0+2')
    >>> available(vs, "1.0.0+1", major=True).upgrade.tag
    '2.0.0+2'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from coopcloud.domain.version import Version, newest_above, parse_version
from coopcloud.errors import CoopError, RecipeError
from coopcloud.settings import Settings

CLONE = "clone"
CATALOGUE = "catalogue"
NONE = "none"


@dataclass(frozen=True)
class Releases:
    recipe: str
    versions: tuple[Version, ...]  # oldest first
    source: str  # CLONE, CATALOGUE, or NONE (neither cloned nor catalogued)
    warnings: tuple[str, ...] = ()


def recipe_releases(settings: Settings, recipe: str, *, fetch: bool = True) -> Releases:
    """The releases of `recipe`: its clone's tags (fetched first when `fetch` and not offline), else the catalogue's."""
    from coopcloud.ops.deploy import releases
    from coopcloud.ops.recipe.recipes import refresh

    path = settings.recipes_dir / recipe
    warnings: list[str] = []
    if path.is_dir():
        if fetch:
            refresh(path, recipe, offline=settings.offline, warn=warnings.append)
        versions, issues = releases(path)
        return Releases(recipe, tuple(versions), CLONE, tuple(warnings + issues))
    return _from_catalogue(settings, recipe)


def _from_catalogue(settings: Settings, recipe: str) -> Releases:
    from coopcloud.ops.recipe.catalogue import load

    try:
        entry = load(settings).get(recipe)
    except CoopError as exc:
        return Releases(recipe, (), NONE, (f"recipe {recipe} is not cloned and the catalogue is unreadable ({exc})",))
    if entry is None:
        return Releases(recipe, (), NONE, (f"recipe {recipe} is neither cloned nor in the catalogue",))
    found = []
    for rv in entry.versions:
        try:
            found.append(parse_version(rv.version))
        except RecipeError:
            continue
    return Releases(recipe, tuple(sorted(found, key=lambda v: (v.sort_key(), v.tag))), CATALOGUE)


@dataclass
class ReleaseLookup:
    """`recipe_releases` once per recipe, safe to call from many threads at once."""

    settings: Settings
    fetch: bool = True
    warn: Callable[[str], None] | None = None  # told each recipe's warnings once (a fetch that failed)
    _found: dict[str, Releases] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def get(self, recipe: str) -> Releases:
        with self._guard:
            lock = self._locks.setdefault(recipe, threading.Lock())
        with lock:
            if recipe not in self._found:
                self._found[recipe] = found = recipe_releases(self.settings, recipe, fetch=self.fetch)
                if self.warn is not None:
                    for line in found.warnings:
                        self.warn(line)
            return self._found[recipe]


@dataclass(frozen=True)
class Available:
    """What an app could move to from the release it runs."""

    deployed: Version | None  # None: the label is not a release (a chaos commit, none at all)
    upgrade: Version | None  # the newest release above it (within its major unless asked)
    major: Version | None  # a newer release in a higher major, when `upgrade` does not reach it


def available(versions: tuple[Version, ...] | list[Version], deployed: str | None, *, major: bool = False) -> Available:
    """The newest release above `deployed` (a version label), within its major unless `major`. Pure."""
    try:
        current = parse_version(deployed) if deployed else None
    except RecipeError:
        current = None
    if current is None:
        return Available(None, None, None)
    upgrade = newest_above(versions, current, major=major)
    newest = newest_above(versions, current, major=True)
    beyond = newest if newest is not None and (upgrade is None or newest > upgrade) else None
    return Available(current, upgrade, beyond)
