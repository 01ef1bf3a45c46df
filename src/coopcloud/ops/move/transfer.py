"""What an app move carries from one swarm to another: secret values and volume contents.

Both go through coop's own engine connections, so the two servers never need to reach each other:

- a secret's value can only be read from inside a container that mounts it. A helper service on the
  source mounts the app's secrets; coop reads each one with an exec (`cat`) into memory and creates it
  under the same name on the target. A value is never in a file, a log, an argv or debug output (exec
  output is not logged by the engine, unlike a service's stdout).
- a volume is streamed as a tar from a helper container that mounts it on its source node into a
  helper container that mounts the new volume on its target node. What arrived is checked file by
  file (sha256 on both sides, computed there). A second pass after the source stopped sends only the
  files that changed meanwhile and removes the ones that went away.

Helpers are one-shot swarm services (swarm pulls their image and places them on a node), labelled
`coop.move=<stack>` so a killed move's leftovers are found and removed.
"""

from __future__ import annotations

import secrets as _random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, EngineError
from coopcloud.rawdata import JSONDict

HELPER_LABEL = "coop.move"  # on every helper service of a move; the value is the app's stack
MOUNT = "/v"
CHUNK = 1 << 20
MAX_LISTED = 64 * 1024  # a second pass names at most this much on tar's command line, else sends everything
START_TIMEOUT = 300.0
RUNNING = "running"
ENDED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


@dataclass(frozen=True)
class Helper:
    """A running helper container: its service (on `manager`) and its container (on its node's `engine`)."""

    service: str
    node_id: str
    container: str
    engine: Engine
    manager: Engine


@dataclass(frozen=True)
class SecretMount:
    secret_id: str
    name: str


@dataclass
class CopiedVolume:
    """One volume copied to the target server by `app move`: what was sent, and how it was verified."""

    volume: str
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    resent_files: int = 0  # second pass: files sent again (changed or new) after the source stopped
    removed_files: int = 0  # second pass: files gone from the source, removed from the copy
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256, as verified on the target


def start_helper(
    manager: Engine,
    node_engine: Engine,
    *,
    stack: str,
    image: str,
    node_id: str,
    volume: str | None = None,
    read_only: bool = True,
    secrets: Sequence[SecretMount] = (),
    start_timeout: float = START_TIMEOUT,
) -> Helper:
    """A helper service on `node_id` (sleeping, so coop can exec and copy), and its running container."""
    name = f"coop-move-{_random.token_hex(5)}"
    container: JSONDict = {
        "Image": image,
        "Command": ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 1; done"],
        "Labels": {HELPER_LABEL: stack},
        "Mounts": [{"Type": "volume", "Source": volume, "Target": MOUNT, "ReadOnly": read_only}] if volume else [],
        "Secrets": [
            {
                "File": {"Name": f"s{i}", "UID": "0", "GID": "0", "Mode": 0o400},
                "SecretID": s.secret_id,
                "SecretName": s.name,
            }
            for i, s in enumerate(secrets)
        ],
    }
    manager.service_create(
        {
            "Name": name,
            "Labels": {HELPER_LABEL: stack},
            "TaskTemplate": {
                "ContainerSpec": container,
                "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
                "Placement": {"Constraints": [f"node.id=={node_id}"]},
            },
            "Mode": {"Replicated": {"Replicas": 1}},
        }
    )
    try:
        return Helper(name, node_id, _running_container(manager, name, start_timeout), node_engine, manager)
    except BaseException:
        remove_helper(manager, name)
        raise


def _running_container(manager: Engine, service: str, start_timeout: float) -> str:
    deadline = time.monotonic() + start_timeout
    while True:
        tasks = views.tasks(manager, {"service": [service]})
        for task in tasks:
            if task.state == RUNNING and task.status.container and task.status.container.container_id:
                return task.status.container.container_id
            if task.state in ENDED:
                raise CoopError(f"the move's helper {service} ended before it ran ({task.status.err or task.state})")
        if time.monotonic() > deadline:
            why = next((t.status.err for t in tasks if t.status.err), None) or "not started"
            raise CoopError(f"the move's helper {service} was not started within {int(start_timeout)} s ({why})")
        time.sleep(0.3)


def remove_helper(manager: Engine, service: str) -> None:
    try:
        manager.service_remove(service)
    except EngineError:
        pass  # already gone, or the connection broke: `remove_leftovers` finds it next time


def remove_leftovers(manager: Engine, stack: str) -> list[str]:
    """Helper services a killed move of `stack` left behind; removed, named."""
    found = [s.name for s in views.services(manager, {"label": [f"{HELPER_LABEL}={stack}"]})]
    for name in found:
        remove_helper(manager, name)
    return found


