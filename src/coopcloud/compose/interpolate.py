"""``$VAR`` interpolation with the docker CLI's rules, and the type casts docker applies after it.

Same pattern as docker/cli's ``template`` package: ``$$`` escapes, ``$VAR`` / ``${VAR}``, and the
modifiers ``:-`` ``-`` ``:?`` ``?`` (in that order of precedence). No nesting. An unset variable
becomes ``""``. Only values are interpolated, never keys. Quirk kept on purpose: the unbraced form
takes modifiers too (``$A-b`` means ``${A-b}``), as docker's pattern does.

>>> substitute("${A:-x}/$$B/$C", {"C": "c"}.get)
'x/$B/c'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeAlias

from coopcloud.compose import KeyPath

_SUBST = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_PATTERN = re.compile(rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBST})|{{(?P<braced>{_SUBST})}}|(?P<invalid>))")

Lookup = Callable[[str], "str | None"]
# What a `${...}` function answers: None when it does not apply, else (text, the error it raised).
FuncResult: TypeAlias = "tuple[str, TemplateError | None] | None"


class TemplateError(ValueError):
    """A template could not be substituted; ``str()`` is the reason."""


def _soft_default(sub: str, lookup: Lookup) -> FuncResult:
    if ":-" not in sub:
        return None
    name, _, default = sub.partition(":-")
    value = lookup(name)
    return (value if value else default), None


def _hard_default(sub: str, lookup: Lookup) -> FuncResult:
    if "-" not in sub:
        return None
    name, _, default = sub.partition("-")
    value = lookup(name)
    return (default if value is None else value), None


def _required(sep: str, nonempty: bool) -> Callable[[str, Lookup], FuncResult]:
    def f(sub: str, lookup: Lookup) -> FuncResult:
        if sep not in sub:
            return None
        name, _, msg = sub.partition(sep)
        value = lookup(name)
        if value is None or (nonempty and value == ""):
            return "", TemplateError(f"required variable {name} is missing a value: {msg}")
        return value, None

    return f


_FUNCS = (_soft_default, _hard_default, _required(":?", True), _required("?", False))


def substitute(template: str, lookup: Lookup, unset: Callable[[str], None] | None = None) -> str:
    """Substitute variables in one string, exactly as docker's ``template.Substitute``.

    Docker keeps only the error of the *last* substitution it evaluated; so do we.
    """
    if "$" not in template:
        return template
    err: Exception | None = None

    def repl(m: re.Match[str]) -> str:
        nonlocal err
        if m["escaped"]:
            return "$"
        sub = m["named"] or m["braced"]
        if not sub:
            err = TemplateError(f"invalid interpolation format: {template!r}; escape $ as $$")
            return ""
        for f in _FUNCS:
            r = f(sub, lookup)
            if r is None:
                err = None
                continue
            text, err = r
            return "" if err else text
        value = lookup(sub)
        if value is None:
            if unset is not None:
                unset(sub)
            return ""
        return value

    out = _PATTERN.sub(repl, template)
    if err is not None:
        raise err
    return out


# Paths whose interpolated value docker casts (loader/interpolate.go). "*" matches any key,
# "[]" any list item.
def _to_int(v: str) -> int:
    s = v
    if s[:1] in "+-":
        s = s[1:]
    if not s.isdigit() or not s.isascii():
        raise ValueError(f'invalid syntax: "{v}"')
    return int(v)


def _to_float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        raise ValueError(f'invalid syntax: "{v}"') from None


def _to_bool(v: str) -> bool:
    low = v.lower()
    if low in ("y", "yes", "true", "on"):
        return True
    if low in ("n", "no", "false", "off"):
        return False
    raise ValueError(f"invalid boolean: {v}")


# A cast of an interpolated string to the type docker's schema gives that field.
Cast: TypeAlias = Callable[[str], int | float | bool]
_S = ("services", "*")
_CASTS: list[tuple[tuple[str, ...], Cast]] = [
    (_S + ("configs", "[]", "mode"), _to_int),
    (_S + ("secrets", "[]", "mode"), _to_int),
    (_S + ("healthcheck", "retries"), _to_int),
    (_S + ("healthcheck", "disable"), _to_bool),
    (_S + ("deploy", "replicas"), _to_int),
    (_S + ("deploy", "update_config", "parallelism"), _to_int),
    (_S + ("deploy", "update_config", "max_failure_ratio"), _to_float),
    (_S + ("deploy", "rollback_config", "parallelism"), _to_int),
    (_S + ("deploy", "rollback_config", "max_failure_ratio"), _to_float),
    (_S + ("deploy", "restart_policy", "max_attempts"), _to_int),
    (_S + ("deploy", "placement", "max_replicas_per_node"), _to_int),
    (_S + ("ports", "[]", "target"), _to_int),
    (_S + ("ports", "[]", "published"), _to_int),
    (_S + ("ulimits", "*"), _to_int),
    (_S + ("ulimits", "*", "hard"), _to_int),
    (_S + ("ulimits", "*", "soft"), _to_int),
    (_S + ("privileged",), _to_bool),
    (_S + ("oom_score_adj",), _to_int),
    (_S + ("read_only",), _to_bool),
    (_S + ("stdin_open",), _to_bool),
    (_S + ("tty",), _to_bool),
    (_S + ("volumes", "[]", "read_only"), _to_bool),
    (_S + ("volumes", "[]", "volume", "nocopy"), _to_bool),
    (("networks", "*", "external"), _to_bool),
    (("networks", "*", "internal"), _to_bool),
    (("networks", "*", "attachable"), _to_bool),
    (("volumes", "*", "external"), _to_bool),
    (("secrets", "*", "external"), _to_bool),
    (("configs", "*", "external"), _to_bool),
]


def _casts_by_shape() -> dict[tuple[int, str], list[tuple[int, tuple[str, ...], Cast]]]:
    """`_CASTS` indexed by (length, last element) with their order, so a lookup tries a few, not all."""
    out: dict[tuple[int, str], list[tuple[int, tuple[str, ...], Cast]]] = {}
    for order, (pattern, cast) in enumerate(_CASTS):
        out.setdefault((len(pattern), pattern[-1]), []).append((order, pattern, cast))
    return out


_CASTS_BY_SHAPE = _casts_by_shape()


def _cast_for(path: KeyPath) -> Cast | None:
    if not path:
        return None
    n, last = len(path), path[-1]
    candidates = [*_CASTS_BY_SHAPE.get((n, "*"), ())]
    if isinstance(last, int):
        candidates += _CASTS_BY_SHAPE.get((n, "[]"), ())
    elif last not in ("*", "[]"):
        candidates += _CASTS_BY_SHAPE.get((n, last), ())
    for _, pattern, cast in sorted(candidates, key=lambda c: c[0]):
        for want, got in zip(pattern, path):
            if want == "*":
                continue
            if want == "[]":
                if not isinstance(got, int):
                    break
                continue
            if want != got:
                break
        else:
            return cast
    return None


# Characters that substitutions may add to one compose file: a realistic file adds kilobytes; a
# hostile one repeating a long variable (through YAML aliases or in one string) would add gigabytes.
MAX_SUBSTITUTED = 16 * 1024 * 1024


class _OverBudget(Exception):
    pass


class InterpolationError(Exception):
    def __init__(self, path: KeyPath, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def interpolate(
    doc: Mapping[str, object],
    env: Mapping[str, str],
    path: KeyPath = (),
    unset: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Interpolate every string value in a parsed document (keys untouched), then cast.

    Substitutions may add at most `MAX_SUBSTITUTED` characters in all.
    """
    added = 0

    def lookup(name: str) -> str | None:
        nonlocal added
        value = env.get(name)
        if value:
            added += len(value)
            if added > MAX_SUBSTITUTED:
                raise _OverBudget(name)
        return value

    def walk(v: object, p: KeyPath) -> object:
        if isinstance(v, str):
            if "$" not in v:
                return v
            try:
                new = substitute(v, lookup, unset)
            except TemplateError as e:
                raise InterpolationError(p, str(e)) from None
            except _OverBudget as e:
                raise InterpolationError(
                    p, f"variables (here ${e}) expand to more than {MAX_SUBSTITUTED // (1024 * 1024)} MiB in this file"
                ) from None
            if new == v:
                return v
            cast = _cast_for(p)
            if cast is None:
                return new
            try:
                return cast(new)
            except ValueError as e:
                raise InterpolationError(p, f"failed to cast to expected type: {e}") from None
        if isinstance(v, dict):
            return {k: walk(x, p + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, p + (i,)) for i, x in enumerate(v)]
        return v

    return {k: walk(x, path + (k,)) for k, x in doc.items()}
