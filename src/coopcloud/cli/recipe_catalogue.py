"""`coop recipe ls` and `coop recipe show`: recipes from the catalogue (and local clones)."""

from __future__ import annotations

import click

from coopcloud.cli.context import Runtime, pass_runtime


def print_recipes(rt: Runtime, pattern: str | None) -> None:
    from coopcloud.ops.recipe import catalogue as ops

    found = ops.list_recipes(rt.settings, pattern)
    if rt.out.json:
        rt.out.emit_json([ops.Listed(meta).to_json() for meta in found])
        return
    if not found:
        rt.out.info(f"no recipe matches {pattern!r}" if pattern else "the catalogue is empty")
        return
    f = lambda m: m.features  # noqa: E731
    rt.out.table(
        ["name", "category", "status", "healthcheck", "backups", "email", "tests", "sso", "latest"],
        [
            [
                m.name,
                m.category,
                f(m).status,
                f(m).healthcheck,
                f(m).backups,
                f(m).email,
                f(m).tests,
                f(m).sso,
                m.latest_version or "",
            ]
            for m in found
        ],
    )


@click.command("ls")
@click.argument("pattern", required=False)
@pass_runtime
def ls(rt: Runtime, pattern: str | None) -> None:
    """List catalogue recipes matching PATTERN.

    List catalogue recipes; PATTERN matches name, description or category.

    PATTERN is a case-insensitive substring, or a glob when it has * ? or [.
    Reads $ABRA_DIR/catalogue/recipes.json (run `coop catalogue sync` first).
    With --json: a list of catalogue entries, each with `latest_version`.

    \b
    Examples:
      coop recipe ls
      coop recipe ls cloud --json
    """
    print_recipes(rt, pattern)


@click.command("show")
@click.argument("recipe")
@pass_runtime
def show(rt: Runtime, recipe: str) -> None:
    """Show a recipe: features, repository, versions.

    Show a recipe: features, repository, versions with their images.

    From the catalogue; a recipe only cloned under $ABRA_DIR/recipes is shown
    from its README and tags (versions without images: see `coop recipe versions`).

    \b
    Examples:
      coop recipe show gitea --json
    """
    from coopcloud.ops.recipe import catalogue as ops

    info = ops.show(rt.settings, recipe)
    for warning in info.warnings:
        rt.out.warn(warning)
    if rt.out.json:
        rt.out.emit_json(info.to_json())
        return
    m = info.meta
    feat = m.features
    image = feat.image
    where = "catalogue" if info.in_catalogue else "local recipe (not in the catalogue)"
    rows = [
        ("name", m.name),
        ("source", where),
        ("description", m.description),
        ("category", m.category),
        ("status", str(feat.status)),
        ("image", ", ".join(x for x in (image.image, image.url, image.rating, image.source) if x)),
        ("healthcheck", feat.healthcheck),
        ("backups", feat.backups),
        ("email", feat.email),
        ("tests", feat.tests),
        ("sso", feat.sso),
        ("repository", m.repository),
        ("ssh_url", m.ssh_url),
        ("website", m.website),
        ("default branch", m.default_branch),
        ("local clone", str(info.local_path) if info.local_path else ""),
        ("latest version", m.latest_version or ""),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if value:
            rt.out.print(f"{key:<{width}}  {value}")
    if m.versions:
        rt.out.print("")
        rt.out.print("versions:")
        for v in m.versions:
            if not v.services:
                rt.out.print(f"  {v.version}")
                continue
            rt.out.print(f"  {v.version}")
            for service in sorted(v.services):
                s = v.services[service]
                digest = f"  {s.digest[:19]}" if s.digest else ""
                rt.out.print(f"    {service}: {s.reference}{digest}")
    extra_local = [t for t in info.local_versions if m.version(t) is None] if info.in_catalogue else []
    if extra_local:
        rt.out.print("")
        rt.out.print("local versions not in the catalogue: " + ", ".join(extra_local))


def register(group: click.Group) -> None:
    """Add `ls` and `show` to the `recipe` group."""
    group.add_command(ls)
    group.add_command(show)
