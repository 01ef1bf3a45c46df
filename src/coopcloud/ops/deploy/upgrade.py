"""Move a deployed app between recipe releases (upgrade, rollback); list a recipe's versions and images.

What runs now is read from the live app service's label ``coop-cloud.<stack>.version``
(DESIGN.md §3.6). When that label is not a release (a ``--chaos`` deploy labels the commit,
a ``docker stack deploy`` sets none), the version pinned in the env
(``TYPE=<recipe>:<version>``) stands in for it. An app with no services is not deployed:
upgrade and rollback refuse it and name ``coop app deploy``.

The choice, as abra makes it:

* VERSION given: a full tag or a bare semver (`resolve_version`); an upgrade to an older
  or equal version, or a rollback to a newer one, is refused naming the right command;
* no VERSION: the newer (upgrade) or older (rollback) releases, newest first; the user
  picks one, or without a prompt (``--no-input``, no TTY) the first is taken: the latest
  release for an upgrade; for a rollback, the newest older release that converged here (the
  last "ok" of the app's history), else the previous one. Pre-releases are offered only
  to an app that runs one (naming one explicitly always works).

Release notes (``release/<version>``, read from each version's own git tree) shown before
the move are those of the releases the app crosses: for an upgrade, every version after the
deployed one up to the target; for a rollback, the versions being undone (after the target
up to the deployed one), newest first — their notes are where a maintainer warns that a
release cannot be rolled back (a migrated database).

    >>> from coopcloud.domain.version import parse_version as v
    >>> vs = [v("1.0.0+1.0.0"), v("1.1.0+1.1.0"), v("2.0.0+2.0.0")]
    >>> [c.tag for c in candidates(vs, vs[0], UPGRADE)]
    ['2.0.0+2.0.0', '1.1.0+1.1.0']
    >>> [c.tag for c in candidates(vs, vs[2], ROLLBACK)]
    ['1.1.0+1.1.0', '1.0.0+1.0.0']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from coopcloud.domain.version import Version
from coopcloud.errors import Conflict, InvalidError, NotFound, RecipeError, UsageError
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings
from coopcloud.swarm.labels import coop_label

if TYPE_CHECKING:
    from coopcloud.domain.app import AppConfig
    from coopcloud.domain.recipe import Recipe
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.deploy import Prepared
    from coopcloud.ops.deploy.planning import DeployResult
    from coopcloud.ops.server.servers import ServerPool

UPGRADE = "upgrade"
ROLLBACK = "rollback"
_OTHER = {UPGRADE: ROLLBACK, ROLLBACK: UPGRADE}


# -- what runs now ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """The app as the server runs it, from its main service's coop-cloud labels."""

    label: str | None  # coop-cloud.<stack>.version as found (a release, a commit, or None)
    version: Version | None  # the release upgrade/rollback compares against
    source: str  # "label", "env" (the version pinned in the app env) or "unknown"
    chaos: bool
    chaos_version: str | None = None

    def to_json(self) -> JSONDict:
        return {
            "label": self.label,
            "version": self.version.tag if self.version else None,
            "source": self.source,
            "chaos": self.chaos,
            "chaos_version": self.chaos_version,
        }


def current_version(
    label: str | None, pinned: str | None, versions: Sequence[Version] = ()
) -> tuple[Version | None, str]:
    """(the release an app runs, where that came from). Pure.

    The label wins when it is a version (matched to a known tag when one has the same
    semver; a tag the local clone lacks still compares by semver); else the pinned
    version; else ``(None, "unknown")``.
    """
    for raw, source in ((label, "label"), (pinned, "env")):
        if not raw:
            continue
        found = _as_version(raw, versions)
        if found is not None:
            return found, source
    return None, "unknown"


def _as_version(raw: str, versions: Sequence[Version]) -> Version | None:
    from coopcloud.domain.version import parse_version

    for v in versions:
        if v.tag == raw:
            return v
    try:
        parsed = parse_version(raw)
    except RecipeError:
        return None
    same = [v for v in versions if v.sort_key() == parsed.sort_key() and v.upstream == parsed.upstream]
    return same[0] if len(same) == 1 else parsed


def read_deployed(client: Engine, cfg: AppConfig, versions: Sequence[Version]) -> Deployed:
    """Ask the server what the app runs; NotFound naming `coop app deploy` when it runs nothing."""
    from coopcloud.ops.app.ps import main_labels

    stack = cfg.ref.stack_name
    labels = main_labels(client, cfg.ref)
    label = labels.get(coop_label(stack, "version")) or None
    version, source = current_version(label, cfg.pinned_version, versions)
    return Deployed(
        label=label,
        version=version,
        source=source,
        chaos=labels.get(coop_label(stack, "chaos")) == "true",
        chaos_version=labels.get(coop_label(stack, "chaos-version")) or None,
    )


