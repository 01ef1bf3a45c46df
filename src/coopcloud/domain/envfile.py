"""A line-preserving model of an app's ``.env`` file.

Syntax: Docker's ``env_file`` plus what Co-op Cloud recipes really use::

    # a comment                         kept as is
    export KEY=value                    `export ` is allowed and kept
    KEY=a=b#c  # inline comment         unquoted: ` #` (whitespace before #) starts a comment
    KEY='literal $X \\n'                single quotes: nothing is interpreted
    KEY="line\\n$OTHER ${X:-dflt}"      double quotes: \\n \\t \\r \\\\ \\" \\$ escapes and expansion
    COMPOSE_FILE="$COMPOSE_FILE:compose.postgres.yml"   expansion from earlier lines / a base mapping
    SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=special   secret hints
    #OPTIONAL=value                      a commented-out variable: a comment, but discoverable

Unquoted values are expanded too (``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:+alt}``, ``${VAR:?message}``); backslashes in
them are literal. A quoted value may span lines. A repeated key: the last one
wins. An unknown variable expands to the empty string, as in a shell.

Env files are shared between people, so expansion has budgets: ``${...}`` nests at most
`MAX_NESTING` levels, one value expands to at most `MAX_VALUE` characters (Linux refuses a longer
environment variable to a process anyway) and a whole file to at most `MAX_EXPANDED`. Past them the
file is refused, naming its line and variable, before it costs memory.

Every line is kept verbatim, so ``EnvFile.parse(t).render() == t``; ``set``
rewrites only the value of one line, keeping its ``export``, spacing, quotes
(when possible) and inline comment.

    >>> env = EnvFile.parse('TYPE=nextcloud\\nSECRET_DB_VERSION=v1 # length=32\\n')
    >>> env.set("TYPE", "nextcloud:1.0.0+27.1")
    >>> env.render()
    'TYPE=nextcloud:1.0.0+27.1\\nSECRET_DB_VERSION=v1 # length=32\\n'
    >>> env.hints("SECRET_DB_VERSION")
    {'length': '32'}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeAlias

from coopcloud.errors import EnvFileError, NotFound

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# A UTF-8 byte order mark (some editors write one) is kept as part of the first line's prefix.
_ASSIGN_RE = re.compile(r"(?P<lead>\ufeff?[ \t]*(?:export[ \t]+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":+", ":?", "-", "+", "?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$"}
# Values written unquoted by `set`: nothing here is special to any env parser.
_SAFE_RE = re.compile(r"[A-Za-z0-9_./:@,+=%~^*?!\-]*")
_SECRET_RE = re.compile(r"SECRET_(?P<name>.+)_VERSION")
MAX_NESTING = 16  # ${A:-${B:-...}} levels
MAX_VALUE = 128 * 1024  # characters of one expanded value: Linux's MAX_ARG_STRLEN for one variable
MAX_EXPANDED = 4 * 1024 * 1024  # characters of all expanded values of one file


class _Syntax(Exception):
    """A syntax problem; `parse` adds the file name and line number."""


# --- values: a template of literals and ${...} references ------------------


@dataclass(frozen=True)
class Ref:
    """One `$NAME` / `${NAME<op><arg>}` reference inside a value."""

    name: str
    op: str | None = None
    arg: Template = ()  # the default or message of `${NAME<op><arg>}`


# A value as parsed: literal text and references, in order.
Template: TypeAlias = tuple[str | Ref, ...]


def _template(text: str, escapes: bool, expand: bool = True) -> Template:
    out: list[str | Ref] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if escapes and c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            buf.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif expand and c == "$":
            ref, i2 = _reference(text, i, escapes)
            if ref is None:
                buf.append("$")
                i += 1
            else:
                if buf:
                    out.append("".join(buf))
                    buf = []
                out.append(ref)
                i = i2
        else:
            buf.append(c)
            i += 1
    if buf:
        out.append("".join(buf))
    return tuple(out)


def _reference(text: str, i: int, escapes: bool) -> tuple[Ref | None, int]:
    """Parse the reference starting at text[i] == '$'; (None, i) if it is a plain '$'."""
    m = _NAME_RE.match(text, i + 1)
    if m:
        return Ref(m.group()), m.end()
    if not text.startswith("{", i + 1):
        return None, i
    m = _NAME_RE.match(text, i + 2)
    if not m:
        raise _Syntax(f"bad substitution {text[i : i + 12]!r}")
    j = m.end()
    if j >= len(text):
        raise _Syntax("unterminated ${")
    if text.startswith("}", j):
        return Ref(m.group()), j + 1
    op = next((o for o in _OPS if text.startswith(o, j)), None)
    if op is None:
        raise _Syntax(f"bad substitution {text[i : j + 1]!r}")
    start = j + len(op)
    depth, k = 1, start
    while k < len(text):
        if escapes and text[k] == "\\":
            k += 2
            continue
        if text.startswith("${", k):
            depth += 1
            if depth > MAX_NESTING:
                raise _Syntax(f"${{...}} nested more than {MAX_NESTING} levels deep")
            k += 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return Ref(m.group(), op, _template(text[start:k], escapes)), k + 1
        k += 1
    raise _Syntax("unterminated ${")


def _evaluate(template: Template, scope: Mapping[str, str]) -> str:
    """Expand a template; past `MAX_VALUE` characters it stops (so `$A$A$A...` cannot grow unbounded)."""
    parts = []
    size = 0
    for seg in template:
        if isinstance(seg, str):
            part = seg
        else:
            val = scope.get(seg.name)
            op = seg.op
            empty = val is None or (val == "" and op is not None and op.startswith(":"))
            if op is None:
                part = val or ""
            elif op in (":-", "-"):
                part = _evaluate(seg.arg, scope) if empty else val or ""
            elif op in (":+", "+"):
                part = "" if empty else _evaluate(seg.arg, scope)
            else:  # :? and ?
                if empty:
                    raise _Syntax(f"{seg.name}: {_evaluate(seg.arg, scope) or 'not set'}")
                part = val or ""
        size += len(part)
        if size > MAX_VALUE:
            raise _Syntax(f"expands to more than {MAX_VALUE // 1024} KiB")
        parts.append(part)
    return "".join(parts)


# --- lines -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One logical line (a quoted value may span physical lines), kept verbatim in `raw`.

    For an assignment ``raw == prefix + value_raw + suffix``: `prefix` runs up
    to the value (``export KEY=``), `value_raw` is the value as written with its
    quotes, `suffix` is the spacing, inline comment and line ending after it.
    """

    raw: str
    lineno: int
    key: str | None = None
    prefix: str = ""
    value_raw: str = ""
    suffix: str = ""
    quote: str = ""  # '"', "'" or "" (unquoted)
    template: Template = ()
    comment: str | None = None  # inline comment text after '#', stripped

    @property
    def is_assignment(self) -> bool:
        return self.key is not None

    @property
    def literal(self) -> str:
        """The value as written between its quotes (escapes and $ not interpreted)."""
        return self.value_raw[1:-1] if self.quote else self.value_raw


