"""`coop recipe lint` and `coop recipe new`: the maintainer's checks and scaffold."""

from __future__ import annotations

from pathlib import Path

import click

from coopcloud.cli.context import Runtime, pass_runtime
from coopcloud.domain.words import plural


@click.command("lint")
@click.argument("recipe", required=False)
@click.option(
    "--rules",
    "list_rules",
    is_flag=True,
    help="List the rules (ID, level, what they check); with a rule ID, show its documentation.",
)
@pass_runtime
def lint(rt: Runtime, recipe: str | None, list_rules: bool) -> None:
    """Check RECIPE against the lint rules.

    Check RECIPE (a name under $ABRA_DIR/recipes, or a path) against the lint rules.

    Prints one line per finding: rule, level, what is wrong and how to fix it.
    The working tree is linted, rendered with its .env.sample and every
    compose.*.yml overlay; git rules (tags, releases, changed configs) read the
    repository when RECIPE is one, and are skipped (with a note) when not.
    Exits 6 when an error-level rule fails, 0 otherwise (warnings never fail).
    Rule IDs R001-R016 are Co-op Cloud's (abra's); R000 and R100 on are coop's.

    \b
    Examples:
      coop recipe lint gitea
      coop recipe lint ./myrecipe --json
      coop recipe lint --rules
      coop recipe lint --rules R100
    """
    from coopcloud.lint import all_rules, get_rule

    if list_rules and recipe:  # `--rules R100`: one rule's documentation
        one = get_rule(recipe)
        if rt.out.json:
            rt.out.emit_json(one.to_json())
        else:
            rt.out.print(f"{one.id} ({one.level.value}): {one.summary}\n\n{one.doc}\n\nfix: {one.fix}")
        return
    if list_rules:
        rules = all_rules()
        if rt.out.json:
            rt.out.emit_json([r.to_json() for r in rules])
        else:
            rt.out.table(["rule", "level", "checks", "fix"], [(r.id, r.level.value, r.summary, r.fix) for r in rules])
        return
    if recipe is None:
        raise click.UsageError("missing argument RECIPE (or pass --rules)")

    from coopcloud.errors import LintFailed
    from coopcloud.lint import ERROR
    from coopcloud.lint import lint as run_lint
    from coopcloud.ops.recipe.recipes import local_recipe

    path = local_recipe(rt.settings, recipe)[1]
    report = run_lint(path)
    if rt.out.json:
        rt.out.emit_json(report.to_json())
    elif report.findings:
        rt.out.table(
            ["rule", "level", "message", "fix"],
            [(f.rule, f.level.value, f.message, f.fix) for f in report.findings],
        )
    else:
        rt.out.print(f"recipe {report.recipe}: no problems found")
    if not rt.out.json:
        by_note: dict[str, list[str]] = {}
        for result in report.skipped():
            by_note.setdefault(result.note or "", []).append(result.rule.id)
        for note, ids in by_note.items():
            rt.out.info(f"{', '.join(ids)} skipped: {note}")
        for note in report.notes:
            rt.out.info(f"note: {note}")
        skipped = len(report.skipped())
        rt.out.info(
            f"recipe {report.recipe}: {plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}"
            + (f", {plural(skipped, 'rule')} skipped" if skipped else "")
        )
    if not report.ok:
        failed = ", ".join(report.failed(level=ERROR))
        raise LintFailed(
            f"recipe {report.recipe}: error-level rules failed: {failed}",
            hint="fix them and lint again; see a rule's documentation with: coop recipe lint --rules",
        )


@click.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Create the recipe in this folder instead of $ABRA_DIR/recipes/NAME.",
)
@pass_runtime
def new(rt: Runtime, name: str, directory: str | None) -> None:
    """Create a new recipe that passes lint.

    Create a new recipe NAME that passes `coop recipe lint`, as a git repository.

    Writes compose.yml (an `app` service on a pinned nginx image behind traefik,
    with a healthcheck, a versioned config and a versioned secret), .env.sample,
    abra.sh, README.md with its metadata block and release/, then commits them.
    The commit uses your git identity (coop <coop@localhost> when git has none).
    Refuses a folder that already exists.

    \b
    Examples:
      coop recipe new myapp && coop recipe lint myapp
    """
    from coopcloud.ops.recipe.scaffold import check_recipe_name, scaffold

    check_recipe_name(name)
    target = Path(directory).expanduser() if directory else rt.settings.recipes_dir / name
    made = scaffold(name, target, environ=rt.settings.environ)
    if rt.out.json:
        rt.out.emit_json(made.to_json())
        return
    rt.out.print(str(made.path))
    rt.out.info(f"recipe {made.name}: created in {made.path} (commit {made.commit[:8]})")
    where = name if not directory else str(made.path)
    rt.out.info(f"next: edit its compose.yml and .env.sample, then run: coop recipe lint {where}")


def register(group: click.Group) -> None:
    """Add `lint` and `new` to the `recipe` group."""
    group.add_command(lint)
    group.add_command(new)