# -- choosing the target (pure) -----------------------------------------------------------------


def candidates(versions: Sequence[Version], current: Version, direction: str) -> list[Version]:
    """Releases newer (upgrade) or older (rollback) than `current`, newest first.

    Pre-releases only when `current` is one. The first is the default choice: the latest
    release for an upgrade, the previous one for a rollback.
    """
    if direction == UPGRADE:
        pool = [v for v in versions if v > current]
    elif direction == ROLLBACK:
        pool = [v for v in versions if v < current]
    else:  # pragma: no cover - a programming error
        raise ValueError(direction)
    pool = [v for v in pool if current.is_prerelease or not v.is_prerelease]
    return sorted(pool, key=lambda v: (v.sort_key(), v.tag), reverse=True)


def check_target(app: str, current: Version, target: Version, direction: str) -> None:
    """Refuse a move in the wrong direction (UsageError) or to the deployed version (Conflict)."""
    if target.sort_key() == current.sort_key():
        raise Conflict(
            f"app {app} is already deployed at {current.tag}",
            hint=f"to redeploy it, run: coop app deploy {app} --force",
        )
    if direction == UPGRADE and target < current:
        raise UsageError(
            f"app {app}: {target.tag} is older than the deployed {current.tag}",
            hint=f"run: coop app rollback {app} {target.tag}",
        )
    if direction == ROLLBACK and target > current:
        raise UsageError(
            f"app {app}: {target.tag} is newer than the deployed {current.tag}",
            hint=f"run: coop app upgrade {app} {target.tag}",
        )


def select(
    versions: Sequence[Version],
    current: Version,
    direction: str,
    wanted: str | None,
    *,
    app: str,
    ask: Callable[[list[Version]], Version | None] | None = None,
) -> Version | None:
    """The version to move to, or None when there is nothing newer (older).

    `wanted` (a tag or bare semver) is resolved and checked; otherwise `ask` picks among
    the candidates (newest first), and without `ask` the first candidate is taken.
    """
    from coopcloud.domain.version import resolve_version

    if wanted:
        target = resolve_version(versions, wanted)
        check_target(app, current, target, direction)
        return target
    found = candidates(versions, current, direction)
    if not found:
        return None
    return ask(found) if ask else found[0]  # ask may return None: nothing it may take


def unattended(found: Sequence[Version], current: Version, direction: str, *, major: bool) -> Version | None:
    """What an upgrade with no VERSION and nobody to ask takes: the newest release of the same major
    version (any major with `major`); None when only a newer major is on offer. A rollback takes the
    previous release."""
    if direction != "upgrade":
        return found[0] if found else None
    from coopcloud.domain.version import newest_above

    return newest_above(found, current, major=major)


def prefer_converged(found: list[Version], converged: Sequence[str]) -> list[Version]:
    """A rollback offers first the newest release that converged here (from the history), then the rest. Pure.

    >>> from coopcloud.domain.version import parse_version as v
    >>> [c.tag for c in prefer_converged([v("1.1.0+1"), v("1.0.0+1")], ["2.0.0+1", "1.0.0+1"])]
    ['1.0.0+1', '1.1.0+1']
    """
    tags = {c.tag for c in found}
    first = next((tag for tag in converged if tag in tags), None)
    if first is None:
        return found
    return [c for c in found if c.tag == first] + [c for c in found if c.tag != first]


def crossed(versions: Sequence[Version], current: Version, target: Version) -> list[Version]:
    """The releases a move crosses, in the order they are crossed.

    Upgrade: after `current` up to `target`, oldest first. Rollback: after `target` up to
    `current`, newest first (the releases being undone).
    """
    if target > current:
        return sorted((v for v in versions if current < v <= target), key=lambda v: (v.sort_key(), v.tag))
    return sorted((v for v in versions if target < v <= current), key=lambda v: (v.sort_key(), v.tag), reverse=True)


# -- the move -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseNote:
    version: str
    text: str | None  # None: the release has no notes

    def to_json(self) -> JSONDict:
        return {"version": self.version, "notes": self.text}