def read_secrets(helper: Helper, mounted: Sequence[SecretMount]) -> dict[str, bytes]:
    """Each mounted secret's value, read with an exec into memory (never a file, a log or an argv)."""
    values: dict[str, bytes] = {}
    for i, secret in enumerate(mounted):
        result = helper.engine.exec_run(helper.container, ["cat", f"/run/secrets/s{i}"])
        if result.exit_code != 0:
            raise CoopError(f"could not read secret {secret.name} on the source (exit {result.exit_code})")
        values[secret.name] = result.stdout
    return values


def file_hashes(helper: Helper) -> dict[str, str]:
    """sha256 of every regular file of the helper's volume, computed where the volume is."""
    script = f"cd {MOUNT} && find . -type f -print0 | xargs -0 -r sha256sum"
    result = helper.engine.exec_run(helper.container, ["/bin/sh", "-c", script])
    if result.exit_code != 0:
        why = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {result.exit_code}"]
        raise CoopError(f"could not checksum the files of a volume ({why[0]})")
    hashes: dict[str, str] = {}
    for line in result.stdout.decode("utf-8", "surrogateescape").splitlines():
        digest, _, path = line.partition("  ")
        if path:
            hashes[path] = digest
    return hashes


def _counting(stream: IO[bytes], copied: CopiedVolume, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        copied.bytes += len(chunk)
        if progress is not None:
            progress(len(chunk))
        yield chunk


def copy_volume(
    source: Helper,
    target: Helper,
    volume: str,
    *,
    progress: Callable[[int], None] | None = None,
    into: CopiedVolume | None = None,
) -> CopiedVolume:
    """First pass: the whole volume, streamed from the source node to the target node through coop."""
    copied = into or CopiedVolume(volume)
    started = time.monotonic()
    _stat, stream = source.engine.archive_open(source.container, f"{MOUNT}/.")
    try:
        target.engine.archive_put(target.container, MOUNT, _counting(stream, copied, progress))
    finally:
        stream.close()
    copied.seconds = time.monotonic() - started
    return copied


def sync_volume(
    source: Helper,
    target: Helper,
    copied: CopiedVolume,
    *,
    progress: Callable[[int], None] | None = None,
) -> CopiedVolume:
    """Second pass, once the source stopped: send the files that differ from what the target holds,
    remove what went away, then check that both sides hold the same files."""
    now, have = file_hashes(source), file_hashes(target)
    changed = sorted(p for p, h in now.items() if have.get(p) != h)
    gone = sorted(p for p in have if p not in now)
    started = time.monotonic()
    if sum(len(p) + 1 for p in changed) > MAX_LISTED:
        copy_volume(source, target, copied.volume, progress=progress, into=copied)  # too many to name: all again
    elif changed:
        _send_files(source, target, changed, copied, progress)
    if gone:
        _remove_files(target, gone)
    copied.resent_files, copied.removed_files = len(changed), len(gone)
    copied.seconds += time.monotonic() - started
    arrived = file_hashes(target)
    if arrived != now:
        differ = sorted(set(arrived.items()) ^ set(now.items()))[:3]
        raise CoopError(
            f"volume {copied.volume}: what arrived differs from the source ({', '.join(p for p, _ in differ)}…)",
            hint="nothing was deleted on the source; run the move again",
        )
    copied.files, copied.hashes = len(now), arrived
    return copied


def _send_files(
    source: Helper, target: Helper, paths: list[str], copied: CopiedVolume, progress: Callable[[int], None] | None
) -> None:
    # The names go on tar's command line (every image's tar takes that; busybox's has no -T). They are
    # the volume's file names as find printed them, each starting with ./, never an option.
    exec_id = source.engine.exec_create(source.container, ["tar", "-C", MOUNT, "-cf", "-", *paths])
    errors = bytearray()

    def stdout() -> Iterator[bytes]:
        for frame in source.engine.exec_start(exec_id):
            if frame.stream == "stderr":
                errors.extend(frame.data[-4096:])
                continue
            copied.bytes += len(frame.data)
            if progress is not None:
                progress(len(frame.data))
            yield frame.data

    target.engine.archive_put(target.container, MOUNT, stdout())
    code = source.engine.exec_inspect(exec_id).get("ExitCode")
    if code != 0:
        why = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {code}"]
        raise CoopError(f"volume {copied.volume}: the second pass could not read the source ({why[0]})")


def _remove_files(target: Helper, paths: list[str]) -> None:
    listing = "".join(p + "\n" for p in paths).encode("utf-8", "surrogateescape")
    script = f'cd {MOUNT} && while IFS= read -r f; do rm -f -- "$f"; done'
    result = target.engine.exec_run(target.container, ["/bin/sh", "-c", script], stdin=listing)
    if result.exit_code != 0:
        raise CoopError("could not remove, on the target, files that are gone from the source")
