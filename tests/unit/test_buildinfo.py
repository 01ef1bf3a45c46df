"""`coop --version` names the commit: from a clone's .git (a plain clone, a worktree, packed refs) or the
stamp an installed copy carries."""

from __future__ import annotations

import subprocess
from pathlib import Path

from coopcloud import buildinfo


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "clone"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "f").write_text("x")
    _git(repo, "add", "f")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_a_clone_a_worktree_and_packed_refs(tmp_path):
    repo, sha = _repo(tmp_path)
    assert buildinfo.head_commit(repo) == sha
    _git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    assert buildinfo.head_commit(tmp_path / "wt") == sha
    _git(repo, "pack-refs", "--all")
    assert buildinfo.head_commit(repo) == sha
    _git(repo, "checkout", "-q", "--detach")
    assert buildinfo.head_commit(repo) == sha
    assert buildinfo.head_commit(tmp_path) is None


def test_the_version_line_names_the_stamped_commit(tmp_path, monkeypatch):
    (tmp_path / "_commit.txt").write_text("0123456789abcdef0123\n")
    monkeypatch.setattr(buildinfo, "_HERE", tmp_path)
    assert buildinfo.version_line("9.9.9") == "coop 9.9.9 (commit 0123456789ab)"
    (tmp_path / "_commit.txt").write_text("")
    assert buildinfo.version_line("9.9.9") == "coop 9.9.9"
