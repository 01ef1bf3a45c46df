"""The catalogue: ``recipes.json`` in Co-op Cloud's schema (DESIGN.md §3.9).

The file is one JSON object keyed by recipe name::

    {"gitea": {"category": "Development", "default_branch": "main",
               "description": "…", "features": {"backups": "Yes", "email": "Yes",
               "healthcheck": "Yes", "image": {"image": "gitea/gitea", "rating": "1",
               "source": "upstream", "url": "https://…"}, "status": 2, "tests": "No",
               "sso": "Yes"},
               "icon": "…", "name": "gitea", "repository": "https://…/gitea.git",
               "ssh_url": "ssh://git@…/gitea.git",
               "versions": [{"1.0.0+1.21.0": {"app": {"digest": "sha256:…",
                                                      "image": "gitea/gitea", "tag": "1.21.0"}}}],
               "website": "https://gitea.io"}}

``versions`` is a LIST of one-key objects (abra's ``[]map[tag]map[service]ServiceMeta``),
oldest first when coop writes it.

Reading is tolerant: missing fields and ``null`` become empty, ``status`` may be
a number or a string, ``versions`` may also be a plain object, the top level may
also be a list of recipe objects; keys coop does not know are kept and written
back, so a file from a newer abra survives a round trip. Writing is
deterministic: recipes sorted by name, fields in abra's order, 4-space indent,
a final newline.

    >>> cat = parse_catalogue('{"demo": {"name": "demo", "versions": [{"1.0.0+1": {}}]}}')
    >>> [v.version for v in cat["demo"].versions]
    ['1.0.0+1']
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coopcloud.compose.gotypes import str_or_empty as _str
from coopcloud.errors import InvalidError, NotFound
from coopcloud.fsutil import write_atomic
from coopcloud.rawdata import JSONDict, RawMap

# Field order as abra's Go structs marshal them.
_RECIPE_FIELDS = (
    "category",
    "default_branch",
    "description",
    "features",
    "icon",
    "name",
    "repository",
    "ssh_url",
    "versions",
    "website",
)
_FEATURE_FIELDS = ("backups", "email", "healthcheck", "image", "status", "tests", "sso")
_IMAGE_FIELDS = ("image", "rating", "source", "url")
_SERVICE_FIELDS = ("digest", "image", "tag")


class CatalogueError(InvalidError):
    """recipes.json is not a catalogue (not JSON, or not shaped like one)."""


def _extra(obj: RawMap, known: tuple[str, ...]) -> JSONDict:
    return {k: v for k, v in obj.items() if k not in known}


@dataclass(frozen=True)
class ImageFeature:
    image: str = ""
    rating: str = ""
    source: str = ""
    url: str = ""
    extra: JSONDict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: object) -> ImageFeature:
        if isinstance(obj, str):  # tolerate a bare image name
            return cls(image=obj)
        if not isinstance(obj, Mapping):
            return cls()
        image, rating, source, url = (_str(obj.get(k)) for k in _IMAGE_FIELDS)
        return cls(image, rating, source, url, extra=_extra(obj, _IMAGE_FIELDS))

    def to_json(self) -> JSONDict:
        return {
            "image": self.image,
            "rating": self.rating,
            "source": self.source,
            "url": self.url,
            **dict(sorted(self.extra.items())),
        }


@dataclass(frozen=True)
class Features:
    """The README metadata block, as abra publishes it. `status` is 0 (unknown) to 5."""

    backups: str = ""
    email: str = ""
    healthcheck: str = ""
    image: ImageFeature = field(default_factory=ImageFeature)
    status: int = 0
    tests: str = ""
    sso: str = ""
    extra: JSONDict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: object) -> Features:
        if not isinstance(obj, Mapping):
            return cls()
        return cls(
            backups=_str(obj.get("backups")),
            email=_str(obj.get("email")),
            healthcheck=_str(obj.get("healthcheck")),
            image=ImageFeature.from_json(obj.get("image")),
            status=parse_status(obj.get("status")),
            tests=_str(obj.get("tests")),
            sso=_str(obj.get("sso")),
            extra=_extra(obj, _FEATURE_FIELDS),
        )

    def to_json(self) -> JSONDict:
        return {
            "backups": self.backups,
            "email": self.email,
            "healthcheck": self.healthcheck,
            "image": self.image.to_json(),
            "status": self.status,
            "tests": self.tests,
            "sso": self.sso,
            **dict(sorted(self.extra.items())),
        }


@dataclass(frozen=True)
class CatalogueImage:
    """One service's image in one version of a catalogue (recipes.json): image (without tag), tag, manifest digest."""

    image: str = ""
    tag: str = ""
    digest: str = ""
    extra: JSONDict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: object) -> CatalogueImage:
        if not isinstance(obj, Mapping):
            return cls()
        return cls(
            image=_str(obj.get("image")),
            tag=_str(obj.get("tag")),
            digest=_str(obj.get("digest")),
            extra=_extra(obj, _SERVICE_FIELDS),
        )

    def to_json(self) -> JSONDict:
        return {"digest": self.digest, "image": self.image, "tag": self.tag, **dict(sorted(self.extra.items()))}

    @property
    def reference(self) -> str:
        """`image:tag` (what a compose file would say)."""
        return f"{self.image}:{self.tag}" if self.tag else self.image


