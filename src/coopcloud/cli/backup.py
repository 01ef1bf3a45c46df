"""`coop app backup create|ls|verify|download`, `coop app restore`, `coop server backup|backup-repo`.

Parse, call `coopcloud.ops.backup`, render. `register_app(app)` and `register_server(server)`
add the commands to their groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import AliasGroup, Runtime, changes, mutating, mutating_apps, pass_runtime, yes_option
from coopcloud.domain.results import app_items

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.app.context import AppContext


def register_app(group: click.Group) -> None:
    group.add_command(backup)
    group.add_command(restore)


def register_server(group: click.Group) -> None:
    group.add_command(server_backup)
    group.add_command(backup_repo)


def _connect(rt: Runtime, name: str) -> tuple[AppRef, Engine]:
    from coopcloud.ops.app.apps import find_app

    ref = find_app(rt.settings, name)
    return ref, rt.servers().client(ref.server)


def engine_for_hooks(rt: Runtime, ref: AppRef) -> Callable[[str], Engine]:
    """Hooks run in the service's container on whichever node runs it (through that node's server entry)."""
    from coopcloud.ops.server.nodes import engine_for_service

    return lambda service: engine_for_service(rt.settings, rt.servers(), ref, service)


def engine_for_node(rt: Runtime, ref: AppRef) -> Callable[[str], Engine]:
    """A download's restic job, scratch volume and copy are on the node of the app's backups (through its server entry)."""
    from coopcloud.ops.server.nodes import engine_for_node as node_engine

    return lambda node_id: node_engine(
        rt.settings, rt.servers(), ref.server, node_id, why=f"app {ref.name}: its backups are kept"
    )


@contextmanager
def _live_progress(rt: Runtime) -> Iterator[Callable[[str], None] | None]:
    """Live progress on a TTY (one line rewritten on stderr, cleared at the end, also on failure);
    None (plain notes left out) otherwise."""
    isatty = getattr(rt.out.stderr, "isatty", None)
    if rt.out.json or not (isatty and isatty()):
        yield None
        return

    def show(text: str) -> None:
        rt.out.stderr.write(f"\r\033[K{text}")
        rt.out.stderr.flush()

    try:
        yield show
    finally:
        rt.out.stderr.write("\r\033[K")
        rt.out.stderr.flush()


def show_password(rt: Runtime, server: str, value: str | None) -> None:
    """The repository password, generated just now: shown once, never again."""
    if value:
        rt.out.info(
            f"server {server}: generated the backup repository's password (Docker secret coop-backup-password).\n"
            f"  It is shown once; keep it safe, you need it to read the backups without coop:\n  {value}"
        )


@click.group("backup", cls=AliasGroup)
def backup() -> None:
    """Back up an app's volumes with restic, on its server.

    Back up an app's volumes with restic, on its server (the backupbot labels say what).

    \b
    Examples:
      coop app backup create git.example.org
      coop app backup ls git.example.org
      coop app backup verify git.example.org
      coop app restore git.example.org
    """


@backup.command("create")
@click.argument("app_name", metavar="APP")
@click.argument("service", required=False)
@mutating("backup create", adds=True)
def create(rt: Runtime, app: AppContext, app_name: str, service: str | None) -> None:
    """Back up APP (or one SERVICE) into one restic snapshot.

    Back up APP (or one SERVICE): pre-hooks, one restic snapshot, post-hooks.

    Fails, keeping no snapshot, when a pre-hook fails, a path named in
    backupbot.backup.volumes.<volume>.path is missing or empty, or restic fails.
    """
    from coopcloud.ops import backup as ops

    with _live_progress(rt) as progress:
        done = ops.create(
            rt.settings,
            app.engine,
            app.ref,
            service=service,
            on_progress=progress,
            on_password=lambda value: show_password(rt, app.server, value),
            engine_for=app.engine_for_service,
        )
    change = app.changing()
    change.version_from = done.version
    change.detail = f"snapshot {done.short_id}"
    for w in done.warnings:
        rt.out.warn(w)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(
        f"app {app_name}: snapshot {done.short_id} ({done.files} files, {done.bytes_processed / 1e6:.1f} MB read, "
        f"{done.bytes_added / 1e6:.1f} MB added) in {done.repository}, {done.seconds:.1f} s"
    )


@backup.command("ls")
@click.argument("app_name", metavar="APP")
@pass_runtime
def ls(rt: Runtime, app_name: str) -> None:
    """List APP's snapshots, oldest first.

    List APP's snapshots, oldest first (--json for every detail).
    """
    from coopcloud.domain.words import human_time
    from coopcloud.engine.views import parse_time
    from coopcloud.ops import backup as ops

    ref, client = _connect(rt, app_name)
    found = ops.listed(rt.settings, client, ref)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(ref, found, stack=False)])
        return
    if not found:
        rt.out.info(f"app {app_name} has no snapshots — run: coop app backup create {app_name}")
        return
    rt.out.table(
        ["snapshot", "time", "why", "version", "services"],
        [
            [s.short_id, human_time(parse_time(s.time)), f"{s.why} (failed run)" if s.failed_run else s.why, s.version]
            + [", ".join(s.services)]
            for s in found
        ],
    )


@backup.command("verify")
@click.argument("app_name", metavar="APP")
@click.argument("snapshot", required=False)
@pass_runtime
def verify(rt: Runtime, app_name: str, snapshot: str | None) -> None:
    """Check the repository and that a snapshot restores.

    Check the repository (restic check), then restore SNAPSHOT (default: the newest) into a scratch
    directory on the server and check every file's content against the snapshot's hashes."""
    from coopcloud.ops import backup as ops

    ref, client = _connect(rt, app_name)
    with _live_progress(rt) as progress:
        done = ops.verify(rt.settings, client, ref, snapshot, on_progress=progress)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(f"app {app_name}: snapshot {done.snapshot[:8]} verified ({done.files} files restored and checked)")


@changes()
@backup.command("unlock")
@click.argument("app_name", metavar="APP")
@yes_option
@pass_runtime
def unlock(rt: Runtime, app_name: str, yes: bool) -> None:
    """Remove stale restic locks from APP's repository.

    Locks a restic job killed outright left (a lost node, docker kill) keep verify from running for
    30 minutes. They are removed only when no restic job of coop's using that repository runs
    (else exit 9, nothing removed); job services killed commands left behind are removed first.

    \b
    Examples:
      coop app backup unlock git.example.org
    """
    from coopcloud.ops import backup as ops

    ref, client = _connect(rt, app_name)
    rt.out.approve(f"app {app_name}", "remove every lock of its backup repository", yes=yes)
    done = ops.unlock(rt.settings, client, ref)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(f"app {app_name}: the locks of {done.repository} were removed")


@backup.command("download")
@click.argument("app_name", metavar="APP")
@click.argument("snapshot", required=False)
@click.option(
    "--dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="A new or empty directory."
)
@pass_runtime
def download(rt: Runtime, app_name: str, snapshot: str | None, dest: Path) -> None:
    """Copy a snapshot to this machine.

    Copy SNAPSHOT (default: the newest) to this machine, as DEST/<service>/<volume>/…
    """
    from coopcloud.ops import backup as ops

    ref, client = _connect(rt, app_name)
    with _live_progress(rt) as progress:
        done = ops.download(
            rt.settings, client, ref, snapshot, dest, on_progress=progress, node_engine=engine_for_node(rt, ref)
        )
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(f"app {app_name}: snapshot {done.snapshot[:8]} downloaded to {done.dest} ({done.files} files)")


@click.command("restore")
@click.argument("app_name", metavar="APP")
@click.argument("snapshot", required=False)
@click.option("--service", help="Restore only this service's volumes.")
@yes_option
@mutating("restore", destroys=True, lock="at begin")
def restore(rt: Runtime, app: AppContext, app_name: str, snapshot: str | None, service: str | None, yes: bool) -> None:
    """Restore a snapshot over APP's live volumes.

    SNAPSHOT defaults to the newest. All or nothing: restic restores into scratch on
    the server, the recipe's backupbot.restore.pre-hook runs, the snapshot's paths are
    renamed into place, then its post-hook runs. Stops nothing by itself; paths the
    snapshot does not hold are left as they are. Without a terminal, refused unless --yes.

    \b
    Examples:
      coop app restore git.example.org
      coop app restore git.example.org 1a2b3c4d --service db --yes
    """
    from coopcloud.ops import backup as ops

    which = f"snapshot {snapshot}" if snapshot else "the newest snapshot"
    volumes = f"service {service}'s live volumes" if service else "its live volumes"
    rt.out.approve(
        f"app {app_name}", f"overwrite {volumes} with {which} — what they hold now is lost", yes=yes, destroys=True
    )
    with _live_progress(rt) as progress:
        done = ops.restore(
            rt.settings,
            app.engine,
            app.ref,
            snapshot,
            service=service,
            on_progress=progress,
            engine_for=app.engine_for_service,
        )
    app.changing().detail = f"snapshot {done.snapshot[:8]} ({', '.join(done.services)})"
    for w in done.warnings:
        rt.out.warn(w)
    if rt.out.json:
        rt.out.emit_json(done.to_json())
        return
    rt.out.print(
        f"app {app_name}: restored snapshot {done.snapshot[:8]} ({', '.join(done.services)}) in {done.seconds:.1f} s"
    )


@click.command("backup")
@click.argument("name", metavar="SERVER")
@mutating_apps("backup create", adds=True)
def server_backup(rt: Runtime, name: str) -> None:
    """Back up every app of SERVER that declares backups.

    Back up every app of SERVER that declares backups: one line each; goes on past a failing app
    and exits non-zero if any failed."""
    from coopcloud.errors import CoopError
    from coopcloud.ops import backup as ops

    client = rt.servers().client(name)

    def line(row: ops.AppBackupLine) -> None:
        if not rt.out.json:
            rt.out.print(f"{row.app}: {row.status}: {row.detail}")

    rows = ops.server_backup(
        rt.settings,
        client,
        name,
        on_line=line,
        on_password=lambda v: show_password(rt, name, v),
        warn=rt.out.warn,
        engine_for=lambda ref: engine_for_hooks(rt, ref),
    )
    if rt.out.json:
        rt.out.emit_json([r.to_json() for r in rows])
    failed = [r.app for r in rows if r.status == "failed"]
    if failed:
        raise CoopError(
            f"server {name}: backup failed for {len(failed)} app(s): {', '.join(failed)}",
            hint="see the lines above; each names its cause",
        )


@click.command("backup-repo")
@click.argument("name", metavar="SERVER")
@click.argument("location", required=False)
@click.option(
    "--ssh-key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="sftp: the private key the backup job logs in with (no passphrase).",
)
@click.option(
    "--known-hosts",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="sftp: the sftp server's host key(s), as ssh-keyscan writes them; no other key is accepted.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Other back ends: KEY=value lines (AWS_ACCESS_KEY_ID=…, RESTIC_REST_PASSWORD=…).",
)
@click.option(
    "--env",
    "env_keys",
    multiple=True,
    metavar="KEY",
    help="Other back ends: a variable to take from this environment (repeatable).",
)
@click.option(
    "--name",
    "setting",
    default="default",
    show_default=True,
    metavar="NAME",
    help="A named setting besides the server's default, for COOP_BACKUP_REPOSITORY=repo:NAME.",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Forget the setting and its secrets (the default one: back to volume:coop-backups); snapshots stay.",
)
@pass_runtime
def backup_repo(
    rt: Runtime,
    name: str,
    location: str | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
    env_file: Path | None,
    env_keys: tuple[str, ...],
    setting: str,
    remove: bool,
) -> None:
    """Show or set where SERVER's backups go.

    Show, or set, where SERVER's backups go: volume:NAME (a named volume on the node of the data;
    the default is volume:coop-backups) or any restic URL (sftp:, rest:, s3:…), with what the backup
    job needs to reach it. Snapshots already taken stay in the old repository.

    \b
    An sftp: repository needs --ssh-key and --known-hosts: the job logs in with that key and
    ssh checks the server's host key against that file (never accepts an unknown one). Other
    back ends take their credentials as variables: --env-file FILE (KEY=value lines) and/or
    --env KEY (read from your environment; never a value on the command line). The URL, key,
    known_hosts and variables are kept as Docker secrets on SERVER, mounted into each backup
    job and read from files there: never in the job's environment, logs or this output.
    Setting it again replaces them; a job running meanwhile finishes with the old ones.
    Everything is checked before anything changes (exit 2: bad URL, unreadable or missing file).

    \b
    Examples:
      coop server backup-repo cloud.example.org
      coop server backup-repo cloud.example.org sftp:backup@vault.example.org:/srv/restic \\
          --ssh-key ~/.ssh/backup_ed25519 --known-hosts vault.known_hosts
      AWS_SECRET_ACCESS_KEY=… coop server backup-repo cloud.example.org \\
          s3:https://s3.example.org/backups --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY
      coop server backup-repo cloud.example.org volume:coop-backups
      coop server backup-repo cloud.example.org --name offsite --remove
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.backup import repository as repo
    from coopcloud.ops.backup.setting_lock import changing_settings

    repo.check_setting_name(name, setting)
    if remove:
        if location is not None or ssh_key or known_hosts or env_file or env_keys:
            raise UsageError(
                f"server {name}: --remove takes no repository or credentials",
                hint=f"run: coop server backup-repo {name} --remove [--name NAME]",
            )
        _remove_setting(rt, name, setting)
        return
    if location is None:
        if ssh_key or known_hosts or env_file or env_keys:
            raise UsageError(
                f"server {name}: credentials go with a repository URL",
                hint=f"run: coop server backup-repo {name} URL …",
            )
        client = rt.servers().client(name)
        found = repo.repository(client, setting)
        kept: tuple[str, ...] = ()
    else:
        # Checked, and the files read, before the first change on the server.
        where = repo.parse_location(name, location)
        creds = repo.load_credentials(
            name,
            where,
            ssh_key=ssh_key,
            known_hosts=known_hosts,
            env_file=env_file,
            env_keys=env_keys,
            environ=rt.settings.environ,
        )
        client = rt.servers().client(name)
        with changing_settings(rt.settings, client, name, "backup-repo"):
            done = repo.set_repository(client, name, where, creds, setting=setting)
        found, kept = done.repository, done.kept
    if kept:
        rt.out.warn(
            f"server {name}: {len(kept)} secret(s) of the previous setting are mounted by a running backup job; "
            "the next change of the setting removes them"
        )
    if rt.out.json:
        rt.out.emit_json(repo.ServerRepository(name, found).to_json())
        return
    what = (
        "backups go to"
        if setting == "default"
        else f"backup setting {setting} (COOP_BACKUP_REPOSITORY=repo:{setting}) goes to"
    )
    rt.out.print(f"server {name}: {what} {found.describe()}")


def _remove_setting(rt: Runtime, name: str, setting: str) -> None:
    from coopcloud.ops.backup import repository as repo
    from coopcloud.ops.backup.setting_lock import changing_settings

    client = rt.servers().client(name)
    with changing_settings(rt.settings, client, name, "backup-repo --remove"):
        done = repo.remove_setting(client, name, setting)
    kept = done.kept
    if kept:
        rt.out.warn(
            f"server {name}: {len(kept)} secret(s) of backup setting {setting} are held by a job's container "
            "ending now; the next change of a setting removes them"
        )
    if rt.out.json:
        rt.out.emit_json(done.to_json())
    elif setting == "default":
        rt.out.print(f"server {name}: backups go to volume:coop-backups again (the default)")
    else:
        rt.out.print(f"server {name}: backup setting {setting} removed (its snapshots stay in that repository)")
