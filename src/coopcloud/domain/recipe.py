"""A recipe, read from a working tree or from a git tree at a tag/commit.

Both sources answer the same three questions (`list_files`, `read`,
`exists`), so everything above them — compose loading, lint, the catalogue —
does not care whether it deploys a release (`GitSource`: git objects, the
checkout never moves) or `--chaos` / a local recipe (`DirSource`).

Paths are posix and relative to the recipe root; a path that would leave
the recipe (``../x``, ``/etc/passwd``, a symlink pointing out) is refused.

    >>> r = Recipe.from_dir("/work/shared/corpus/recipes/lemp")     # doctest: +SKIP
    >>> r.compose_files()                                           # doctest: +SKIP
    ['compose.yml', 'compose.mailrelay.yml', 'compose.smtp.yml']
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from coopcloud.domain.envfile import parse_value
from coopcloud.errors import NotFound, RecipeError
from coopcloud.gitops import GitRepo


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


class DirSource:
    """A recipe directory as it is on disk (the working tree, `.git` excluded)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser()
        self.folder: Path | None = self.root
        self.description = f"working tree {self.root}"
        if not self.root.is_dir():
            raise NotFound(f"recipe directory {self.root}: no such directory")

    def list_files(self) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            found.extend(f if rel == "." else f"{rel}/{f}" for f in filenames)
        return sorted(found)

    def _locate(self, path: str) -> Path:
        target = self.root / clean_path(path)
        # a symlink inside the recipe may not lead outside it
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(target)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise RecipeError(f"{self.description}: {path!r} points outside the recipe")
        return target

    def read(self, path: str) -> bytes:
        target = self._locate(path)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"recipe {self.description}: no file {path!r}") from None

    def exists(self, path: str) -> bool:
        try:
            return self._locate(path).is_file()
        except RecipeError:
            return False


class GitSource:
    """A recipe at one commit, read from git objects; the rev is resolved once, up front."""

    def __init__(self, repo: GitRepo, rev: str):
        self.repo = repo
        self.folder: Path | None = repo.path
        self.rev = rev
        self.commit = repo.resolve(rev)
        self.description = f"{repo.path} at {rev}" + ("" if rev == self.commit else f" ({self.commit[:8]})")
        self._files: list[str] | None = None
        self._file_set: frozenset[str] = frozenset()
        self._blobs: dict[str, bytes | None] = {}

    def list_files(self) -> list[str]:
        if self._files is None:
            self._files = self.repo.list_files(self.commit)
            self._file_set = frozenset(self._files)
        return list(self._files)

    def prefetch(self, paths: list[str]) -> None:
        """Read several files in one git call (compose files, abra.sh, README...)."""
        want = [clean_path(p) for p in paths if clean_path(p) not in self._blobs]
        if want:
            self._blobs.update(self.repo.read_files(self.commit, want))

    def read(self, path: str) -> bytes:
        p = clean_path(path)
        if p not in self._blobs:
            self.prefetch([p])
        data = self._blobs[p]
        if data is None:
            raise NotFound(f"recipe {self.description}: no file {path!r}")
        return data

    def exists(self, path: str) -> bool:
        try:
            self.list_files()
            return clean_path(path) in self._file_set
        except RecipeError:
            return False


_COMPOSE_RE = re.compile(r"compose(\.[^/]+)?\.ya?ml")
_EXPORT_RE = re.compile(r"export[ \t]+(?P<key>[A-Za-z_][A-Za-z0-9_]*_VERSION)=(?P<value>.*)")
_META_LINE_RE = re.compile(r"\s*[*-]\s+\*\*(?P<key>[^*]+)\*\*\s*:?\s*(?P<value>.*)")
_IMAGE_RE = re.compile(r"\[`?(?P<image>[^`\]]*)`?\]\((?P<url>[^)]*)\)(?P<rest>.*)")


@dataclass
class Recipe:
    """A recipe: its name and where its files come from."""

    name: str
    source: RecipeSource = field(repr=False)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], name: str | None = None) -> "Recipe":
        src = DirSource(path)
        return cls(name or src.root.name, src)

    @classmethod
    def from_git(cls, repo: GitRepo | str | os.PathLike[str], rev: str, name: str | None = None) -> "Recipe":
        repo = repo if isinstance(repo, GitRepo) else GitRepo(repo)
        return cls(name or repo.path.name, GitSource(repo, rev))

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
        names = [f for f in self.source.list_files() if _COMPOSE_RE.fullmatch(f)]
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
