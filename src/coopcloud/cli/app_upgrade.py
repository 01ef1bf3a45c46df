"""`coop app upgrade` and `coop app rollback`: move a deployed app to a newer or older release."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import P, R, Runtime, mutating, yes_option

if TYPE_CHECKING:
    from collections.abc import Callable

    from coopcloud.domain.version import Version
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.deploy import DeployResult
    from coopcloud.ops.deploy.upgrade import Move, ReleaseNote

_HELP_VERSION = "Recipe version: a full tag (1.2.0+3.4.5) or its semver (1.2.0)."


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(upgrade)
    group.add_command(rollback)


def _options(func: Callable[P, R]) -> Callable[P, R]:
    func = click.option(
        "--no-domain-checks", "-D", is_flag=True, help="Do not check that DOMAIN resolves to an address of the server."
    )(func)
    func = click.option(
        "--no-converge-checks", "-c", is_flag=True, help="Do not wait for the services to run and be healthy."
    )(func)
    func = click.option(
        "--restore-on-failure",
        is_flag=True,
        help="When the new release fails and is rolled back, also restore the data from the snapshot taken first.",
    )(func)
    func = click.option(
        "--no-backup",
        is_flag=True,
        help="Take no snapshot of the app's data first (it declares backups: a warning says so).",
    )(func)
    func = click.option(
        "--no-rollback",
        is_flag=True,
        help="On failure, leave the app as swarm left it (exit 7) instead of rolling it back.",
    )(func)
    func = yes_option(func)
    func = click.option(
        "--dry-run", is_flag=True, help="Show the release notes and the plan (on stdout); change nothing."
    )(func)
    func = click.option("--force", "-f", is_flag=True, help="Replace a --chaos deployment without asking.")(func)
    # abra users may try it: say what to run instead of click's "no such option".
    func = click.option("--chaos", "-C", is_flag=True, hidden=True)(func)
    func = click.argument("version", required=False)(func)
    func = click.argument("app_name", metavar="APP")(func)
    return func


@click.command("upgrade")
@_options
@click.option(
    "--major", is_flag=True, help="With no VERSION and no terminal: take a newer major release too (default: no)."
)
@mutating("upgrade", lock="at begin", unless="dry_run")
def upgrade(
    rt: Runtime,
    app: AppContext,
    app_name: str,
    version: str | None,
    chaos: bool,
    force: bool,
    dry_run: bool,
    yes: bool,
    no_rollback: bool,
    no_backup: bool,
    restore_on_failure: bool,
    no_converge_checks: bool,
    no_domain_checks: bool,
    major: bool,
) -> None:
    """Upgrade APP to a newer release.

    VERSION, or pick one at a terminal; without one (or with --no-input), the newest
    release of the same major version: a newer major only with --major.

    The deployed version is read from the server (label coop-cloud.<stack>.version).
    Shows the release notes of every release crossed, then the plan, then deploys;
    on success writes TYPE=<recipe>:<version> to the app's env. An older VERSION is
    refused (use: coop app rollback). An app deployed with --chaos is replaced only
    after confirmation (or --force). Exit 0 with a note when nothing is newer.
    An app with backupbot labels is snapshotted first (restic, why=pre-upgrade); if the
    release fails and is rolled back (exit 8), the error names the snapshot to restore.

    \b
    Examples:
      coop app upgrade git.example.org                  # choose among the newer releases
      coop app upgrade git.example.org --no-input       # the newest of the same major version
      coop app upgrade git.example.org --no-input --major  # the newest, whatever its major
      coop app upgrade git.example.org 1.2.0 --yes      # that release (semver or full tag)
    """
    _no_chaos(chaos, "upgrade", app_name)
    _check_domains(rt, app_name, no_domain_checks)
    _move(
        rt,
        app,
        "upgrade",
        version,
        force=force,
        yes=yes,
        dry_run=dry_run,
        converge=not no_converge_checks,
        rollback=not no_rollback,
        backup=not no_backup,
        restore_on_failure=restore_on_failure,
        major=major,
    )


@click.command("rollback")
@_options
@mutating("rollback", lock="at begin", unless="dry_run")
def rollback(
    rt: Runtime,
    app: AppContext,
    app_name: str,
    version: str | None,
    chaos: bool,
    force: bool,
    dry_run: bool,
    yes: bool,
    no_rollback: bool,
    no_backup: bool,
    restore_on_failure: bool,
    no_converge_checks: bool,
    no_domain_checks: bool,
) -> None:
    """Roll APP back to an older release.

    VERSION, or pick one at a terminal; without one (or with --no-input), the last release that
    converged here (from the app's history), else the previous one.

    Shows the release notes of the releases being undone (their warnings matter most),
    then the plan, then deploys; on success writes TYPE=<recipe>:<version> to the app's
    env. A newer VERSION is refused (use: coop app upgrade). Data is not rolled back:
    restore a backup if a release migrated it (coop app backup ls shows the pre-upgrade
    snapshot). An app with backupbot labels is snapshotted first (why=pre-rollback).

    \b
    Examples:
      coop app rollback git.example.org --no-input   # to the previous release
      coop app rollback git.example.org 1.1.0+1.27.2 --yes
    """
    _no_chaos(chaos, "rollback", app_name)
    _check_domains(rt, app_name, no_domain_checks)
    _move(
        rt,
        app,
        "rollback",
        version,
        force=force,
        yes=yes,
        dry_run=dry_run,
        converge=not no_converge_checks,
        rollback=not no_rollback,
        backup=not no_backup,
        restore_on_failure=restore_on_failure,
    )


def _check_domains(rt: Runtime, app_name: str, skip: bool) -> None:
    if not skip:
        from coopcloud.ops.deploy.domains import check_app_domains

        check_app_domains(rt.settings, app_name, warn=rt.out.warn)


def _no_chaos(chaos: bool, direction: str, app_name: str) -> None:
    if chaos:
        from coopcloud.errors import UsageError

        raise UsageError(
            f"app {app_name}: {direction} moves between releases; --chaos deploys the recipe's working tree",
            hint=f"run: coop app deploy {app_name} --chaos",
        )


def _move(
    rt: Runtime,
    app: AppContext,
    direction: str,
    version: str | None,
    *,
    force: bool,
    yes: bool,
    dry_run: bool,
    converge: bool,
    rollback: bool,
    backup: bool = True,
    restore_on_failure: bool = False,
    major: bool = False,
) -> None:
    """parse → prepare → show → confirm → execute → render, for an upgrade or a rollback."""
    from coopcloud.cli.backup import show_password
    from coopcloud.ops.deploy import DeployOptions, execute
    from coopcloud.ops.deploy import upgrade as up
    from coopcloud.output.plan import ProgressPrinter, show_plan

    app_name = app.name
    move = up.prepare(rt.settings, app.pool, app_name, direction)
    for w in move.warnings:
        rt.out.warn(w)
    current = move.current
    if move.deployed.source == "env":
        why = f"it runs {move.deployed.label}" if move.deployed.label else "it has no version label"
        rt.out.info(f"app {app_name}: {why}; comparing with the version its env pins, {current.tag}")
    target = _target(rt, app, move, direction, version, major=major, force=force, dry_run=dry_run)
    if target is None:
        return
    notes = move.release_notes(target)
    if not rt.out.json:
        _show_notes(rt, direction, notes)
    prepared = up.plan(rt.settings, app.pool, move, target)
    show_plan(rt.out, prepared)
    if dry_run:
        result = prepared.result()
    else:
        rt.out.approve(f"app {app_name}", f"{direction} from {current.tag} to {target.tag}", yes=yes)
        with ProgressPrinter(rt.out) as progress:
            options = DeployOptions(
                converge=converge,
                rollback=rollback,
                snapshot=f"pre-{direction}",
                backup=backup,
                restore_on_failure=restore_on_failure,
                progress=progress,
                notify=rt.out.info,
                on_password=lambda value: show_password(rt, app.server, value),
            )
            result = execute(prepared, app, options)
    _report_move(rt, direction, app_name, move, result, notes, target.tag, dry_run=dry_run)


def _target(
    rt: Runtime,
    app: AppContext,
    move: Move,
    direction: str,
    version: str | None,
    *,
    major: bool,
    force: bool,
    dry_run: bool,
) -> Version | None:
    """The release to move to, or None (nothing to do: said so); a --chaos deployment is replaced only when confirmed."""
    app_name, current = app.name, move.current
    target, skipped = _choose(rt, move, direction, app_name, version, major=major)
    if skipped:
        rt.out.info(
            f"app {app_name}: newer major release {skipped[0].tag} not taken without asking "
            f"— run: coop app upgrade {app_name} {skipped[0].tag} (or pass --major)"
        )
    if target is None:
        app.declined()
        word = "newer" if direction == "upgrade" else "older"
        same = " of the same major version" if skipped else ""
        line = f"app {app_name}: no {word} release{same} than the deployed {current.tag}, nothing to do"
        if rt.out.json:
            from coopcloud.ops.deploy.upgrade import NothingToMove

            rt.out.emit_json(NothingToMove(app_name, direction, move.deployed, current.tag).to_json())
        else:
            rt.out.print(line)
        return None
    if move.deployed.chaos and not force and not dry_run:
        chaos = move.deployed.chaos_version or move.deployed.label or "a working tree"
        question = f"app {app_name} runs a --chaos deployment ({chaos}); replace it with release {target.tag}?"
        if not rt.out.confirm(question, flag="--force"):
            from coopcloud.errors import Cancelled

            raise Cancelled(f"app {app_name}: cancelled, nothing changed")
    return target


def _choose(
    rt: Runtime, move: Move, direction: str, app_name: str, version: str | None, *, major: bool
) -> tuple[Version | None, list[Version]]:
    """The release to move to (None: nothing to do), and the newer major releases left alone without asking."""
    from coopcloud.ops.deploy import upgrade as up

    current = move.current
    skipped: list[Version] = []

    def ask(found: list[Version]) -> Version | None:
        if not rt.out.can_prompt:
            pick = up.unattended(found, current, direction, major=major)
            skipped.extend(v for v in found if pick is None or pick < v)
            if pick is not None:
                which = (
                    "newest of the same major version"
                    if skipped
                    else "newest"
                    if direction == "upgrade"
                    else "last converged"
                    if pick is move.last_converged
                    else "previous"
                )
                rt.out.info(f"app {app_name}: no prompt, taking the {which} release {pick.tag}")
            return pick
        word = "newer" if direction == "upgrade" else "older"
        rt.out.info(f"app {app_name} runs {current.tag}; {word} releases:")
        if move.last_converged is not None:
            rt.out.info(f"app {app_name}: {move.last_converged.tag} is the last release that converged here")
        tag = rt.out.choose(
            f"{direction} to which version?", [v.tag for v in found], flag="a VERSION argument or --no-input"
        )
        return next(v for v in found if v.tag == tag)

    return move.select(version, ask=ask), skipped


def _report_move(
    rt: Runtime,
    direction: str,
    app_name: str,
    move: Move,
    result: DeployResult,
    notes: list[ReleaseNote],
    target: str,
    *,
    dry_run: bool,
) -> None:
    for w in result.warnings:
        if w not in move.warnings:  # the recipe's tag warnings were shown already
            rt.out.warn(w)
    if rt.out.json:
        from coopcloud.ops.deploy.upgrade import Moved

        rt.out.emit_json(Moved(result, direction, move.deployed, notes).to_json())
        return
    current = move.current.tag
    if dry_run:
        rt.out.print(f"app {app_name}: dry run, nothing changed ({direction} {current} -> {target})")
    else:
        done = "upgraded" if direction == "upgrade" else "rolled back"
        rt.out.print(f"app {app_name}: {done} {current} -> {target} on {result.server}")


def _show_notes(rt: Runtime, direction: str, notes: list[ReleaseNote]) -> None:
    if not notes:
        return
    head = "release notes" if direction == "upgrade" else "release notes of the releases being undone"
    rt.out.info(f"{head}:")
    for note in notes:
        rt.out.info(f"== {note.version}")
        if note.text:
            for line in note.text.splitlines():
                rt.out.info(f"   {line}")
        else:
            rt.out.info("   (no release notes)")