@dataclass(frozen=True)
class Moved:
    """`app upgrade|rollback`: the deploy's result (or its dry run), with the direction, what ran
    before, and the release notes of the versions moved across."""

    result: DeployResult
    direction: str
    deployed: Deployed
    notes: list[ReleaseNote]

    def to_json(self) -> JSONDict:
        return {
            **self.result.to_json(),
            "direction": self.direction,
            "deployed": self.deployed.to_json(),
            "release_notes": [n.to_json() for n in self.notes],
        }


@dataclass(frozen=True)
class NothingToMove:
    """`app upgrade|rollback` with no release to move to: what runs, unchanged."""

    app: str
    direction: str
    deployed: Deployed
    version: str

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "direction": self.direction,
            "deployed": self.deployed.to_json(),
            "version": self.version,
            "applied": False,
        }


@dataclass
class Move:
    """An upgrade or rollback being prepared: the app, what runs, and what it could move to."""

    cfg: AppConfig
    direction: str
    deployed: Deployed
    recipe_path: Path
    versions: list[Version]
    warnings: list[str] = field(default_factory=list)
    converged: list[str] = field(default_factory=list)  # releases recorded "ok" here, newest first (the history)

    @property
    def app(self) -> str:
        return self.cfg.ref.name

    @property
    def current(self) -> Version:
        assert self.deployed.version is not None
        return self.deployed.version

    @property
    def candidates(self) -> list[Version]:
        return prefer_converged(candidates(self.versions, self.current, self.direction), self.converged)

    @property
    def last_converged(self) -> Version | None:
        """For a rollback: the newest older release that converged here (offered first), if any."""
        found = self.candidates
        return found[0] if found and found[0].tag in self.converged else None

    def select(
        self, wanted: str | None, ask: Callable[[list[Version]], Version | None] | None = None
    ) -> Version | None:
        if wanted:
            return select(self.versions, self.current, self.direction, wanted, app=self.app)
        found = self.candidates
        if not found:
            return None
        return ask(found) if ask else found[0]

    def release_notes(self, target: Version) -> list[ReleaseNote]:
        """Notes of every release crossed, each read from its own tag's tree."""
        from coopcloud.gitops import GitRepo
        from coopcloud.sources import recipe_from_git

        repo = GitRepo(self.recipe_path)
        notes = []
        for v in crossed(self.versions, self.current, target):
            recipe = recipe_from_git(repo, v.tag, self.cfg.recipe)
            text = recipe.release_notes(v.tag)
            if text is None and v.semver != v.tag:
                text = recipe.release_notes(v.semver)
            notes.append(ReleaseNote(v.tag, text.strip() if text else None))
        return notes


def prepare(settings: Settings, pool: ServerPool, app_name: str, direction: str) -> Move:
    """Everything upgrade/rollback needs before choosing: refuses undeployed apps and unknown versions."""
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy import releases
    from coopcloud.ops.recipe.recipes import recipe_folder, refresh

    cfg = load_app(settings, app_name)
    path = recipe_folder(settings, cfg.recipe)
    fetch_warnings: list[str] = []
    refresh(path, cfg.recipe, offline=settings.offline, warn=fetch_warnings.append)
    versions, warnings = releases(path)
    warnings = fetch_warnings + warnings
    deployed = read_deployed(pool.client(cfg.ref.server), cfg, versions)
    if not versions:
        raise NotFound(
            f"app {app_name}: recipe {cfg.recipe} has no releases (annotated tags <semver>+<image-tag>)",
            hint=f"deploy its working tree with: coop app deploy {app_name} --chaos",
        )
    if deployed.version is None:
        what = f"its version label is {deployed.label!r}" if deployed.label else "it has no version label"
        raise InvalidError(
            f"app {app_name}: the deployed release is unknown ({what} and the env pins no version)",
            hint=f"deploy a release by name: coop app deploy {app_name} VERSION --force",
        )
    converged: list[str] = []
    if direction == ROLLBACK:
        from coopcloud.ops.trail.audit import OK, history

        events = history(pool.client(cfg.ref.server), cfg.ref.stack_name)
        converged = [e.version_to for e in reversed(events) if e.result == OK and e.version_to]
    return Move(cfg, direction, deployed, path, versions, warnings, converged)


def plan(settings: Settings, pool: ServerPool, move: Move, target: Version) -> Prepared:
    """The deploy of `target`, prepared (deploy.Prepared): checked and planned, nothing changed.

    Refused (Conflict) if the app's version label changed since `prepare` read it:
    another operator deployed meanwhile.
    """
    from coopcloud.ops.deploy import prepare as prepare_deploy

    return prepare_deploy(settings, pool, move.app, version=target.tag, expect_version=move.deployed.label)


