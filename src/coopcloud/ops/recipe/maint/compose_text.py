"""Image values and the version label in a recipe's compose files, edited byte for byte.

The compose files are rewritten by replacing the exact characters of an image
tag or of the version label value, found through the YAML parser's marks
(offsets into the text), never by re-serialising YAML. Every comment, quote,
blank line and line ending stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.imagetag import DOCKER_TAG_RE, is_floating, split_image, with_defaults
from coopcloud.errors import RecipeError
from coopcloud.swarm.labels import MAIN_SERVICE

if TYPE_CHECKING:
    import yaml

_PROPS_RE = re.compile(r"(?:[&!][^\s]*\s+)+")
_LABEL_RE = re.compile(
    r"(?P<head>coop-cloud\.\$\{?STACK_NAME\}?\.version[ \t]*(?:=|:[ \t]+|:(?=[\"']))[ \t]*[\"']?)"
    r"(?P<value>(?:\$\{[^}\s]*\}|[^\s\"'#,\]}])*)"
)


def compose_files(path: Path) -> list[str]:
    from coopcloud.sources import recipe_from_dir

    return recipe_from_dir(path).compose_files()


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


def _mapping_get(node: yaml.Node | None, key: str, _depth: int = 0) -> yaml.Node | None:
    """The value node of `key` in a YAML mapping node, following ``<<`` merge keys."""
    import yaml

    if not isinstance(node, yaml.MappingNode) or _depth > 10:
        return None
    merges: list[yaml.Node] = []
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


def _site(text: str, file: str, service: str, node: yaml.ScalarNode, line: int) -> ImageSite:
    value = str(node.value)
    base = ImageSite(file, service, value, line)
    ref = split_image(value)
    if ref.tag is not None and not DOCKER_TAG_RE.fullmatch(ref.tag):
        # `${A:-x}:${B:-1.2}` splits inside the braces: the tag is interpolated
        return replace(base, note="its tag is interpolated (${...}): change the default by hand")
    name = with_defaults(ref.name) if "$" in ref.name else ref.name
    if name is None:
        return replace(base, note="its name is interpolated without a default")
    if ref.digest:
        return replace(base, name=name, tag=ref.tag, note="pinned by digest")
    if ref.tag is None:
        return replace(base, name=name, note="no tag (floats on latest): pin a version tag first")
    if is_floating(ref.tag):
        return replace(
            base, name=name, tag=ref.tag, note=f"tag {ref.tag!r} floats or is not a version: pin a version tag first"
        )
    # The tag's place in the text: after the opening quote (if any) and `name:`.
    start = node.start_mark.index
    props = _PROPS_RE.match(text, start)  # an anchor or tag before the value: `&img nginx:1.2`
    if props:
        start = props.end()
    start += 1 if node.style in ("'", '"') else 0
    head = ref.name + ":"
    offset = start + len(head)
    end = offset + len(ref.tag)
    if (
        text[start:offset] != head
        or text[offset:end] != ref.tag
        or (end < len(text) and DOCKER_TAG_RE.fullmatch(text[offset : end + 1]))
    ):
        return replace(base, name=name, tag=ref.tag, note="written with escapes or folded over lines: edit it by hand")
    return replace(base, name=name, tag=ref.tag, offset=offset)


def replace_tags(text: str, edits: Sequence[tuple[int, str, str]]) -> str:
    """Replace tags at offsets: ``(offset, old_tag, new_tag)``; each old tag must be exactly there."""
    out = text
    for offset, old, new in sorted(set(edits), reverse=True):
        if out[offset : offset + len(old)] != old:
            raise RecipeError(
                f"image tag {old!r} is no longer at offset {offset}: the file changed meanwhile, run again"
            )
        if not DOCKER_TAG_RE.fullmatch(new):
            raise RecipeError(f"{new!r} is not a valid image tag")
        out = out[:offset] + new + out[offset + len(old) :]
    return out


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"{path} is not UTF-8 text") from None


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
            out = out[:offset] + version + out[offset + len(old) :]
    return out, [old for _, old in found]


def main_image_tag(path: Path) -> str | None:
    """The tag of service ``app``'s image in the working tree (the ``+`` part of a version)."""
    for f in compose_files(path):
        for site in find_images(read_text(path / f), f):
            if site.service == MAIN_SERVICE:
                resolved = with_defaults(site.value)
                return split_image(resolved).tag if resolved else None
    return None
