"""`coop catalogue ...`: the recipes.json catalogue."""

from __future__ import annotations

import click

from coopcloud.cli.context import AliasGroup, Runtime, pass_runtime
from coopcloud.domain.words import plural


@click.group(cls=AliasGroup)
def catalogue() -> None:
    """Sync, generate and search the recipe catalogue.

    The catalogue of recipes (recipes.json): sync, generate, search.
    """


@catalogue.command("sync")
@click.option("--url", help="Fetch recipes.json from this URL (default: $COOP_CATALOGUE_URL, else Co-op Cloud's).")
@click.option("--git", "git_repo", metavar="REPO", help="Clone/pull this git repository and use its recipes.json.")
@pass_runtime
def sync(rt: Runtime, url: str | None, git_repo: str | None) -> None:
    """Fetch the catalogue into $ABRA_DIR/catalogue/recipes.json.

    Source, first match wins: --git, --url, $ABRA_DIR/catalogue as a git clone
    (abra's layout: pulled in place) when $COOP_CATALOGUE_URL is unset,
    $COOP_CATALOGUE_URL, https://recipes.coopcloud.tech/recipes.json.

    Under --offline, or when the fetch fails, the last copy is kept and used
    with a warning (exit 0); with no copy at all it fails (exit 5, or 3 under
    --offline). A fetched file that is not a catalogue is refused (exit 4) and
    the last copy is left as it was.

    \b
    Examples:
      coop catalogue sync
      coop catalogue sync --url https://example.org/recipes.json
      coop catalogue sync --git https://git.example.org/coop/recipes-catalogue.git
    """
    from coopcloud.ops.recipe import catalogue as ops

    result = ops.sync(rt.settings, url=url, git=git_repo)
    if result.warning:
        rt.out.warn(result.warning)
    if rt.out.json:
        rt.out.emit_json(result.to_json())
        return
    if result.fetched:
        state = "updated" if result.changed else "unchanged"
        rt.out.print(f"catalogue {state}: {_recipes(result.recipes)} from {result.source} -> {result.path}")
    else:
        rt.out.print(f"catalogue: {_recipes(result.recipes)} (last copy) at {result.path}")


def _recipes(n: int) -> str:
    return f"{n} recipe{'' if n == 1 else 's'}"


@catalogue.command("generate")
@click.argument("recipes", nargs=-1)
@click.option(
    "--recipes-dir",
    type=click.Path(file_okay=False),
    help="Where the recipe repositories are (default: $ABRA_DIR/recipes).",
)
@click.option("--output", "-o", help="Write here (default: $ABRA_DIR/catalogue/recipes.json); '-' prints it.")
@click.option("--no-cache", is_flag=True, help="Ask the registries again for every release, even unchanged ones.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Recipes generated at once.")
@pass_runtime
def generate(
    rt: Runtime, recipes: tuple[str, ...], recipes_dir: str | None, output: str | None, no_cache: bool, workers: int
) -> int:
    """Build recipes.json from recipe repositories.

    For each recipe (default: every git repository under the recipes dir):
    the README metadata block becomes `features`, and every release (annotated
    version tag) is rendered from its own git tree with its .env.sample
    (DOMAIN=<recipe>.example.com) to list each service's image, tag and digest
    (asked from the image's registry). Releases already looked at (same tag,
    same commit) come from $ABRA_DIR/catalogue/cache/ without any registry
    request. Recipes are generated in parallel.

    Naming RECIPEs regenerates only those and keeps the other entries of the
    output. When a recipe fails, the others are still written (a failed
    recipe keeps its previous entry, if the output had one), the failures are
    listed, and the exit status is 1.

    \b
    Examples:
      coop catalogue generate
      coop catalogue generate gitea nextcloud --output /tmp/recipes.json
    """
    from pathlib import Path

    from coopcloud.domain.catalogue import dumps
    from coopcloud.ops.recipe import catalogue as ops

    to_stdout = output == "-"
    progress = rt.out.info if not rt.out.json and not to_stdout else rt.out.debug
    report = ops.generate(
        rt.settings,
        recipes,
        recipes_dir=Path(recipes_dir).expanduser() if recipes_dir else None,
        output=None if to_stdout or not output else Path(output).expanduser(),
        write=not to_stdout,
        use_cache=not no_cache,
        workers=workers,
        progress=progress,
    )
    for warning in report.warnings:
        rt.out.warn(warning)
    if to_stdout:
        rt.out.stdout.write(dumps(report.catalogue))
    elif rt.out.json:
        rt.out.emit_json(report.to_json())
    else:
        n = len(report.catalogue)
        rt.out.print(
            f"catalogue: {n} recipe{'' if n == 1 else 's'} written to {report.output} "
            f"({report.versions_resolved} releases resolved, {report.versions_cached} cached, "
            f"{report.registry_requests} registry requests)"
        )
    if report.errors:
        for name in sorted(report.errors):
            kept = " (previous entry kept)" if name in report.kept else ""
            rt.out.error(f"{report.errors[name]}{kept}")
        failed = ", ".join(sorted(report.errors))
        rt.out.error(f"catalogue generate: {plural(len(report.errors), 'recipe')} failed: {failed}")
        return 1
    return 0


@catalogue.command("search")
@click.argument("pattern", required=False)
@pass_runtime
def search(rt: Runtime, pattern: str | None) -> None:
    """Search the catalogue (same as: coop recipe ls).

    Recipes in the catalogue matching PATTERN (same as: coop recipe ls PATTERN).
    """
    from coopcloud.cli.recipe_catalogue import print_recipes

    print_recipes(rt, pattern)
