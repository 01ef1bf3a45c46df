"""A short-lived restic container on a chosen node: a one-shot swarm service.

A swarm service (not a plain container) because only services can mount a
Docker secret (the repository's password) and be placed on any node of the
swarm (`node.id==…`), next to the volumes. It runs once (restart condition
`none`), its output is read from the service's logs, then it is removed.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, EngineError, ExitStatus
from coopcloud.rawdata import JSONDict, RawMap

from . import scripts

JOB_LABEL = "coop.backup.job"  # every job service carries it (kind of job), for cleanup by label
APP_LABEL = "coop.backup.app"
REPOSITORY_LABEL = "coop.backup.repository"  # the repository it uses, as shown (no user info)
TERMINAL = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
NOT_STARTED = {"", "new", "pending", "assigned", "accepted", "preparing", "starting"}
# How long swarm may take to start a job (placing it, pulling the restic image) before it is given up.
# Once restic runs there is no limit: a first backup of a large volume to a remote repository takes
# hours, and Ctrl-C stops a job cleanly.
START_TIMEOUT = 600.0
POLL = 0.3
FAST_POLL, FAST_FOR = 0.1, 10.0  # the first seconds of a wait: a short job's end is seen at once
PROGRESS_EVERY = 2.0
# A job whose node swarm sees down (its engine killed, the machine lost) this long is given up: its
# output cannot be read from there, and the job may never end in swarm's view.
NODE_LOST_AFTER = 30.0
NODE_CHECK_EVERY = 5.0

# What gets restic's --json status lines (percent_done, bytes_done, total_bytes) while a job runs.
OnStatus = Callable[[RawMap], None]


class JobLost(CoopError):
    """The node running a job went away: what the job did is unknown until the repository is looked at."""

    exit_status = ExitStatus.ENGINE_UNREACHABLE

    def __init__(self, message: str, *, node: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.node = node


@dataclass(frozen=True)
class Mount:
    source: str  # a volume name
    target: str
    read_only: bool = False

    def to_spec(self) -> JSONDict:
        return {"Type": "volume", "Source": self.source, "Target": self.target, "ReadOnly": self.read_only}


@dataclass(frozen=True)
class SecretFile:
    secret_id: str
    secret_name: str
    file_name: str  # under /run/secrets/

    def to_spec(self) -> JSONDict:
        return {
            "File": {"Name": self.file_name, "UID": "0", "GID": "0", "Mode": 0o400},
            "SecretID": self.secret_id,
            "SecretName": self.secret_name,
        }


@dataclass(frozen=True)
class Job:
    kind: str  # backup, restore, verify, snapshots, download
    app: str
    image: str
    script: str
    node_id: str | None = None
    mounts: Sequence[Mount] = ()
    secrets: Sequence[SecretFile] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    repository: str = ""  # as shown

    def labels(self) -> dict[str, str]:
        return {
            JOB_LABEL: self.kind,
            APP_LABEL: self.app,
            **({REPOSITORY_LABEL: self.repository} if self.repository else {}),
        }

    def service_spec(self, name: str) -> JSONDict:
        """The one-shot service, as the engine takes it (our command: the image's entrypoint is not used;
        the script runs under a PID 1 that passes a SIGTERM on, scripts.JOB_COMMAND)."""
        container: JSONDict = {
            "Image": self.image,
            "Command": ["/bin/sh", "-c", scripts.JOB_COMMAND, f"coop-{self.kind}", self.script],
            "Env": [f"{k}={v}" for k, v in sorted(self.env.items())],
            "Mounts": [m.to_spec() for m in self.mounts],
            "Secrets": [s.to_spec() for s in self.secrets],
            "Labels": self.labels(),
        }
        placement = {"Constraints": [f"node.id=={self.node_id}"]} if self.node_id else {}
        return {
            "Name": name,
            "Labels": self.labels(),
            "TaskTemplate": {
                "ContainerSpec": container,
                "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
                "Placement": placement,
            },
            "Mode": {"Replicated": {"Replicas": 1}},
        }


@dataclass(frozen=True)
class JobResult:
    exit_code: int
    stdout: str
    stderr: str
    state: str
    error: str = ""  # the engine's reason when the task never ran (rejected: no such image…)
    interrupted: KeyboardInterrupt | None = None  # a shielded job: the Ctrl-C/SIGTERM coop waited through

    @property
    def ok(self) -> bool:
        return self.state == "complete" and self.exit_code == 0

    @property
    def result(self) -> str | None:
        """What the script says it did: its last stdout line `coop-result: WORD` (None without one)."""
        lines = [line.strip() for line in self.stdout.splitlines() if line.strip()]
        if lines and lines[-1].startswith(scripts.RESULT_PREFIX):
            return lines[-1][len(scripts.RESULT_PREFIX) :]
        return None

    def json_lines(self) -> list[RawMap]:
        """restic's --json output, one object per line (other lines skipped)."""
        found: list[RawMap] = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict):
                    found.append(doc)
        return found


