"""``coop recipe diff`` / ``recipe reset``: a recipe's uncommitted work, shown or discarded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coopcloud.errors import RecipeError
from coopcloud.gitops.worktree import git_in
from coopcloud.settings import Settings

READ_ENV = None  # reads use the process environment, and never take git's optional locks


def status(path: Path) -> list[tuple[str, str]]:
    """``(XY, path)`` of `git status` (untracked as ``??``), every file listed."""
    raw = git_in(path, READ_ENV, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries, parts, i = [], raw.split("\0"), 0
    while i < len(parts):
        item = parts[i]
        i += 1
        if not item:
            continue
        xy, p = item[:2], item[3:]
        entries.append((xy, p))
        if xy[0] in "RC":  # a rename is followed by its source path
            entries.append((xy, parts[i]))
            i += 1
    return entries


@dataclass
class Changes:
    """Uncommitted work in a recipe's tree."""

    tracked: list[str]  # modified, added, deleted, renamed (vs HEAD or the index)
    untracked: list[str]


def _require_repo(path: Path) -> None:
    from coopcloud.gitops import GitRepo

    if not GitRepo(path).is_repo():
        raise RecipeError(f"recipe {path.name}: {path} is not a git repository")


def uncommitted(path: Path) -> Changes:
    _require_repo(path)
    tracked: set[str] = set()
    untracked: set[str] = set()
    for xy, p in status(path):
        (untracked if xy == "??" else tracked).add(p)
    return Changes(sorted(tracked), sorted(untracked))


def diff(path: Path, *, color: bool = False) -> str:
    """``git diff HEAD``: staged and unstaged changes of tracked files."""
    _require_repo(path)
    args = ["diff", f"--color={'always' if color else 'never'}"]
    if git_in(path, READ_ENV, "rev-parse", "--verify", "--quiet", "HEAD", check=False):
        args.append("HEAD")
    else:  # no commit yet: what is staged
        args.append("--cached")
    return git_in(path, READ_ENV, *args, "--")


def reset(settings: Settings, path: Path, *, untracked: bool = False) -> Changes:
    """Discard uncommitted changes of tracked files (index and tree back to HEAD); untracked files too if asked.

    Ignored files are never removed. Returns what was discarded.
    """
    changes = uncommitted(path)
    if changes.tracked:
        git_in(path, settings.environ, "reset", "-q", "--hard", "HEAD")
    if untracked and changes.untracked:
        git_in(path, settings.environ, "clean", "-q", "-f", "-d", "--", ".")
    return Changes(changes.tracked, changes.untracked if untracked else [])
