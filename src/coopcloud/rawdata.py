"""Typed reads of decoded JSON and YAML: engine and registry answers, compose files, restic's output.

Such data arrives as `object`. These accessors narrow one value at a time, so the code that reads it is
checked by mypy without `Any`: a value of the wrong type is a `RawDataError` naming the key, never an
AttributeError three calls later. Writing JSON needs none of this: `dict[str, object]` is what
`json.dumps` takes (`JSONDict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

# What a command's `--json` and an engine request body are built as: json.dumps reads it, nothing else.
JSONDict: TypeAlias = dict[str, object]
# A decoded JSON or YAML object whose values are not known yet.
RawMap: TypeAlias = Mapping[str, object]


class RawDataError(ValueError):
    """A decoded document did not have the shape its reader expects."""


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def as_map(value: object, what: str = "value") -> RawMap:
    """`value` as a mapping with string keys; None is an empty one (JSON's null and YAML's `key:`)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise RawDataError(f"{what}: expected an object, found {_kind(value)}")


def as_list(value: object, what: str = "value") -> list[object]:
    """`value` as a list; None is an empty one."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    raise RawDataError(f"{what}: expected a list, found {_kind(value)}")


def get_map(doc: RawMap, key: str) -> RawMap:
    """The object under `key` ({} when absent or null)."""
    return as_map(doc.get(key), key)


def get_list(doc: RawMap, key: str) -> list[object]:
    """The list under `key` ([] when absent or null)."""
    return as_list(doc.get(key), key)


def get_str(doc: RawMap, key: str, default: str = "") -> str:
    """The string under `key` (`default` when absent or null)."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise RawDataError(f"{key}: expected a string, found {_kind(value)}")


def get_int(doc: RawMap, key: str, default: int = 0) -> int:
    """The integer under `key` (`default` when absent or null); a bool is not one."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RawDataError(f"{key}: expected an integer, found {_kind(value)}")


def get_opt_str(doc: RawMap, key: str) -> str | None:
    """The string under `key`, or None when absent or null."""
    return None if doc.get(key) is None else get_str(doc, key)


def get_opt_int(doc: RawMap, key: str) -> int | None:
    """The integer under `key`, or None when absent or null."""
    return None if doc.get(key) is None else get_int(doc, key)


def get_float(doc: RawMap, key: str, default: float = 0.0) -> float:
    """The number under `key` as a float (`default` when absent or null); a bool is not one."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise RawDataError(f"{key}: expected a number, found {_kind(value)}")


def get_bool(doc: RawMap, key: str, default: bool = False) -> bool:
    """The boolean under `key` (`default` when absent or null)."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise RawDataError(f"{key}: expected true or false, found {_kind(value)}")


def setdefault_map(doc: JSONDict, key: str) -> JSONDict:
    """The object under `key` of a document being built or edited, to change in place: created empty when
    absent or null."""
    value = doc.get(key)
    if value is None:
        value = doc[key] = {}
    if isinstance(value, dict):
        return value
    raise RawDataError(f"{key}: expected an object, found {_kind(value)}")


def str_map(value: object, what: str = "value") -> dict[str, str]:
    """A mapping of strings to strings (labels, options); a non-string value is an error."""
    out: dict[str, str] = {}
    for k, v in as_map(value, what).items():
        if not isinstance(v, str):
            raise RawDataError(f"{what}.{k}: expected a string, found {_kind(v)}")
        out[k] = v
    return out


def str_list(value: object, what: str = "value") -> list[str]:
    """A list of strings (tags, paths, a command); None is an empty one, a non-string item is an error."""
    out: list[str] = []
    for i, item in enumerate(as_list(value, what)):
        if not isinstance(item, str):
            raise RawDataError(f"{what}[{i}]: expected a string, found {_kind(item)}")
        out.append(item)
    return out