# A job whose task ended this long ago (on the server's clock) lost its coop: a live one removes its job
# within a second of its end, and must not lose the job's logs to another command's cleanup meanwhile.
ORPHAN_AFTER = timedelta(seconds=60)


def _ended_at(client: Engine, service: views.Service) -> datetime | None:
    """When the job's task ended; None while it has not."""
    tasks = views.tasks(client, {"service": [service.name]})
    if tasks and all(t.state in TERMINAL for t in tasks):
        return max((t.status.timestamp for t in tasks if t.status.timestamp), default=datetime.min.replace(tzinfo=UTC))
    return None


def running_jobs(client: Engine, repository: str) -> list[views.Service]:
    """The restic job services on the swarm (any app's) using `repository` (as shown) whose task has not ended."""
    jobs = views.services(client, {"label": [JOB_LABEL, f"{REPOSITORY_LABEL}={repository}"]})
    return [s for s in jobs if _ended_at(client, s) is None]


def remove_orphans(client: Engine, *, app: str | None = None) -> list[str]:
    """Remove the job services a killed coop left: their task ended over a minute ago (a coop still running
    removes its job at once). With `app` (its lock was just broken: nobody works on it), all of that app's
    jobs go, running or not. Returns the names removed; never raises (a cleanup, not the command's work)."""
    removed = []
    try:
        jobs = views.services(client, {"label": [JOB_LABEL]})
        now = views.info(client).now if jobs else None
        for service in jobs:
            ended = _ended_at(client, service)
            orphaned = ended is not None and (now is None or now - ended > ORPHAN_AFTER)
            if not orphaned and (app is None or service.labels.get(APP_LABEL) != app):
                continue
            try:
                client.service_remove(service.name)
                removed.append(service.name)
            except EngineError:
                pass
    except (EngineError, ValueError):
        pass
    return removed


def job_name(kind: str) -> str:
    return f"coop-{kind}-{secrets.token_hex(5)}"


def run_job(
    client: Engine,
    job: Job,
    *,
    start_timeout: float = START_TIMEOUT,
    on_status: OnStatus | None = None,
    shield: bool = False,
) -> JobResult:
    """Run `job` to its end; returns its exit code and output. The service is removed in any case.

    `on_status` gets restic's --json status lines (percent_done, bytes…) every
    couple of seconds while it runs (for a progress display). A `shield`ed job (a short one that
    must not stop part way) is waited for through Ctrl-C and SIGTERM: the result says it was
    interrupted, and the caller says so once it knows what the job did.
    """
    with started(client, job) as running:
        return running.wait(start_timeout=start_timeout, on_status=on_status, shield=shield)


@contextmanager
def started(client: Engine, job: Job) -> Iterator[RunningJob]:
    """The job's service, created; removed when the block ends, however it ends (a job still running is
    stopped: SIGTERM, which its command passes on, scripts.JOB_COMMAND)."""
    remove_orphans(client)
    running = RunningJob(client, job_name(job.kind))
    client.service_create(job.service_spec(running.name))
    try:
        yield running
    finally:
        running.remove()


