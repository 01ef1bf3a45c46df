"""``coop recipe release`` (and ``recipe sync``): the next version, its label, notes, commit and tag."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.imagetag import MAJOR, MINOR, PATCH, biggest, change_class, split_image, with_defaults
from coopcloud.domain.recipe import COMPOSE_FILE_RE
from coopcloud.errors import Conflict, RecipeError, UsageError
from coopcloud.fsutil import write_atomic
from coopcloud.gitops.worktree import git_in
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from .compose_text import (
    MAIN_SERVICE,
    compose_files,
    find_images,
    find_version_labels,
    main_image_tag,
    read_text,
    set_version_label,
)
from .tree import status

if TYPE_CHECKING:
    from coopcloud.domain.version import Version


def release_message(version: str) -> str:
    return f"chore: publish {version} release"


@dataclass
class ImageChange:
    file: str
    service: str
    old: str | None  # image as written at the last release (None: a new service)
    new: str | None  # in the working tree (None: removed)
    change: str | None  # major / minor / patch
    note: str | None = None


@dataclass
class ReleasePlan:
    recipe: str
    path: Path
    previous: str | None  # the last release tag
    version: str  # the new tag
    level: str  # the bump applied
    reason: str  # why this level
    changes: list[ImageChange] = field(default_factory=list)
    label_files: dict[str, list[str]] = field(default_factory=dict)  # file -> old label values
    notes: str | None = None
    notes_source: str | None = None  # --notes, release/<version>, release/next, editor
    notes_path: str | None = None
    remove_next: bool = False
    commit_files: list[str] = field(default_factory=list)
    message: str = ""
    publish: bool = False
    remote: str | None = None
    branch: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> JSONDict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _images(text_of: Callable[[str], str | None], files: Sequence[str]) -> dict[tuple[str, str], str]:
    out = {}
    for f in files:
        text = text_of(f)
        if text is None:
            continue
        for site in find_images(text, f):
            out[(f, site.service)] = site.value
    return out


def _image_change(old: str, new: str) -> tuple[str | None, str | None]:
    """(class, note) of one image value's change; an unsized change is major, with a note."""
    ro, rn = with_defaults(old), with_defaults(new)
    if ro is None or rn is None:
        return MAJOR, f"cannot size the change {old} → {new} (interpolated without default): counted as major"
    a, b = split_image(ro), split_image(rn)
    if a.tag == b.tag:
        if a.name != b.name:
            return PATCH, f"image renamed {a.name} → {b.name} with the same tag: counted as patch"
        return PATCH, None  # digest or spelling changed
    cls = change_class(a.tag or "latest", b.tag or "latest")
    if cls is None:
        return MAJOR, f"cannot size the change {a.tag or '(no tag)'} → {b.tag or '(no tag)'}: counted as major"
    return cls, None


def image_changes(path: Path, previous: str | None) -> list[ImageChange]:
    """Each service image changed between the release `previous` and the working tree."""
    from coopcloud.errors import NotFound as _NF
    from coopcloud.sources import recipe_from_git

    now_files = compose_files(path)
    now = _images(lambda f: read_text(path / f), now_files)
    if previous is None:
        return []
    old_recipe = recipe_from_git(path, previous)

    def old_text(f: str) -> str | None:
        try:
            return old_recipe.read_text(f)
        except _NF:
            return None

    old = _images(old_text, old_recipe.compose_files())
    changes = []
    for key in sorted(set(old) | set(now)):
        o, n = old.get(key), now.get(key)
        if o == n:
            continue
        if o is None:
            changes.append(ImageChange(key[0], key[1], None, n, MINOR, "new service: counted as minor"))
        elif n is None:
            changes.append(ImageChange(key[0], key[1], o, None, MAJOR, "service removed: counted as major"))
        else:
            cls, note = _image_change(o, n)
            changes.append(ImageChange(key[0], key[1], o, n, cls, note))
    return changes


