"""Recipe versions: annotated git tags ``<recipe-semver>+<main-image-tag>``.

``1.7.1+1.27.2`` is recipe version 1.7.1 packaging image tag 1.27.2. Versions
order by semver precedence (pre-releases before their release); the ``+``
part never orders, as in semver. Two tags with the same semver and different
``+`` parts cannot be ordered, so they are reported as an error.

Tolerated, with a warning, because real recipes carry them (see the corpus'
foodsharing-cms ``v1.0.0`` and traefik-2021 ``v2.4.8``):

* a ``v`` prefix (``v1.0.0``): the version is 1.0.0; the tag keeps its name;
* no ``+<image-tag>`` part: the version has ``upstream = None``.

Ignored, with a warning: lightweight tags (a version is an annotated tag) and
tags that are not semver at all (``latest``, ``1.0``, ``01.2.3``).

    >>> v = parse_version("1.7.1+1.27.2")
    >>> (v.semver, v.upstream, v < parse_version("1.10.0+1.27.2"))
    ('1.7.1', '1.27.2', True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from coopcloud.errors import NotFound, RecipeError

_VERSION_RE = re.compile(
    r"(?P<v>v)?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    # the image tag: Docker's tag alphabet, so `1.0.5-social-amd64` and `v2.4.8` fit
    r"(?:\+(?P<upstream>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}))?"
)


# semver precedence: major, minor, patch, 1 for a release (0: a pre-release), the pre-release's identifiers.
VersionKey: TypeAlias = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


@dataclass(frozen=True)
class Version:
    """One recipe version. `tag` is the git tag exactly as written (use it for git and labels).

    ``<``/``>`` compare semver precedence only; ``==`` compares every field.
    """

    tag: str
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    upstream: str | None = None  # the main image tag after '+'
    v_prefix: bool = field(default=False, compare=False)

    @property
    def semver(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + ("-" + ".".join(self.prerelease) if self.prerelease else "")

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def sort_key(self) -> VersionKey:
        # semver §11: a release outranks its pre-releases; numeric identifiers
        # sort numerically and before alphanumeric ones; a longer list wins a tie.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: Version) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: Version) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: Version) -> bool:
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        return self.tag


def parse_version(tag: str) -> Version:
    """Parse a tag; RecipeError (a ValueError) if it is not a version at all."""
    m = _VERSION_RE.fullmatch(tag.strip())
    if not m:
        raise RecipeError(
            f"tag {tag!r} is not a recipe version",
            hint="expected <semver>+<image-tag>, e.g. 1.7.1+1.27.2",
        )
    return Version(
        tag=tag.strip(),
        major=int(m["major"]),
        minor=int(m["minor"]),
        patch=int(m["patch"]),
        prerelease=tuple(m["pre"].split(".")) if m["pre"] else (),
        upstream=m["upstream"],
        v_prefix=bool(m["v"]),
    )


@dataclass(frozen=True)
class TagIssue:
    """Something wrong with a tag; `str()` is the one-line message."""

    tag: str
    kind: str  # lightweight | malformed | v-prefix | no-image-tag | duplicate
    message: str
    error: bool = False  # a duplicate semver is an error, the rest are warnings

    def __str__(self) -> str:
        return self.message


def versions_from_tags(
    tags: Iterable[tuple[str, bool] | tuple[str, bool, str]],
) -> tuple[list[Version], list[TagIssue]]:
    """From ``(name, annotated, ...)`` items (e.g. `gitops.Tag`): versions oldest first, and issues.

    Lightweight and malformed tags are left out; v-prefixed and ``+``-less
    tags are kept with a warning; same-semver tags are all kept (ordered by
    tag name) and reported once as an error.
    """
    versions: list[Version] = []
    issues: list[TagIssue] = []
    for item in sorted(tags, key=lambda t: t[0]):
        name, annotated = item[0], bool(item[1])
        try:
            v = parse_version(name)
        except RecipeError:
            issues.append(
                TagIssue(name, "malformed", f"tag {name!r} ignored: not <semver>+<image-tag> (e.g. 1.7.1+1.27.2)")
            )
            continue
        if not annotated:
            issues.append(
                TagIssue(
                    name,
                    "lightweight",
                    f"tag {name!r} ignored: lightweight; versions are annotated tags (git tag -a {name} -m ...)",
                )
            )
            continue
        if v.v_prefix:
            issues.append(TagIssue(name, "v-prefix", f"tag {name!r} has a 'v' prefix; read as version {v.semver}"))
        if v.upstream is None:
            issues.append(
                TagIssue(name, "no-image-tag", f"tag {name!r} has no +<image-tag> part (e.g. {v.semver}+1.27.2)")
            )
        versions.append(v)
    versions.sort(key=lambda v: (v.sort_key(), v.tag))
    issues.extend(_duplicates(versions))
    return versions, issues


def _duplicates(versions: list[Version]) -> list[TagIssue]:
    groups: dict[VersionKey, list[Version]] = {}
    for v in versions:
        groups.setdefault(v.sort_key(), []).append(v)
    issues = []
    for same in groups.values():
        if len(same) > 1:
            names = " and ".join(repr(v.tag) for v in same)
            issues.append(
                TagIssue(
                    same[0].tag,
                    "duplicate",
                    f"tags {names} are the same version {same[0].semver}: the + part does not order, "
                    "so which is newer is undefined — delete all but one",
                    error=True,
                )
            )
    return issues


def resolve_version(versions: Sequence[Version], wanted: str) -> Version:
    """The version a user means: an exact tag, else a semver (``1.2.0`` or ``v1.2.0``) without its ``+`` part."""
    for v in versions:
        if v.tag == wanted:
            return v
    try:
        target = parse_version(wanted)
    except RecipeError:
        target = None
    matches = [
        v
        for v in versions
        if target is not None
        and v.sort_key() == target.sort_key()
        and (target.upstream is None or v.upstream == target.upstream)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RecipeError(
            f"version {wanted!r} is ambiguous: " + ", ".join(v.tag for v in matches),
            hint="name the full tag",
        )
    from coopcloud.domain.words import did_you_mean

    newest = ", ".join(v.tag for v in versions[-5:]) or "none"
    which = "releases" if len(versions) <= 5 else "newest releases"
    close = did_you_mean(wanted, [v.tag if "+" in wanted else v.tag.split("+")[0] for v in versions])
    raise NotFound(f"no version {wanted!r} ({which}: {newest})", hint=close)


def latest(versions: Sequence[Version], prereleases: bool = False) -> Version | None:
    """The newest version (pre-releases only when asked), or None."""
    pool = [v for v in versions if prereleases or not v.is_prerelease]
    return max(pool, key=lambda v: (v.sort_key(), v.tag)) if pool else None


def newest_above(versions: Iterable[Version], current: Version, *, major: bool = False) -> Version | None:
    """The newest release above `current`, within its major version unless `major`; None when there is none.

    Pre-releases only when `current` is one (as `coop app upgrade` offers them). What an auto-update
    takes, and what `app ls --status` shows as an available upgrade.

    >>> vs = [parse_version(t) for t in ("1.0.0+1", "1.1.0+1", "1.2.0-rc1+1", "2.0.0+2")]
    >>> newest_above(vs, vs[0]).tag, newest_above(vs, vs[0], major=True).tag
    ('1.1.0+1', '2.0.0+2')
    >>> newest_above(vs, vs[3]) is None
    True
    """
    pool = [
        v
        for v in versions
        if v > current and (major or v.major == current.major) and (current.is_prerelease or not v.is_prerelease)
    ]
    return max(pool, key=lambda v: (v.sort_key(), v.tag)) if pool else None