@dataclass(frozen=True)
class CommentedVar:
    """A commented-out assignment such as ``#SMTP_HOST="mail.example.com"``."""

    key: str
    value: str  # as written between its quotes, not expanded
    lineno: int
    comment: str | None = None


@dataclass(frozen=True)
class SecretSpec:
    """A secret declared by ``SECRET_<NAME>_VERSION=vN # length=N charset=... generate=false``."""

    name: str  # <NAME> lowercased: SECRET_DB_PASSWORD_VERSION -> db_password
    version: str
    length: int | None = None
    charset: str | None = None
    generate: bool = True
    key: str = ""  # the env key it came from
    lineno: int = 0


def _split_lines(text: str) -> list[str]:
    # Split on "\n" only, so "\r\n" stays attached and a lone "\r" stays content.
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _strip_eol(raw: str) -> tuple[str, str]:
    if raw.endswith("\r\n"):
        return raw[:-2], "\r\n"
    if raw.endswith("\n"):
        return raw[:-1], "\n"
    return raw, ""


def _parse_assignment(physical: list[str], idx: int) -> tuple[Line | None, int]:
    """Parse an assignment starting at physical[idx]; (None, idx) if it is not one."""
    first = physical[idx]
    m = _ASSIGN_RE.match(first)
    if not m:
        return None, idx
    prefix = first[: m.end()]
    key = m.group("key")
    rest = first[m.end() :]
    body = rest.lstrip(" \t")
    lead = rest[: len(rest) - len(body)]
    if body[:1] in ('"', "'"):
        q = body[0]
        text = body
        end = _closing_quote(text, q)
        last = idx
        while end < 0 and last + 1 < len(physical):
            last += 1
            text += physical[last]
            end = _closing_quote(text, q)
        if end < 0:
            kind = "double" if q == '"' else "single"
            raise _Syntax(f"unterminated {kind} quote")
        value_raw = text[: end + 1]
        after = text[end + 1 :]
        tail, _eol = _strip_eol(after)
        cm = re.fullmatch(r"[ \t]*(?:#(?P<c>.*))?", tail, re.S)
        if not cm:
            raise _Syntax(f"unexpected text after the closing quote of {key}: {tail.strip()[:30]!r}")
        template = _named(key, value_raw[1:-1], escapes=(q == '"'), expand=(q == '"'))
        comment = cm.group("c").strip() if cm.group("c") is not None else None
        line = Line(
            raw="".join(physical[idx : last + 1]),
            lineno=idx + 1,
            key=key,
            prefix=prefix + lead,
            value_raw=value_raw,
            suffix=after,
            quote=q,
            template=template,
            comment=comment,
        )
        return line, last
    content, eol = _strip_eol(rest)
    # An inline comment starts at a '#' that follows whitespace: `a#b` is a value.
    cm = re.search(r"(?<=[ \t])#", content)
    value_part = content[: cm.start()] if cm else content
    value = value_part.strip(" \t\r")
    if value:
        start = value_part.index(value)
        prefix += value_part[:start]
        suffix = content[start + len(value) :] + eol
    else:
        suffix = content + eol
    comment = content[cm.start() + 1 :].strip() if cm else None
    line = Line(
        raw=first,
        lineno=idx + 1,
        key=key,
        prefix=prefix,
        value_raw=value,
        suffix=suffix,
        quote="",
        template=_named(key, value, escapes=False),
        comment=comment,
    )
    return line, idx