@dataclass(frozen=True)
class RecipeVersion:
    version: str
    services: dict[str, CatalogueImage] = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        return {self.version: {name: self.services[name].to_json() for name in sorted(self.services)}}


@dataclass
class RecipeMeta:
    """One recipe's catalogue entry."""

    name: str
    category: str = ""
    description: str = ""
    default_branch: str = ""
    repository: str = ""
    ssh_url: str = ""
    icon: str = ""
    website: str = ""
    features: Features = field(default_factory=Features)
    versions: list[RecipeVersion] = field(default_factory=list)
    extra: JSONDict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, name: str, obj: object) -> RecipeMeta:
        if not isinstance(obj, Mapping):
            raise CatalogueError(f"catalogue entry {name!r} is not an object")
        return cls(
            name=_str(obj.get("name")) or name,
            category=_str(obj.get("category")),
            description=_str(obj.get("description")),
            default_branch=_str(obj.get("default_branch")),
            repository=_str(obj.get("repository")),
            ssh_url=_str(obj.get("ssh_url")),
            icon=_str(obj.get("icon")),
            website=_str(obj.get("website")),
            features=Features.from_json(obj.get("features")),
            versions=_versions_from_json(obj.get("versions")),
            extra=_extra(obj, _RECIPE_FIELDS),
        )

    def to_json(self) -> JSONDict:
        return {
            "category": self.category,
            "default_branch": self.default_branch,
            "description": self.description,
            "features": self.features.to_json(),
            "icon": self.icon,
            "name": self.name,
            "repository": self.repository,
            "ssh_url": self.ssh_url,
            "versions": [v.to_json() for v in self.versions],
            "website": self.website,
            **dict(sorted(self.extra.items())),
        }

    @property
    def latest_version(self) -> str | None:
        """The newest version by semver (tags that are not versions are skipped), or None."""
        from coopcloud.domain.version import latest, parse_version

        parsed = []
        for v in self.versions:
            try:
                parsed.append(parse_version(v.version))
            except InvalidError:
                continue
        newest = latest(parsed) or latest(parsed, prereleases=True)
        return newest.tag if newest else None

    def version(self, tag: str) -> RecipeVersion | None:
        return next((v for v in self.versions if v.version == tag), None)

    def matches(self, pattern: str) -> bool:
        """Case-insensitive: a substring of name, description or category; `*`/`?` make it a glob."""
        import fnmatch

        pattern = pattern.lower()
        fields = (self.name.lower(), self.description.lower(), self.category.lower())
        if any(c in pattern for c in "*?["):
            return any(fnmatch.fnmatchcase(f, pattern) for f in fields)
        return any(pattern in f for f in fields)


def _versions_from_json(obj: object) -> list[RecipeVersion]:
    items: list[tuple[object, object]] = []
    if isinstance(obj, list):
        for entry in obj:
            if isinstance(entry, Mapping):
                items.extend(entry.items())
    elif isinstance(obj, Mapping):
        items.extend(obj.items())
    out = []
    for version, services in items:
        services = services if isinstance(services, Mapping) else {}
        out.append(RecipeVersion(_str(version), {str(k): CatalogueImage.from_json(v) for k, v in services.items()}))
    return out


