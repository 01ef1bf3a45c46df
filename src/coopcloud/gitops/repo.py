"""Read a recipe's git repository without ever moving its working tree.

Every call runs ``git -C <dir> ...`` with an argv list (never a shell), so a
tag, path or URL is never interpreted by a shell. Files at a version are read
from git objects (``ls-tree``, ``cat-file --batch``): two deploys of different
versions never race on a shared checkout, and an untracked file never blocks
one.

    >>> repo = GitRepo("~/.abra/recipes/nextcloud")          # doctest: +SKIP
    >>> [t.name for t in repo.tags() if t.annotated][:1]      # doctest: +SKIP
    ['1.0.0+27.1']
    >>> repo.read_file("1.0.0+27.1", "compose.yml")[:9]       # doctest: +SKIP
    b'version: '
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from coopcloud.errors import NotFound, RecipeError


class Tag(NamedTuple):
    name: str
    annotated: bool  # `git tag -a`; a lightweight tag points straight at a commit
    commit: str  # the commit it points to (peeled)


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never prompt for credentials, and never take the index lock for reads
    # (`git status` refreshes the index otherwise, racing a concurrent command).
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return env


def find_git() -> str:
    git = shutil.which("git")
    if git is None:
        raise RecipeError("git is not installed (not found on PATH)", hint="install git and retry")
    return git


class GitRepo:
    """One git repository on disk (a recipe clone)."""

    def __init__(self, path: str | os.PathLike[str], git: str | None = None):
        self.path = Path(path).expanduser()
        self.git = git or find_git()

    def __repr__(self) -> str:
        return f"GitRepo({str(self.path)!r})"

    # plumbing

    def _run(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        if not self.path.is_dir():
            raise NotFound(f"recipe repository {self.path}: no such directory")
        proc = subprocess.run(
            [self.git, "-C", str(self.path), *args],
            input=input,
            capture_output=True,
            env=_git_env(),
        )
        if check and proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RecipeError(f"git {args[0]} in {self.path} failed: {err[-1] if err else proc.returncode}")
        return proc

    def _out(self, *args: str) -> str:
        return self._run(*args).stdout.decode("utf-8", "replace")

    # questions

    def is_repo(self) -> bool:
        proc = self._run("rev-parse", "--git-dir", check=False)
        return proc.returncode == 0

    def tags(self) -> list[Tag]:
        """Every tag, sorted by name, with its type and the commit it points to."""
        fmt = "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objectname)"
        tags = []
        for row in self._out("for-each-ref", "refs/tags", f"--format={fmt}").splitlines():
            name, objtype, obj, peeled = row.split("\0")
            tags.append(Tag(name, objtype == "tag", peeled or obj))
        return sorted(tags)

    def resolve(self, rev: str) -> str:
        """The full commit id `rev` names (tag, branch, commit); NotFound if none."""
        if rev.startswith("-"):  # never let a rev be read as an option
            raise NotFound(f"recipe repository {self.path}: no such version or commit {rev!r}")
        proc = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise NotFound(f"recipe repository {self.path}: no such version or commit {rev!r}")
        return proc.stdout.decode().strip()

    def head(self) -> str:
        """The commit checked out in the working tree."""
        return self.resolve("HEAD")

    def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD."""
        proc = self._run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None

    def is_dirty(self, untracked: bool = True) -> bool:
        """Uncommitted changes in the working tree (untracked files count unless told not to)."""
        mode = "normal" if untracked else "no"
        return bool(self._out("status", "--porcelain", f"--untracked-files={mode}").strip())

    def remote_url(self, remote: str = "origin") -> str | None:
        proc = self._run("config", "--get", f"remote.{remote}.url", check=False)
        return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None

    # files at a revision

    def fetch(self, remote: str = "origin", *, timeout: float = 60.0) -> None:
        """Fetch the remote's branches and tags (never moves the working tree). RecipeError on failure."""
        try:
            proc = subprocess.run(
                [self.git, "-C", str(self.path), "fetch", "--quiet", "--tags", "--", remote],
                capture_output=True,
                env=_git_env(),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise RecipeError(f"git fetch in {self.path} took longer than {timeout:.0f} s") from None
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RecipeError(f"git fetch in {self.path} failed: {err[-1] if err else proc.returncode}")

    def list_files(self, rev: str) -> list[str]:
        """Every file path (posix, relative) in the tree of `rev`."""
        commit = self.resolve(rev)
        out = self._run("ls-tree", "-r", "-z", "--name-only", commit).stdout
        return sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)

    def read_file(self, rev: str, path: str) -> bytes:
        """The content of `path` at `rev`; NotFound naming both if it is not there."""
        data = self.read_files(rev, [path])[path]
        if data is None:
            raise NotFound(f"recipe repository {self.path}: no file {path!r} at {rev}")
        return data

    def read_files(self, rev: str, paths: Iterable[str], *, max_size: int | None = None) -> dict[str, bytes | None]:
        """Several files at `rev` in one `git cat-file --batch`; a missing one maps to None.

        A file larger than `max_size` bytes is refused (RecipeError) from its header, before its
        content is read: a hostile recipe cannot make coop hold a huge blob in memory.
        """
        commit = self.resolve(rev)
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        for p in wanted:
            if "\n" in p or "\r" in p:
                raise RecipeError(f"recipe repository {self.path}: invalid file name {p!r}")
        if not self.path.is_dir():
            raise NotFound(f"recipe repository {self.path}: no such directory")
        query = "".join(f"{commit}:{p}\n" for p in wanted).encode("utf-8", "surrogateescape")
        proc = subprocess.Popen(
            [self.git, "-C", str(self.path), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(),
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def feed() -> None:  # beside the reads: a long query and a long answer cannot block each other
            try:
                stdin.write(query)
                stdin.close()
            except OSError:
                pass  # git ended early; its answer (or its absence) tells

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            return {p: _read_batch_entry(proc.stdout, p, max_size, self.path) for p in wanted}
        finally:
            proc.kill()  # done, or refusing a file: either way nothing more is read
            proc.wait()
            writer.join()
            proc.stdout.close()


def _read_batch_entry(out: IO[bytes], path: str, max_size: int | None, repo: Path) -> bytes | None:
    """One `cat-file --batch` answer: `<oid> <type> <size>\\n<data>\\n` or `<name> missing\\n`."""
    header = out.readline().rstrip(b"\n").split(b" ")
    if len(header) != 3 or not header[2].isdigit():  # "<name> missing" / "ambiguous"
        return None
    size = int(header[2])
    if max_size is not None and size > max_size:
        raise RecipeError(
            f"recipe repository {repo}: {path} is {size} bytes, more than coop reads from a recipe "
            f"({max_size // (1024 * 1024)} MiB)"
        )
    data = out.read(size)
    out.read(1)  # the newline after the content
    return data if header[1] == b"blob" else None  # a directory or submodule is not a file we can read


def run_git(args: Sequence[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """Run a git command that is not about one repo's objects (e.g. `clone`); argv only."""
    proc = subprocess.run([find_git(), *args], cwd=cwd, capture_output=True, env=_git_env())
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RecipeError(f"git {args[0] if args else ''} failed: {err[-1] if err else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


def config_value(key: str, cwd: str | os.PathLike[str]) -> str | None:
    """`git config <key>` as seen from `cwd` (its repo's config, then the user's); None when unset or no git."""
    git = shutil.which("git")
    if git is None or not Path(cwd).is_dir():
        return None
    proc = subprocess.run([git, "config", "--get", key], cwd=cwd, capture_output=True, env=_git_env())
    value = proc.stdout.decode("utf-8", "replace").strip()
    return value if proc.returncode == 0 and value else None
