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
from array import array
from typing import TYPE_CHECKING, NoReturn, TypeAlias, cast

from coopcloud.compose import KeyPath
from coopcloud.errors import ComposeError

if TYPE_CHECKING:  # PyYAML only for the annotations: importing coop must not import yaml
    from collections.abc import Callable

    import yaml
    from yaml.events import AliasEvent, Event, NodeEvent, ScalarEvent

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


# What a YAML scalar decodes to (yaml.v3 into interface{}).
Scalar: TypeAlias = str | int | float | bool | _dt.datetime | None


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


def resolve_plain(text: str) -> Scalar:
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
    """Line numbers (1-based) of keys and items, by path; for error messages.

    Mapping keys by path; a sequence's items as one compact array per sequence (a file of a million
    list items costs 4 bytes a line, not a tuple and a dict slot each)."""

    __slots__ = ("by_path", "items")

    def __init__(self) -> None:
        self.by_path: dict[KeyPath, int] = {}
        self.items: dict[KeyPath, array[int]] = {}

    def line(self, path: KeyPath) -> int | None:
        while path:
            if path in self.by_path:
                return self.by_path[path]
            index = path[-1]
            if isinstance(index, int):
                found = self.items.get(path[:-1])
                if found is not None and 0 <= index < len(found):
                    return found[index]
            path = path[:-1]
        return None


_STR = "tag:yaml.org,2002:str"
_PLAIN = "tag:coop,plain"
_MERGE = "tag:yaml.org,2002:merge"


def _loader_class() -> type[yaml.CSafeLoader]:
    import yaml

    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode
    default_tag = {
        scalar: yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG,
        sequence: yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
        yaml.MappingNode: yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    }

    class GoYamlLoader(yaml.CSafeLoader):
        """Every plain scalar gets a private tag: we resolve it ourselves, the yaml.v3 way."""

        def resolve(
            self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]
        ) -> str:  # PyYAML's own costs ~40% of a parse
            if kind is scalar and implicit[0]:
                return _PLAIN
            return default_tag[kind]

    return GoYamlLoader


_LOADER: type[yaml.CSafeLoader] | None = None


