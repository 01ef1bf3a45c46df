"""Backups and restores of an app's volumes with restic, next to the data, as the backupbot labels say.

    create   pre-hooks in the services' containers -> one restic run on the node holding the
             volumes (mounted read-only) -> post-hooks; one snapshot per backup, tagged
             app=, recipe=, version=, why= (manual, pre-upgrade)
    ls       the app's snapshots
    verify   restic check, then restore into a scratch directory, every file's content checked
             against the snapshot's hashes
    download restore into a scratch volume, copy it to the operator's machine
    restore  restic restore into scratch -> restore pre-hooks -> renamed into the live volumes
             -> restore post-hooks (all or nothing)
    unlock   restic unlock --remove-all, once no job of ours runs

A backup never lies: a failing pre-hook, a declared path missing or empty after the
pre-hooks, or a restic error fails it, and no snapshot of that run is left in the
repository (the job forgets it).

Docker is reached only through `engine/`; the restic container is a one-shot service
(`job.py`), so it runs on the node of the volumes and mounts the password secret.

One module per command (create, snapshots, verify, restore, download, unlock, server), beside what
they share: target (what an app backs up, and where), hooks, restic (the job of a command),
job (the one-shot service), scripts (what runs in it), repository and labels.
"""

from __future__ import annotations

from .create import Created, create
from .download import Downloaded, download
from .hooks import EngineFor, NodeEngine, run_hook
from .restic import DEFAULT_IMAGE, SCRATCH_LABEL, WHY, BackupFailed, Progress, restic_image
from .restore import Restored, restore
from .server import AppBackupLine, server_backup
from .snapshots import Snapshot, listed, pick, snapshots
from .target import AppBackup, declares_backups, inspect_app
from .unlock import Unlocked, unlock
from .verify import Verified, verify

__all__ = [
    "DEFAULT_IMAGE",
    "SCRATCH_LABEL",
    "WHY",
    "AppBackup",
    "AppBackupLine",
    "BackupFailed",
    "Created",
    "Downloaded",
    "EngineFor",
    "NodeEngine",
    "Progress",
    "Restored",
    "Snapshot",
    "Unlocked",
    "Verified",
    "create",
    "declares_backups",
    "download",
    "inspect_app",
    "listed",
    "pick",
    "restic_image",
    "restore",
    "run_hook",
    "server_backup",
    "snapshots",
    "unlock",
    "verify",
]
