"""Run the rules over one recipe and collect a report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from coopcloud.errors import CoopError
from coopcloud.lint.context import LintContext
from coopcloud.lint.registry import Finding, Level, Rule, Skip, all_rules
from coopcloud.rawdata import JSONDict

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class RuleResult:
    rule: Rule
    status: str  # passed | failed | skipped
    findings: list[Finding] = field(default_factory=list)
    note: str | None = None  # why it was skipped

    def to_json(self) -> JSONDict:
        return {
            "id": self.rule.id,
            "level": self.rule.level.value,
            "summary": self.rule.summary,
            "status": self.status,
            "note": self.note,
            "findings": len(self.findings),
        }


@dataclass
class LintReport:
    recipe: str
    path: str | None
    results: list[RuleResult]
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.WARNING]

    @property
    def ok(self) -> bool:
        """No error-level rule failed."""
        return not self.errors

    def failed(self, level: Level | None = None) -> list[str]:
        """IDs of the rules that failed (of one level, when given)."""
        return [r.rule.id for r in self.results if r.status == FAILED and (level is None or r.rule.level is level)]

    def skipped(self) -> list[RuleResult]:
        return [r for r in self.results if r.status == SKIPPED]

    def to_json(self) -> JSONDict:
        return {
            "recipe": self.recipe,
            "path": self.path,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_json() for f in self.findings],
            "rules": [r.to_json() for r in self.results],
            "notes": list(self.notes),
        }


def run_rule(rule: Rule, ctx: LintContext) -> RuleResult:
    """One rule over one recipe. `Skip` (and a CoopError reading the recipe) skips it, with a note."""
    try:
        findings = [
            Finding(rule.id, rule.level, issue.message, issue.fix or rule.fix, issue.file, issue.service, issue.key)
            for issue in rule.check(ctx)
        ]
    except Skip as skip:
        return RuleResult(rule, SKIPPED, note=str(skip))
    except CoopError as exc:
        return RuleResult(rule, SKIPPED, note=f"could not run: {exc}")
    return RuleResult(rule, FAILED if findings else PASSED, findings)


def lint(
    recipe: LintContext | str | os.PathLike[str],
    *,
    rules: Iterable[Rule] | None = None,
    name: str | None = None,
) -> LintReport:
    """Lint a recipe (a folder, or a ready `LintContext`) with every rule, or the given ones.

    >>> report = lint("/work/shared/corpus/recipes/lemp")   # doctest: +SKIP
    >>> report.ok, report.failed()                         # doctest: +SKIP
    (True, ['R002', 'R101', 'R103', 'R015'])
    """
    ctx = recipe if isinstance(recipe, LintContext) else LintContext.from_path(recipe, name=name)
    results = [run_rule(r, ctx) for r in (all_rules() if rules is None else rules)]
    return LintReport(ctx.name, str(ctx.path) if ctx.path else None, results, list(ctx.notes))