class _Follower:
    """A job's stdout lines as they come, from a follow stream on a second connection: a wait for a line sees it
    at once (a restore's steps are a fraction of a second apart), not at its next poll. Best effort: when the
    stream cannot be opened or breaks, `said` answers None and the wait reads the job's last lines instead."""

    def __init__(self, client: Engine, name: str):
        self.lines: list[str] = []
        self.ended = False
        self._checked = 0  # lines seen by the last `said`
        self._new = threading.Condition()
        self._stream = client.clone()
        self._thread = threading.Thread(target=self._pump, args=(name,), daemon=True, name=f"follow-{name}")
        self._thread.start()

    def _pump(self, name: str) -> None:
        try:
            for frame in self._stream.service_logs(name, follow=True, stderr=False, lines=True):
                with self._new:
                    self.lines.append(frame.data.decode("utf-8", "replace").strip())
                    self._new.notify_all()
        except Exception:  # hung up, or the stream broke: the wait reads the last lines instead
            pass
        finally:
            with self._new:
                self.ended = True
                self._new.notify_all()

    def said(self, prefix: str) -> bool | None:
        """Whether a line starting with `prefix` came; None when the stream ended without one (unknown)."""
        with self._new:
            self._checked = len(self.lines)
            if any(line.startswith(prefix) for line in self.lines):
                return True
            return None if self.ended else False

    def pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, woken early by a line that came since the last `said`."""
        with self._new:
            if not self.ended:
                self._new.wait_for(lambda: len(self.lines) > self._checked or self.ended, seconds)
                return
        time.sleep(seconds)

    def close(self) -> None:
        self._stream.hang_up()  # wakes the thread blocked reading it
        self._thread.join(timeout=1)
        self._stream.close()


@dataclass
class RunningJob:
    """A job's service between its creation and its removal: waited for in steps (a line of its output, then
    its end), and told things through its container (`tell`)."""

    client: Engine
    name: str
    removed: bool = False
    follower: _Follower | None = None  # opened by the first wait for a line

    def wait(
        self,
        *,
        until: str | None = None,
        start_timeout: float = START_TIMEOUT,
        on_status: OnStatus | None = None,
        shield: bool = False,
    ) -> JobResult:
        """Until the job ended: its result. With `until`, as soon as its stdout shows a line starting so: its output
        so far, state `running` (it runs on)."""
        stopped: KeyboardInterrupt | None = None
        if until is not None and self.follower is None:
            self.follower = _Follower(self.client, self.name)
        while True:
            try:
                task = _wait(self.client, self.name, start_timeout, on_status, until, self.follower)
                break
            except KeyboardInterrupt as exc:
                if not shield:
                    raise
                stopped = stopped or exc
        if task is None:
            out, err = self.output()
            return JobResult(0, out, err, "running", interrupted=stopped)
        state, code = task.state, task.status.exit_code
        out, err = self.output() if task.status.container else ("", "")
        if state != "complete" and not code:
            code = -1  # rejected (no such image…) or shut down: the engine may still say exit code 0
        exit_code = code if code is not None else (0 if state == "complete" else -1)
        error = "" if state == "complete" else task.status.err or ""
        return JobResult(exit_code, out, err, state, error, interrupted=stopped)

    def output(self) -> tuple[str, str]:
        """Its stdout and stderr so far."""
        return _logs(self.client, self.name)

    def tell(self, engine: Engine, path: str, text: str) -> bool:
        """Write `text` into the file `path` of its running container (written aside, then renamed: the job sees
        it whole or not at all), through `engine`, the engine of the job's node. False when that failed."""
        return self._exec(engine, ["sh", "-c", 'printf %s "$1" >"$2.new" && mv "$2.new" "$2"', "sh", text, path])

    def said(self, prefix: str) -> bool:
        """Whether its stdout showed a line starting with `prefix`."""
        seen = self.follower.said(prefix) if self.follower is not None else None
        return seen if seen is not None else _said(self.client, self.name, prefix)

    def ended(self) -> bool:
        """Whether its task has ended (its output can still be read until the service is removed)."""
        tasks = views.tasks(self.client, {"service": [self.name]})
        return bool(tasks) and all(t.state in TERMINAL for t in tasks)

    def stop(self, engine: Engine) -> bool:
        """SIGTERM to its command (what its removal sends) through `engine`, the engine of the job's node, leaving
        the service, so its end and output can still be read. False when that failed."""
        return self._exec(engine, ["sh", "-c", "kill -TERM 1"])

    def _exec(self, engine: Engine, cmd: list[str]) -> bool:
        tasks = views.tasks(self.client, {"service": [self.name]})
        running = [t for t in tasks if t.state == "running" and t.status.container]
        if not running or running[0].status.container is None:
            return False
        try:
            done = engine.exec_run(running[0].status.container.container_id, cmd)
        except EngineError:
            return False
        return done.exit_code == 0

    def remove(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self.follower is not None:
            self.follower.close()
        try:
            self.client.service_remove(self.name)
        except EngineError:
            pass  # already gone, or the connection broke: nothing else to clean


def _wait(
    client: Engine,
    name: str,
    start_timeout: float,
    on_status: OnStatus | None,
    until: str | None = None,
    follower: _Follower | None = None,
) -> views.Task | None:
    started = time.monotonic()
    deadline = started + start_timeout
    next_progress = next_node_check = time.monotonic() + PROGRESS_EVERY
    down_since: float | None = None
    while True:
        tasks = views.tasks(client, {"service": [name]})
        done = [t for t in tasks if t.state in TERMINAL]
        if done:
            return done[0]
        if until is not None:  # a line the follower saw came from a started container: no need to see it run
            seen = follower.said(until) if follower is not None else None
            if seen or (seen is None and any(t.state == "running" for t in tasks) and _said(client, name, until)):
                return None
        waiting = [t for t in tasks if t.state in NOT_STARTED]
        if (waiting or not tasks) and time.monotonic() > deadline:
            why = next((t.status.err for t in waiting if t.status.err), None) or (
                waiting[0].state if waiting else "no task"
            )
            raise CoopError(
                f"the restic job {name} was not started by the swarm within {int(start_timeout)} s ({why})",
                hint="see: coop server nodes (is the node of the app's volumes available?)",
            )
        if on_status is not None and time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_EVERY
            status = _last_status(client, name)
            if status:
                on_status(status)
        if time.monotonic() >= next_node_check:
            next_node_check = time.monotonic() + NODE_CHECK_EVERY
            down_since = _node_down_since(client, name, tasks, down_since)
        pause = FAST_POLL if time.monotonic() - started < FAST_FOR else POLL
        if follower is not None:
            follower.pause(pause)
        else:
            time.sleep(pause)


def _said(client: Engine, name: str, prefix: str) -> bool:
    """Whether one of the job's last stdout lines starts with `prefix`."""
    try:
        frames = client.service_logs(name, tail=3, stderr=False, lines=True)
        return any(f.data.decode("utf-8", "replace").strip().startswith(prefix) for f in frames)
    except EngineError:
        return False


def _node_down_since(client: Engine, name: str, tasks: list[views.Task], since: float | None) -> float | None:
    """When the node of the job's task was first seen down (None: it is up); `JobLost` once down too long."""
    node_ids = {t.node_id for t in tasks if t.node_id}
    if not node_ids:
        return None
    nodes = [n for n in views.nodes(client) if n.id in node_ids]
    lost = [n for n in nodes if n.state != "ready"]
    if not lost:
        return None
    since = since if since is not None else time.monotonic()
    if time.monotonic() - since >= NODE_LOST_AFTER:
        node = lost[0].hostname or lost[0].id
        raise JobLost(
            f"the node {node} of the restic job {name} is {lost[0].state} (its engine does not answer swarm) "
            f"for {int(NODE_LOST_AFTER)} s: what the job did there is unknown",
            node=node,
            hint="see: coop server nodes",
        )
    return since


def _last_status(client: Engine, name: str) -> RawMap | None:
    try:
        lines = [f.data.decode("utf-8", "replace") for f in client.service_logs(name, tail=3, stderr=False, lines=True)]
    except EngineError:
        return None
    for line in reversed(lines):
        if '"message_type":"status"' in line:
            try:
                status = json.loads(line)
            except ValueError:
                return None
            return status if isinstance(status, dict) else None
    return None


def _logs(client: Engine, name: str) -> tuple[str, str]:
    out, err = bytearray(), bytearray()
    for frame in client.service_logs(name, tail="all", lines=True):
        (err if frame.stream == "stderr" else out).extend(frame.data + b"\n")
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
