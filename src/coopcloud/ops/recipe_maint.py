"""The recipe maintainer's version tools: upgrade image tags, release, sync the label, diff, reset.

Everything here edits a recipe's *working tree* (a maintainer's clone); deploys
never read it (they read git objects), so nothing here can disturb a deploy.

Edits are byte-preserving: the compose files are rewritten by replacing the
exact characters of an image tag or of the version label value, found through
the YAML parser's marks (offsets into the text), never by re-serialising YAML.
Every comment, quote, blank line and line ending stays as it was.

Decisions (documented in the CLI help too):

* ``upgrade`` offers only newer tags of the same format (`domain.imagetag`);
  images whose tag is interpolated (``${VERSION:-1.2}``), pinned by digest, or
  floating (``latest``) are skipped with a note.
* ``release`` sizes the bump by the **biggest** change among *all* images since
  the last release (a postgres major in the ``db`` service needs as much
  operator care as one in ``app``); a new service counts as minor, a removed
  one as major, a change that cannot be sized (``latest`` → ``1.2``) as major,
  with a warning. No image change → patch. ``--major/--minor/--patch`` or an
  explicit VERSION override it. The first release is 0.1.0 (1.0.0 with
  --major, 0.0.1 with --patch).
* ``release`` needs a tree that is clean except for the compose files (the
  ones ``upgrade`` edits) and the release notes (``release/<version>``,
  ``release/next``); other uncommitted changes are refused, untracked files are
  left alone (and named in a warning). It commits exactly those files.
* Release notes: ``--notes`` > an existing ``release/<version>`` > ``release/next``
  (renamed) > ``$VISUAL``/``$EDITOR`` when interactive > none. Notes are
  optional in Co-op Cloud, so a scripted release without them writes no file.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from coopcloud.domain.imagetag import (
    MAJOR,
    MINOR,
    PATCH,
    biggest,
    change_class,
    is_floating,
    newer_tags,
    split_image,
    with_defaults,
)
from coopcloud.errors import Conflict, RecipeError, UsageError
from coopcloud.settings import Settings

MAIN_SERVICE = "app"
_COMPOSE_RE = re.compile(r"compose(\.[^/]+)?\.ya?ml")
_PROPS_RE = re.compile(r"(?:[&!][^\s]*\s+)+")
_TAG_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def release_message(version: str) -> str:
    return f"chore: publish {version} release"


# -- where the recipe is ----------------------------------------------------------------------


def _compose_files(path: Path) -> list[str]:
    from coopcloud.domain.recipe import Recipe

    return Recipe.from_dir(path).compose_files()


# -- image values in compose text -------------------------------------------------------------


@dataclass(frozen=True)
class ImageSite:
    """A service's ``image:`` value in one compose file, and where its tag sits in the text."""

    file: str
    service: str
    value: str  # as the YAML parser reads it (may hold ${...})
    line: int  # 1-based
    name: str | None = None  # the repository to ask the registry (defaults of ${X:-y} applied)
    tag: str | None = None
    offset: int | None = None  # index of the tag in the text; None when it cannot be edited in place
    note: str | None = None  # why it is not upgradable


def _mapping_get(node: Any, key: str, _depth: int = 0) -> Any:
    """The value node of `key` in a YAML mapping node, following ``<<`` merge keys."""
    import yaml

    if not isinstance(node, yaml.MappingNode) or _depth > 10:
        return None
    merges = []
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and k.tag != "tag:yaml.org,2002:merge":
            return v
        if isinstance(k, yaml.ScalarNode) and k.value == "<<":
            merges.extend(v.value if isinstance(v, yaml.SequenceNode) else [v])
    for m in merges:
        found = _mapping_get(m, key, _depth + 1)
        if found is not None:
            return found
    return None


