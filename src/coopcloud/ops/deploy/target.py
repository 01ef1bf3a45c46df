"""Steps 1–2 of a deploy: which files of which recipe (a release, or chaos), and the labels coop
puts on the main service, as abra does."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coopcloud.domain.app import AppConfig, pin_recipe
from coopcloud.domain.envfile import EnvFile
from coopcloud.domain.recipe import Recipe
from coopcloud.domain.version import Version
from coopcloud.errors import InvalidError
from coopcloud.rawdata import JSONDict, setdefault_map
from coopcloud.settings import Settings
from coopcloud.sources import recipe_from_dir, recipe_from_git
from coopcloud.swarm.labels import coop_label, main_service_name


@dataclass(frozen=True)
class Target:
    """Which files of which recipe are deployed, and how that is labelled."""

    recipe: Recipe
    version: str  # the release tag, or for chaos the commit (+U when the tree is dirty)
    chaos: bool
    chaos_version: str | None = None
    warnings: tuple[str, ...] = ()


def releases(path: Path) -> tuple[list[Version], list[str]]:
    """(versions oldest first, warnings) of the recipe repo at `path`; ([], []) when it is not a git repo."""
    from coopcloud.domain.version import versions_from_tags
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if not repo.is_repo():
        return [], []
    versions, issues = versions_from_tags(repo.tags())
    return sorted(versions), [str(i) for i in issues]


def chaos_target(path: Path, name: str, warnings: list[str]) -> Target:
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if repo.is_repo():
        commit = repo.head()[:8]
        dirty = repo.is_dirty()
        marker = f"{commit}+U" if dirty else commit
    else:
        marker = "working-tree"
    return Target(recipe_from_dir(path, name), marker, True, marker, tuple(warnings))


def resolve_target(settings: Settings, cfg: AppConfig, *, version: str | None = None, chaos: bool = False) -> Target:
    """Version choice as abra: explicit > --chaos > pinned in the env > latest release.

    A recipe without releases deploys its latest commit, labelled chaos.
    """
    from coopcloud.domain.version import latest, resolve_version
    from coopcloud.gitops import GitRepo
    from coopcloud.ops.app.apps import check_own_stack
    from coopcloud.ops.recipe.recipes import recipe_folder

    check_own_stack(settings, cfg.ref)
    name = cfg.recipe
    path = recipe_folder(settings, name)
    if chaos and version:
        raise InvalidError(f"app {cfg.ref.name}: give a VERSION or --chaos, not both")
    versions, warnings = releases(path)
    if chaos:
        return chaos_target(path, name, warnings)
    wanted = version or cfg.pinned_version
    v: Version | None
    if wanted:
        v = resolve_version(versions, wanted)
    else:
        newest = latest(versions)
        if newest is None:
            repo = GitRepo(path)
            if repo.is_repo():
                commit = repo.head()
                return Target(recipe_from_git(repo, commit, name), commit[:8], True, commit[:8], tuple(warnings))
            return chaos_target(path, name, warnings)
        v = newest
    return Target(recipe_from_git(GitRepo(path), v.tag, name), v.tag, False, None, tuple(warnings))


def deploy_env(cfg: AppConfig, target: Target) -> EnvFile:
    """The app's env as it will be once this deploy succeeded: a release pins itself
    (TYPE=<recipe>:<version>, see domain.app.pin_recipe). Rendered with it, the env exposed to the app
    service (ExposeAllEnv) is what the next redeploy renders too, so it restarts nothing."""
    if target.chaos:
        return cfg.env
    env = copy.deepcopy(cfg.env)
    pin_recipe(env, target.recipe.name, target.version)
    return env


def add_coop_labels(
    stack: str, services: dict[str, JSONDict], target: Target, env: Mapping[str, str] | None = None
) -> str:
    """Label the main service as abra does; returns its name."""
    name = main_service_name(stack, services)
    labels = setdefault_map(services[name], "Labels")
    # abra writes it on every deploy (off unless the env turns it on); its auto-updater reads it.
    labels[coop_label(stack, "autoupdate")] = (env or {}).get("ENABLE_AUTO_UPDATE", "false")
    labels[coop_label(stack, "version")] = target.version
    labels[coop_label(stack, "recipe")] = target.recipe.name
    labels[coop_label(stack, "chaos")] = "true" if target.chaos else "false"
    if target.chaos_version:
        labels[coop_label(stack, "chaos-version")] = target.chaos_version
    else:
        labels.pop(coop_label(stack, "chaos-version"), None)
    return name


def keep_abra_chaos_version(labels: dict[str, object], live: Mapping[str, str]) -> None:
    """abra labels a release deploy `coop-cloud.<stack>.chaos-version=false`; coop writes the label only
    for a chaos deploy. A release deployed over one that carries "false" keeps it, so taking over an
    app abra deployed changes no label."""
    for key, value in live.items():
        abra_false = key.startswith("coop-cloud.") and key.endswith(".chaos-version") and value == "false"
        if abra_false and key not in labels and labels.get(key[: -len("-version")]) == "false":
            labels[key] = "false"
