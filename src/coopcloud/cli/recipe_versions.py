"""`coop recipe versions`: a recipe's releases with each service's image, tag and digest."""

from __future__ import annotations

import click

from coopcloud.cli.context import Runtime, pass_runtime


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(versions)


@click.command("versions")
@click.argument("recipe")
@pass_runtime
def versions(rt: Runtime, recipe: str) -> None:
    """List RECIPE's releases with their images.

    List RECIPE's releases, oldest first, with each service's image, tag and digest.

    RECIPE is a recipe name in $ABRA_DIR/recipes or a path to a recipe repository.
    A release is an annotated tag <semver>+<image-tag>; other tags are ignored with a
    warning naming them. Each release is rendered from its own git tree with its
    .env.sample (DOMAIN=<recipe>.example.com, compose files from its COMPOSE_FILE).
    Digests come from the registry; with --offline they are null.

    With --json: {"recipe": NAME, "versions": [{"version": TAG, "services":
    {SERVICE: {"image", "tag", "digest"}}, "error"?: MESSAGE}]}, oldest first.

    \b
    Examples:
      coop recipe versions gitea
      coop recipe versions ./my-recipe --json --offline
    """
    from coopcloud.ops.deploy.upgrade import recipe_versions, registry_digester

    listed = recipe_versions(rt.settings, recipe, digest=registry_digester(rt.settings))
    name, found, warnings = listed
    for w in warnings:
        rt.out.warn(w)
    for v in found:
        if v.error:
            rt.out.warn(f"recipe {name} {v.version}: {v.error}")
    if rt.out.json:
        rt.out.emit_json(listed.to_json())
        return
    if not found:
        rt.out.print(f"recipe {name} has no releases (annotated tags <semver>+<image-tag>)")
        return
    rows = []
    for v in found:
        if v.error:
            rows.append([v.version, "?", "(could not be rendered)", "", ""])
        for s in v.services:
            rows.append([v.version, s.service, s.image, s.tag or "", _short(s.digest)])
    rt.out.table(["version", "service", "image", "tag", "digest"], rows)


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]