def find_images(text: str, file: str) -> list[ImageSite]:
    """Every service's image in one compose file's text, with its tag's offset when it can be edited."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    services = _mapping_get(root, "services")
    if not isinstance(services, yaml.MappingNode):
        return []
    sites = []
    for key, svc in services.value:
        node = _mapping_get(svc, "image")
        if node is None:
            continue
        service = str(key.value)
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.ScalarNode):
            sites.append(ImageSite(file, service, "", line, note="image is not a string"))
            continue
        sites.append(_site(text, file, service, node, line))
    return sites


def _site(text: str, file: str, service: str, node: Any, line: int) -> ImageSite:
    value = str(node.value)
    base = dict(file=file, service=service, value=value, line=line)
    ref = split_image(value)
    if ref.tag is not None and not _TAG_OK.fullmatch(ref.tag):
        # `${A:-x}:${B:-1.2}` splits inside the braces: the tag is interpolated
        return ImageSite(**base, note="its tag is interpolated (${...}): change the default by hand")
    name = with_defaults(ref.name) if "$" in ref.name else ref.name
    if name is None:
        return ImageSite(**base, note="its name is interpolated without a default")
    if ref.digest:
        return ImageSite(**base, name=name, tag=ref.tag, note="pinned by digest")
    if ref.tag is None:
        return ImageSite(**base, name=name, note="no tag (floats on latest): pin a version tag first")
    if is_floating(ref.tag):
        return ImageSite(**base, name=name, tag=ref.tag, note=f"tag {ref.tag!r} floats or is not a version: pin a version tag first")
    # The tag's place in the text: after the opening quote (if any) and `name:`.
    start = node.start_mark.index
    props = _PROPS_RE.match(text, start)  # an anchor or tag before the value: `&img nginx:1.2`
    if props:
        start = props.end()
    start += 1 if node.style in ("'", '"') else 0
    head = ref.name + ":"
    offset = start + len(head)
    end = offset + len(ref.tag)
    if text[start:offset] != head or text[offset:end] != ref.tag or (end < len(text) and _TAG_OK.fullmatch(text[offset:end + 1])):
        return ImageSite(**base, name=name, tag=ref.tag,
                         note="written with escapes or folded over lines: edit it by hand")
    return ImageSite(**base, name=name, tag=ref.tag, offset=offset)


def replace_tags(text: str, edits: Sequence[tuple[int, str, str]]) -> str:
    """Replace tags at offsets: ``(offset, old_tag, new_tag)``; each old tag must be exactly there."""
    out = text
    for offset, old, new in sorted(set(edits), reverse=True):
        if out[offset:offset + len(old)] != old:
            raise RecipeError(f"image tag {old!r} is no longer at offset {offset}: the file changed meanwhile, run again")
        if not _TAG_OK.fullmatch(new):
            raise RecipeError(f"{new!r} is not a valid image tag")
        out = out[:offset] + new + out[offset + len(old):]
    return out


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"{path} is not UTF-8 text") from None


def _write_text(path: Path, text: str) -> None:
    """Replace a file atomically, keeping its mode (a recipe file is not a secret)."""
    from coopcloud.fsutil import write_atomic

    write_atomic(path, text, mode=None)


# -- upgrade ----------------------------------------------------------------------------------


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

    def to_json(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v)
                for f in fields(self) if f.name not in ("offset", "error")}


def plan_upgrade(path: Path, tags_for: Callable[[str], list[str]], *, level: str = MAJOR) -> list[ImageUpgrade]:
    """Ask the registry for each image's tags; the candidates per image, nothing chosen yet.

    `tags_for(name)` lists a repository's tags (a `RegistryClient().tags`); it is
    called once per repository, and its errors become a per-image note.
    """
    from coopcloud.errors import CoopError

    cache: dict[str, list[str] | CoopError] = {}
    plan: list[ImageUpgrade] = []
    seen_offsets: dict[tuple[str, int], str] = {}
    for file in _compose_files(path):
        text = _read_text(path / file)
        for site in find_images(text, file):
            up = ImageUpgrade(site.file, site.service, site.value, site.name, site.tag, note=site.note, offset=site.offset)
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
                up.note = "up to date" + (f" within --{level} (newer: {', '.join(up.newer_beyond_level[:3])})"
                                          if up.newer_beyond_level else "")
    return plan


def choose(up: ImageUpgrade, tag: str | None) -> None:
    """Record the choice for one image (None: keep the current tag)."""
    if tag is not None and tag not in up.candidates:
        raise UsageError(f"{up.service}: {tag!r} is not one of the offered tags ({', '.join(up.candidates) or 'none'})")
    up.chosen = tag
    up.change = change_class(up.current, tag) if tag else None


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
        _write_text(target, replace_tags(_read_text(target), edits))
    return sorted(by_file)


# -- the version label --------------------------------------------------------------------------

_LABEL_RE = re.compile(
    r"(?P<head>coop-cloud\.\$\{?STACK_NAME\}?\.version[ \t]*(?:=|:[ \t]+|:(?=[\"']))[ \t]*[\"']?)"
    r"(?P<value>(?:\$\{[^}\s]*\}|[^\s\"'#,\]}])*)"
)


def find_version_labels(text: str) -> list[tuple[int, str]]:
    """``(offset, value)`` of each ``coop-cloud.${STACK_NAME}.version`` label value (not in comments)."""
    found = []
    pos = 0
    for line in text.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            for m in _LABEL_RE.finditer(line):
                found.append((pos + m.start("value"), m["value"]))
        pos += len(line)
    return found


def set_version_label(text: str, version: str) -> tuple[str, list[str]]:
    """The text with every version label set to `version`, and the old values (empty list: no label).

    An interpolated value (``${COOP_CLOUD_VERSION:-latest}``) is the maintainer's
    choice and is left as it is.
    """
    found = find_version_labels(text)
    out = text
    for offset, old in reversed(found):
        if "$" not in old:
            out = out[:offset] + version + out[offset + len(old):]
    return out, [old for _, old in found]


# -- release ----------------------------------------------------------------------------------


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

    def to_json(self) -> dict:
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
    from coopcloud.domain.recipe import Recipe
    from coopcloud.errors import NotFound as _NF

    now_files = _compose_files(path)
    now = _images(lambda f: _read_text(path / f), now_files)
    if previous is None:
        return []
    old_recipe = Recipe.from_git(path, previous)

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


def main_image_tag(path: Path) -> str | None:
    """The tag of service ``app``'s image in the working tree (the ``+`` part of a version)."""
    for f in _compose_files(path):
        for site in find_images(_read_text(path / f), f):
            if site.service == MAIN_SERVICE:
                resolved = with_defaults(site.value)
                return split_image(resolved).tag if resolved else None
    return None


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


