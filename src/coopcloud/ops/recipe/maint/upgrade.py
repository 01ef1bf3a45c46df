"""``coop recipe upgrade``: newer image tags of the same format, written into the compose files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from coopcloud.domain.imagetag import MAJOR, change_class, newer_tags
from coopcloud.errors import RecipeError, UsageError
from coopcloud.fsutil import write_atomic
from coopcloud.rawdata import JSONDict

from .compose_text import compose_files, find_images, read_text, replace_tags


@dataclass
class ImageUpgrade:
    """One service image: what it is, what is newer (same format, within the level), what was chosen."""

    file: str
    service: str
    image: str  # the value as written
    name: str | None
    current: str | None
    candidates: list[str] = field(default_factory=list)  # newest first
    newer_beyond_level: list[str] = field(default_factory=list)  # newer, same format, held back by the level
    chosen: str | None = None
    change: str | None = None  # major / minor / patch of the chosen tag
    note: str | None = None
    failed: bool = False  # the registry could not be asked
    offset: int | None = field(default=None, repr=False)
    error: Exception | None = field(default=None, repr=False)  # the registry's error, when it failed

    def to_json(self) -> JSONDict:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v)
            for f in fields(self)
            if f.name not in ("offset", "error")
        }


def plan_upgrade(path: Path, tags_for: Callable[[str], list[str]], *, level: str = MAJOR) -> list[ImageUpgrade]:
    """Ask the registry for each image's tags; the candidates per image, nothing chosen yet.

    `tags_for(name)` lists a repository's tags (a `RegistryClient().tags`); it is
    called once per repository, and its errors become a per-image note.
    """
    from coopcloud.errors import CoopError

    cache: dict[str, list[str] | CoopError] = {}
    plan: list[ImageUpgrade] = []
    seen_offsets: dict[tuple[str, int], str] = {}
    for file in compose_files(path):
        text = read_text(path / file)
        for site in find_images(text, file):
            up = ImageUpgrade(
                site.file, site.service, site.value, site.name, site.tag, note=site.note, offset=site.offset
            )
            plan.append(up)
            if site.note or site.name is None or site.tag is None:
                continue
            if site.offset is not None and (file, site.offset) in seen_offsets:
                up.note = f"same YAML value as service {seen_offsets[(file, site.offset)]} (an alias): follows it"
                up.offset = None
                continue
            if site.offset is not None:
                seen_offsets[(file, site.offset)] = site.service
            if site.name not in cache:
                try:
                    cache[site.name] = list(tags_for(site.name))
                except CoopError as exc:
                    cache[site.name] = exc
            tags = cache[site.name]
            if isinstance(tags, CoopError):
                up.note, up.failed, up.error = f"registry: {tags}", True, tags
                continue
            up.candidates = [t.raw for t in newer_tags(site.tag, tags, level=level)]
            every = [t.raw for t in newer_tags(site.tag, tags, level=MAJOR)]
            up.newer_beyond_level = [t for t in every if t not in up.candidates]
            if not up.candidates:
                up.note = "up to date" + (
                    f" within --{level} (newer: {', '.join(up.newer_beyond_level[:3])})"
                    if up.newer_beyond_level
                    else ""
                )
    return plan


def choose(up: ImageUpgrade, tag: str | None) -> None:
    """Record the choice for one image (None: keep the current tag)."""
    if tag is not None and tag not in up.candidates:
        raise UsageError(f"{up.service}: {tag!r} is not one of the offered tags ({', '.join(up.candidates) or 'none'})")
    up.chosen = tag
    up.change = change_class(up.current, tag) if tag and up.current else None


def apply_upgrade(path: Path, plan: Sequence[ImageUpgrade]) -> list[str]:
    """Write the chosen tags into the compose files; returns the files changed."""
    by_file: dict[str, list[tuple[int, str, str]]] = {}
    for up in plan:
        if up.chosen and up.chosen != up.current:
            if up.offset is None or up.current is None:
                raise RecipeError(f"{up.file}: the image of service {up.service} cannot be edited in place")
            by_file.setdefault(up.file, []).append((up.offset, up.current, up.chosen))
    for file, edits in by_file.items():
        target = path / file
        write_atomic(target, replace_tags(read_text(target), edits), mode=None)  # keeps the file's mode
    return sorted(by_file)
