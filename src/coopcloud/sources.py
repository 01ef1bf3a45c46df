"""Where a recipe's files come from: a directory on disk (`DirSource`) or a git tree (`GitSource`).

The I/O half of `coopcloud.domain.recipe` (which stays pure): both classes are a
`RecipeSource`, and `recipe_from_dir` / `recipe_from_git` make a `Recipe` of them.

    recipe = recipe_from_git("~/.abra/recipes/gitea", "1.7.1+1.27.2")
    recipe.compose_files()
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from coopcloud.domain.recipe import MAX_RECIPE_FILE, Recipe, clean_path
from coopcloud.errors import NotFound, RecipeError
from coopcloud.gitops import GitRepo


def recipe_from_dir(path: str | os.PathLike[str], name: str | None = None) -> Recipe:
    """The recipe as its working tree is now (`--chaos`, a local recipe, lint)."""
    src = DirSource(path)
    return Recipe(name or src.root.name, src)


def recipe_from_git(repo: GitRepo | str | os.PathLike[str], rev: str, name: str | None = None) -> Recipe:
    """The recipe at a tag or commit, read from git objects (the checkout never moves)."""
    repo = repo if isinstance(repo, GitRepo) else GitRepo(repo)
    return Recipe(name or repo.path.name, GitSource(repo, rev))


class DirSource:
    """A recipe directory as it is on disk (the working tree, `.git` excluded)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser()
        self.folder: Path | None = self.root
        self.description = f"working tree {self.root}"
        if not self.root.is_dir():
            raise NotFound(f"recipe directory {self.root}: no such directory")

    def list_files(self) -> list[str]:
        found: list[str] = []
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
            if not stat.S_ISREG(target.stat().st_mode):  # a fifo or device would block or never end
                raise RecipeError(f"recipe {self.description}: {path} is not a regular file")
            with open(target, "rb") as fh:
                data = fh.read(MAX_RECIPE_FILE + 1)  # never more, however large the file is
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"recipe {self.description}: no file {path!r}") from None
        if len(data) > MAX_RECIPE_FILE:
            raise RecipeError(
                f"recipe {self.description}: {path} is larger than coop reads from a recipe "
                f"({MAX_RECIPE_FILE // (1024 * 1024)} MiB)"
            )
        return data

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
            self._blobs.update(self.repo.read_files(self.commit, want, max_size=MAX_RECIPE_FILE))

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
