"""What a lint rule sees: the recipe's raw files, its rendered model, and its git repository.

The model is what an app made from the recipe's ``.env.sample`` would deploy
(app ``<recipe>.example.com``, so ``STACK_NAME`` is ``<recipe>_example_com``)
with **every** overlay merged in, so rules see every service, secret and config
the recipe can produce. Overlays are added one at a time on top of the
sample's ``COMPOSE_FILE`` selection: one that does not render even alone with
that base is a render failure (rule R000); one that only clashes with another
overlay is left out of the model, with a note (overlays may be alternatives).

Everything is computed on first use and cached; a rule that needs what is not
there (no git repository, nothing renders) gets `Skip` from the accessor.

    >>> ctx = LintContext.from_path("/work/shared/corpus/recipes/lemp")   # doctest: +SKIP
    >>> sorted(ctx.model["services"])                                     # doctest: +SKIP
    ['app', 'db', 'frontend']
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.app import AppRef, compose_files
from coopcloud.domain.envfile import EnvFile
from coopcloud.domain.recipe import Recipe
from coopcloud.errors import CoopError, RecipeError
from coopcloud.gitops import GitRepo
from coopcloud.lint.registry import Skip
from coopcloud.rawdata import RawMap, as_map, get_map
from coopcloud.sources import recipe_from_dir, recipe_from_git

if TYPE_CHECKING:
    from coopcloud.domain.version import TagIssue, Version
    from coopcloud.gitops.repo import Tag
    from coopcloud.swarm.render import Rendered
    from coopcloud.swarm.spec import StackSpec

# What coop (like abra) always provides to interpolation, whatever the env says.
PROVIDED_VARS = frozenset({"STACK_NAME", "DOMAIN"})


@dataclass(frozen=True)
class RenderFailure:
    file: str | None  # the overlay that failed; None: the base selection itself failed
    files: tuple[str, ...]  # the compose files that were rendered together
    error: str


@dataclass
class RenderOutcome:
    model: dict[str, object] | None  # the loaded compose model (None: not even compose.yml renders)
    spec: StackSpec | None  # the Swarm specs of that model
    files: list[str]  # compose files merged into the model, in order
    base: list[str]  # the base selection that rendered
    failures: list[RenderFailure] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # overlay -> why it is not in the model


def _safe_app_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-").lower() or "recipe"
    return f"{cleaned}.example.com"


class LintContext:
    """One recipe as lint rules see it. Build it with `from_path`, or from any `Recipe`."""

    def __init__(self, recipe: Recipe, repo: GitRepo | None = None, *, path: Path | None = None):
        self.recipe = recipe
        self.name = recipe.name
        self.repo = repo
        self.path = path
        self.app = AppRef("default", _safe_app_name(recipe.name))
        self.notes: list[str] = []  # things worth saying that are no rule's finding

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], name: str | None = None) -> LintContext:
        """The recipe's working tree at `path`; its git repository when `path` is the root of one."""
        path = Path(path).expanduser()
        recipe = recipe_from_dir(path, name=name or path.resolve().name)
        repo = None
        if (path / ".git").exists():
            candidate = GitRepo(path)
            if candidate.is_repo():
                repo = candidate
        return cls(recipe, repo, path=path)

    # -- files ------------------------------------------------------------

    @cached_property
    def files(self) -> list[str]:
        """Every file of the recipe (posix paths, ``.git`` excluded)."""
        return self.recipe.source.list_files()

    def exists(self, path: str) -> bool:
        return self.recipe.source.exists(path)

    def read_text(self, path: str) -> str | None:
        """A file's text, or None when it is missing or unreadable."""
        try:
            return self.recipe.read_text(path)
        except CoopError:
            return None

    @cached_property
    def compose_files(self) -> list[str]:
        return self.recipe.compose_files()

    @cached_property
    def _raw(self) -> tuple[dict[str, RawMap], dict[str, str]]:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs: dict[str, RawMap] = {}
        errors: dict[str, str] = {}
        for name in self.compose_files:
            text = self.read_text(name)
            if text is None:
                errors[name] = "not readable as UTF-8 text"
                continue
            try:
                doc = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
            except yaml.YAMLError as exc:
                errors[name] = " ".join(str(exc).split())
                continue
            if not isinstance(doc, dict):
                errors[name] = "the top level is not a mapping"
                continue
            docs[name] = doc
        return docs, errors

    @property
    def raw(self) -> dict[str, RawMap]:
        """Each compose file as parsed YAML, before interpolation (files that do not parse are left out)."""
        return self._raw[0]

    @property
    def raw_errors(self) -> dict[str, str]:
        """Compose files that do not parse as YAML -> why."""
        return self._raw[1]

    def raw_services(self) -> list[tuple[str, str, RawMap]]:
        """(file, service, raw service mapping) for every service of every compose file."""
        out: list[tuple[str, str, RawMap]] = []
        for fname, doc in self.raw.items():
            services = doc.get("services")
            if isinstance(services, dict):
                for sname, svc in services.items():
                    if isinstance(svc, dict):
                        out.append((fname, str(sname), svc))
        return out

    @cached_property
    def abra_versions(self) -> dict[str, str]:
        """``export *_VERSION=`` lines of abra.sh."""
        try:
            return self.recipe.abra_sh_versions()
        except CoopError:
            return {}

    # -- the sample env ------------------------------------------------------

    @cached_property
    def env_sample_path(self) -> str | None:
        return self.recipe.env_sample_path()

    @cached_property
    def _sample(self) -> tuple[EnvFile | None, str | None]:
        path = self.env_sample_path
        if path is None:
            return None, None
        text = self.read_text(path)
        if text is None:
            return None, f"{path} is not readable as UTF-8 text"
        try:
            env = EnvFile.parse(text, name=path)
            env.values(base=self.abra_versions)  # surfaces expansion errors now
            return env, None
        except CoopError as exc:
            return None, str(exc)

    @property
    def env_sample(self) -> EnvFile | None:
        """The parsed sample env, or None when there is none (or it does not parse: see `env_sample_error`)."""
        return self._sample[0]

    @property
    def env_sample_error(self) -> str | None:
        return self._sample[1]

    @cached_property
    def sample_values(self) -> dict[str, str]:
        """The sample's active assignments, expanded (abra.sh versions feed expansion)."""
        return self.env_sample.values(base=self.abra_versions) if self.env_sample else {}

    @cached_property
    def sample_keys(self) -> frozenset[str]:
        """Keys the sample documents: assigned, or commented out (``#SMTP_HOST=...``)."""
        if self.env_sample is None:
            return frozenset()
        return frozenset(self.env_sample.keys()) | {c.key for c in self.env_sample.commented()}

    # -- rendering -------------------------------------------------------------

    def render_files(self, files: list[str]) -> Rendered:
        """Render the recipe with its sample env and exactly these compose files (CoopError on failure)."""
        from coopcloud.swarm.render import render

        missing = [f for f in files if not self.exists(f)]
        if missing:
            raise RecipeError(
                f"COMPOSE_FILE names {', '.join(missing)}, which the recipe does not have",
                hint=f"fix COMPOSE_FILE in {self.env_sample_path or '.env.sample'}, or add the file",
            )
        env = (
            EnvFile.parse(self.env_sample.render(), name=self.env_sample.name)
            if self.env_sample
            else EnvFile([], name="<empty env>")
        )
        env.set("COMPOSE_FILE", ":".join(files))
        try:
            return render(self.recipe, self.app, env, deployable=False)  # R011 and friends say it better
        except UnicodeDecodeError as exc:  # an env_file that is not text
            raise RecipeError(f"a file the compose files read is not UTF-8 text ({exc.reason})") from None

    @cached_property
    def base_files(self) -> list[str]:
        """The compose files the sample selects (``COMPOSE_FILE``, default compose.yml)."""
        return compose_files(self.sample_values)

    @cached_property
    def rendering(self) -> RenderOutcome:
        failures: list[RenderFailure] = []
        rendered = None
        base: list[str] = []
        candidates = [self.base_files]
        if self.base_files != ["compose.yml"] and "compose.yml" in self.compose_files:
            candidates.append(["compose.yml"])
        for cand in candidates:
            try:
                rendered = self.render_files(cand)
                base = list(cand)
                break
            except CoopError as exc:
                failures.append(RenderFailure(None, tuple(cand), str(exc)))
        if rendered is None:
            return RenderOutcome(None, None, [], [], failures)
        current = list(base)
        left_out: dict[str, str] = {}
        for overlay in self.compose_files:
            if overlay in current:
                continue
            try:
                rendered = self.render_files([*current, overlay])
                current.append(overlay)
                continue
            except CoopError as exc:
                together = str(exc)
            if current == base:
                failures.append(RenderFailure(overlay, (*base, overlay), together))
                continue
            try:
                self.render_files([*base, overlay])
            except CoopError as exc:
                failures.append(RenderFailure(overlay, (*base, overlay), str(exc)))
                continue
            # It renders on its own base, just not with the other overlays: an alternative, not an error.
            left_out[overlay] = together
            self.notes.append(
                f"{overlay} renders on {':'.join(base)} but not together with {':'.join(current[len(base) :])} "
                f"({together}); it is left out of the model the other rules check"
            )
        return RenderOutcome(rendered.model, rendered.spec, current, base, failures, left_out)

    @property
    def model(self) -> dict[str, object]:
        """The rendered compose model (all overlays that render); Skip when nothing renders."""
        if self.rendering.model is None:
            raise Skip("the recipe does not render (see R000)")
        return self.rendering.model

    @property
    def services(self) -> dict[str, RawMap]:
        return {name: as_map(svc, f"services.{name}") for name, svc in get_map(self.model, "services").items()}

    def deploy_labels(self, service: str) -> dict[str, str]:
        labels = get_map(self.services.get(service) or {}, "deploy").get("labels")
        return {str(k): "" if v is None else str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def relative(self, model_path: str) -> str:
        """A path the render made absolute (configs' ``file``) back to recipe-relative."""
        import posixpath

        from coopcloud.swarm.render import working_dir

        return posixpath.relpath(posixpath.normpath(model_path), working_dir(self.recipe))

    # -- git -------------------------------------------------------------------

    def require_repo(self) -> GitRepo:
        if self.repo is None:
            raise Skip("the recipe is not a git repository")
        return self.repo

    @cached_property
    def tags(self) -> list[Tag]:
        """Every tag of the repository (`gitops.Tag`); Skip without a repository."""
        repo = self.require_repo()
        try:
            return repo.tags()
        except CoopError as exc:
            raise Skip(f"could not read the git tags: {exc}") from None

    @cached_property
    def _versions(self) -> tuple[list[Version], list[TagIssue]]:
        from coopcloud.domain.version import versions_from_tags

        return versions_from_tags(self.tags)

    @property
    def versions(self) -> list[Version]:
        """Released versions (annotated version tags), oldest first."""
        return self._versions[0]

    @property
    def tag_issues(self) -> list[TagIssue]:
        return self._versions[1]

    @property
    def last_release(self) -> Version | None:
        """The newest released version (pre-releases too), or None."""
        from coopcloud.domain.version import latest

        return latest(self.versions, prereleases=True)

    @cached_property
    def release_context(self) -> LintContext:
        """The recipe as it was at its last release, read from git objects; Skip when there is none."""
        last = self.last_release
        if last is None:
            raise Skip("the recipe has no release yet")
        try:
            recipe = recipe_from_git(self.require_repo(), last.tag, name=self.name)
        except CoopError as exc:
            raise Skip(f"could not read release {last.tag}: {exc}") from None
        return LintContext(recipe)
