"""The catalogue: sync recipes.json, read it, and generate it from recipe repositories.

Where things live (all under ``$ABRA_DIR/catalogue/``):

- ``recipes.json``: the catalogue every command reads (`load`).
- ``cache/<recipe>.json``: what `generate` learnt per release — keyed by tag
  *and* the tag's commit, so a moved tag is looked at again; a re-run with no
  new release makes no registry request.
- ``cache/git/<name>-<hash>/``: the clone `sync --git` pulls into.

Where `sync` fetches from, first match wins:

1. ``--git REPO``: a git repository with ``recipes.json`` at its root (clone, then pull);
2. ``--url URL``;
3. ``$ABRA_DIR/catalogue`` is itself a git clone (abra's layout) and
   ``$COOP_CATALOGUE_URL`` is unset: ``git pull --ff-only`` in it, as abra does;
4. ``$COOP_CATALOGUE_URL``, default `DEFAULT_CATALOGUE_URL`.

Under ``--offline``, or when the fetch fails (network, HTTP error, git error),
the last copy is used with a warning; with no copy at all it is an error.
Content that is not a catalogue is refused and the last copy left untouched.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueImage,
    RecipeMeta,
    RecipeVersion,
    dumps,
    features_from_metadata,
    parse_catalogue,
    readme_description,
)
from coopcloud.errors import CoopError, ExitStatus, NotFound, RecipeError
from coopcloud.fanout import fan_out
from coopcloud.fsutil import write_atomic
from coopcloud.rawdata import JSONDict, RawMap
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from coopcloud.gitops import GitRepo
    from coopcloud.registry import RegistryClient

DEFAULT_CATALOGUE_URL = "https://recipes.coopcloud.tech/recipes.json"
CATALOGUE_URL_ENV = "COOP_CATALOGUE_URL"
CACHE_FORMAT = 1

Warn = Callable[[str], None]


class CatalogueUnreachable(CoopError):
    """The catalogue could not be fetched and there is no earlier copy to fall back on."""

    exit_status = ExitStatus.ENGINE_UNREACHABLE


class GenerateIncomplete(CoopError):
    """`generate` wrote the catalogue, but some recipes failed (named in the message)."""

    exit_status = ExitStatus.ERROR


def _noop(_: str) -> None:
    pass


# ---------------------------------------------------------------------- reading


def catalogue_url(settings: Settings) -> str:
    return settings.environ.get(CATALOGUE_URL_ENV) or DEFAULT_CATALOGUE_URL


def load(settings: Settings) -> Catalogue:
    """The synced catalogue; NotFound (naming the next step) when there is none yet."""
    from coopcloud.domain.catalogue import load as load_file

    path = settings.catalogue_file
    if not path.is_file():
        raise NotFound(f"no catalogue at {path} yet", hint="run: coop catalogue sync")
    return load_file(path)


@dataclass(frozen=True)
class Listed:
    """`recipe ls`, one recipe: its catalogue entry and its latest version."""

    meta: RecipeMeta

    def to_json(self) -> JSONDict:
        return {**self.meta.to_json(), "latest_version": self.meta.latest_version}


def list_recipes(settings: Settings, pattern: str | None = None) -> list[RecipeMeta]:
    """Catalogue recipes whose name, description or category match `pattern` (all without one)."""
    return load(settings).search(pattern)


def clone_url(settings: Settings, name: str) -> str | None:
    """Where to clone recipe `name` from, per the catalogue: `repository`, else `ssh_url`.

    None when there is no catalogue, the recipe is not in it, or it has no URL
    (the caller then says what it tried). Never touches the network.
    """
    try:
        entry = load(settings).get(name)
    except (NotFound, CatalogueError):
        return None
    if entry is None:
        return None
    return entry.repository or entry.ssh_url or None


@dataclass
class RecipeInfo:
    """What `coop recipe show` reports."""

    meta: RecipeMeta
    in_catalogue: bool
    local_path: Path | None = None
    local_versions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> JSONDict:
        doc = self.meta.to_json()
        doc["in_catalogue"] = self.in_catalogue
        doc["local_path"] = str(self.local_path) if self.local_path else None
        doc["local_versions"] = list(self.local_versions)
        doc["latest_version"] = self.meta.latest_version
        return doc


def show(settings: Settings, name: str) -> RecipeInfo:
    """A recipe from the catalogue, or from ``$ABRA_DIR/recipes/<name>`` when it is not catalogued.

    With both, the catalogue entry is shown and the local clone's path and
    versions are added.
    """
    from coopcloud.domain.names import check_recipe_name

    check_recipe_name(name)
    warnings: list[str] = []
    entry = None
    try:
        entry = load(settings).get(name)
    except NotFound:
        pass
    except CatalogueError as exc:
        warnings.append(f"{exc} — showing local recipes only")
    local = settings.recipes_dir / name
    local_dir = local if local.is_dir() else None
    if entry is None and local_dir is None:
        hint = "run: coop recipe ls" if settings.catalogue_file.is_file() else "run: coop catalogue sync"
        raise NotFound(
            f"recipe {name} is neither in the catalogue ({settings.catalogue_file}) nor in {settings.recipes_dir}",
            hint=hint,
        )
    in_catalogue = entry is not None
    local_versions: list[str] = []
    if local_dir is not None:
        meta, local_versions = local_meta(name, local_dir, warn=warnings.append)
        entry = entry or meta
    assert entry is not None
    return RecipeInfo(
        entry, in_catalogue=in_catalogue, local_path=local_dir, local_versions=local_versions, warnings=warnings
    )


def local_meta(name: str, path: Path, *, warn: Warn = _noop) -> tuple[RecipeMeta, list[str]]:
    """A catalogue-shaped entry for a local recipe (working tree metadata, version tags), and its version tags.

    Versions carry no images: rendering every release is `generate`'s job.
    """
    from coopcloud.domain.version import versions_from_tags
    from coopcloud.gitops import GitRepo
    from coopcloud.sources import recipe_from_dir

    recipe = recipe_from_dir(path, name=name)
    try:
        readme = recipe.read_text("README.md")
    except (NotFound, RecipeError):
        readme = None
    metadata = recipe.readme_metadata()
    meta = RecipeMeta(
        name=name,
        category=metadata.get("category", ""),
        description=readme_description(readme),
        website=metadata.get("website", ""),
        features=features_from_metadata(metadata),
    )
    tags: list[str] = []
    repo = GitRepo(path)
    if (path / ".git").exists() and repo.is_repo():
        versions, issues = versions_from_tags(repo.tags())
        for issue in issues:
            warn(f"recipe {name}: {issue}")
        tags = [v.tag for v in versions]
        meta.versions = [RecipeVersion(t) for t in tags]
        meta.default_branch = repo.current_branch() or ""
        meta.repository, meta.ssh_url = repository_urls(repo.remote_url())
    return meta, tags


_SCP_RE = re.compile(r"(?P<user>[^@/:]+@)?(?P<host>[^/:]+):(?P<path>(?!/).+)")


def repository_urls(remote: str | None) -> tuple[str, str]:
    """(repository, ssh_url) for a git remote: an https URL (credentials removed) and an ssh one.

    ``git@host:org/r.git`` -> (``https://host/org/r.git``, ``ssh://git@host/org/r.git``);
    an https remote has no ssh_url; a local path is its own repository.
    """
    from urllib.parse import urlsplit, urlunsplit

    if not remote:
        return "", ""
    if "://" in remote:
        parts = urlsplit(remote)
        host = parts.hostname or ""
        if parts.port:
            host_port = f"{host}:{parts.port}"
        else:
            host_port = host
        if parts.scheme in ("http", "https"):
            return urlunsplit((parts.scheme, host_port, parts.path, "", "")), ""
        if parts.scheme == "ssh":
            return urlunsplit(("https", host, parts.path, "", "")), remote
        return remote, ""
    m = _SCP_RE.fullmatch(remote)
    if m and not remote.startswith(("/", ".")):
        user = m["user"] or ""
        return f"https://{m['host']}/{m['path']}", f"ssh://{user}{m['host']}/{m['path']}"
    return remote, ""


# ---------------------------------------------------------------------- sync


@dataclass
class SyncResult:
    path: Path
    source: str  # the URL or repository it came from (or would have)
    recipes: int
    fetched: bool  # False: the last copy was used
    changed: bool = False  # the content differs from the copy before
    warning: str | None = None

    def to_json(self) -> JSONDict:
        return {
            "path": str(self.path),
            "source": self.source,
            "recipes": self.recipes,
            "fetched": self.fetched,
            "changed": self.changed,
            "warning": self.warning,
        }


def sync(
    settings: Settings,
    *,
    url: str | None = None,
    git: str | None = None,
    offline: bool | None = None,
) -> SyncResult:
    """Bring ``$ABRA_DIR/catalogue/recipes.json`` up to date; see the module docstring for the order."""
    from coopcloud.errors import UsageError
    from coopcloud.ops.recipe.catalogue_download import FetchFailed, fetch_url  # urllib only when syncing

    if url and git:
        raise UsageError("give either --url or --git, not both")
    offline = settings.offline if offline is None else offline
    path = settings.catalogue_file
    in_place = (
        not url
        and not git
        and not settings.environ.get(CATALOGUE_URL_ENV)
        and (settings.catalogue_dir / ".git").exists()
    )
    if git:
        source = git
    elif in_place:
        source = f"git clone {settings.catalogue_dir}"
    else:
        source = url or catalogue_url(settings)
    before = path.read_bytes() if path.is_file() else None
    try:
        if offline:
            raise FetchFailed("--offline: not fetching")
        if git:
            data = _fetch_git(settings, git)
        elif in_place:
            data = _pull_in_place(settings)
        else:
            data = fetch_url(source)
    except FetchFailed as exc:
        if before is None:
            if offline:
                raise NotFound(
                    f"no catalogue at {path} yet, and --offline forbids fetching it",
                    hint="run coop catalogue sync without --offline",
                ) from None
            raise CatalogueUnreachable(
                f"catalogue {source}: {exc}; there is no earlier copy at {path}",
                hint="check the network or the address (--url, --git, $COOP_CATALOGUE_URL)",
            ) from None
        cat = parse_catalogue(before, source=str(path))
        return SyncResult(
            path,
            source,
            len(cat),
            fetched=False,
            warning=f"catalogue {source}: {exc}; using the last copy ({_age(path)})",
        )
    cat = parse_catalogue(data, source=source)  # refuse junk before replacing a good copy
    if data != before:
        write_atomic(path, data, mode=0o644)
    return SyncResult(path, source, len(cat), fetched=True, changed=data != before)


def _age(path: Path) -> str:
    import datetime

    when = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC)
    return f"{path}, written {when:%Y-%m-%d %H:%M} UTC"


def _git_clone_dir(settings: Settings, repo: str) -> Path:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", repo.rstrip("/").rsplit("/", 1)[-1]).strip(".-")[:40] or "catalogue"
    digest = hashlib.sha256(repo.encode()).hexdigest()[:10]
    return settings.catalogue_dir / "cache" / "git" / f"{base}-{digest}"


def _fetch_git(settings: Settings, repo: str) -> bytes:
    """Clone (first time) or fetch-and-reset the catalogue repository; its recipes.json."""
    from coopcloud.gitops import run_git
    from coopcloud.ops.recipe.catalogue_download import FetchFailed

    target = _git_clone_dir(settings, repo)
    _exclude_cache_from_git(settings)
    try:
        if (target / ".git").is_dir():
            run_git(["-C", str(target), "fetch", "--quiet", "--depth", "1", "--", repo, "HEAD"])
            run_git(["-C", str(target), "reset", "--quiet", "--hard", "FETCH_HEAD"])
        else:
            if target.exists():
                import shutil

                shutil.rmtree(target)  # a clone interrupted half-way; ours to remove
            target.parent.mkdir(parents=True, exist_ok=True)
            run_git(["clone", "--quiet", "--depth", "1", "--", repo, str(target)])
    except RecipeError as exc:
        raise FetchFailed(str(exc)) from None
    try:
        return (target / "recipes.json").read_bytes()
    except FileNotFoundError:
        raise CatalogueError(f"catalogue repository {repo} has no recipes.json at its root") from None


def _pull_in_place(settings: Settings) -> bytes:
    from coopcloud.gitops import run_git
    from coopcloud.ops.recipe.catalogue_download import FetchFailed

    try:
        run_git(["-C", str(settings.catalogue_dir), "pull", "--quiet", "--ff-only"])
    except RecipeError as exc:
        raise FetchFailed(str(exc)) from None
    try:
        return settings.catalogue_file.read_bytes()
    except FileNotFoundError:
        raise CatalogueError(f"catalogue clone {settings.catalogue_dir} has no recipes.json") from None


# ---------------------------------------------------------------------- generate


@dataclass
class GenerateReport:
    catalogue: Catalogue
    output: Path | None
    generated: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # recipe -> one-line error
    kept: list[str] = field(default_factory=list)  # failed, previous entry kept from the output file
    warnings: list[str] = field(default_factory=list)
    registry_requests: int = 0
    versions_cached: int = 0
    versions_resolved: int = 0

    def to_json(self) -> JSONDict:
        return {
            "output": str(self.output) if self.output else None,
            "generated": list(self.generated),
            "errors": dict(sorted(self.errors.items())),
            "kept": list(self.kept),
            "warnings": list(self.warnings),
            "registry_requests": self.registry_requests,
            "versions_cached": self.versions_cached,
            "versions_resolved": self.versions_resolved,
        }


def recipe_repos(recipes_dir: Path) -> list[str]:
    """Names of the git repositories directly under `recipes_dir` (symlinks followed), sorted."""
    if not recipes_dir.is_dir():
        return []
    return sorted(
        p.name for p in recipes_dir.iterdir() if not p.name.startswith(".") and p.is_dir() and (p / ".git").exists()
    )


def _previous_catalogue(output: Path, *, keep_others: bool, progress: Warn) -> Catalogue:
    """The catalogue `generate` is about to replace. Unreadable: an error when its other entries
    must be kept (named recipes), else a warning (it is rebuilt whole)."""
    if not output.is_file():
        return Catalogue()
    try:
        return parse_catalogue(output.read_bytes(), source=str(output))
    except CatalogueError as exc:
        if keep_others:
            raise
        progress(f"warning: {exc}; it will be replaced")
        return Catalogue()


def generate(
    settings: Settings,
    recipes: Sequence[str] = (),
    *,
    recipes_dir: Path | None = None,
    output: Path | None = None,
    write: bool = True,
    use_cache: bool = True,
    registry: RegistryClient | None = None,
    workers: int = 8,
    progress: Warn = _noop,
) -> GenerateReport:
    """Build recipes.json from recipe repositories; see `coop catalogue generate --help`.

    `recipes` empty: every git repository under `recipes_dir` (default
    ``$ABRA_DIR/recipes``), and the catalogue holds exactly those. Named: only
    those are (re)generated, and the other entries of the existing output are
    kept. A recipe that fails is reported in `errors`; if the output had an
    entry for it, that entry is kept (listed in `kept`). `registry` is a
    thread-safe `RegistryClient` (default: a new one honouring --offline).
    """
    from coopcloud.registry import RegistryClient

    recipes_dir = Path(recipes_dir) if recipes_dir else settings.recipes_dir
    output = Path(output) if output else settings.catalogue_file
    names = list(dict.fromkeys(recipes)) or recipe_repos(recipes_dir)
    if not names:
        # Never replace a catalogue with an empty one because the directory was wrong.
        raise NotFound(
            f"no recipe repositories (git clones) under {recipes_dir}",
            hint="pass --recipes-dir, or clone recipes there first",
        )
    if registry is None:
        registry = RegistryClient(environ=settings.environ, offline=settings.offline)
    before_requests = registry.requests

    previous = _previous_catalogue(output, keep_others=bool(recipes), progress=progress)
    report = GenerateReport(Catalogue(), output if write else None)
    if recipes:
        for name in previous:
            if name not in names:
                report.catalogue.add(previous[name])
    lock = threading.Lock()

    def one(name: str) -> None:
        warnings: list[str] = []
        try:
            meta, cached, resolved = _generate_recipe(
                settings, name, recipes_dir / name, registry, use_cache=use_cache, warn=warnings.append
            )
        except CoopError as exc:
            with lock:
                report.errors[name] = str(exc)
                report.warnings.extend(warnings)
                if name in previous:
                    report.catalogue.add(previous[name])
                    report.kept.append(name)
            progress(f"{name}: failed")
            return
        with lock:
            report.catalogue.add(meta)
            report.generated.append(name)
            report.warnings.extend(warnings)
            report.versions_cached += cached
            report.versions_resolved += resolved
        progress(f"{name}: {len(meta.versions)} versions ({cached} cached, {resolved} resolved)")

    fan_out(one, names, workers=workers)
    report.generated.sort()
    report.kept.sort()
    report.registry_requests = registry.requests - before_requests
    if write:
        write_atomic(output, dumps(report.catalogue).encode("utf-8"), mode=0o644)
    return report


def _cache_path(settings: Settings, name: str) -> Path:
    _exclude_cache_from_git(settings)
    return settings.catalogue_dir / "cache" / f"{name}.json"


def _exclude_cache_from_git(settings: Settings) -> None:
    """In abra's layout ($ABRA_DIR/catalogue is a git clone) keep our cache/ out of `git status`.

    abra refuses to work with a catalogue clone that is not clean; an entry in
    the clone's own .git/info/exclude (never committed) hides the cache.
    """
    info = settings.catalogue_dir / ".git" / "info"
    if not info.parent.is_dir():
        return
    exclude = info / "exclude"
    try:
        text = exclude.read_text() if exclude.is_file() else ""
        if "/cache/" not in text.split("\n"):
            info.mkdir(exist_ok=True)
            with exclude.open("a") as fh:
                fh.write(("" if not text or text.endswith("\n") else "\n") + "/cache/\n")
    except OSError:
        pass  # best effort: only cosmetic for git, harmless for coop


def _read_cache(path: Path) -> RawMap:
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or not isinstance(doc.get("versions"), dict):
        return {}
    return doc["versions"]


def _write_cache(path: Path, versions: Mapping[str, object]) -> None:
    import json

    text = json.dumps({"format": CACHE_FORMAT, "versions": versions}, indent=1, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=0o644)


def _generate_recipe(
    settings: Settings,
    name: str,
    path: Path,
    registry: RegistryClient,
    *,
    use_cache: bool,
    warn: Warn,
) -> tuple[RecipeMeta, int, int]:
    """One recipe's entry, and how many of its versions came from the cache / the registry."""
    from coopcloud.domain.names import check_recipe_name
    from coopcloud.domain.version import versions_from_tags
    from coopcloud.gitops import GitRepo
    from coopcloud.sources import recipe_from_git

    check_recipe_name(name)  # it names a folder and a cache file: no '/', no leading '.'
    if not path.is_dir():
        raise NotFound(f"recipe {name}: no such directory {path}")
    repo = GitRepo(path)
    if not (path / ".git").exists() or not repo.is_repo():
        raise RecipeError(f"recipe {name}: {path} is not a git repository")
    try:
        head = recipe_from_git(repo, "HEAD", name=name)
    except NotFound:
        raise RecipeError(f"recipe {name}: {path} has no commit yet") from None
    metadata = head.readme_metadata()
    try:
        readme = head.read_text("README.md")
    except NotFound:
        readme = None
        warn(f"recipe {name}: no README.md, so no features in the catalogue")
    repository, ssh_url = repository_urls(repo.remote_url())
    meta = RecipeMeta(
        name=name,
        category=metadata.get("category", ""),
        description=readme_description(readme),
        default_branch=repo.current_branch() or "",
        repository=repository,
        ssh_url=ssh_url,
        website=metadata.get("website", ""),
        features=features_from_metadata(metadata),
    )
    tags = repo.tags()
    commits = {t.name: t.commit for t in tags}
    versions, issues = versions_from_tags(tags)
    for issue in issues:
        warn(f"recipe {name}: {issue}")

    cache_file = _cache_path(settings, name)
    cache = _read_cache(cache_file) if use_cache else {}
    new_cache: dict[str, object] = {}
    cached = resolved = 0
    try:
        for version in versions:
            commit = commits[version.tag]
            hit = cache.get(version.tag)
            if isinstance(hit, dict) and hit.get("commit") == commit and isinstance(hit.get("services"), dict):
                services = {s: CatalogueImage.from_json(v) for s, v in hit["services"].items()}
                cached += 1
            else:
                services = _resolve_version(name, repo, version.tag, registry)
                resolved += 1
            meta.versions.append(RecipeVersion(version.tag, services))
            new_cache[version.tag] = {
                "commit": commit,
                "services": {s: services[s].to_json() for s in sorted(services)},
            }
    finally:
        # Releases resolved before a failure are kept, so a retry asks only for the rest.
        if resolved or set(new_cache) != set(cache):
            if len(new_cache) < len(versions):  # failed part-way: keep what was cached too
                new_cache = {**{t: v for t, v in cache.items() if t in commits}, **new_cache}
            _write_cache(cache_file, new_cache)
    return meta, cached, resolved


def _resolve_version(name: str, repo: GitRepo, tag: str, registry: RegistryClient) -> dict[str, CatalogueImage]:
    """Render release `tag` with its .env.sample (DOMAIN=<recipe>.example.com); each service's image and digest."""
    from coopcloud.registry import ImageRefError, RegistryError, parse_image_ref
    from coopcloud.sources import recipe_from_git
    from coopcloud.swarm.render import sample_images

    recipe = recipe_from_git(repo, tag, name=name)
    services: dict[str, CatalogueImage] = {}
    for service, image in sample_images(recipe).items():
        if not image:
            raise RecipeError(f"recipe {name} {tag}: service {service} has no image")
        try:
            ref = parse_image_ref(str(image))
            digest = registry.digest(str(image))
        except ImageRefError as exc:
            raise RecipeError(f"recipe {name} {tag}: service {service}: {exc}") from None
        except RegistryError as exc:
            raise type(exc)(f"recipe {name} {tag}: service {service}: {exc}") from None
        services[service] = CatalogueImage(image=ref.familiar_name, tag=ref.tag or "", digest=digest)
    return services