# -- recipe versions: each release's services, images, tags and digests -------------------------


@dataclass(frozen=True)
class ServiceImage:
    service: str
    image: str  # familiar form: "nginx", "bitnami/redis", "127.0.0.1:5000/coop-test/web"
    tag: str | None
    digest: str | None  # "sha256:…" from the registry; None offline or when it gave none

    def to_json(self) -> JSONDict:
        return {"image": self.image, "tag": self.tag, "digest": self.digest}


@dataclass
class VersionImages:
    version: str
    services: list[ServiceImage] = field(default_factory=list)
    error: str | None = None  # this release could not be rendered

    def to_json(self) -> JSONDict:
        doc: JSONDict = {"version": self.version, "services": {s.service: s.to_json() for s in self.services}}
        if self.error:
            doc["error"] = self.error
        return doc


def familiar_image(ref: str) -> tuple[str, str | None, str | None]:
    """``(image, tag, digest)`` of an image reference, normalised and in the familiar form docker prints
    (`domain.imagetag.split_image` splits it as written).

    >>> familiar_image("127.0.0.1:5000/coop-test/web:1.0.0")
    ('127.0.0.1:5000/coop-test/web', '1.0.0', None)
    >>> familiar_image("docker.io/library/nginx")
    ('nginx', 'latest', None)
    """
    from coopcloud.registry import ImageRefError, parse_image_ref

    try:
        parsed = parse_image_ref(ref)
    except ImageRefError:
        return ref, None, None  # shown as written; the registry cannot be asked about it
    return parsed.familiar_name, parsed.tag, parsed.digest


def service_images(recipe: Recipe) -> list[ServiceImage]:
    """Images of a recipe's services as an app made from its .env.sample would run them (no digests)."""
    from coopcloud.swarm.render import sample_images

    found = []
    for service, image in sample_images(recipe).items():
        if image:
            name, tag, digest = familiar_image(image)
            found.append(ServiceImage(service, name, tag, digest))
    return found


def registry_digester(settings: Settings) -> Callable[[str], str | None] | None:
    """`image ref -> digest` from the registries (plain v2 API, token auth), or None with --offline."""
    if settings.offline:
        return None
    from coopcloud.registry import RegistryClient

    return RegistryClient(environ=settings.environ, offline=False).digest


class RecipeVersions(NamedTuple):
    """`recipe versions`: the recipe's releases oldest first with their services' images, and warnings."""

    recipe: str
    versions: list[VersionImages]
    warnings: list[str]

    def to_json(self) -> JSONDict:
        return {"recipe": self.recipe, "versions": [v.to_json() for v in self.versions]}


def recipe_versions(
    settings: Settings,
    recipe: str,
    *,
    digest: Callable[[str], str | None] | None = None,
) -> RecipeVersions:
    """The recipe's name, its releases oldest first with their services' images, and warnings.

    Ignored tags (lightweight, malformed) and duplicate versions are warnings. A release
    that cannot be rendered carries its error instead of images; the others are still listed.
    `digest(image_ref)` fills digests (once per reference); without it they are None.
    """
    from coopcloud.gitops import GitRepo
    from coopcloud.ops.deploy import releases
    from coopcloud.ops.recipe.recipes import local_recipe
    from coopcloud.sources import recipe_from_git

    name, path = local_recipe(settings, recipe)
    repo = GitRepo(path)
    if not repo.is_repo():
        raise RecipeError(f"recipe {name} at {path} is not a git repository, so it has no versions")
    versions, warnings = releases(path)
    cache: dict[str, str | None] = {}
    out = []
    for v in versions:
        try:
            images = service_images(recipe_from_git(repo, v.tag, name))
        except (RecipeError, InvalidError, NotFound) as exc:
            out.append(VersionImages(v.tag, error=str(exc)))
            continue
        if digest is not None:
            filled = []
            for img in images:
                if img.digest is None:
                    ref = f"{img.image}:{img.tag}" if img.tag else img.image
                    if ref not in cache:
                        try:
                            cache[ref] = digest(ref)
                        except Exception as exc:  # a registry that does not answer: keep listing
                            cache[ref] = None
                            warnings.append(f"no digest for {ref}: {exc}")
                    img = ServiceImage(img.service, img.image, img.tag, cache[ref])
                filled.append(img)
            images = filled
        out.append(VersionImages(v.tag, images))
    return RecipeVersions(name, out, warnings)
