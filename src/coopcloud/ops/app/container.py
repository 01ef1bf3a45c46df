"""Hands-on a running container of an app's service: `run` (exec) and `cp` (archive API)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from coopcloud.engine import views
from coopcloud.errors import EngineConflict, EngineNotFound, NotFound, UsageError
from coopcloud.ops.app.ps import app_services, pick_services, short_name
from coopcloud.rawdata import JSONDict, get_int, get_str

if TYPE_CHECKING:
    from coopcloud.domain.app import AppRef
    from coopcloud.engine.protocol import ByteReader, Engine

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"

_GO_DIR_BIT = 1 << 31  # os.ModeDir in the archive API's path stat


@dataclass(frozen=True)
class Copied:
    """A file or directory `app cp` copied between a container and this machine."""

    direction: str  # "from" (container → local) or "to" (local → container)
    service: str
    container: str
    container_path: str
    local_path: str
    bytes: int

    def to_json(self) -> JSONDict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class CopySpec:
    service: str
    container_path: str
    local_path: str
    to_container: bool


def parse_copy(src: str, dst: str) -> CopySpec:
    """Which side of ``coop app cp`` is ``SERVICE:/path``. Exactly one must be.

    >>> parse_copy("app:/etc/hosts", "./hosts")
    CopySpec(service='app', container_path='/etc/hosts', local_path='./hosts', to_container=False)
    """
    from_remote, to_remote = _remote_part(src), _remote_part(dst)
    if from_remote and to_remote:
        raise UsageError(
            "both SRC and DST name a service; one side must be a local path",
            hint="e.g. coop app cp APP app:/etc/hosts ./hosts",
        )
    if from_remote:
        service, path = from_remote
        return CopySpec(service, path, dst, to_container=False)
    if to_remote:
        service, path = to_remote
        return CopySpec(service, path, src, to_container=True)
    raise UsageError(
        "neither SRC nor DST names a service as SERVICE:/path", hint="e.g. coop app cp APP ./file app:/tmp/"
    )


def _remote_part(arg: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*):(.*)", arg)
    if not match:
        return None
    path = match.group(2) or "/"
    if not path.startswith("/"):
        raise UsageError(f"{arg}: the path in a container must be absolute", hint=f"e.g. {match.group(1)}:/{path}")
    return match.group(1), path


def find_container(client: Engine, ref: AppRef, service: str) -> str:
    """The id of a running container of `service` on the engine `client` talks to.

    Only containers on that engine are found (a multi-node swarm would need a
    connection to the node running the task).
    """
    full = f"{ref.stack_name}_{short_name(ref.stack_name, service)}"
    containers = views.containers(client, {"label": [f"{SERVICE_NAME_LABEL}={full}"], "status": ["running"]})
    if containers:
        return containers[0].id  # the newest
    # Say why: no such service, or no running container of it here.
    pick_services(ref, app_services(client, ref), [service])
    raise NotFound(
        f"app {ref.name}: service {short_name(ref.stack_name, service)} has no running container on server {ref.server}",
        hint=f"see: coop app ps {ref.name}",
    )


def run(
    client: Engine,
    ref: AppRef,
    service: str,
    cmd: list[str],
    *,
    on_output: Callable[[str, bytes], None],
    user: str | None = None,
    tty: bool = False,
    stdin: bytes | ByteReader | None = None,
    workdir: str | None = None,
    env: list[str] | None = None,
) -> int:
    """Run `cmd` in a running container of `service`; stream its output to `on_output(stream, data)`.

    Returns the command's exit code (-1 when the engine does not know it).
    """
    if not cmd:
        raise UsageError(f"app {ref.name}: no command to run", hint=f"e.g. coop app run {ref.name} {service} -- sh")
    exec_id = _exec_in_running_container(
        client,
        ref,
        service,
        lambda container: client.exec_create(
            container, list(cmd), stdin=stdin is not None, tty=tty, env=env, workdir=workdir, user=user
        ),
    )
    watcher = None
    if isinstance(stdin, FdInput):
        # A terminal or an open pipe may never reach EOF: stop reading it once the command ended.
        watcher = client.clone(timeout=30)
        stdin.ended = lambda: _exec_ended(watcher, exec_id)
    try:
        for frame in client.exec_start(exec_id, stdin=stdin, tty=tty):
            on_output(frame.stream, frame.data)
    finally:
        if watcher is not None:
            assert isinstance(stdin, FdInput)  # the watcher is made for an FdInput only
            stdin.ended = lambda: True
            watcher.close()
    code = views.exec_status(client, exec_id).exit_code
    return -1 if code is None else code


def _exec_in_running_container(client: Engine, ref: AppRef, service: str, create: Callable[[str], str]) -> str:
    """The id of an exec `create(container)` made in a running container of `service`.

    A container listed as running may stop before the exec is created (a task that is exiting, a
    restart): the engine then answers 409 "is not running" or 404. Look again: another running
    container is used, and none left is "no running container" (NotFound), as if it had never run.
    """
    tried: set[str] = set()
    while True:
        container = find_container(client, ref, service)
        if container in tried:  # the same container refused twice: say what the engine said
            return create(container)
        try:
            return create(container)
        except (EngineConflict, EngineNotFound):
            tried.add(container)


def _exec_ended(client: Engine, exec_id: str) -> bool:
    try:
        return not views.exec_status(client, exec_id).running
    except Exception:  # cannot tell: stop feeding rather than hang
        return True


class FdInput:
    """An exec's stdin from a file descriptor (a terminal, a pipe): bytes as they come.

    Returns b"" (EOF) at the end of the input, or once `ended()` says the
    command is over, checked each second of silence, so a terminal that
    never reaches EOF does not keep coop waiting.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.ended: Callable[[], bool] = lambda: False

    def read(self, n: int = 65536) -> bytes:
        import select

        while True:
            ready, _, _ = select.select([self.fd], [], [], 1.0)
            if ready:
                try:
                    return os.read(self.fd, n)
                except OSError:
                    return b""
            if self.ended():
                return b""