def _named(key: str, text: str, escapes: bool, expand: bool = True) -> Template:
    """`_template`, with a syntax error naming the variable it is in."""
    try:
        return _template(text, escapes, expand)
    except _Syntax as exc:
        raise _Syntax(f"{key}: {exc}") from None


def _closing_quote(text: str, q: str) -> int:
    """Index of the quote closing text[0], or -1. Backslash escapes only in double quotes."""
    i = 1
    while i < len(text):
        if q == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == q:
            return i
        i += 1
    return -1


def parse_value(text: str) -> str:
    """Decode one value as written after `KEY=`: quotes, escapes and an inline comment, no expansion.

    Used for `abra.sh` ``export NAME_VERSION=value`` lines, where `$` references are kept as written.
    """
    try:
        line, _ = _parse_assignment([f"X={text}"], 0)
    except _Syntax:
        return text.strip()
    assert line is not None
    if line.quote == '"':
        unexpanded = _template(line.literal, escapes=True, expand=False)  # literal text only: no Ref
        return "".join(seg for seg in unexpanded if isinstance(seg, str))
    return line.literal


def quote_value(value: str, prefer: str = "") -> str:
    """Write `value` so that it reads back literally (no expansion), in the style `prefer` if possible."""
    if prefer == "'" and "'" not in value and "\n" not in value:
        return f"'{value}'"
    if prefer != '"' and _SAFE_RE.fullmatch(value):
        return value
    if prefer != '"' and "'" not in value and "\n" not in value and "\r" not in value:
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def parse_hints(comment: str | None) -> dict[str, str]:
    """``length=32 charset=special,safe generate=false`` -> a dict; other words are ignored."""
    hints: dict[str, str] = {}
    for word in (comment or "").split():
        k, sep, v = word.partition("=")
        if sep and k:
            hints[k] = v
    return hints


# --- the file --------------------------------------------------------------