def parse(text: str, name: str) -> tuple[object, Lines]:
    """Parse one YAML document; return its value and the line index.

    Values are built from the parser's events as they come (PyYAML's C parser), never as a node tree
    first: an 8 MiB file costs its values, not a node and two marks per scalar as well."""
    global _LOADER
    import yaml

    if _LOADER is None:
        _LOADER = _loader_class()
    loader = _LOADER(text)
    try:
        return _Builder(name, loader).document()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise ComposeError(f"{where}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ComposeError(f"{name}: invalid YAML: {e}") from None
    finally:
        loader.dispose()


class _Anchor:
    """What an anchor names: its value (shared by every alias: values are never changed in place),
    the nodes yaml.v3 decodes for each alias of it, its height, and a scalar's text."""

    __slots__ = ("height", "nodes", "text", "value")

    def __init__(self, value: object, nodes: int, height: int, text: str | None):
        self.value, self.nodes, self.height, self.text = value, nodes, height, text


class _Builder:
    def __init__(self, name: str, loader: yaml.CSafeLoader):
        import yaml

        self.name = name
        self.loader = loader
        # The stubs say `Event | None` (None past the stream's end): each call here follows a
        # check_event that is not at an end event, where the grammar puts a node's first event.
        self.next_node = cast("Callable[[], NodeEvent]", loader.get_event)
        self.lines = Lines()
        self.anchors: dict[str | None, _Anchor] = {}  # an alias event always names one
        self.open: set[str] = set()  # anchors whose node is being built (an alias to one recurses)
        self.decodes = 0
        self.aliased = 0
        self.depth = 0
        self.y = yaml

    def fail(self, event: Event | None, msg: str) -> NoReturn:
        mark = event.start_mark if event is not None else None
        where = f"{self.name}:{mark.line + 1}" if mark is not None else self.name
        raise ComposeError(f"{where}: {msg}")

    def document(self) -> tuple[object, Lines]:
        y, get, check = self.y, self.loader.get_event, self.loader.check_event
        get()  # stream start
        value = None
        if not check(y.StreamEndEvent):
            get()  # document start
            value = self.node(self.next_node(), ())[0]
            get()  # document end
        if not check(y.StreamEndEvent):
            self.fail(get(), "invalid YAML: but found another document")
        return value, self.lines

    def count(self, event: Event, decodes: int, aliased: int) -> None:
        """Count decodes as yaml.v3 does: each node once; an alias decodes its anchor's nodes again (two
        each). The check holds for a whole alias at once as it would node by node: past it, it holds on."""
        self.decodes += decodes
        self.aliased += aliased
        if (
            self.aliased > 100
            and self.decodes > 1000
            and self.aliased / self.decodes > allowed_alias_ratio(self.decodes)
        ):
            self.fail(event, "document contains excessive aliasing (as docker's YAML reader refuses it)")

    def node(self, event: NodeEvent, path: KeyPath) -> tuple[object, int, int]:
        """The value of the node that starts with `event`, the nodes it decodes, and its height."""
        y = self.y
        if isinstance(event, y.AliasEvent):
            anchor = self.alias(event)
            return anchor.value, anchor.nodes, anchor.height
        self.count(event, 1, 0)
        anchor_name = event.anchor
        if anchor_name is not None:
            self.open.add(anchor_name)
        value: object
        if isinstance(event, y.ScalarEvent):
            value, nodes, height = self.scalar(event), 1, 0
        else:
            if self.depth >= MAX_DEPTH:
                self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
            self.depth += 1
            if isinstance(event, y.SequenceStartEvent):
                value, nodes, height = self.sequence(path)
            else:
                value, nodes, height = self.mapping(path)
            self.depth -= 1
        if anchor_name is not None:
            self.open.discard(anchor_name)
            text = event.value if isinstance(event, y.ScalarEvent) else None
            self.anchors[anchor_name] = _Anchor(value, nodes, height, text)
        return value, nodes, height

    def alias(self, event: AliasEvent) -> _Anchor:
        if event.anchor in self.open:
            self.fail(event, "recursive alias")
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            self.fail(event, f"invalid YAML: found undefined alias {event.anchor!r}")
        if self.depth + anchor.height > MAX_DEPTH:
            self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
        self.count(event, 2 * anchor.nodes, 2 * anchor.nodes)
        return anchor

    def sequence(self, path: KeyPath) -> tuple[list[object], int, int]:
        get, check, end = self.next_node, self.loader.check_event, self.y.SequenceEndEvent
        out: list[object] = []
        lines = array("i")
        nodes, height = 1, 0
        while not check(end):
            event = get()
            mark = event.start_mark
            lines.append(mark.line + 1 if mark is not None else 0)
            value, n, h = self.node(event, path + (len(out),))
            out.append(value)
            nodes += n
            height = max(height, h)
        get()
        if lines:
            self.lines.items.setdefault(path, lines)
        return out, nodes, height + 1

    def scalar(self, event: ScalarEvent) -> Scalar:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            tag = _PLAIN if event.implicit[0] else _STR
        if tag == _PLAIN:
            return resolve_plain(value)
        if tag == _STR:
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
            self.fail(event, f"unsupported YAML tag {tag}")
        self.fail(event, f"cannot decode {value!r} as {tag}")

    def merge_sources(self, event: NodeEvent, path: KeyPath) -> tuple[list[dict[str, object]], int, int]:
        """The mappings a `<<` key merges (one, or a sequence of them), their nodes and height."""
        y = self.y
        get, check = self.next_node, self.loader.check_event
        found: list[dict[str, object]] = []
        nodes = height = 0

        def take(item: NodeEvent) -> None:
            nonlocal nodes, height
            if isinstance(item, (y.ScalarEvent, y.SequenceStartEvent)):
                self.fail(item, "map merge requires map or sequence of maps as the value")
            value, n, h = self.node(item, path)
            if not isinstance(value, dict):
                self.fail(item, "map merge requires map or sequence of maps as the value")
            found.append(value)
            nodes, height = nodes + n, max(height, h)

        if not isinstance(event, y.SequenceStartEvent):
            take(event)
            return found, nodes, height
        while not check(y.SequenceEndEvent):  # the sequence itself is not a decode of its own
            take(get())
        get()
        return found, nodes, height

    def key(self, event: NodeEvent) -> str:
        y = self.y
        if isinstance(event, y.AliasEvent):
            anchor = self.alias(event)
            if anchor.text is None:
                self.fail(event, "mapping keys must be strings")
            key, text = anchor.value, anchor.text
        elif isinstance(event, y.ScalarEvent):
            self.count(event, 1, 0)
            key, text = self.scalar(event), event.value
        else:
            self.fail(event, "mapping keys must be strings")
        if key is None:
            return "null"  # yaml.v3 + docker: a null key becomes the string "null"? keep visible
        return key if isinstance(key, str) else text

    def mapping(self, path: KeyPath) -> tuple[dict[str, object], int, int]:
        y = self.y
        get, check = self.next_node, self.loader.check_event
        out: dict[str, object] = {}
        merged: dict[str, object] = {}
        nodes, height = 1, 0
        while not check(y.MappingEndEvent):
            kev = get()
            if isinstance(kev, y.ScalarEvent) and (
                kev.tag == _MERGE or (kev.tag is None and kev.implicit[0] and kev.value == "<<")
            ):
                sources, n, h = self.merge_sources(get(), path)
                for src in sources:
                    for k, v in src.items():
                        merged.setdefault(k, v)
                nodes, height = nodes + n, max(height, h)
                continue
            key = self.key(kev)
            if key in out:
                self.fail(kev, f'mapping key "{key}" already defined')
            p = path + (key,)
            mark = kev.start_mark
            self.lines.by_path[p] = mark.line + 1 if mark is not None else 0
            out[key], n, h = self.node(get(), p)
            nodes, height = nodes + n + 1, max(height, h)
        get()
        for k, v in merged.items():
            out.setdefault(k, v)
        return out, nodes, height + 1