def bump(previous: str | None, level: str) -> str:
    """The next semver after the release `previous` (no release: 0.1.0, or 1.0.0/0.0.1 for --major/--patch)."""
    from coopcloud.domain.version import parse_version

    if previous is None:
        return {MAJOR: "1.0.0", MINOR: "0.1.0", PATCH: "0.0.1"}[level]
    v = parse_version(previous)
    if level == MAJOR:
        return f"{v.major + 1}.0.0"
    if level == MINOR:
        return f"{v.major}.{v.minor + 1}.0"
    if v.is_prerelease:  # 1.2.0-rc1 → 1.2.0
        return f"{v.major}.{v.minor}.{v.patch}"
    return f"{v.major}.{v.minor}.{v.patch + 1}"


@dataclass(frozen=True)
class NextVersion:
    version: str  # <semver>+<main image tag>
    level: str  # major | minor | patch: the bump it makes
    reason: str  # why this level, for the plan


def next_version(
    recipe: str,
    previous: Version | None,
    main_tag: str | None,
    changes: Sequence[ImageChange],
    *,
    version: str | None = None,
    level: str | None = None,
) -> NextVersion:
    """The version a release gets (pure: no git, no files). See the module docstring for the rules.

    `previous` is the last release; `main_tag` the tag of service ``app``'s image now; `changes`
    the image changes since `previous`. An explicit `version` (``1.2.0`` or ``1.2.0+<tag>``) must
    be newer and name the main tag; `level` (``--major`` …) forces the bump; otherwise the biggest
    image change sizes it (none: patch; no release yet: minor).

    >>> next_version("web", None, "1.27.2", []).version
    '0.1.0+1.27.2'
    """
    from coopcloud.domain.version import parse_version

    if version and level:
        raise UsageError(f"give a VERSION or --{level}, not both")
    previous_tag = previous.tag if previous else None
    if version:
        v = parse_version(version)
        if v.upstream is None:
            if not main_tag:
                raise RecipeError(
                    f"recipe {recipe}: service {MAIN_SERVICE} has no image tag to name the version after",
                    hint=f"give the full version, e.g. {v.semver}+1.0.0",
                )
            version = f"{v.semver}+{main_tag}"
        elif main_tag and v.upstream != main_tag:
            raise RecipeError(
                f"version {version} names image tag {v.upstream}, but service {MAIN_SERVICE} uses {main_tag}",
                hint=f"use {v.semver}+{main_tag}, or give just {v.semver}",
            )
        v = parse_version(version)
        if previous is not None and not v > previous:
            raise Conflict(
                f"version {version} is not newer than the last release {previous_tag}",
                hint=f"give a version above {previous.semver}, or leave VERSION out to compute one",
            )
        chosen = change_class(previous.semver if previous else "0.0.0", v.semver) or PATCH
        return NextVersion(version, chosen, "given on the command line")
    if not main_tag:
        raise RecipeError(
            f"recipe {recipe}: service {MAIN_SERVICE} has no image tag to name the version after",
            hint="pin a version tag on its image, or give VERSION as <semver>+<tag>",
        )
    computed = biggest(c.change for c in changes)
    if level:
        chosen, reason = level, f"--{level}"
    elif previous is None:
        chosen, reason = MINOR, "first release"
    elif computed:
        chosen = computed
        which = [c.service for c in changes if c.change == computed]
        reason = f"biggest image change since {previous_tag}: {computed} ({', '.join(which)})"
    else:
        chosen, reason = PATCH, f"no image changed since {previous_tag}"
    return NextVersion(f"{bump(previous_tag, chosen)}+{main_tag}", chosen, reason)