class EnvFile:
    """An env file as a list of verbatim lines; see the module docstring."""

    def __init__(self, lines: list[Line], name: str = "<env>", newline: str = "\n"):
        self._lines = list(lines)
        self.name = name
        self.newline = newline

    @classmethod
    def parse(cls, text: str, name: str = "<env>") -> EnvFile:
        physical = _split_lines(text)
        lines: list[Line] = []
        i = 0
        while i < len(physical):
            raw = physical[i]
            try:
                line, last = _parse_assignment(physical, i)
            except _Syntax as exc:
                raise EnvFileError(f"{name}:{i + 1}: {exc}") from None
            if line is None:
                content, _ = _strip_eol(raw)
                stripped = content.strip(" \t\r\ufeff")
                if stripped and not stripped.startswith("#"):
                    raise EnvFileError(f"{name}:{i + 1}: expected KEY=value or a # comment, got {stripped[:40]!r}")
                comment = stripped[1:].strip() if stripped else None
                line, last = Line(raw=raw, lineno=i + 1, comment=comment), i
            lines.append(line)
            i = last + 1
        crlf = sum(1 for p in physical if p.endswith("\r\n"))
        return cls(lines, name=name, newline="\r\n" if crlf * 2 > len(physical) else "\n")

    # reading

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(self._lines)

    def render(self) -> str:
        return "".join(line.raw for line in self._lines)

    def keys(self) -> list[str]:
        """Assigned keys, each once, in order of first appearance."""
        return list(dict.fromkeys(line.key for line in self._lines if line.key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.line_of(key) is not None

    def line_of(self, key: str) -> Line | None:
        """The assignment that wins for `key` (the last one), or None."""
        for line in reversed(self._lines):
            if line.key == key:
                return line
        return None

    def values(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every key's expanded value, in order; each line sees the lines above it, then `base`.

        `base` only feeds expansion; its keys are not copied into the result.
        """
        scope = dict(base or {})
        result: dict[str, str] = {}
        total = 0
        for line in self._lines:
            if line.key is None:
                continue
            try:
                value = _evaluate(line.template, scope)
            except _Syntax as exc:
                raise EnvFileError(f"{self.name}:{line.lineno}: {line.key}: {exc}") from None
            total += len(value)
            if total > MAX_EXPANDED:
                raise EnvFileError(
                    f"{self.name}:{line.lineno}: {line.key}: the file's values expand to more than "
                    f"{MAX_EXPANDED // (1024 * 1024)} MiB",
                    hint="write the values out instead of repeating references to other variables",
                )
            scope[line.key] = value
            result.pop(line.key, None)  # a repeated key takes its last position
            result[line.key] = value
        return result

    def get(self, key: str, default: str | None = None, base: Mapping[str, str] | None = None) -> str | None:
        return self.values(base).get(key, default)

    def hints(self, key: str) -> dict[str, str]:
        """Hints in the inline comment of `key`'s line: ``# length=32 charset=special``."""
        line = self.line_of(key)
        return parse_hints(line.comment) if line else {}

    def commented(self) -> list[CommentedVar]:
        """Commented-out assignments (``#KEY=value``, ``# KEY="v"``), for `app check` and `app new`."""
        found = []
        for line in self._lines:
            if line.key is not None or line.comment is None:
                continue
            content = _strip_eol(line.raw)[0].lstrip(" \t").lstrip("#").lstrip(" \t")
            try:
                var, _ = _parse_assignment([content], 0)
            except _Syntax:
                continue
            if var is not None:
                found.append(CommentedVar(var.key or "", var.literal, line.lineno, var.comment))
        return found

    # writing

    def set(self, key: str, value: str) -> None:
        """Set `key` to the literal `value` (never expanded when read back).

        The winning line keeps its place, `export`, spacing, quote style when
        the value allows it, and inline comment; an absent key is appended.
        """
        if not KEY_RE.fullmatch(key):
            raise EnvFileError(f"{self.name}: {key!r} is not a valid variable name")
        for pos in range(len(self._lines) - 1, -1, -1):
            line = self._lines[pos]
            if line.key == key:
                self._lines[pos] = self._with_value(line, value)
                return
        if self._lines and not self._lines[-1].raw.endswith("\n"):
            last = self._lines[-1]
            suffix = last.suffix + self.newline if last.key else last.suffix
            self._lines[-1] = replace(last, raw=last.raw + self.newline, suffix=suffix)
        lineno = sum(line.raw.count("\n") for line in self._lines) + 1
        value_raw = quote_value(value)
        raw = f"{key}={value_raw}{self.newline}"
        self._lines.append(self._reparse(raw, lineno))

    def unset(self, key: str) -> bool:
        """Remove every assignment of `key`; True if there was one."""
        before = len(self._lines)
        self._lines = [line for line in self._lines if line.key != key]
        return len(self._lines) != before

    def _with_value(self, line: Line, value: str) -> Line:
        suffix = line.suffix
        if suffix.startswith("#"):  # `KEY="v"# c` written unquoted would swallow the comment
            suffix = " " + suffix
        raw = line.prefix + quote_value(value, prefer=line.quote) + suffix
        return self._reparse(raw, line.lineno)

    def _reparse(self, raw: str, lineno: int) -> Line:
        line, _ = _parse_assignment([raw], 0)
        assert line is not None  # quote_value always writes a valid assignment
        return replace(line, lineno=lineno)


def secret_specs(env: EnvFile, base: Mapping[str, str] | None = None) -> list[SecretSpec]:
    """The secrets an env declares, in file order (a repeated key: the last line wins)."""
    values = env.values(base)
    specs: list[SecretSpec] = []
    for key in env.keys():  # noqa: SIM118 (EnvFile is not iterable: keys() is its one way in)
        m = _SECRET_RE.fullmatch(key)
        line = env.line_of(key)
        if not m or line is None:
            continue
        hints = parse_hints(line.comment)
        length = hints.get("length")
        if length is not None and not (length.isdigit() and int(length) > 0):
            raise EnvFileError(f"{env.name}:{line.lineno}: {key}: length={length!r} is not a positive number")
        specs.append(
            SecretSpec(
                name=m.group("name").lower(),
                version=values[key],
                length=int(length) if length is not None else None,
                charset=hints.get("charset") or None,
                generate=hints.get("generate", "true").lower() not in ("false", "no", "0"),
                key=key,
                lineno=line.lineno,
            )
        )
    return specs


def load(path: str | os.PathLike[str], name: str | None = None) -> EnvFile:
    """Read and parse an env file; errors name `name` (default: the path)."""
    p = Path(path)
    label = name or str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{label}: no such env file") from None
    except UnicodeDecodeError as exc:
        raise EnvFileError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return EnvFile.parse(text, name=label)
