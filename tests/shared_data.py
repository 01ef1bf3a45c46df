"""Where the shared reference data lives: `../shared` beside the project root (CI lays it there too).

A clone of the project alone still runs its suite: tests that need the corpus or the oracles are
marked ``@pytest.mark.corpus`` and are skipped, with the reason, when `../shared` is missing.
Under ``CI=true`` they fail instead (tests/conftest.py), so CI never silently skips them.
Parametrisations over the corpus then hold one placeholder case, so the skip (or the CI failure)
is visible per test instead of an empty parameter set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "recipes"
ORACLES = SHARED / "oracles"
HAVE_SHARED = CORPUS.is_dir() and ORACLES.is_dir()
MISSING = f"the shared corpus and oracles are not at {SHARED} (clone them there as ../shared)"
PLACEHOLDER = "no-shared-corpus"


def corpus_recipes() -> list[str]:
    """The corpus recipes' names; one placeholder name when the corpus is missing."""
    if not CORPUS.is_dir():
        return [PLACEHOLDER]
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def need_shared() -> None:
    """Skip the calling test because ../shared is missing; under CI=true, fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING)