def plan_release(
    settings: Settings,
    path: Path,
    *,
    version: str | None = None,
    level: str | None = None,
    notes: str | None = None,
    publish: bool = False,
    label_only: bool = False,
) -> ReleasePlan:
    """Work out the next release of the recipe at `path` (nothing is changed). See the module docstring.

    `label_only` (``recipe sync``): no checks of the tree, the notes or the tag.
    """
    from coopcloud.domain.version import latest, versions_from_tags
    from coopcloud.gitops import GitRepo

    repo = GitRepo(path)
    if not repo.is_repo():
        raise RecipeError(f"recipe {path.name}: {path} is not a git repository", hint=f"run: git -C {path} init")
    if version and level:
        raise UsageError(f"give a VERSION or --{level}, not both")
    versions, issues = versions_from_tags(repo.tags())
    warnings = [str(i) for i in issues if i.error]
    prev = latest(versions, prereleases=True)
    previous = prev.tag if prev else None
    changes = image_changes(path, previous)
    warnings += [
        f"{c.service} ({c.file}): {c.note}" for c in changes if c.note and c.change == MAJOR and c.old and c.new
    ]

    chosen = next_version(path.name, prev, main_image_tag(path), changes, version=version, level=level)
    version, chosen_level, reason = chosen.version, chosen.level, chosen.reason

    plan = ReleasePlan(
        path.name,
        path,
        previous,
        version,
        chosen_level,
        reason,
        changes,
        message=release_message(version),
        publish=publish,
        warnings=warnings,
    )
    for f in compose_files(path):
        olds = find_version_labels(read_text(path / f))
        if olds:
            plan.label_files[f] = [v for _, v in olds]
    for f, label_values in plan.label_files.items():
        for old in label_values:
            if "$" in old:
                plan.warnings.append(f"{f}: the version label is interpolated ({old}) and is left as it is")
    if not plan.label_files:
        plan.warnings.append(
            f"no coop-cloud.${{STACK_NAME}}.version label in the compose files: "
            f"add one to service {MAIN_SERVICE}'s deploy.labels (lint R016)"
        )
    if label_only:
        return plan

    if any(t.name == version for t in repo.tags()):
        raise Conflict(f"recipe {path.name}: tag {version} exists already", hint="give another VERSION")
    _check_tree(plan, path)
    _plan_notes(plan, path, notes)
    commit = set(plan.commit_files) | set(plan.label_files)
    if plan.notes_path:
        commit.add(plan.notes_path)
    if plan.remove_next:
        commit.add("release/next")
    plan.commit_files = sorted(commit)
    if publish:
        if settings.offline:
            raise UsageError("--publish pushes to the remote, which --offline forbids")
        plan.remote = "origin"
        if not repo.remote_url("origin"):
            raise RecipeError(
                f"recipe {path.name} has no remote 'origin' to publish to",
                hint=f"run: git -C {path} remote add origin <url>, or leave out --publish",
            )
        plan.branch = repo.current_branch()
        if plan.branch is None:
            raise RecipeError(
                f"recipe {path.name}: HEAD is detached, there is no branch to publish",
                hint=f"check out a branch first (git -C {path} switch main)",
            )
    return plan


def _check_tree(plan: ReleasePlan, path: Path) -> None:
    notes_paths = {f"release/{plan.version}", "release/next"}
    others, untracked, compose = [], [], []
    for xy, p in status(path):
        if xy == "??":
            if p not in notes_paths:
                untracked.append(p)
        elif COMPOSE_FILE_RE.fullmatch(p):
            compose.append(p)
        elif p not in notes_paths:
            others.append(p)
    if others:
        raise RecipeError(
            f"recipe {plan.recipe} has uncommitted changes a release would not include: {', '.join(sorted(others))}",
            hint="commit or discard them first (see: coop recipe diff, coop recipe reset)",
        )
    if untracked:
        shown = ", ".join(sorted(untracked)[:5]) + (" ..." if len(untracked) > 5 else "")
        plan.warnings.append(f"untracked files are not part of the release: {shown} (git add them to include them)")
    plan.commit_files = sorted(set(compose))


def _plan_notes(plan: ReleasePlan, path: Path, notes: str | None) -> None:
    target = f"release/{plan.version}"
    if notes is not None:
        plan.notes, plan.notes_source = notes, "--notes"
        if (path / target).exists():
            plan.warnings.append(f"{target} exists and is replaced by --notes")
    elif (path / target).is_file():
        plan.notes, plan.notes_source = read_text(path / target), target
    elif (path / "release" / "next").is_file():
        plan.notes, plan.notes_source = read_text(path / "release" / "next"), "release/next"
        plan.remove_next = True
    if plan.notes is not None:
        plan.notes_path = target


