"""Only here to stamp the build with its git commit (`coop --version`); everything else is in pyproject.toml."""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithCommit(build_py):
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(ROOT / "src"))
        from coopcloud.buildinfo import head_commit

        sha = head_commit(ROOT)
        if sha:
            stamp = Path(self.build_lib) / "coopcloud" / "_commit.txt"
            stamp.parent.mkdir(parents=True, exist_ok=True)  # an editable install builds into an empty dir
            stamp.write_text(sha + "\n")


setup(cmdclass={"build_py": BuildPyWithCommit})
