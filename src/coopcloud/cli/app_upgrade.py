"""`coop app upgrade` and `coop app rollback`: move a deployed app to a newer or older release."""

from __future__ import annotations

import click

from coopcloud.cli.context import Runtime, changes, pass_runtime, yes_option

_HELP_VERSION = "Recipe version: a full tag (1.2.0+3.4.5) or its semver (1.2.0)."


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(upgrade)
    group.add_command(rollback)


def _options(func):
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


@changes()
@click.command("upgrade")
@_options
@click.option(
    "--major", is_flag=True, help="With no VERSION and no terminal: take a newer major release too (default: no)."
)
@pass_runtime
def upgrade(
    rt: Runtime,
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
        "upgrade",
        app_name,
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


@changes()
@click.command("rollback")
@_options
@pass_runtime
def rollback(
    rt: Runtime,
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

    VERSION, or pick one at a terminal; without one (or with --no-input), the previous release.

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
        "rollback",
        app_name,
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
    direction: str,
    app_name: str,
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
    from coopcloud.cli.tracking import tracking

    with tracking(rt, app_name, direction, dry_run=dry_run) as change:
        _move_tracked(
            rt,
            change,
            direction,
            app_name,
            version,
            force=force,
            yes=yes,
            dry_run=dry_run,
            converge=converge,
            rollback=rollback,
            backup=backup,
            restore_on_failure=restore_on_failure,
            major=major,
        )


def _choose(rt: Runtime, move, direction: str, app_name: str, version: str | None, *, major: bool):
    """The release to move to (None: nothing to do), and the newer major releases left alone without asking."""
    from coopcloud.ops.deploy import upgrade as up

    current = move.current
    skipped: list = []

    def ask(found):
        if not rt.out.can_prompt:
            pick = up.unattended(found, current, direction, major=major)
            skipped.extend(v for v in found if pick is None or pick < v)
            if pick is not None:
                which = (
                    "newest of the same major version"
                    if skipped
                    else "newest"
                    if direction == "upgrade"
                    else "previous"
                )
                rt.out.info(f"app {app_name}: no prompt, taking the {which} release {pick.tag}")
            return pick
        word = "newer" if direction == "upgrade" else "older"
        rt.out.info(f"app {app_name} runs {current.tag}; {word} releases:")
        tag = rt.out.choose(
            f"{direction} to which version?", [v.tag for v in found], flag="a VERSION argument or --no-input"
        )
        return next(v for v in found if v.tag == tag)

    return move.select(version, ask=ask), skipped


def _move_tracked(
    rt: Runtime,
    change,
    direction: str,
    app_name: str,
    version: str | None,
    *,
    force: bool,
    yes: bool,
    dry_run: bool,
    converge: bool,
    rollback: bool,
    backup: bool,
    restore_on_failure: bool,
    major: bool = False,
) -> None:
    from coopcloud.errors import DeployFailed
    from coopcloud.ops.deploy import upgrade as up
    from coopcloud.ops.deploy.guard import lock_for_apply, note_plan
    from coopcloud.output.plan import ProgressPrinter, show_plan

    pool = rt.servers()
    move = up.prepare(rt.settings, pool, app_name, direction)
    for w in move.warnings:
        rt.out.warn(w)
    current = move.current
    if move.deployed.source == "env":
        why = f"it runs {move.deployed.label}" if move.deployed.label else "it has no version label"
        rt.out.info(f"app {app_name}: {why}; comparing with the version its env pins, {current.tag}")

    target, skipped = _choose(rt, move, direction, app_name, version, major=major)
    if skipped:
        rt.out.info(
            f"app {app_name}: newer major release {skipped[0].tag} not taken without asking "
            f"— run: coop app upgrade {app_name} {skipped[0].tag} (or pass --major)"
        )
    if target is None:
        word = "newer" if direction == "upgrade" else "older"
        same = " of the same major version" if skipped else ""
        line = f"app {app_name}: no {word} release{same} than the deployed {current.tag}, nothing to do"
        if rt.out.json:
            rt.out.emit_json(
                {
                    "app": app_name,
                    "direction": direction,
                    "deployed": move.deployed.to_json(),
                    "version": current.tag,
                    "applied": False,
                }
            )
        else:
            rt.out.print(line)
        change.record = False
        return

    if move.deployed.chaos and not force and not dry_run:
        chaos = move.deployed.chaos_version or move.deployed.label or "a working tree"
        question = f"app {app_name} runs a --chaos deployment ({chaos}); replace it with release {target.tag}?"
        if not rt.out.confirm(question, flag="--force"):
            from coopcloud.errors import Cancelled

            raise Cancelled(f"app {app_name}: cancelled, nothing changed")

    notes = move.release_notes(target)
    if not rt.out.json:
        _show_notes(rt, direction, notes)

    prepared = up.plan(rt.settings, pool, move, target)
    note_plan(change, prepared)
    show_plan(rt.out, prepared)
    if dry_run:
        result = prepared.result()
    else:
        rt.out.approve(f"app {app_name}", f"{direction} from {current.tag} to {target.tag}", yes=yes)
        lock_for_apply(change, pool.client(prepared.server), prepared)
        snapshot = _snapshot_step(rt, pool, move.cfg.ref, direction, backup=backup)
        try:
            with ProgressPrinter(rt.out) as progress:
                result = up.apply(
                    rt.settings,
                    pool,
                    prepared,
                    converge=converge,
                    rollback=rollback,
                    progress=progress,
                    notify=rt.out.info,
                    before_first_change=[snapshot] if snapshot else [],
                )
        except DeployFailed as exc:
            raise _naming_the_snapshot(rt, pool, exc, snapshot, restore=restore_on_failure) from exc
    _report_move(rt, direction, app_name, move, result, notes, target.tag, dry_run=dry_run)


def _report_move(
    rt: Runtime, direction: str, app_name: str, move, result, notes, target: str, *, dry_run: bool
) -> None:
    for w in result.warnings:
        if w not in move.warnings:  # the recipe's tag warnings were shown already
            rt.out.warn(w)
    if rt.out.json:
        doc = result.to_json()
        doc.update(direction=direction, deployed=move.deployed.to_json(), release_notes=[n.to_json() for n in notes])
        rt.out.emit_json(doc)
        return
    current = move.current.tag
    if dry_run:
        rt.out.print(f"app {app_name}: dry run, nothing changed ({direction} {current} -> {target})")
    else:
        done = "upgraded" if direction == "upgrade" else "rolled back"
        rt.out.print(f"app {app_name}: {done} {current} -> {target} on {result.server}")


def _show_notes(rt: Runtime, direction: str, notes) -> None:
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


def _snapshot_step(rt: Runtime, pool, ref, direction: str, *, backup: bool):
    """The pre-upgrade snapshot, as a step run once every check passed (None when the app declares no backups)."""
    from coopcloud.cli.backup import engine_for_hooks, show_password
    from coopcloud.ops import backup as backups

    client = pool.client(ref.server)
    if not backups.declares_backups(client, ref):
        return None
    if not backup:
        rt.out.warn(
            f"app {ref.name}: no snapshot of its data before this {direction} (--no-backup): "
            "if the new release damages the data, there is no copy to restore"
        )
        return None

    class Step(backups.PreUpgrade):
        def __call__(self, prepared) -> None:
            from coopcloud.errors import CoopError

            rt.out.info(f"app {ref.name}: taking a {self.why} snapshot of its data")
            try:
                super().__call__(prepared)
            except CoopError as exc:
                exc.hint = f"nothing was changed; fix it, or {direction} without a snapshot: --no-backup"
                raise
            assert self.taken is not None
            rt.out.info(f"app {ref.name}: {self.why} snapshot {self.taken.short_id} taken ({self.taken.files} files)")

    return Step(
        rt.settings,
        client,
        ref,
        f"pre-{direction}",
        on_password=lambda v: show_password(rt, ref.server, v),
        engine_for=engine_for_hooks(rt, ref),
        on_warning=rt.out.warn,
    )


def _naming_the_snapshot(rt: Runtime, pool, exc, snapshot, *, restore: bool):
    """The failure, with the snapshot taken first named (and, when asked and rolled back, restored)."""
    from coopcloud.errors import CoopError, RolledBack
    from coopcloud.ops import backup as backups

    if snapshot is None or snapshot.taken is None:
        return exc
    short, command = snapshot.taken.short_id, snapshot.restore_command()
    kind = type(exc)
    if restore and isinstance(exc, RolledBack):
        rt.out.info(f"app {snapshot.ref.name}: restoring its data from snapshot {short}")
        try:
            backups.restore(
                rt.settings, snapshot.client, snapshot.ref, snapshot.taken.snapshot, engine_for=snapshot.engine_for
            )
        except CoopError as failed:
            return kind(
                f"{exc.message}; restoring the data from snapshot {short} failed too: {failed.message}",
                hint=f"run: {command}",
                details=exc.details,
            )
        return kind(
            f"{exc.message}; the data was restored from the {snapshot.why} snapshot {short}",
            hint=exc.hint,
            details=exc.details,
        )
    return kind(
        f"{exc.message}; the data as it was before is in snapshot {short}",
        hint=f"to bring it back too, run: {command}",
        details=exc.details,
    )