def set_notes(plan: ReleasePlan, notes: str | None, source: str) -> None:
    """Notes chosen after planning (from the editor); empty means none."""
    if notes and notes.strip():
        plan.notes, plan.notes_source, plan.notes_path = notes, source, f"release/{plan.version}"
        plan.commit_files = sorted(set(plan.commit_files) | {plan.notes_path})


def write_label(path: Path, plan: ReleasePlan) -> list[str]:
    """Set the version label in the compose files; returns the files changed."""
    changed = []
    for f in plan.label_files:
        text = read_text(path / f)
        new, _ = set_version_label(text, plan.version)
        if new != text:
            write_atomic(path / f, new, mode=None)  # keeps the file's mode
            changed.append(f)
    return changed


@dataclass
class ReleaseResult:
    version: str
    commit: str
    tag: str
    files: list[str]
    pushed: bool


def apply_release(settings: Settings, plan: ReleasePlan) -> ReleaseResult:
    """Label, notes, commit, annotated tag, and (with publish) push the branch and the tag atomically."""
    path = plan.path
    env = settings.environ
    write_label(path, plan)
    if plan.notes_path and plan.notes is not None:
        target = path / plan.notes_path
        target.parent.mkdir(parents=True, exist_ok=True)
        notes = plan.notes if plan.notes.endswith("\n") else plan.notes + "\n"
        if not target.exists() or read_text(target) != notes:
            write_atomic(target, notes, mode=None)  # keeps the file's mode
    if plan.remove_next:
        (path / "release" / "next").unlink(missing_ok=True)
    files = plan.commit_files
    if files:
        git_in(path, env, "add", "-A", "--", *files)
        if git_in(path, env, "status", "--porcelain", "--untracked-files=no", "--", *files).strip():
            git_in(path, env, "commit", "-q", "-m", plan.message, "--", *files)
        else:  # nothing to commit (label already set, no notes): the tag goes on HEAD
            files = []
    commit = git_in(path, env, "rev-parse", "HEAD").strip()
    git_in(path, env, "tag", "-a", plan.version, "-m", plan.message, commit)
    pushed = False
    if plan.publish and plan.remote and plan.branch:
        git_in(
            path,
            env,
            "push",
            "--atomic",
            "-q",
            plan.remote,
            f"refs/heads/{plan.branch}:refs/heads/{plan.branch}",
            f"refs/tags/{plan.version}",
        )
        pushed = True
    return ReleaseResult(plan.version, commit, plan.version, list(files), pushed)


def notes_template(plan: ReleasePlan) -> str:
    lines = [
        "",
        f"# Release notes for {plan.recipe} {plan.version}.",
        "# What operators must know or do when upgrading to it. Lines starting with '#'",
        "# are dropped; leave the file empty for no notes.",
    ]
    for c in plan.changes:
        lines.append(
            f"#   {c.service}: {c.old or '(new)'} → {c.new or '(removed)'}" + (f" ({c.change})" if c.change else "")
        )
    return "\n".join(lines) + "\n"


def edit_notes(environ: dict[str, str], template: str) -> str | None:
    """Open ``$VISUAL``/``$EDITOR`` (else ``editor``, ``nano``, ``vi``) on `template`; the text without ``#`` lines.

    The editor's command is split like a shell would (``code --wait``) but run
    without one.
    """
    import shlex
    import shutil
    import tempfile

    command = environ.get("VISUAL") or environ.get("EDITOR")
    argv = shlex.split(command) if command else None
    if not argv:
        found = next((shutil.which(e) for e in ("editor", "nano", "vi") if shutil.which(e)), None)
        if not found:
            raise UsageError("no editor to write the release notes with", hint="set $EDITOR, or pass --notes TEXT")
        argv = [found]
    fd, tmp = tempfile.mkstemp(prefix="coop-release-notes-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(template)
        proc = subprocess.run([*argv, tmp], env=dict(environ))
        if proc.returncode != 0:
            raise UsageError(f"the editor ({argv[0]}) exited with status {proc.returncode}; nothing was released")
        text = Path(tmp).read_text(encoding="utf-8")
    finally:
        os.unlink(tmp)
    kept = "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()
    return kept + "\n" if kept else None
