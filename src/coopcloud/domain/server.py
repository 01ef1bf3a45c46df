"""A server: a Docker Swarm manager reached over SSH, or the local engine (`default`).

Pure parsing of what an operator types (`coop server add ...`) into a name and
an engine endpoint. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coopcloud.errors import UsageError

LOCAL = "default"

# user@host:port, host:port, user@host, host, or an ~/.ssh/config alias.
# Never a leading '-': a name must not read as an option to ssh.
_DEST = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?(?P<host>[A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9a-fA-F:]+\])(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class Server:
    name: str
    endpoint: str  # ssh://[user@]host[:port], or unix:///... for the local engine

    @property
    def is_local(self) -> bool:
        return self.endpoint.startswith("unix://") or self.name == LOCAL


def parse_destination(dest: str) -> Server:
    """`root@example.org:2222` -> Server('example.org', 'ssh://root@example.org:2222').

    The server's name is the host (or ssh alias), as abra names servers; the
    endpoint keeps the user and port only when given, so ~/.ssh/config decides
    the rest (never a forced port 22).
    """
    if dest.startswith("ssh://"):
        dest = dest[len("ssh://") :]
    m = _DEST.match(dest)
    if not m:
        raise UsageError(
            f"server {dest!r} is not an ssh destination",
            hint="use an ~/.ssh/config alias, host, user@host or user@host:port",
        )
    host = m.group("host")
    port = m.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise UsageError(f"server {dest!r}: port {port} is out of range")
    if host == LOCAL:
        raise UsageError("the server name 'default' is the local engine", hint="run: coop server add --local")
    return Server(name=host.strip("[]"), endpoint="ssh://" + dest)
