"""`app restore`: a snapshot back into the app's live volumes, between the restore hooks."""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, NotFound, interrupted
from coopcloud.ops.trail.audit import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from . import scripts
from .hooks import EngineFor, run_hook
from .job import Job, run_job
from .labels import BackupSpec, ServiceBackup
from .restic import BackupFailed, Progress, failure_reason, note, restic_job
from .snapshots import Snapshot, pick_snapshot
from .target import AppBackup, inspect_app, volume_mounts


@dataclass(frozen=True)
class Restored:
    app: str
    snapshot: str
    services: tuple[str, ...]
    seconds: float
    warnings: tuple[str, ...] = ()

    def to_json(self) -> JSONDict:
        return {
            "app": self.app,
            "snapshot": self.snapshot,
            "services": list(self.services),
            "seconds": round(self.seconds, 2),
            "warnings": list(self.warnings),
        }


@mutation
def restore(
    settings: Settings,
    client: Engine,
    ref: AppRef,
    wanted: str | None = None,
    *,
    service: str | None = None,
    on_progress: Progress | None = None,
    engine_for: EngineFor | None = None,
) -> Restored:
    """Restore a snapshot into the app's live volumes, all or nothing, between the restore hooks.

    1. restic restores the snapshot into a scratch directory of each volume, every file's content
       checked (--verify); live data is untouched, and a failure or Ctrl-C removes the scratch;
    2. the restore pre-hooks run;
    3. one short job puts the restored paths in place with renames (each path the snapshot holds
       replaces the live one; paths it does not hold are left as they are), waited for through Ctrl-C;
    4. the restore post-hooks run (a dump's load): only after a complete restore, on the files it wrote.
    Whatever stops it, the error says whether the data is as it was or wholly restored.
    """
    start = time.monotonic()
    app = inspect_app(settings, client, ref, service=service)
    snap = pick_snapshot(settings, client, ref, wanted)
    chosen = [s for s in app.spec.services if s.service in snap.services]
    if not chosen:
        raise NotFound(
            f"app {ref.name}: snapshot {snap.short_id} holds no data of service {service or ', '.join(s.service for s in app.spec.services)}",
            hint=f"see: coop app backup ls {ref.name}",
        )
    run = _Run(settings, client, ref, app, snap, chosen, engine_for, on_progress)
    run.into_scratch()
    run.pre_hooks()
    run.put_in_place()
    run.post_hooks()
    return Restored(app.name, snap.id, tuple(s.service for s in chosen), time.monotonic() - start)


def restore_targets(chosen: Sequence[ServiceBackup], snap: Snapshot) -> list[scripts.RestoreTarget]:
    """Each volume of the chosen services the snapshot holds, with the paths of it the snapshot holds
    and the declared directories it recorded as empty (a restore makes them empty)."""
    targets = []
    for svc in chosen:
        for vol in svc.volumes:
            mount = scripts.mount_point(svc.service, vol.name)
            held = [p for p in snap.paths if p == mount or p.startswith(mount + "/")]
            prefix = f"{svc.service}/{vol.name}/"
            empty = tuple(sorted(e[len(prefix) :] for e in snap.empty if e.startswith(prefix)))
            if held or empty:
                whole = mount in held and not empty
                paths = () if whole else tuple(sorted(p[len(mount) + 1 :] for p in held if p != mount))
                targets.append(scripts.RestoreTarget(mount, paths, empty))
    return targets