def _status(path: Path) -> list[tuple[str, str]]:
    """``(XY, path)`` of `git status` (untracked as ``??``), every file listed."""
    raw = _git(path, _READ_ENV, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries, parts, i = [], raw.split("\0"), 0
    while i < len(parts):
        item = parts[i]
        i += 1
        if not item:
            continue
        xy, p = item[:2], item[3:]
        entries.append((xy, p))
        if xy[0] in "RC":  # a rename is followed by its source path
            entries.append((xy, parts[i]))
            i += 1
    return entries


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
    from coopcloud.domain.version import latest, parse_version, versions_from_tags
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
    warnings += [f"{c.service} ({c.file}): {c.note}" for c in changes if c.note and c.change == MAJOR and c.old and c.new]

    main_tag = main_image_tag(path)
    if version:
        v = parse_version(version)
        if v.upstream is None:
            if not main_tag:
                raise RecipeError(f"recipe {path.name}: service {MAIN_SERVICE} has no image tag to name the version after",
                                  hint=f"give the full version, e.g. {v.semver}+1.0.0")
            version = f"{v.semver}+{main_tag}"
        elif main_tag and v.upstream != main_tag:
            raise RecipeError(
                f"version {version} names image tag {v.upstream}, but service {MAIN_SERVICE} uses {main_tag}",
                hint=f"use {v.semver}+{main_tag}, or give just {v.semver}",
            )
        v = parse_version(version)
        if prev is not None and not v > prev:
            raise Conflict(f"version {version} is not newer than the last release {previous}",
                           hint=f"give a version above {prev.semver}, or leave VERSION out to compute one")
        chosen_level = change_class(prev.semver if prev else "0.0.0", v.semver) or PATCH
        reason = "given on the command line"
    else:
        if not main_tag:
            raise RecipeError(f"recipe {path.name}: service {MAIN_SERVICE} has no image tag to name the version after",
                              hint="pin a version tag on its image, or give VERSION as <semver>+<tag>")
        computed = biggest(c.change for c in changes)
        if level:
            chosen_level, reason = level, f"--{level}"
        elif previous is None:
            chosen_level, reason = MINOR, "first release"
        elif computed:
            chosen_level = computed
            which = [c.service for c in changes if c.change == computed]
            reason = f"biggest image change since {previous}: {computed} ({', '.join(which)})"
        else:
            chosen_level, reason = PATCH, f"no image changed since {previous}"
        version = f"{bump(previous, chosen_level)}+{main_tag}"

    plan = ReleasePlan(path.name, path, previous, version, chosen_level, reason, changes,
                       message=release_message(version), publish=publish, warnings=warnings)
    for f in _compose_files(path):
        olds = find_version_labels(_read_text(path / f))
        if olds:
            plan.label_files[f] = [v for _, v in olds]
    for f, olds in plan.label_files.items():
        for old in olds:
            if "$" in old:
                plan.warnings.append(f"{f}: the version label is interpolated ({old}) and is left as it is")
    if not plan.label_files:
        plan.warnings.append(f"no coop-cloud.${{STACK_NAME}}.version label in the compose files: "
                             f"add one to service {MAIN_SERVICE}'s deploy.labels (lint R016)")
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
            raise RecipeError(f"recipe {path.name} has no remote 'origin' to publish to",
                              hint=f"run: git -C {path} remote add origin <url>, or leave out --publish")
        plan.branch = repo.current_branch()
        if plan.branch is None:
            raise RecipeError(f"recipe {path.name}: HEAD is detached, there is no branch to publish",
                              hint=f"check out a branch first (git -C {path} switch main)")
    return plan


def _check_tree(plan: ReleasePlan, path: Path) -> None:
    notes_paths = {f"release/{plan.version}", "release/next"}
    others, untracked, compose = [], [], []
    for xy, p in _status(path):
        if xy == "??":
            if p not in notes_paths:
                untracked.append(p)
        elif _COMPOSE_RE.fullmatch(p):
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
        plan.notes, plan.notes_source = _read_text(path / target), target
    elif (path / "release" / "next").is_file():
        plan.notes, plan.notes_source = _read_text(path / "release" / "next"), "release/next"
        plan.remove_next = True
    if plan.notes is not None:
        plan.notes_path = target


def set_notes(plan: ReleasePlan, notes: str | None, source: str) -> None:
    """Notes chosen after planning (from the editor); empty means none."""
    if notes and notes.strip():
        plan.notes, plan.notes_source, plan.notes_path = notes, source, f"release/{plan.version}"
        plan.commit_files = sorted(set(plan.commit_files) | {plan.notes_path})


_READ_ENV = None  # reads use the process environment, and never take git's optional locks


def _git(path: Path, environ: dict[str, str] | None, *args: str, check: bool = True) -> str:
    """Run git in `path` (argv only). Writes get the caller's environment (identity, signing...)."""
    from coopcloud.gitops.repo import find_git

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


def write_label(path: Path, plan: ReleasePlan) -> list[str]:
    """Set the version label in the compose files; returns the files changed."""
    changed = []
    for f in plan.label_files:
        text = _read_text(path / f)
        new, _ = set_version_label(text, plan.version)
        if new != text:
            _write_text(path / f, new)
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
        if not target.exists() or _read_text(target) != notes:
            _write_text(target, notes)
    if plan.remove_next:
        (path / "release" / "next").unlink(missing_ok=True)
    files = plan.commit_files
    if files:
        _git(path, env, "add", "-A", "--", *files)
        if _git(path, env, "status", "--porcelain", "--untracked-files=no", "--", *files).strip():
            _git(path, env, "commit", "-q", "-m", plan.message, "--", *files)
        else:  # nothing to commit (label already set, no notes): the tag goes on HEAD
            files = []
    commit = _git(path, env, "rev-parse", "HEAD").strip()
    _git(path, env, "tag", "-a", plan.version, "-m", plan.message, commit)
    pushed = False
    if plan.publish and plan.remote and plan.branch:
        _git(path, env, "push", "--atomic", "-q", plan.remote,
             f"refs/heads/{plan.branch}:refs/heads/{plan.branch}", f"refs/tags/{plan.version}")
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
        lines.append(f"#   {c.service}: {c.old or '(new)'} → {c.new or '(removed)'}" + (f" ({c.change})" if c.change else ""))
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


# -- diff / reset -------------------------------------------------------------------------------


@dataclass
class Changes:
    """Uncommitted work in a recipe's tree."""

    tracked: list[str]  # modified, added, deleted, renamed (vs HEAD or the index)
    untracked: list[str]


def _require_repo(path: Path) -> None:
    from coopcloud.gitops import GitRepo

    if not GitRepo(path).is_repo():
        raise RecipeError(f"recipe {path.name}: {path} is not a git repository")


def uncommitted(path: Path) -> Changes:
    _require_repo(path)
    tracked, untracked = set(), set()
    for xy, p in _status(path):
        (untracked if xy == "??" else tracked).add(p)
    return Changes(sorted(tracked), sorted(untracked))


def diff(path: Path, *, color: bool = False) -> str:
    """``git diff HEAD``: staged and unstaged changes of tracked files."""
    _require_repo(path)
    args = ["diff", f"--color={'always' if color else 'never'}"]
    if _git(path, _READ_ENV, "rev-parse", "--verify", "--quiet", "HEAD", check=False):
        args.append("HEAD")
    else:  # no commit yet: what is staged
        args.append("--cached")
    return _git(path, _READ_ENV, *args, "--")


def reset(settings: Settings, path: Path, *, untracked: bool = False) -> Changes:
    """Discard uncommitted changes of tracked files (index and tree back to HEAD); untracked files too if asked.

    Ignored files are never removed. Returns what was discarded.
    """
    changes = uncommitted(path)
    if changes.tracked:
        _git(path, settings.environ, "reset", "-q", "--hard", "HEAD")
    if untracked and changes.untracked:
        _git(path, settings.environ, "clean", "-q", "-f", "-d", "--", ".")
    return Changes(changes.tracked, changes.untracked if untracked else [])
