"""Tar streams for `coop app cp`, in bounded memory, never writing through a link that leaves the copy.

- `tar_chunks` makes the tar of a local file or folder as it is sent (a producer thread writes it into a
  small queue), after refusing any symlink in it that points outside it (absolute, or ``..`` past
  the top), with one line naming the link;
- `extract` reads a tar stream (as the engine sends it) into a staging folder beside the destination,
  with tarfile's ``data`` filter (no absolute or escaping links, no devices), then moves it into
  place: a refused archive leaves the destination as it was.
"""

from __future__ import annotations

import os
import posixpath
import queue
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from coopcloud.errors import Conflict, CoopError, InvalidError

CHUNK = 256 * 1024
_QUEUE_CHUNKS = 8  # at most ~2 MiB of tar in flight


def outside_links(root: Path) -> list[tuple[str, str]]:
    """(path relative to root's parent, link target) of each symlink under `root` (or `root` itself)
    that points outside `root`."""
    found = []
    top = root.name
    candidates = [root] if root.is_symlink() else []
    if root.is_dir() and not root.is_symlink():
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath, name)
                if p.is_symlink():
                    candidates.append(p)
    for link in candidates:
        target = os.readlink(link)
        rel = PurePosixPath(top, link.relative_to(root).as_posix()) if link != root else PurePosixPath(top)
        resolved = posixpath.normpath(posixpath.join(str(rel.parent), target))
        if posixpath.isabs(target) or not (resolved == top or resolved.startswith(top + "/")):
            found.append((str(rel), target))
    return found


def tar_chunks(local: Path, name: str) -> Iterator[bytes]:
    """The tar of `local` (named `name` inside it), in chunks, made while it is read."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)  # None: the end
    stop = threading.Event()

    class Sink:
        def write(self, data: bytes) -> int:
            while not stop.is_set():
                try:
                    chunks.put(bytes(data), timeout=0.5)
                    return len(data)
                except queue.Full:
                    continue
            raise BrokenPipeError("the reader stopped")

    def produce() -> None:
        try:
            with tarfile.open(fileobj=Sink(), mode="w|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
                tar.add(str(local), arcname=name)
        except OSError as exc:  # a local file that cannot be read: the reader raises it, as coop's error
            _put(CoopError(f"cannot read {exc.filename or local}: {exc.strerror or exc}"))
        except BaseException as exc:  # handed to the reader, which raises it
            _put(exc)
        else:
            _put(None)

    def _put(item: BaseException | None) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    producer = threading.Thread(target=produce, daemon=True, name="cp-tar")
    producer.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)


class _Counting:
    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data


def extract(stream: IO[bytes], parent: Path, name: str, what: str) -> int:
    """Extract the tar `stream` into `parent`, its top entry renamed `name`; the bytes read.

    `what` names the source in messages (``app x: app:/etc``).
    """
    counting = _Counting(stream)
    staging = Path(tempfile.mkdtemp(prefix=".coop-cp-", dir=parent))
    try:
        with tarfile.open(fileobj=counting, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
            top: str | None = None
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not parts:
                    continue
                top = top or parts[0]
                member.name = str(PurePosixPath(name, *parts[1:]))
                if member.islnk():
                    link_parts = PurePosixPath(member.linkname).parts
                    if link_parts and link_parts[0] == top:
                        member.linkname = str(PurePosixPath(name, *link_parts[1:]))
                try:
                    tar.extract(member, staging, filter="data")
                except tarfile.FilterError as exc:
                    raise InvalidError(
                        f"{what}: {_refusal(exc, member, name)}; nothing was copied",
                        hint="copy the files the link points to instead",
                    ) from None
        source = staging / name
        if source.exists() or source.is_symlink():
            _move(source, parent / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counting.count


def _refusal(exc: tarfile.FilterError, member: tarfile.TarInfo, name: str) -> str:
    kind = "hard link" if member.islnk() else "link" if member.issym() else "entry"
    if isinstance(exc, (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError)):
        return f"{kind} {member.name} -> {member.linkname} points outside the destination"
    if isinstance(exc, (tarfile.AbsolutePathError, tarfile.OutsideDestinationError)):
        return f"{member.name} would be written outside the destination"
    return f"{member.name} is a {kind} coop does not copy ({exc.__class__.__name__})"


def _move(source: Path, target: Path) -> None:
    """Put `source` at `target`: replace a file, merge into an existing folder (as docker cp)."""
    if target.is_dir() and not target.is_symlink():
        if not source.is_dir() or source.is_symlink():
            raise Conflict(f"{target} is a folder: cannot overwrite it with a file", hint="copy to another path")
        for child in source.iterdir():
            _move(child, target / child.name)
        return
    if source.is_dir() and not source.is_symlink() and (target.exists() or target.is_symlink()):
        raise Conflict(f"{target} is a file: cannot overwrite it with a folder", hint="copy to another path")
    os.replace(source, target)
