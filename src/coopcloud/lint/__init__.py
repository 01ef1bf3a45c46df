"""Recipe lint rules: a registry of small functions, each documented by its docstring.

    >>> from coopcloud.lint import lint
    >>> report = lint("~/.abra/recipes/gitea")                  # doctest: +SKIP
    >>> [(f.rule, f.level.value, f.message) for f in report.errors]   # doctest: +SKIP
    []

Rules live in `rules_abra` (Co-op Cloud's R001–R016) and `rules_coop` (R000 and
R100 on); `registry` holds the `@rule` decorator; `context` what rules see.
"""

from coopcloud.lint.context import LintContext
from coopcloud.lint.registry import ERROR, WARNING, Finding, Issue, Level, Rule, Skip, all_rules, get_rule, rule
from coopcloud.lint.run import LintReport, RuleResult, lint, run_rule

__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "Issue",
    "Level",
    "LintContext",
    "LintReport",
    "Rule",
    "RuleResult",
    "Skip",
    "all_rules",
    "get_rule",
    "lint",
    "rule",
    "run_rule",
]
