"""A recipe, read from a working tree or from a git tree at a tag/commit.

Both sources answer the same three questions (`list_files`, `read`,
`exists`), so everything above them — compose loading, lint, the catalogue —
does not care whether it deploys a release (`GitSource`: git objects, the
checkout never moves) or `--chaos` / a local recipe (`DirSource`). The sources
do the I/O and live in `coopcloud.sources`; this module stays pure.

Paths are posix and relative to the recipe root; a path that would leave
the recipe (``../x``, ``/etc/passwd``, a symlink pointing out) is refused.

    >>> r = recipe_from_dir("/work/shared/corpus/recipes/lemp")     # doctest: +SKIP
    >>> r.compose_files()                                           # doctest: +SKIP
    ['compose.yml', 'compose.mailrelay.yml', 'compose.smtp.yml']
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from coopcloud.domain.envfile import parse_value
from coopcloud.errors import NotFound, RecipeError


class RecipeSource(Protocol):
    description: str  # "working tree /path" or "1.0.0+1.2 (abc1234)", for messages
    folder: Path | None  # the recipe's folder on this machine (its working tree or its git repo)

    def list_files(self) -> list[str]: ...

    def read(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...


def clean_path(path: str, relative_to: str = "") -> str:
    """Normalise `path` (relative to the directory `relative_to`); RecipeError if it leaves the recipe."""
    if "\0" in path:
        raise RecipeError(f"invalid path {path!r}")
    if posixpath.isabs(path):
        raise RecipeError(f"path {path!r} is absolute; recipe files are read by relative path")
    joined = posixpath.normpath(posixpath.join(relative_to, path))
    if joined == ".." or joined.startswith("../"):
        raise RecipeError(f"path {path!r} points outside the recipe")
    return "" if joined == "." else joined


# The largest file coop reads from a recipe. Compose files, env samples and the configs Docker takes
# (a swarm config or secret is at most 500 KB) are far smaller; the cap keeps a hostile recipe from
# making coop read gigabytes before any check runs.
MAX_RECIPE_FILE = 8 * 1024 * 1024

COMPOSE_FILE_RE = re.compile(r"compose(\.[^/]+)?\.ya?ml")  # compose.yml and its overlays, at the root
_EXPORT_RE = re.compile(r"export[ \t]+(?P<key>[A-Za-z_][A-Za-z0-9_]*_VERSION)=(?P<value>.*)")
_META_LINE_RE = re.compile(r"\s*[*-]\s+\*\*(?P<key>[^*]+)\*\*\s*:?\s*(?P<value>.*)")
_IMAGE_RE = re.compile(r"\[`?(?P<image>[^`\]]*)`?\]\((?P<url>[^)]*)\)(?P<rest>.*)")


@dataclass
class Recipe:
    """A recipe: its name and where its files come from."""

    name: str
    source: RecipeSource = field(repr=False)

    # files

    def read(self, path: str, relative_to: str = "") -> bytes:
        """A file by its path, relative to the directory `relative_to` (e.g. a compose file's own dir)."""
        return self.source.read(clean_path(path, relative_to))

    def read_text(self, path: str, relative_to: str = "") -> str:
        data = self.read(path, relative_to)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise RecipeError(f"recipe {self.name}: {path} is not UTF-8 text") from None

    def _optional_text(self, path: str) -> str | None:
        try:
            return self.read_text(path)
        except NotFound:
            return None

    def compose_files(self) -> list[str]:
        """``compose.yml`` then the ``compose.*.yml`` overlays at the root, sorted (``.yaml`` too)."""
        names = [f for f in self.source.list_files() if COMPOSE_FILE_RE.fullmatch(f)]
        return sorted(names, key=lambda n: (n not in ("compose.yml", "compose.yaml"), n))

    def env_sample_path(self) -> str | None:
        """Where the sample env lives: ``.env.sample`` at the root, else the shallowest one below it.

        Some recipes keep it beside their deploy scripts (nodex: ``deploy/.env.sample``);
        compose files are still read from the root. Ties go to the first path in sort order.
        """
        files = self.source.list_files()
        if ".env.sample" in files:
            return ".env.sample"
        nested = sorted((f for f in files if f.endswith("/.env.sample")), key=lambda f: (f.count("/"), f))
        return nested[0] if nested else None

    def env_sample(self) -> str | None:
        path = self.env_sample_path()
        return self.read_text(path) if path else None

    def abra_sh_versions(self) -> dict[str, str]:
        """``export NAME_VERSION=value`` lines of ``abra.sh`` (at column 0, as abra reads them)."""
        text = self._optional_text("abra.sh") or ""
        found = {}
        for line in text.splitlines():
            m = _EXPORT_RE.fullmatch(line.rstrip())
            if m:
                found[m["key"]] = parse_value(m["value"])
        return found

    def readme_metadata(self) -> dict[str, str]:
        """The README ``<!-- metadata -->`` block: ``* **Category**: Apps`` -> ``{"category": "Apps"}``.

        Keys are lowercased; values are kept as written (``"1, alpha"``, emoji...),
        empty when the line has none. No README or no block: ``{}``.
        """
        text = self._optional_text("README.md") or ""
        start = text.find("<!-- metadata -->")
        end = text.find("<!-- endmetadata -->", start)
        if start < 0 or end < 0:
            return {}
        meta = {}
        for line in text[start:end].splitlines():
            m = _META_LINE_RE.match(line)
            if m:
                meta[m["key"].strip().lower()] = m["value"].strip()
        return meta

    def release_notes(self, version: str) -> str | None:
        """``release/<version>``, or None when the release has no notes."""
        try:
            return self.read_text(posixpath.join("release", clean_path(version)))
        except (NotFound, RecipeError):
            return None


def image_feature(value: str) -> dict[str, str]:
    """Parse the README ``Image`` value: ``[`nginx`](https://...), 4, upstream``.

    -> ``{"image": "nginx", "url": "https://...", "rating": "4", "source": "upstream"}``;
    parts that are absent are left out (llamenos has no rating).
    """
    m = _IMAGE_RE.match(value.strip())
    if not m:
        return {"image": value.strip()} if value.strip() else {}
    out = {"image": m["image"].strip(), "url": m["url"].strip()}
    rest = [p.strip() for p in m["rest"].split(",") if p.strip()]
    if len(rest) >= 2:
        out["rating"], out["source"] = rest[0], rest[1]
    elif rest:
        out["source"] = rest[0]
    return out
