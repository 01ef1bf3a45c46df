"""YAML in, with Go yaml.v3 scalar rules (what the docker CLI reads compose files with).

PyYAML's C parser builds the node tree; this module turns nodes into Python values itself so that:

- plain scalars resolve like yaml.v3 decoding into ``interface{}``: only ``true``/``True``/``TRUE``
  (and the false forms) are booleans, ``yes``/``no``/``on``/``off`` stay strings; ``0440``, ``0o440``,
  ``0x1F``, ``0b11`` and ``1_000`` are ints, ``1e3`` and ``.5`` floats, ``~``/``null``/empty are None;
  ``2001-12-14`` is a timestamp (a ``datetime``), as yaml.v3 makes it a ``time.Time``;
- ``<<`` merge keys, anchors and aliases work; duplicate keys are an error, as in yaml.v3;
- alias expansion has yaml.v3's budget ("document contains excessive aliasing"), so a few hundred
  bytes of nested aliases cannot expand into gigabytes; nesting deeper than `MAX_DEPTH` is refused;
- the line of every mapping key and list item is kept (``Lines``) for error messages.

PyYAML is imported inside the functions: importing coop must not import yaml.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from coopcloud.errors import ComposeError

Path = tuple  # ("services", "app", "ports", 1)

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_SPECIAL_FLOATS = {
    ".inf": float("inf"),
    ".Inf": float("inf"),
    ".INF": float("inf"),
    "+.inf": float("inf"),
    "+.Inf": float("inf"),
    "+.INF": float("inf"),
    "-.inf": float("-inf"),
    "-.Inf": float("-inf"),
    "-.INF": float("-inf"),
    ".nan": float("nan"),
    ".NaN": float("nan"),
    ".NAN": float("nan"),
}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT = re.compile(
    r"(?P<sign>[-+]?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[oO](?P<oct>[0-7]+)|0[bB](?P<bin>[01]+)"
    r"|(?P<oct0>0[0-7]*)|(?P<dec>[1-9][0-9]*))\Z"
)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?"
    r"(?:[ \t]*(Z|[-+]\d{1,2}(?::?\d{2})?))?)?\Z"
)
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# yaml.v3's alias budget (decode.go, allowedAliasRatio): once past 1000 decoded nodes and 100 of them
# reached through aliases, at most 99% of decodes may come from aliases up to 400,000 decodes, then a
# share sliding down to 10% at 4,000,000. Docker reads compose files with yaml.v3, so a file it refuses
# for aliasing is refused here too, before it costs memory.
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000
# Compose files nest a few levels; this keeps the (recursive) builder far from Python's stack limit.
MAX_DEPTH = 200


def allowed_alias_ratio(decodes: int) -> float:
    """The share of decodes yaml.v3 lets come from alias expansion, for a document of `decodes` so far."""
    if decodes <= _ALIAS_RATIO_LOW:
        return 0.99
    if decodes >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def _go_int(text: str) -> int | None:
    m = _GO_INT.match(text)
    if not m:
        return None
    if m["hex"] is not None:
        v = int(m["hex"], 16)
    elif m["oct"] is not None:
        v = int(m["oct"], 8)
    elif m["bin"] is not None:
        v = int(m["bin"], 2)
    elif m["oct0"] is not None:
        v = int(m["oct0"], 8)
    else:
        v = int(m["dec"])
    if m["sign"] == "-":
        v = -v
    if v < _INT64_MIN or v > _UINT64_MAX or (v > _INT64_MAX and m["sign"]):
        return None
    return v


def _timestamp(text: str) -> _dt.datetime | None:
    m = _TIMESTAMP.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tzinfo = _dt.UTC
        if tz and tz != "Z":
            sign = -1 if tz[0] == "-" else 1
            hh, _, mm = tz[1:].partition(":")
            if not mm and len(hh) > 2:
                hh, mm = hh[:-2], hh[-2:]
            tzinfo = _dt.timezone(sign * _dt.timedelta(hours=int(hh), minutes=int(mm or 0)))
        return _dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro, tzinfo)
    except ValueError:
        return None


def resolve_plain(text: str) -> Any:
    """The value yaml.v3 gives a plain (unquoted, untagged) scalar when decoding into interface{}."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    c = text[0]
    if c in "+-.0123456789":
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        if c.isdigit():
            ts = _timestamp(text)
            if ts is not None:
                return ts
        plain = text.replace("_", "")
        v = _go_int(plain)
        if v is not None:
            return v
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text


