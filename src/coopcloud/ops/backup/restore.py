"""`app restore`: a snapshot back into the app's live volumes, between the restore hooks."""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NoReturn

from coopcloud.domain.app import AppRef
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, NotFound, interrupted
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

from . import repository, scripts
from .hooks import EngineFor, run_hook
from .job import Job, JobResult, RunningJob, run_job, started
from .labels import ServiceBackup
from .repository import NoRepository, Repository, password
from .restic import BackupFailed, Progress, failure_reason, note, restic_job
from .snapshots import Snapshot, no_snapshots, pick_snapshot, volume_may_exist
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

    1. one restic job resolves the snapshot (the newest, or the one named) and restores it into a scratch
       directory of each volume, each file's number and size checked against the snapshot's listing; live
       data is untouched, and a failure or Ctrl-C removes the scratch;
    2. the restore pre-hooks run, while that job waits;
    3. coop hands the job its renames (an exec into its container), which put the restored paths in place
       (each path the snapshot holds replaces the live one; paths it does not hold are left as they are),
       waited for through Ctrl-C; where coop cannot reach the job's node, a second short job renames. With no
       restore pre-hook, the renames are handed over as soon as the job names its snapshot, while restic still
       writes: the job puts the restore in place the moment it is complete and checked;
    4. the restore post-hooks run (a dump's load): only after a complete restore, on the files it wrote.
    Whatever stops it, the error says whether the data is as it was or wholly restored.
    """
    start = time.monotonic()
    app = inspect_app(settings, client, ref, service=service)
    # A named snapshot is looked up among the app's first (an id prefix, another setting's snapshot, said
    # so); the newest is resolved by the restore job itself, with no listing job before it.
    named = None if wanted in (None, "", "latest") else pick_snapshot(settings, client, ref, wanted)
    run = _Run(settings, client, ref, app, engine_for, on_progress, snap=named)
    run.restore()
    run.post_hooks()
    assert run.snap is not None
    return Restored(app.name, run.snap.id, tuple(s.service for s in run.chosen), time.monotonic() - start)


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
    engine_for: EngineFor | None
    on_progress: Progress | None
    snap: Snapshot | None = None  # named by the operator, else known once the job resolved it
    chosen: list[ServiceBackup] = field(default_factory=list)
    token: str = field(default_factory=lambda: pysecrets.token_hex(4))
    hooked: list[str] = field(default_factory=list)
    node_engine: Engine | None = None  # the engine of the job's node, to hand it its renames
    told: bool = False  # the job has its renames: it puts the restore in place as soon as it is complete

    @property
    def mounts(self) -> list[str]:
        """Where the job mounts every volume of the app's backed-up services (of --service, with it)."""
        return [scripts.mount_point(s.service, v.name) for s in self.app.spec.services for v in s.volumes]

    def _job(self, kind: str, script: str, repo: Repository | None = None) -> Job:
        job, _ = restic_job(
            self.settings,
            self.client,
            kind,
            script,
            app_name=self.app.name,
            node_id=self.app.node_id,
            mounts=volume_mounts(self.app.spec, read_only=False),
            repo=repo,
        )
        return job

    @property
    def _what(self) -> str:
        which = f"snapshot {self.snap.short_id}" if self.snap else "its newest snapshot"
        return f"app {self.app.name}: the restore of {which}"

    @property
    def _again(self) -> str:
        return f"run it again: coop app restore {self.app.name} {self.snap.short_id if self.snap else 'latest'}"

    def _untouched(self) -> str:
        """The state when nothing was put in place: data as it was, and the pre-hooks that ran."""
        ran = f"; the restore pre-hook of {', '.join(self.hooked)} ran, its post-hook did not" if self.hooked else ""
        return f"nothing was restored, the data is as it was{ran}"

    def restore(self) -> None:
        """Steps 1-3: one job restores into scratch, waits while the pre-hooks run, then renames."""
        repo = self._repository()
        self.node_engine = self._node_engine()
        script = scripts.restore_job_script(
            self.snap.id if self.snap else None,
            self.app.name,
            self.mounts,
            self.token,
            wait_for_plan=self.node_engine is not None,
            known=repository.is_known(self.client, repo),
        )
        which = f"snapshot {self.snap.short_id}" if self.snap else "the newest snapshot"
        note(self.on_progress, f"app {self.app.name}: restoring {which} into scratch directories")
        with started(self.client, self._job("restore", script, repo)) as running:
            if self.node_engine is not None and not any(s.restore_pre_hook for s in self.app.spec.services):
                self.hand_over_early(running)
            self.into_scratch(running)
            self.pre_hooks(running)
            if self.node_engine is not None:
                self.put_in_place(running)
        if self.node_engine is None:
            self.put_in_place(None)

    def _repository(self) -> Repository:
        """The command's repository; no snapshots when the server has none (no password, no volume there)."""
        try:
            password(self.client)
        except NoRepository:
            raise no_snapshots(self.ref) from None
        repo = repository.for_command(self.settings, self.client)
        if repo.kind == "volume" and repo.volume and not volume_may_exist(self.client, self.app.node_id, repo.volume):
            raise no_snapshots(self.ref)  # mounting it would leave an empty volume behind
        return repo

    def _node_engine(self) -> Engine | None:
        """The engine of the node the job runs on (that of the app's backed-up services); None when coop
        cannot reach it (a worker no server entry names): then a second job renames."""
        if self.engine_for is None:
            return None
        try:
            return self.engine_for(self.app.spec.services[0].service)
        except CoopError:
            return None

    def hand_over_early(self, running: RunningJob) -> None:
        """With no restore pre-hook to run between the restore into scratch and the renames, the job gets its renames
        as soon as it says which snapshot it restores, while restic still writes: it puts the restore in place the
        moment it is complete and checked, with no round trip to coop between (a restore's largest fixed cost after
        the container's start). A job that ends before saying so is left to `into_scratch`, which reads why."""
        try:
            result = running.wait(until=scripts.SNAPSHOT_PREFIX)
        except KeyboardInterrupt as exc:
            self._stopped_in_scratch(running, exc)
        if result.state != "running":
            return
        self._learn_from(result.stdout)
        if self.snap is None:
            return
        self.chosen = self._held_services()
        if not self.chosen:
            return
        assert self.node_engine is not None
        plan = self._plan()
        try:
            self.told = running.tell(self.node_engine, scripts.PLAN, plan)
        except KeyboardInterrupt as exc:  # it may have the plan: find out by stopping it
            self.told = True
            self._stop_told(running, exc)

    def _stopped_in_scratch(self, running: RunningJob, exc: KeyboardInterrupt) -> NoReturn:
        """Ctrl-C while restic writes into scratch, the job without its renames: it is stopped, nothing changed."""
        self._learn(running)
        self._abandon(running)
        raise interrupted(exc, f"{self._what} was stopped: {self._untouched()}; {self._again}") from None

    def _stop_told(self, running: RunningJob, exc: KeyboardInterrupt) -> NoReturn:
        """Ctrl-C once the job has its renames: stop it (SIGTERM, as its removal would send), which discards the
        scratch unless the renames began; its last line then says which state it left (also when it had ended
        already: the renames may have run while coop was not looking). Always raises."""
        assert self.node_engine is not None
        swapped = scripts.RESULT_PREFIX + "swapped"

        def over() -> bool:
            return running.said(swapped) or running.ended()

        if not running.stop(self.node_engine):  # it is ending (swarm has yet to see it), or its node is gone
            deadline = time.monotonic() + 10
            try:
                while not over() and time.monotonic() < deadline:
                    time.sleep(0.2)
            except KeyboardInterrupt:
                pass
            if not over():
                running.remove()
                raise interrupted(
                    exc,
                    f"{self._what} was stopped, and coop could not see whether its files were put in place; "
                    f"{self._again}",
                ) from None
        if running.said(swapped) or running.wait(shield=True).result == "swapped":
            raise interrupted(exc, f"{self._what}: its files are wholly in place in the volumes{self._posts_left()}")
        self._abandon(running)
        raise interrupted(exc, f"{self._what} was stopped: {self._untouched()}; {self._again}") from None

    def _posts_left(self) -> str:
        """What an interrupted restore whose files are in place leaves to do, and how."""
        posts = [s.service for s in self.chosen if s.restore_post_hook]
        if not posts:
            return ""
        return f"; the restore post-hook of {', '.join(posts)} (which loads them) did not run; {self._again}"

    def into_scratch(self, running: RunningJob) -> None:
        try:
            result = running.wait(until=scripts.RESULT_PREFIX + "restored")
        except KeyboardInterrupt as exc:
            if self.told:
                self._stop_told(running, exc)
            self._stopped_in_scratch(running, exc)
        if result.result == "none":
            raise no_snapshots(self.ref) if self.snap is None else NotFound(f"{self._what}: it is gone")
        # Told early, the job may have put it in place already by the time coop looks.
        done = ("restored", "swapped") if self.told else ("restored",)
        if result.result not in done or (result.state != "running" and not result.ok):
            self._learn_from(result.stdout)
            raise BackupFailed(
                f"{self._what} failed: {failure_reason(result)}; {self._untouched()}",
                hint=f"see: coop app backup verify {self.app.name} {self.snap.short_id if self.snap else ''}".rstrip(),
            )
        self._learn_from(result.stdout)
        if self.snap is None:
            raise BackupFailed(f"{self._what}: the restic job did not say which snapshot it restored", hint=self._again)
        self.chosen = self._held_services()
        if not self.chosen:
            self._abandon(running)
            names = ", ".join(s.service for s in self.app.spec.services)
            raise NotFound(
                f"app {self.ref.name}: snapshot {self.snap.short_id} holds no data of service {names}",
                hint=f"see: coop app backup ls {self.ref.name}",
            )

    def _held_services(self) -> list[ServiceBackup]:
        """The app's backed-up services the resolved snapshot holds data of."""
        assert self.snap is not None
        return [s for s in self.app.spec.services if s.service in self.snap.services]

    def _learn(self, running: RunningJob) -> None:
        """The snapshot the job resolved, from its output so far (best effort: for the message)."""
        try:
            self._learn_from(running.output()[0])
        except (CoopError, KeyboardInterrupt):
            pass

    def _learn_from(self, stdout: str) -> None:
        """The snapshot the job says it resolved (its `coop-snapshot:` line), when it says so."""
        for line in stdout.splitlines():
            if line.startswith(scripts.SNAPSHOT_PREFIX):
                try:
                    raw = json.loads(line[len(scripts.SNAPSHOT_PREFIX) :])
                except ValueError:
                    continue
                if isinstance(raw, dict):
                    self.snap = Snapshot.from_restic(raw)

    def _abandon(self, running: RunningJob | None) -> None:
        """Stop the job (it removes its scratch), then remove the scratch (best effort: the next restore
        removes what is left)."""
        if running is not None:
            running.remove()
        script = scripts.restore_swap_script([scripts.RestoreTarget(m) for m in self.mounts], self.token, discard=True)
        try:
            run_job(self.client, self._job("restore-discard", script), shield=True)
        except CoopError:
            pass

    def pre_hooks(self, running: RunningJob) -> None:
        try:
            for svc in self.chosen:
                if svc.restore_pre_hook:
                    note(self.on_progress, f"app {self.app.name}: service {svc.service}: restore pre-hook")
                    self.hooked.append(svc.service)
                    run_hook(
                        self.client, self.ref, svc, "restore pre-hook", svc.restore_pre_hook, engine_for=self.engine_for
                    )
        except KeyboardInterrupt as exc:
            self._abandon(running)
            raise interrupted(exc, f"{self._what} was stopped: {self._untouched()}; {self._again}") from None
        except CoopError as exc:
            self._abandon(running)
            raise BackupFailed(f"{exc.message}; {self._untouched()}", hint=exc.hint) from None

    def _plan(self) -> str:
        assert self.snap is not None
        targets = restore_targets(self.chosen, self.snap)
        held = {t.mount for t in targets}
        return scripts.restore_swap_script(targets, self.token, others=[m for m in self.mounts if m not in held])

    def put_in_place(self, running: RunningJob | None) -> None:
        assert self.snap is not None
        note(self.on_progress, f"app {self.app.name}: putting snapshot {self.snap.short_id} in place")
        if running is None:
            result = run_job(self.client, self._job("restore-put", self._plan()), shield=True)
        else:
            result = self._hand_over(running)
        if result.result != "swapped":
            state = (
                f"{self._untouched()}"
                if result.exit_code == scripts.REFUSED
                else "its files may be partly in place (the job that renames them did not finish)"
            )
            raise BackupFailed(f"{self._what} failed: {failure_reason(result)}; {state}", hint=self._again)
        if result.interrupted is not None:
            raise interrupted(
                result.interrupted, f"{self._what}: its files are wholly in place in the volumes{self._posts_left()}"
            )

    def _hand_over(self, running: RunningJob) -> JobResult:
        """Hand the waiting job its renames, then wait for its end through Ctrl-C (the renames never stop part
        way). Not handed over (its container gone, its node unreachable): it is stopped, nothing was changed."""
        assert self.node_engine is not None
        stopped: KeyboardInterrupt | None = None
        told = self.told  # handed over early: only its end is waited for
        tries = 0 if told else 3  # a Ctrl-C while handing over: handed over anyway (writing it twice is the same)
        for _ in range(tries):
            try:
                told = running.tell(self.node_engine, scripts.PLAN, self._plan())
                break
            except KeyboardInterrupt as exc:
                stopped = stopped or exc
        if not told:
            self._abandon(running)
            if stopped is not None:
                raise interrupted(stopped, f"{self._what} was stopped: {self._untouched()}; {self._again}")
            raise BackupFailed(
                f"{self._what} failed: coop could not hand the restic job its renames; {self._untouched()}",
                hint=self._again,
            )
        # Its last line says the renames are done: no need to wait for swarm to see its task end.
        result = running.wait(until=scripts.RESULT_PREFIX + "swapped", shield=True)
        return result if stopped is None or result.interrupted else replace(result, interrupted=stopped)

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
