"""`coop recipe upgrade|release|sync|diff|reset`: the maintainer's version tools.

The work is done in `coopcloud.ops.recipe.maint`; these commands parse, ask, and print.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import P, R, Runtime, changes, pass_runtime, yes_option

if TYPE_CHECKING:
    from collections.abc import Callable

    from coopcloud.ops.recipe.maint.release import ReleasePlan


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    for command in (upgrade, release, sync, diff, reset):
        group.add_command(command)


def _levels(func: Callable[P, R]) -> Callable[P, R]:
    func = click.option("--patch", "-z", "level", flag_value="patch", help="Only patch changes (1.2.3 → 1.2.4).")(func)
    func = click.option("--minor", "-y", "level", flag_value="minor", help="Minor or patch changes (1.2.3 → 1.3.0).")(
        func
    )
    func = click.option("--major", "-x", "level", flag_value="major", help="Any change (1.2.3 → 2.0.0); the default.")(
        func
    )
    return func


@click.command("upgrade")
@click.argument("recipe")
@_levels
@pass_runtime
def upgrade(rt: Runtime, recipe: str, level: str | None) -> None:
    """Offer newer image tags and write the chosen ones.

    Offer newer image tags for each service of RECIPE and write the chosen ones.

    RECIPE is a name in $ABRA_DIR/recipes or a path to a recipe directory. For each
    service image in the compose files (working tree) the registry's tags are read;
    only newer tags of the same format are offered (1.14.1-rootless only moves to
    N.N.N-rootless tags, 17-3.5-alpine to N-N.N-alpine), never latest-like ones.
    --patch/--minor limit the size of the change (default: any). Without a prompt
    (--no-input, or no terminal) the newest allowed tag is taken.

    Only the tag characters of each image line change: comments, quotes and every
    other byte of the files stay as they were. Images whose tag is interpolated
    (${VERSION:-1.2}), pinned by digest, or floating are skipped with a note.
    With --json: {"recipe", "images": [{service, file, image, current, candidates,
    chosen, change, note}], "changed_files"}.

    \b
    Examples:
      coop recipe upgrade gitea --minor --no-input
      coop recipe upgrade ./my-recipe
    """
    from coopcloud.domain.imagetag import MAJOR
    from coopcloud.errors import CoopError, UsageError
    from coopcloud.ops.recipe import maint as rm
    from coopcloud.ops.recipe.recipes import local_recipe
    from coopcloud.registry import RegistryClient

    if rt.settings.offline:
        raise UsageError("recipe upgrade reads tag lists from the registries, which --offline forbids")
    path = local_recipe(rt.settings, recipe)[1]
    client = RegistryClient(environ=rt.settings.environ, offline=rt.settings.offline)
    plan = rm.plan_upgrade(path, client.tags, level=level or MAJOR)
    for up in plan:
        if not up.candidates:
            continue
        if not rt.out.can_prompt:
            rm.choose(up, up.candidates[0])
            continue
        keep = f"keep {up.current}"
        rt.out.info(f"{up.service} ({up.file}): {up.name}:{up.current}")
        answer = rt.out.choose(
            f"{up.service}: upgrade to", [*up.candidates, keep], flag="--no-input to take the newest"
        )
        rm.choose(up, None if answer == keep else answer)
    changed = rm.apply_upgrade(path, plan)
    failed = [up for up in plan if up.failed]

    if rt.out.json:
        rt.out.emit_json(rm.Upgraded(path.name, plan, changed).to_json())
    else:
        rows = []
        for up in plan:
            new = up.chosen or ""
            rows.append(
                [
                    up.service,
                    up.name or up.image,
                    up.current or "",
                    new,
                    up.change or "",
                    "" if up.chosen else (up.note or ("kept" if up.candidates else "")),
                ]
            )
        if rows:
            rt.out.table(["service", "image", "current", "new", "change", "note"], rows)
        else:
            rt.out.info(f"recipe {path.name}: no service images in its compose files")
        for f in changed:
            rt.out.info(f"{f}: updated")
        if changed:
            rt.out.info(f"next: coop recipe release {recipe}")
        elif rows:
            rt.out.info(f"recipe {path.name}: nothing changed")
    if failed:
        names = ", ".join(f"{up.service} ({up.name})" for up in failed)
        err = CoopError(
            f"recipe {path.name}: could not read the tags of {names}",
            hint="see the notes above; run again when the registry answers",
        )
        err.exit_status = getattr(
            failed[0].error, "exit_status", err.exit_status
        )  # the registry's: not found, unreachable...
        raise err


@click.command("release")
@click.argument("recipe")
@click.argument("version", required=False)
@_levels
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@click.option("--notes", help="Release notes text (written to release/<version>).")
@click.option("--publish", "-p", is_flag=True, help="Push the release commit and tag to origin.")
@pass_runtime
def release(
    rt: Runtime, recipe: str, version: str | None, level: str | None, dry_run: bool, notes: str | None, publish: bool
) -> None:
    """Release RECIPE: label, notes, commit and tag.

    Release RECIPE: label, release notes, commit and annotated tag <semver>+<app image tag>.

    Without VERSION the next semver is computed from the image changes since the
    last release: the biggest change among ALL service images decides (a database
    major upgrade matters as much as the app's); a new service counts as minor, a
    removed one as major; nothing changed → patch. --major/--minor/--patch force
    the bump; VERSION (1.2.0 or 1.2.0+<tag>) overrides both. The + part is always
    service app's image tag. The first release is 0.1.0.

    The coop-cloud.${STACK_NAME}.version label is updated in place, the notes
    written to release/<version> (from --notes, an existing release/<version>,
    release/next, or $EDITOR when there is a prompt; with none of them, no notes
    file is written), then one commit "chore: publish <version> release" with the
    compose files and notes, and an annotated tag with the same message.
    Other uncommitted changes are refused (untracked files are left out, with a
    warning). --publish pushes the branch and the tag to origin atomically.

    \b
    Examples:
      coop recipe release gitea --dry-run
      coop recipe release gitea --no-input --notes "Gitea 1.22; run migrations" --publish
      coop recipe release gitea 2.0.0
    """
    from coopcloud.ops.recipe import maint as rm
    from coopcloud.ops.recipe.recipes import local_recipe

    path = local_recipe(rt.settings, recipe)[1]
    plan = rm.plan_release(rt.settings, path, version=version, level=level, notes=notes, publish=publish)
    for w in plan.warnings:
        rt.out.warn(w)
    if plan.notes is None and not dry_run and rt.out.can_prompt:
        rm.set_notes(plan, rm.edit_notes(rt.settings.environ, rm.notes_template(plan)), "editor")
    if not rt.out.json:
        _show_release(rt, plan, dry_run)
    if dry_run:
        if rt.out.json:
            rt.out.emit_json(rm.Released(plan, None).to_json())
        else:
            rt.out.print(f"recipe {plan.recipe}: dry run, nothing changed (would release {plan.version})")
        return
    result = rm.apply_release(rt.settings, plan)
    if rt.out.json:
        rt.out.emit_json(rm.Released(plan, result).to_json())
        return
    where = f", pushed to {plan.remote} ({plan.branch})" if result.pushed else ""
    rt.out.print(f"recipe {plan.recipe}: released {result.version} (commit {result.commit[:8]}){where}")
    if not result.pushed:
        rt.out.info(f"publish it with: git -C {path} push --atomic origin HEAD {result.version}")


def _show_release(rt: Runtime, plan: ReleasePlan, dry_run: bool) -> None:
    """The release plan is a result: on stdout (also with --dry-run); under --json, stdout is the JSON."""
    info = rt.out.info if rt.out.json else rt.out.print
    info(f"recipe {plan.recipe}: release {plan.version} (previous: {plan.previous or 'none'})")
    info(f"  bump: {plan.level} — {plan.reason}")
    for c in plan.changes:
        info(
            f"  {c.service} ({c.file}): {c.old or '(new)'} → {c.new or '(removed)'}"
            + (f" [{c.change}]" if c.change else "")
        )
    for f, olds in plan.label_files.items():
        info(
            f"  label: {f} coop-cloud.${{STACK_NAME}}.version={', '.join(o or '(empty)' for o in olds)} → {plan.version}"
        )
    if plan.notes_path:
        info(f"  notes: {plan.notes_path} (from {plan.notes_source})")
    else:
        info("  notes: none (pass --notes TEXT or write release/next to add some)")
    if plan.commit_files or not dry_run:
        info(f"  commit: {plan.message!r} ({', '.join(plan.commit_files) or 'no file changes: tags HEAD'})")
    info(f"  tag: {plan.version} (annotated, {plan.message!r})")
    if plan.publish:
        info(f"  push: {plan.remote} {plan.branch} and tag {plan.version}")


@click.command("sync")
@click.argument("recipe")
@click.argument("version", required=False)
@_levels
@pass_runtime
def sync(rt: Runtime, recipe: str, version: str | None, level: str | None) -> None:
    """Set the version label to the next release; no commit.

    Set the coop-cloud.${STACK_NAME}.version label to the next release (or VERSION); no commit.

    The version is computed as `coop recipe release` would (see its help). Only
    the label value changes in the file.

    \b
    Examples:
      coop recipe sync gitea
      coop recipe sync gitea 1.3.0
    """
    from coopcloud.errors import RecipeError
    from coopcloud.ops.recipe import maint as rm
    from coopcloud.ops.recipe.recipes import local_recipe

    path = local_recipe(rt.settings, recipe)[1]
    plan = rm.plan_release(rt.settings, path, version=version, level=level, label_only=True)
    if not plan.label_files:
        raise RecipeError(
            f"recipe {plan.recipe}: no coop-cloud.${{STACK_NAME}}.version label in its compose files",
            hint=f'add - "coop-cloud.${{STACK_NAME}}.version={plan.version}" to service app\'s deploy.labels',
        )
    for w in plan.warnings:
        rt.out.warn(w)
    changed = rm.write_label(path, plan)
    if rt.out.json:
        rt.out.emit_json(rm.LabelSynced(plan, changed).to_json())
        return
    for f, olds in plan.label_files.items():
        state = "updated" if f in changed else "unchanged"
        rt.out.print(f"{f}: coop-cloud.${{STACK_NAME}}.version={plan.version} ({state}; was {', '.join(olds)})")


@click.command("diff")
@click.argument("recipe")
@pass_runtime
def diff(rt: Runtime, recipe: str) -> None:
    """Show RECIPE's uncommitted changes.

    Show RECIPE's uncommitted changes (git diff against HEAD; untracked files are named).

    \b
    Examples:
      coop recipe diff gitea
    """
    from coopcloud.ops.recipe import maint as rm
    from coopcloud.ops.recipe.recipes import local_recipe

    path = local_recipe(rt.settings, recipe)[1]
    changes = rm.uncommitted(path)
    text = rm.diff(path, color=rt.out.is_tty and not rt.out.json)
    if rt.out.json:
        rt.out.emit_json(rm.Diff(path.name, changes, text).to_json())
        return
    if text:
        rt.out.stdout.write(text if text.endswith("\n") else text + "\n")
        rt.out.stdout.flush()
    for f in changes.untracked:
        rt.out.info(f"untracked: {f}")
    if not changes.tracked and not changes.untracked:
        rt.out.info(f"recipe {path.name}: no uncommitted changes")


@changes(destroys=True)
@click.command("reset")
@click.argument("recipe")
@click.option("--untracked", is_flag=True, help="Also delete untracked files (ignored files are kept).")
@yes_option
@click.option("--force", "-f", is_flag=True, hidden=True)  # was "do not ask": say it is --yes now
@pass_runtime
def reset(rt: Runtime, recipe: str, untracked: bool, yes: bool, force: bool) -> None:
    """Discard RECIPE's uncommitted changes.

    Tracked files go back to HEAD (`git reset --hard HEAD`); a file only staged
    (git add) is removed too; --untracked also deletes untracked files. Asks first;
    without a terminal, refused unless --yes.

    \b
    Examples:
      coop recipe reset gitea
      coop recipe reset gitea --untracked --yes
    """
    from coopcloud.errors import UsageError

    if force:
        raise UsageError("--force does not answer questions in coop", hint="pass --yes to discard without asking")
    from coopcloud.ops.recipe import maint as rm
    from coopcloud.ops.recipe.recipes import local_recipe

    path = local_recipe(rt.settings, recipe)[1]
    changes = rm.uncommitted(path)
    doomed = changes.tracked + (changes.untracked if untracked else [])
    if not doomed:
        if rt.out.json:
            rt.out.emit_json(rm.Discarded(path.name, [], changes.untracked).to_json())
        else:
            rt.out.info(f"recipe {path.name}: nothing to reset")
        return
    if not rt.out.json:
        for f in doomed:
            rt.out.info(f"  {f}")
    from coopcloud.domain.words import plural

    rt.out.approve(
        f"recipe {path.name}",
        f"discard uncommitted changes to {plural(len(doomed), 'file')} — they are lost for good",
        yes=yes,
        destroys=True,
    )
    done = rm.reset(rt.settings, path, untracked=untracked)
    kept = [] if untracked else changes.untracked
    if rt.out.json:
        rt.out.emit_json(rm.Discarded(path.name, done.tracked + done.untracked, kept).to_json())
        return
    rt.out.print(f"recipe {path.name}: discarded changes to {plural(len(done.tracked + done.untracked), 'file')}")
    if kept:
        rt.out.info(f"untracked files kept: {', '.join(kept)} (pass --untracked to delete them)")