class Lines:
    """Line numbers (1-based) of keys and items, by path; for error messages."""

    __slots__ = ("by_path",)

    def __init__(self) -> None:
        self.by_path: dict[tuple, int] = {}

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return None


_STR = "tag:yaml.org,2002:str"
_PLAIN = "tag:coop,plain"


def _loader_class():
    import yaml

    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode
    default_tag = {
        scalar: yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG,
        sequence: yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
        yaml.MappingNode: yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    }

    class GoYamlLoader(yaml.CSafeLoader):
        """Every plain scalar gets a private tag: we resolve it ourselves, the yaml.v3 way."""

        def resolve(self, kind, value, implicit):  # called once per node: PyYAML's own costs ~40% of a parse
            if kind is scalar and implicit[0]:
                return _PLAIN
            return default_tag[kind]

    return GoYamlLoader


_LOADER = None


def parse(text: str, name: str) -> tuple[Any, Lines]:
    """Parse one YAML document; return its value and the line index."""
    global _LOADER
    import yaml

    if _LOADER is None:
        _LOADER = _loader_class()
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise ComposeError(f"{where}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ComposeError(f"{name}: invalid YAML: {e}") from None
    finally:
        loader.dispose()
    lines = Lines()
    if node is None:
        return None, lines
    return _Builder(name, lines).build(node, ()), lines


class _Builder:
    def __init__(self, name: str, lines: Lines):
        self.name = name
        self.lines = lines
        self.active: set[int] = set()
        # PyYAML's composer hands out the anchored node itself for an alias, so a node met a second
        # time was reached through an alias (an anchor always comes before its aliases).
        self.seen: set[int] = set()
        self.decodes = 0
        self.aliased = 0
        self.alias_depth = 0
        self.depth = 0

    def fail(self, node, msg: str):
        raise ComposeError(f"{self.name}:{node.start_mark.line + 1}: {msg}")

    def count(self, node) -> bool:
        """Count one decode as yaml.v3 does; True when `node` is reached through an alias."""
        via_alias = id(node) in self.seen
        self.seen.add(id(node))
        self.decodes += 1 + via_alias  # yaml.v3 decodes the alias node, then its target
        if self.alias_depth or via_alias:
            self.aliased += 1 + via_alias
        if (
            self.aliased > 100
            and self.decodes > 1000
            and self.aliased / self.decodes > allowed_alias_ratio(self.decodes)
        ):
            self.fail(node, "document contains excessive aliasing (as docker's YAML reader refuses it)")
        return via_alias

    def build(self, node, path: tuple) -> Any:
        via_alias = self.count(node)
        self.alias_depth += via_alias
        try:
            return self._build(node, path)
        finally:
            self.alias_depth -= via_alias

    def _build(self, node, path: tuple) -> Any:
        import yaml

        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            self.fail(node, "recursive alias")
        if self.depth >= MAX_DEPTH:
            self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        self.active.add(id(node))
        self.depth += 1
        try:
            if isinstance(node, yaml.SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    p = path + (i,)
                    self.lines.by_path.setdefault(p, item.start_mark.line + 1)
                    out.append(self.build(item, p))
                return out
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
            self.depth -= 1

    def scalar(self, node) -> Any:
        tag, value = node.tag, node.value
        if tag == _PLAIN:
            return resolve_plain(value)
        if tag == _STR or tag == "!":
            return value
        short = tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else None
        if short == "null":
            return None
        if short == "bool":
            v = resolve_plain(value)
            if isinstance(v, bool):
                return v
        elif short == "int":
            v = resolve_plain(value)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        elif short == "float":
            v = resolve_plain(value)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
        elif short == "timestamp":
            v = _timestamp(value)
            if v is not None:
                return v
        else:
            self.fail(node, f"unsupported YAML tag {tag}")
        self.fail(node, f"cannot decode {value!r} as {tag}")

    def mapping(self, node, path: tuple) -> dict:
        import yaml

        out: dict = {}
        merged: dict = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge" or (knode.tag == _PLAIN and knode.value == "<<"):
                sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        self.fail(vnode, "map merge requires map or sequence of maps as the value")
                    for k, v in self.build(src, path).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                self.fail(knode, "mapping keys must be strings")
            self.count(knode)
            key = self.scalar(knode)
            if key is None:
                key = "null"  # yaml.v3 + docker: a null key becomes the string "null"? keep visible
            if not isinstance(key, str):
                key = knode.value
            if key in out:
                self.fail(knode, f'mapping key "{key}" already defined')
            p = path + (key,)
            self.lines.by_path[p] = knode.start_mark.line + 1
            out[key] = self.build(vnode, p)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out
