"""Where the shared reference data lives: `../shared` beside the project root (CI lays it there too).

A missing corpus is an error, never a silently empty parametrisation.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "recipes"
ORACLES = SHARED / "oracles"

if not CORPUS.is_dir():
    raise RuntimeError(f"the shared recipe corpus is missing: expected it at {CORPUS}")


def corpus_recipes() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
