"""What the maintainer commands report (`--json`): one result per command, built from the plans and
outcomes of `upgrade`, `release` and `tree`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coopcloud.rawdata import JSONDict

from .release import ReleasePlan, ReleaseResult
from .tree import Changes
from .upgrade import ImageUpgrade


@dataclass(frozen=True)
class Upgraded:
    """`recipe upgrade`: each image's choice, and the compose files that changed."""

    recipe: str
    images: Sequence[ImageUpgrade]
    changed_files: list[str]

    def to_json(self) -> JSONDict:
        return {
            "recipe": self.recipe,
            "images": [up.to_json() for up in self.images],
            "changed_files": self.changed_files,
        }


@dataclass(frozen=True)
class Released:
    """`recipe release`: the plan, and what it made (None: a dry run)."""

    plan: ReleasePlan
    result: ReleaseResult | None

    def to_json(self) -> JSONDict:
        done = self.result
        return {
            **self.plan.to_json(),
            "dry_run": done is None,
            "commit": done.commit if done else None,
            "pushed": done.pushed if done else False,
        }


@dataclass(frozen=True)
class LabelSynced:
    """`recipe sync`: the version label written, and the compose files that changed."""

    plan: ReleasePlan
    changed_files: list[str]

    def to_json(self) -> JSONDict:
        p = self.plan
        return {
            "recipe": p.recipe,
            "version": p.version,
            "previous": p.previous,
            "level": p.level,
            "reason": p.reason,
            "labels": p.label_files,
            "changed_files": self.changed_files,
        }


@dataclass(frozen=True)
class Diff:
    """`recipe diff`: the uncommitted changes and git's diff of them."""

    recipe: str
    changes: Changes
    text: str

    def to_json(self) -> JSONDict:
        return {
            "recipe": self.recipe,
            "tracked": self.changes.tracked,
            "untracked": self.changes.untracked,
            "diff": self.text,
        }


@dataclass(frozen=True)
class Discarded:
    """`recipe reset`: the files whose changes were discarded, and the untracked ones kept."""

    recipe: str
    discarded: list[str]
    kept_untracked: list[str]

    def to_json(self) -> JSONDict:
        return {"recipe": self.recipe, "discarded": self.discarded, "kept_untracked": self.kept_untracked}
