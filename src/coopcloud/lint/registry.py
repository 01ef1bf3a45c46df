"""The rule registry: every rule is one small check function with an ID, a level and a docstring.

yamllint's shape: ``check(ctx)`` is a generator of `Issue` objects (empty when the
recipe passes); the docstring is the rule's documentation (``coop recipe lint
--rules`` prints it). A check that cannot run (no git repository, nothing
rendered) raises `Skip` with a note; the rule is then reported as skipped, never
as failed.

    @rule("R009", ERROR, "a service named app", fix="name the main service 'app'")
    def app_service(ctx):
        '''The main service is named ``app``: commands default to it.'''
        if "app" not in ctx.model["services"]:
            yield Issue("no service named 'app'", file="compose.yml")
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coopcloud.rawdata import JSONDict

if TYPE_CHECKING:  # pragma: no cover
    from coopcloud.lint.context import LintContext


class Level(str, enum.Enum):  # noqa: UP042 (StrEnum would change str() of a level in output)
    ERROR = "error"  # the recipe is broken or would break a deploy: `recipe lint` exits 6
    WARNING = "warning"  # worth fixing; never fails the lint

    def __str__(self) -> str:
        return self.value


ERROR = Level.ERROR
WARNING = Level.WARNING


class Skip(Exception):
    """Raised by a check (or a context accessor) when the rule cannot run; `str()` is the note."""


@dataclass(frozen=True)
class Issue:
    """What a check yields: one problem, with where it is and (optionally) a fix for this case."""

    message: str
    fix: str | None = None  # default: the rule's fix
    file: str | None = None
    service: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Finding:
    """An `Issue` attributed to its rule, as reported."""

    rule: str
    level: Level
    message: str
    fix: str
    file: str | None = None
    service: str | None = None
    key: str | None = None

    def to_json(self) -> JSONDict:
        return {
            "rule": self.rule,
            "level": self.level.value,
            "message": self.message,
            "fix": self.fix,
            "file": self.file,
            "service": self.service,
            "key": self.key,
        }


Check = Callable[["LintContext"], Iterable[Issue]]


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    summary: str  # what a passing recipe has, e.g. "all services have a healthcheck"
    fix: str  # how to resolve a failure, in general
    check: Check

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.check.__doc__ or self.summary)

    def to_json(self) -> JSONDict:
        return {"id": self.id, "level": self.level.value, "summary": self.summary, "fix": self.fix, "doc": self.doc}


_RULES: dict[str, Rule] = {}
_ID_RE = re.compile(r"R\d{3}")
# Modules whose import registers their rules.
_RULE_MODULES = ("coopcloud.lint.rules_abra", "coopcloud.lint.rules_coop")


def rule(rule_id: str, level: Level, summary: str, *, fix: str) -> Callable[[Check], Check]:
    """Register the decorated check function as rule `rule_id`."""
    if not _ID_RE.fullmatch(rule_id):
        raise ValueError(f"lint rule id {rule_id!r} is not R followed by three digits")

    def register(check: Check) -> Check:
        if rule_id in _RULES and _RULES[rule_id].check is not check:
            raise ValueError(f"lint rule {rule_id} is registered twice")
        if not inspect.isgeneratorfunction(check):
            raise TypeError(f"lint rule {rule_id}: check must be a generator function")
        _RULES[rule_id] = Rule(rule_id, Level(level), summary, fix, check)
        return check

    return register


def all_rules() -> list[Rule]:
    """Every registered rule, sorted by ID."""
    for module in _RULE_MODULES:
        importlib.import_module(module)
    return [_RULES[k] for k in sorted(_RULES)]


def get_rule(rule_id: str) -> Rule:
    rules = {r.id: r for r in all_rules()}
    try:
        return rules[rule_id.upper()]
    except KeyError:
        from coopcloud.errors import NotFound

        raise NotFound(f"no lint rule {rule_id!r}", hint="list them with: coop recipe lint --rules") from None
