"""Small pure helpers the rules share: image references, ``$VAR`` references, walking YAML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# docker/cli's template pattern (see coopcloud.compose.interpolate): $$, $NAME, ${NAME...}
_SUBST = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_VAR_RE = re.compile(rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBST})|{{(?P<braced>{_SUBST})}})")
_NAME_RE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class VarRef(NamedTuple):
    name: str
    default: str | None  # the text after :- or -, None when there is no default
    required: bool  # ${NAME:?msg} / ${NAME?msg}


def var_refs(text: str) -> list[VarRef]:
    """The variables a compose string interpolates: ``"${A:-x}/$$B/$C"`` -> A (default x), C."""
    refs = []
    for m in _VAR_RE.finditer(text):
        sub = m["named"] or m["braced"]
        named = _NAME_RE.match(sub) if sub else None
        if named is None:  # `$$`, or no name to read
            continue
        name = named[0]
        rest = sub[len(name) :]
        default = None
        if rest.startswith(":-"):
            default = rest[2:]
        elif rest.startswith("-"):
            default = rest[1:]
        refs.append(VarRef(name, default, rest.startswith((":?", "?"))))
    return refs


def strings(node: object, path: tuple[object, ...] = ()) -> Iterator[tuple[tuple[object, ...], str]]:
    """Every string value in a parsed YAML document (keys are not interpolated, so skipped)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, (*path, i))


def env_items(environment: object) -> Iterator[tuple[str, str | None]]:
    """(key, value) of a raw compose ``environment:`` (list ``K=V`` / ``K`` or mapping)."""
    if isinstance(environment, dict):
        for k, v in environment.items():
            yield str(k), None if v is None else str(v)
    elif isinstance(environment, list):
        for item in environment:
            if not isinstance(item, str):
                continue
            key, sep, value = item.partition("=")
            yield key, value if sep else None
