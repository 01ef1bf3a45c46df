"""git on a recipe's working tree, for the maintainer's commands (recipe new, release, reset).

`GitRepo` reads a repository's objects; these run the porcelain commands that
change a working tree, commit and tag. argv only, never a shell.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from coopcloud.errors import RecipeError
from coopcloud.gitops.repo import find_git

# Who commits when git has no identity configured and the environment names none.
FALLBACK_IDENTITY = {"user.name": "coop", "user.email": "coop@localhost"}


def git_in(path: Path, environ: Mapping[str, str] | None, *args: str, check: bool = True) -> str:
    """Run git in `path` (argv only) and return its stdout.

    Writes pass the caller's environment (identity, signing...); `environ=None`
    is a read: the process environment, without git's optional locks.
    `check=False` returns "" on failure instead of raising RecipeError.
    """
    env = dict(os.environ if environ is None else environ)
    if environ is None:
        env["GIT_OPTIONAL_LOCKS"] = "0"
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    proc = subprocess.run([find_git(), "-C", str(path), *args], capture_output=True, env=env)
    if not check:
        return proc.stdout.decode("utf-8", "surrogateescape") if proc.returncode == 0 else ""
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        last = err.splitlines()[-1] if err else str(proc.returncode)
        hint = None
        if "Please tell me who you are" in err or "unable to auto-detect email" in err or "empty ident" in err:
            hint = "set git's identity: git config --global user.name ...; git config --global user.email ..."
        raise RecipeError(f"git {args[0]} in {path} failed: {last}", hint=hint)
    return proc.stdout.decode("utf-8", "surrogateescape")


def init_and_commit(path: Path, message: str, environ: Mapping[str, str]) -> str:
    """``git init -b main`` in `path`, commit every file in it, return the commit id.

    Commits as the user's git identity; as `FALLBACK_IDENTITY` only when git has
    none and the environment names none (a fresh machine must still work).
    """
    git = find_git()
    env = dict(environ)
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")

    def run(*args: str, options: tuple[str, ...] = (), check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([git, "-C", str(path), *options, *args], capture_output=True, text=True, env=env)
        if check and proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise RecipeError(f"git {args[0]} in {path} failed: {lines[-1] if lines else proc.returncode}")
        return proc

    run("init", "-q", "-b", "main")
    overrides: list[str] = []
    for key, env_keys in (
        ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
        ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
    ):
        configured = run("config", "--get", key, check=False).stdout.strip()
        if not configured and not all(env.get(k) for k in env_keys):
            overrides += ["-c", f"{key}={FALLBACK_IDENTITY[key]}"]
    run("add", "--all")
    run("commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message, options=tuple(overrides))
    return run("rev-parse", "HEAD").stdout.strip()
