"""Which commit this coop was built from, for `coop --version`.

An installed copy (`pipx install .`, `pip install .`) carries it in `_commit.txt`, written by setup.py
at build time; a source checkout (an editable install, `make demo`) reads it from the clone's `.git`.
Both read plain files: no git process starts, so `coop --version` stays as cheap as printing a string.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def commit() -> str | None:
    """The short commit id of this build, or None when it is not known."""
    stamped = _HERE / "_commit.txt"
    try:
        full = stamped.read_text().strip() if stamped.is_file() else head_commit(_HERE.parent.parent)
    except OSError:
        return None
    return full[:12] if full else None


def head_commit(root: Path) -> str | None:
    """The commit HEAD names in the git checkout at `root` (a clone or a worktree), read from its files."""
    dot_git = root / ".git"
    if dot_git.is_file():  # a worktree: `gitdir: PATH`
        text = dot_git.read_text().strip()
        if not text.startswith("gitdir:"):
            return None
        git_dir = (root / text.split(":", 1)[1].strip()).resolve()
    elif dot_git.is_dir():
        git_dir = dot_git
    else:
        return None
    head = (git_dir / "HEAD").read_text().strip()
    if not head.startswith("ref:"):
        return head or None  # a detached HEAD holds the commit itself
    ref = head.split(":", 1)[1].strip()
    common = git_dir / "commondir"
    common_dir = (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
    for base in (git_dir, common_dir):
        if (base / ref).is_file():
            return (base / ref).read_text().strip() or None
    packed = common_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    return None


def version_line(version: str) -> str:
    """`coop 0.1.0 (commit 1a2b3c4d5e6f)`, or `coop 0.1.0` when the commit is not known."""
    sha = commit()
    return f"coop {version} (commit {sha})" if sha else f"coop {version}"