@dataclass
class _Run:
    """One restore, phase by phase; each phase says, when stopped, what state it leaves."""

    settings: Settings
    client: Engine
    ref: AppRef
    app: AppBackup
    snap: Snapshot
    chosen: list[ServiceBackup]
    engine_for: EngineFor | None
    on_progress: Progress | None
    token: str = field(default_factory=lambda: pysecrets.token_hex(4))
    hooked: list[str] = field(default_factory=list)

    def _job(self, kind: str, script: str) -> Job:
        spec = BackupSpec(tuple(self.chosen))
        job, _ = restic_job(
            self.settings,
            self.client,
            kind,
            script,
            app_name=self.app.name,
            node_id=self.app.node_id,
            mounts=volume_mounts(spec, read_only=False),
        )
        return job

    @property
    def _what(self) -> str:
        return f"app {self.app.name}: the restore of snapshot {self.snap.short_id}"

    @property
    def _again(self) -> str:
        return f"run it again: coop app restore {self.app.name} {self.snap.short_id}"

    def _untouched(self) -> str:
        """The state when nothing was put in place: data as it was, and the pre-hooks that ran."""
        ran = f"; the restore pre-hook of {', '.join(self.hooked)} ran, its post-hook did not" if self.hooked else ""
        return f"nothing was restored, the data is as it was{ran}"

    def into_scratch(self) -> None:
        targets = restore_targets(self.chosen, self.snap)
        note(self.on_progress, f"app {self.app.name}: restoring snapshot {self.snap.short_id} into scratch directories")
        script = scripts.restore_scratch_script(self.snap.id, targets, self.token)
        try:
            result = run_job(self.client, self._job("restore", script))
        except KeyboardInterrupt as exc:
            # The stopped job removes its scratch itself, unless swarm kills it first: make sure.
            self._discard()
            raise interrupted(exc, f"{self._what} was stopped: {self._untouched()}; {self._again}") from None
        if not result.ok or result.result != "restored":
            raise BackupFailed(
                f"{self._what} failed: {failure_reason(result)}; {self._untouched()}",
                hint=f"see: coop app backup verify {self.app.name} {self.snap.short_id}",
            )

    def _discard(self) -> None:
        """Remove the scratch restore (best effort: the next restore removes what is left)."""
        script = scripts.restore_swap_script(restore_targets(self.chosen, self.snap), self.token, discard=True)
        try:
            run_job(self.client, self._job("restore-discard", script), shield=True)
        except CoopError:
            pass

    def pre_hooks(self) -> None:
        try:
            for svc in self.chosen:
                if svc.restore_pre_hook:
                    note(self.on_progress, f"app {self.app.name}: service {svc.service}: restore pre-hook")
                    self.hooked.append(svc.service)
                    run_hook(
                        self.client, self.ref, svc, "restore pre-hook", svc.restore_pre_hook, engine_for=self.engine_for
                    )
        except KeyboardInterrupt as exc:
            self._discard()
            raise interrupted(exc, f"{self._what} was stopped: {self._untouched()}; {self._again}") from None
        except CoopError as exc:
            self._discard()
            raise BackupFailed(f"{exc.message}; {self._untouched()}", hint=exc.hint) from None

    def put_in_place(self) -> None:
        note(self.on_progress, f"app {self.app.name}: putting snapshot {self.snap.short_id} in place")
        script = scripts.restore_swap_script(restore_targets(self.chosen, self.snap), self.token)
        result = run_job(self.client, self._job("restore-put", script), shield=True)
        if result.result != "swapped":
            state = (
                f"{self._untouched()}"
                if result.exit_code == scripts.REFUSED
                else "its files may be partly in place (the job that renames them did not finish)"
            )
            raise BackupFailed(f"{self._what} failed: {failure_reason(result)}; {state}", hint=self._again)
        if result.interrupted is not None:
            posts = [s.service for s in self.chosen if s.restore_post_hook]
            left = f"; the restore post-hook of {', '.join(posts)} (which loads them) did not run" if posts else ""
            raise interrupted(
                result.interrupted,
                f"{self._what}: its files are wholly in place in the volumes{left}"
                + (f"; {self._again}" if posts else ""),
            )

    def post_hooks(self) -> None:
        for svc in self.chosen:
            if not svc.restore_post_hook:
                continue
            note(self.on_progress, f"app {self.app.name}: service {svc.service}: restore post-hook")
            try:
                run_hook(
                    self.client, self.ref, svc, "restore post-hook", svc.restore_post_hook, engine_for=self.engine_for
                )
            except KeyboardInterrupt as exc:
                raise interrupted(
                    exc,
                    f"{self._what}: its files are wholly in place, and the restore post-hook of service {svc.service} "
                    "goes on in its container; the data is restored once it ends "
                    f"(see: coop app logs {self.app.name} {svc.service}), or {self._again}",
                ) from None
            except CoopError as exc:
                raise BackupFailed(
                    f"{exc.message}; the snapshot's files are wholly in place, but that hook did not finish",
                    hint=self._again,
                ) from None
