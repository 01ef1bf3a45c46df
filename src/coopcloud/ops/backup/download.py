"""`app backup download`: a snapshot restored into a scratch volume on the server, copied to this machine."""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from coopcloud.domain.app import AppRef
from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import EngineError, EngineUnreachable, InvalidError, UsageError
from coopcloud.rawdata import JSONDict, get_int
from coopcloud.settings import Settings

from . import repository, scripts
from .hooks import NodeEngine
from .job import Mount, run_job
from .restic import SCRATCH_LABEL, BackupFailed, Progress, failure_reason, note, restic_image, restic_job
from .snapshots import pick_snapshot
from .target import node_for


@dataclass(frozen=True)
class Downloaded:
    app: str
    snapshot: str
    dest: str
    files: int

    def to_json(self) -> JSONDict:
        return {"app": self.app, "snapshot": self.snapshot, "dest": self.dest, "files": self.files}


def download(
    settings: Settings,
    client: Engine,
    ref: AppRef,
    wanted: str | None,
    dest: Path,
    *,
    on_progress: Progress | None = None,
    node_engine: NodeEngine | None = None,
) -> Downloaded:
    """Restore a snapshot into a scratch volume on the server, then copy it into `dest` (<service>/<volume>/…).

    The restic job, its scratch volume and the container the copy is read through are all on one
    node: the node of the app's volumes when the repository is a volume there (reached with
    `node_engine` when it is not the manager's), else the manager's. Succeeds only when `dest`
    holds as many files as the snapshot; else `dest` is left as it was found (empty or absent).
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} is not an empty directory", hint="name a new or empty directory with --dest")
    # Which node, and its engine, before anything is created (an unreachable node: exit 5, nothing to undo).
    repo = repository.for_command(settings, client)
    here = views.info(client).node_id
    node = (node_for(client, ref) if repo.kind == "volume" else None) or here
    if node == here:
        engine = client
    elif node_engine is not None:
        engine = node_engine(node)
    else:
        raise EngineUnreachable(
            f"app {ref.name}: its backups are on another node than the manager's, which coop cannot reach here",
            hint=f"see: coop server nodes {ref.server}",
        )
    snap = pick_snapshot(settings, client, ref, wanted)
    scratch = f"coop-download-{pysecrets.token_hex(5)}"
    engine.volume_create(scratch, labels={SCRATCH_LABEL: ref.name})
    container = None
    try:
        job, _ = restic_job(
            settings,
            client,
            "download",
            scripts.download_script(snap.id, "/restore"),
            app_name=ref.name,
            node_id=node or None,
            mounts=[Mount(scratch, "/restore")],
            repo=repo,
        )
        note(on_progress, f"app {ref.name}: restoring snapshot {snap.short_id} on the server")
        result = run_job(client, job)
        if not result.ok:
            raise BackupFailed(f"app {ref.name}: download of snapshot {snap.short_id} failed: {failure_reason(result)}")
        restored = next((get_int(o, "files") for o in result.json_lines() if "files" in o), None)
        if restored is None:
            raise BackupFailed(
                f"app {ref.name}: download of snapshot {snap.short_id}: the restic job did not say how many files it restored",
                hint="run it again with --debug",
            )
        # A created (never started) container gives the volume's files as a tar through the API.
        container = engine.container_create(
            {
                "Image": restic_image(settings),
                "Cmd": ["true"],
                "Labels": {SCRATCH_LABEL: ref.name},
                "HostConfig": {
                    "Mounts": [{"Type": "volume", "Source": scratch, "Target": "/restore", "ReadOnly": True}]
                },
            }
        )
        note(on_progress, f"app {ref.name}: copying snapshot {snap.short_id} to {dest}")
        files = _copy_into(engine, container, dest, app=ref.name, snapshot=snap.short_id, expected=restored)
    finally:
        if container is not None:
            try:
                engine.container_remove(container, force=True)
            except EngineError:
                pass  # labelled coop.backup.scratch: findable; the first error is the one to report
        _remove_volume(engine, scratch)
    return Downloaded(ref.name, snap.id, str(dest), files)


def _copy_into(engine: Engine, container: str, dest: Path, *, app: str, snapshot: str, expected: int) -> int:
    """Extract the scratch volume's /restore/backup into `dest`; all of the snapshot's files, or `dest` as it was."""
    created = not dest.exists()
    try:
        try:
            dest.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile() as tmp:
                engine.archive_get(container, "/restore" + scripts.MOUNT_ROOT, into=tmp)
                tmp.seek(0)
                files = _extract(tmp, dest)
        except (tarfile.TarError, OSError, KeyError) as exc:  # KeyError: tarfile's "link target not found"
            raise BackupFailed(
                f"app {app}: snapshot {snapshot}: cannot write its files into {dest}: {exc}",
                hint="check the directory (space, permissions), then run it again",
            ) from None
        if files != expected:
            raise BackupFailed(
                f"app {app}: snapshot {snapshot} holds {expected} files, but {files} reached {dest}; nothing was kept",
                hint=f"run it again: coop app backup download {app} {snapshot} --dest {dest}",
            )
    except BaseException:
        _empty(dest, remove=created)  # never a partial copy that looks like a download
        raise
    return files


def _empty(dest: Path, *, remove: bool) -> None:
    """Take out what a failed download put into `dest` (which was empty or absent before it)."""
    if not dest.is_dir():
        return
    for entry in dest.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if remove:
        dest.rmdir()


def _remove_volume(client: Engine, name: str, *, wait: float = 15.0) -> None:
    """Remove a scratch volume; the job's container may hold it a moment after the job ended."""
    deadline = time.monotonic() + wait
    while True:
        try:
            client.volume_remove(name, force=True)
            return
        except EngineUnreachable:
            return  # the connection is gone: labelled coop.backup.scratch, findable and harmless
        except EngineError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)


def _extract(fileobj: IO[bytes], dest: Path) -> int:
    """Extract the tar of /restore/backup into `dest`, without its top directory; nothing may land outside."""
    count = 0
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in _members(tar):
            target = (dest / member.name).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep):
                raise InvalidError(f"the snapshot's archive names a path outside {dest}: {member.name}")
            tar.extract(member, dest, filter="data")
            count += member.isfile() or member.islnk()  # a hard link is a file of its own once extracted
    return count


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        _, _, rest = member.name.partition("/")
        if not rest:
            continue  # the top directory (backup/) itself
        member.name = rest
        if member.islnk():  # a hard link names its target by its path in the archive: strip it alike
            member.linkname = member.linkname.partition("/")[2]
        yield member