class Catalogue(Mapping[str, RecipeMeta]):
    """Recipes by name; iteration is in name order."""

    def __init__(self, recipes: Mapping[str, RecipeMeta] | None = None):
        self._recipes: dict[str, RecipeMeta] = dict(recipes or {})

    def __getitem__(self, name: str) -> RecipeMeta:
        return self._recipes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._recipes))

    def __len__(self) -> int:
        return len(self._recipes)

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} recipes)"

    def add(self, meta: RecipeMeta) -> None:
        self._recipes[meta.name] = meta

    def search(self, pattern: str | None = None) -> list[RecipeMeta]:
        return [self[n] for n in self if not pattern or self[n].matches(pattern)]

    def to_json(self) -> JSONDict:
        return {name: self[name].to_json() for name in self}


def parse_catalogue(text: str | bytes, *, source: str = "recipes.json") -> Catalogue:
    """Parse recipes.json; CatalogueError naming `source` when it is not a catalogue."""
    import json

    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CatalogueError(f"catalogue {source} is not JSON ({exc})") from None
    return catalogue_from_json(doc, source=source)


def catalogue_from_json(doc: object, *, source: str = "recipes.json") -> Catalogue:
    cat = Catalogue()
    if isinstance(doc, Mapping):
        for name, obj in doc.items():
            if not isinstance(obj, Mapping):
                raise CatalogueError(f"catalogue {source}: entry {name!r} is not an object")
            cat.add(RecipeMeta.from_json(str(name), obj))
    elif isinstance(doc, list):
        for obj in doc:
            if not isinstance(obj, Mapping) or not obj.get("name"):
                raise CatalogueError(f"catalogue {source}: a list entry without a name")
            cat.add(RecipeMeta.from_json(str(obj["name"]), obj))
    else:
        raise CatalogueError(f"catalogue {source} is not an object of recipes")
    return cat


def dumps(catalogue: Catalogue) -> str:
    """recipes.json text: deterministic (same catalogue, same bytes)."""
    import json

    return json.dumps(catalogue.to_json(), indent=4, ensure_ascii=False) + "\n"


def load(path: str | os.PathLike[str]) -> Catalogue:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"catalogue {p}: no such file", hint="run: coop catalogue sync") from None
    return parse_catalogue(data, source=str(p))


def save(path: str | os.PathLike[str], catalogue: Catalogue) -> None:
    write_atomic(path, dumps(catalogue).encode("utf-8"), mode=0o644)


# ------------------------------------------------------------ README -> features

_CIRCLED = {"❶": 1, "❷": 2, "❸": 3, "❹": 4, "❺": 5, "①": 1, "②": 2, "③": 3, "④": 4, "⑤": 5}


def parse_status(value: object) -> int:
    """`2`, `"2"`, `"1, alpha"`, `"❶💚"` -> the number; `"?"`, empty, junk -> 0."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    if text[:1] in _CIRCLED:
        return _CIRCLED[text[0]]
    m = re.match(r"\d+", text)
    return int(m.group()) if m else 0


def features_from_metadata(meta: Mapping[str, str]) -> Features:
    """README metadata (`Recipe.readme_metadata()`) -> the catalogue's features."""
    from coopcloud.domain.recipe import image_feature

    image = image_feature(meta.get("image", ""))
    return Features(
        backups=meta.get("backups", ""),
        email=meta.get("email", ""),
        healthcheck=meta.get("healthcheck", ""),
        image=ImageFeature(
            image.get("image", ""), image.get("rating", ""), image.get("source", ""), image.get("url", "")
        ),
        status=parse_status(meta.get("status", "")),
        tests=meta.get("tests", ""),
        sso=meta.get("sso", ""),
    )


def readme_description(readme: str | None) -> str:
    """The one-line description Co-op Cloud READMEs carry as ``> text`` under the title."""
    for line in (readme or "").splitlines():
        stripped = line.strip()
        if stripped.startswith("<!-- metadata"):
            break
        if stripped.startswith(">"):
            return stripped.lstrip(">").strip()
    return ""