def cp(client: Engine, ref: AppRef, src: str, dst: str) -> Copied:
    """Copy between the local machine and a running container of a service (archive API).

    ``SERVICE:/path`` on exactly one side. As ``docker cp``: when the target
    is an existing directory the source goes inside it, otherwise it takes the
    target's name.
    """
    spec = parse_copy(src, dst)
    container = find_container(client, ref, spec.service)
    if spec.to_container:
        return _copy_in(client, ref, spec, container)
    return _copy_out(client, ref, spec, container)


def _copy_out(client: Engine, ref: AppRef, spec: CopySpec, container: str) -> Copied:
    from coopcloud.ops.app.archive import extract

    try:
        stat, stream = client.archive_open(container, spec.container_path)
    except EngineNotFound:
        raise NotFound(
            f"app {ref.name}: {spec.service}:{spec.container_path} does not exist in the container",
            hint=f"check the path with: coop app run {ref.name} {spec.service} -- ls -la {PurePosixPath(spec.container_path).parent}",
        ) from None
    with stream:
        local = Path(spec.local_path)
        source_name = get_str(stat, "name") or PurePosixPath(spec.container_path).name or "root"
        if local.is_dir():
            parent, name = local, source_name
        else:
            parent, name = local.parent, local.name
            if not parent.is_dir():
                raise NotFound(f"local directory {parent} does not exist", hint="create it first")
        size = extract(stream, parent, name, f"app {ref.name}: {spec.service}:{spec.container_path}")
    return Copied("from", spec.service, container, spec.container_path, str(parent / name), size)


def _copy_in(client: Engine, ref: AppRef, spec: CopySpec, container: str) -> Copied:
    local = Path(spec.local_path)
    if not local.exists():
        raise NotFound(f"local path {local} does not exist", hint="check the path to copy")
    target = PurePosixPath(spec.container_path)
    try:
        stat = client.archive_stat(container, str(target))
        is_dir = bool(get_int(stat, "mode") & _GO_DIR_BIT)
    except EngineNotFound:
        stat, is_dir = {}, False
    if is_dir:
        into, name = str(target), local.name
    else:
        into, name = str(target.parent), target.name
        if spec.container_path.endswith("/"):
            raise NotFound(
                f"app {ref.name}: directory {spec.service}:{spec.container_path} does not exist in the container",
                hint="create it first, or name a file path",
            )
    from coopcloud.errors import InvalidError
    from coopcloud.ops.app.archive import outside_links, tar_chunks

    escaping = outside_links(local)
    if escaping:
        link, points_to = escaping[0]
        more = f" (and {len(escaping) - 1} more)" if len(escaping) > 1 else ""
        raise InvalidError(
            f"{local}: link {link} -> {points_to} points outside the copy{more}; nothing was copied",
            hint="copy the files the link points to instead",
        )
    sent = 0

    def counted() -> Iterator[bytes]:
        nonlocal sent
        for chunk in tar_chunks(local, name):
            sent += len(chunk)
            yield chunk

    try:
        client.archive_put(container, into, counted())
    except EngineNotFound:
        raise NotFound(
            f"app {ref.name}: directory {spec.service}:{into} does not exist in the container",
            hint="create it first with: coop app run " + f"{ref.name} {spec.service} -- mkdir -p {into}",
        ) from None
    return Copied("to", spec.service, container, str(PurePosixPath(into, name)), str(local), sent)
