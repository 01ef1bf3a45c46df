"""Image tags as version numbers: parse, compare, and offer only upgrades of the same format.

A tag such as ``v1.14.1-rootless`` is read as

* a prefix: ``v`` or nothing;
* numbers and the separators between them: ``1.14.1`` (``17-3.5`` for postgis, ``2024.01.05``);
* an optional pre-release marker: ``-rc1``, ``-beta.2``, ``alpha``, ``-dev3``;
* a suffix, the rest: ``-rootless``, ``-fpm``, ``-alpine``, ``-fpm-alpine3.13``.

Its **format** is (prefix, separators, suffix): ``v1.14.1-rootless`` and
``v1.15.0-rootless`` share one, ``1.14.1``, ``v1.15.0`` and ``1.15-rootless`` do
not. Upgrades are only offered within one format, so a ``-rootless`` image
stays rootless, ``17-3.5-alpine`` only moves to ``N-N.N-alpine`` tags, and
``1.27`` never jumps to ``1.28.0`` (a different release stream upstream).

Tags without numbers at the front (``latest``, ``stable``, ``edge``,
``mainline``, ``RELEASE.2025-...``) float or cannot be ordered: they are never
offered, and an image on one gets no candidates. A pre-release is only offered
when the current tag is a pre-release itself.

A change is classified by the first number that differs: the first number is
*major*, the second *minor*, any later one *patch* (``17-3.5`` → ``17-3.6`` is
a patch, ``17-4.0`` a minor, ``18-3.5`` a major change). Only the pre-release
part differing (``1.2.3-rc1`` → ``1.2.3``) is a patch.

    >>> [str(t) for t in newer_tags("1.14.1-rootless", ["1.15.0", "1.15.0-rootless", "latest", "1.14.0-rootless"])]
    ['1.15.0-rootless']
    >>> change_class("17-3.5-alpine", "17-4.0-alpine")
    'minor'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAJOR, MINOR, PATCH = "major", "minor", "patch"
LEVELS = (PATCH, MINOR, MAJOR)  # smallest first
_RANK = {PATCH: 0, MINOR: 1, MAJOR: 2}

# Tags that float by convention. Anything else without a leading number is
# also never offered; this list only makes messages name the usual suspects.
FLOATING_TAGS = frozenset(
    {
        "latest",
        "stable",
        "edge",
        "nightly",
        "dev",
        "develop",
        "main",
        "master",
        "mainline",
        "testing",
        "unstable",
        "current",
        "lts",
    }
)

_TAG_RE = re.compile(r"(?P<prefix>[vV]?)(?P<numbers>\d+(?:[._-]\d+)*)(?P<rest>.*)", re.S)
_NUM_SEP_RE = re.compile(r"[._-]")
# a pre-release marker right after the numbers: -rc1, .rc.1, -beta2, alpha, -dev3, -pre
_PRE_RE = re.compile(
    r"(?:[._-]?(?P<label>alpha|beta|rc|pre|preview|dev)(?P<num>[._-]?\d+)?"
    r"|(?P<short>a|b)(?P<shortnum>\d+))(?=$|[._-])",  # python's 3.13.0b1, 3.13.0a4
    re.I,
)
_PRE_RANK = {"dev": 0, "alpha": 1, "beta": 2, "pre": 3, "preview": 3, "rc": 4}
# Docker's own grammar (distribution/reference): the one home of these patterns. Go's \w is ASCII.
DOCKER_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DOCKER_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
DOCKER_TAG_RE = re.compile(DOCKER_TAG)  # use with fullmatch


@dataclass(frozen=True)
class TagFormat:
    """What two tags must share for one to be offered as an upgrade of the other."""

    prefix: str  # "v" or ""
    separators: tuple[str, ...]  # between the numbers: (".", ".") for 1.2.3, ("-", ".") for 17-3.5
    suffix: str  # "-rootless", "-fpm-alpine3.13", ""

    @property
    def width(self) -> int:
        """How many numbers a tag of this format has."""
        return len(self.separators) + 1

    def __str__(self) -> str:
        numbers = "N" + "".join(sep + "N" for sep in self.separators)
        return f"{self.prefix}{numbers}{self.suffix}"


@dataclass(frozen=True)
class ImageTag:
    """A tag that reads as a version. Build one with `parse_tag`.

    ``<``/``>`` order by the numbers, then a release above its pre-releases;
    only tags of the same `format` are meaningfully ordered (`newer_tags`
    never compares across formats).
    """

    raw: str
    prefix: str
    numbers: tuple[int, ...]
    separators: tuple[str, ...]
    prerelease: tuple[str, int] | None  # ("rc", 1) for -rc1; ("beta", 0) for -beta
    suffix: str

    @property
    def format(self) -> TagFormat:
        return TagFormat(self.prefix, self.separators, self.suffix)

    @property
    def is_prerelease(self) -> bool:
        return self.prerelease is not None

    def sort_key(self) -> tuple[tuple[int, ...], tuple[int, int, int]]:
        pre = (0, _PRE_RANK[self.prerelease[0]], self.prerelease[1]) if self.prerelease else (1, 0, 0)
        return (self.numbers, pre)

    def __lt__(self, other: ImageTag) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: ImageTag) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: ImageTag) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: ImageTag) -> bool:
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        return self.raw


def is_floating(tag: str) -> bool:
    """True for tags that are not versions: ``latest``, ``stable``, ``edge``, any tag without a leading number."""
    return parse_tag(tag) is None


def parse_tag(tag: str) -> ImageTag | None:
    """Read a tag as a version; None when it is not one (``latest``, ``mainline``, ``RELEASE.2025-...``)."""
    tag = tag.strip()
    if not DOCKER_TAG_RE.fullmatch(tag) or tag.lower() in FLOATING_TAGS:
        return None
    m = _TAG_RE.fullmatch(tag)
    if not m:
        return None
    numbers_text = m["numbers"]
    numbers = tuple(int(n) for n in _NUM_SEP_RE.split(numbers_text))
    separators = tuple(_NUM_SEP_RE.findall(numbers_text))
    rest = m["rest"]
    prerelease = None
    pre = _PRE_RE.match(rest)
    if pre:
        label = (pre["label"] or {"a": "alpha", "b": "beta"}[pre["short"].lower()]).lower()
        digits = re.sub(r"\D", "", pre["num"] or pre["shortnum"] or "")
        prerelease = (label, int(digits) if digits else 0)
        rest = rest[pre.end() :]
    elif rest and rest[0].isalnum():
        # `1.0a`, `3.13.0b1`, `20240101abc`: letters glued to the numbers are not a
        # suffix we can keep apart from the version; a hash-like tag (`1a2b3c`) too.
        return None
    return ImageTag(tag, m["prefix"], numbers, separators, prerelease, rest)


def change_class(old: str | ImageTag, new: str | ImageTag) -> str | None:
    """``major``/``minor``/``patch`` for a change between two versioned tags, None when it cannot be told.

    The tags need not share a format (``1.27`` → ``1.28.0`` is a minor change:
    missing numbers count as 0), but both must read as versions; equal tags → None.
    """
    a = old if isinstance(old, ImageTag) else parse_tag(old)
    b = new if isinstance(new, ImageTag) else parse_tag(new)
    if a is None or b is None or a.raw == b.raw:
        return None
    width = max(len(a.numbers), len(b.numbers))
    na = a.numbers + (0,) * (width - len(a.numbers))
    nb = b.numbers + (0,) * (width - len(b.numbers))
    for i, (x, y) in enumerate(zip(na, nb)):
        if x != y:
            return MAJOR if i == 0 else MINOR if i == 1 else PATCH
    return PATCH  # same numbers: pre-release, prefix or suffix changed


def biggest(classes: Iterable[str | None]) -> str | None:
    """The biggest of some change classes (None entries ignored); None when there are none."""
    found = [c for c in classes if c is not None]
    return max(found, key=_RANK.__getitem__) if found else None


def allowed(change: str, level: str) -> bool:
    """Whether a change of class `change` is within the bump `level` (--patch ⊂ --minor ⊂ --major)."""
    return _RANK[change] <= _RANK[level]


def newer_tags(current: str, tags: Iterable[str], *, level: str = MAJOR) -> list[ImageTag]:
    """Tags of `current`'s format that are newer than it, within `level`, newest first.

    Empty when `current` is floating. Pre-releases are offered only when
    `current` is one. Duplicates are dropped.
    """
    cur = parse_tag(current)
    if cur is None:
        return []
    found: dict[str, ImageTag] = {}
    for raw in tags:
        t = parse_tag(raw)
        if t is None or t.format != cur.format or not t > cur:
            continue
        if t.is_prerelease and not cur.is_prerelease:
            continue
        change = change_class(cur, t)
        if change is None or not allowed(change, level):
            continue
        found.setdefault(t.raw, t)
    return sorted(found.values(), key=lambda t: (t.sort_key(), t.raw), reverse=True)


# -- image references ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageParts:
    """An image reference as written, ``name[:tag][@digest]``, split as Docker splits it (the tag's colon
    comes after the last slash); not normalised (`coopcloud.registry.ImageRef` is the normalised one)."""

    name: str  # 127.0.0.1:5000/coop-test/web, nginx, ghcr.io/org/app
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag is not None else "") + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> ImageParts:
        return ImageParts(self.name, tag, self.digest)


def split_image(image: str) -> ImageParts:
    """Split an image reference: ``127.0.0.1:5000/a/b:1.0`` → name ``127.0.0.1:5000/a/b``, tag ``1.0``.

    The one home of this rule (lint, the registry's parser and the maintainer tools use it). A tag
    is kept as written, even empty (``nginx:``: tag ``""``); an empty digest is None."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageParts(rest[:colon], rest[colon + 1 :], digest or None)
    return ImageParts(rest, None, digest or None)


_DEFAULT_RE = re.compile(r"\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}$]*))?\}")


def with_defaults(value: str) -> str | None:
    """``${VAR:-default}`` / ``${VAR-default}`` replaced by their defaults; None when any other ``$`` remains.

    What an image reference reads as when the app sets none of its variables,
    e.g. ``${DB_IMAGE:-postgis/postgis}:${DB_VERSION:-17-3.5}`` → ``postgis/postgis:17-3.5``.
    """
    unresolved = False

    def sub(m: re.Match[str]) -> str:
        nonlocal unresolved
        if m["default"] is None:
            unresolved = True
            return ""
        return m["default"]

    out = _DEFAULT_RE.sub(sub, value)
    if unresolved or "$" in out:
        return None
    return out
