"""Where a Docker engine lives: parse endpoint strings, build the ssh argv.

Cheap to import (no sockets; subprocess only inside `ssh_hostname`): the CLI
may parse a server address without paying for the HTTP client.

Accepted endpoint strings (what ``docker context`` and abra store, plus
shorthands an operator types):

- ``unix:///var/run/docker.sock`` — a local socket;
- ``ssh://[user@]host[:port]`` — the engine of a server reached over ssh;
- ``[user@]host[:port]`` or an ``~/.ssh/config`` alias — same as ``ssh://``;
- ``tcp://host:port`` — plain HTTP (no TLS; for tests and tunnels only);
- ``""``, ``default`` or ``local`` — ``$DOCKER_HOST`` when set, else the
  local socket ``unix:///var/run/docker.sock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coopcloud.errors import UsageError

DEFAULT_SOCKET = "/var/run/docker.sock"
LOCAL_NAMES = ("", "default", "local")

# Environment variable naming an ssh config file, passed as `ssh -F`. OpenSSH
# reads ~/.ssh from the passwd entry's home, not $HOME, so this is the way to
# point coop (and its tests) at a config without touching ~/.ssh. As with any
# `ssh -F`, that file is read INSTEAD of ~/.ssh/config (it may `Include` it).
SSH_CONFIG_ENV = "COOP_SSH_CONFIG"


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "unix" | "ssh" | "tcp"
    path: str | None = None  # unix socket path
    host: str | None = None  # ssh alias / host name, tcp host
    user: str | None = None
    port: int | None = None  # only when given: never default ssh to 22

    @property
    def url(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}"

    @property
    def default_name(self) -> str:
        """How messages name this server when the caller gave no name."""
        if self.scheme == "ssh":
            return self.host or self.url
        return self.url

    def __str__(self) -> str:
        return self.url


def _split_host_port(hostport: str, original: str) -> tuple[str, int | None]:
    if hostport.startswith("["):  # [ipv6]:port
        end = hostport.find("]")
        if end < 0:
            raise UsageError(f"invalid engine address {original!r}: unclosed '['")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"invalid engine address {original!r}")
        port_text = rest[1:]
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
    else:
        return hostport, None  # no port, or a bare IPv6 address
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"invalid port in engine address {original!r}")
    return host, int(port_text)


def parse_endpoint(value: str, environ: Mapping[str, str] | None = None) -> Endpoint:
    """Parse an engine address; see the module docstring for the forms."""
    text = (value or "").strip()
    if text in LOCAL_NAMES:
        docker_host = (environ or {}).get("DOCKER_HOST", "").strip()
        if docker_host and docker_host not in LOCAL_NAMES:
            return parse_endpoint(docker_host)
        return Endpoint("unix", path=DEFAULT_SOCKET)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "ssh", text
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest.startswith("/"):
            raise UsageError(f"invalid engine address {text!r}: a unix socket path must be absolute")
        return Endpoint("unix", path=rest)
    if scheme not in ("ssh", "tcp", "http"):
        raise UsageError(
            f"unsupported engine address {text!r} — use unix:///path/to/docker.sock or ssh://[user@]host[:port]"
        )
    rest = rest.rstrip("/")
    if "/" in rest:
        raise UsageError(f"invalid engine address {text!r}: no path allowed after the host")
    user = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not user:
            raise UsageError(f"invalid engine address {text!r}: empty user name")
    host, port = _split_host_port(rest, text)
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise UsageError(f"invalid engine address {text!r}: bad host name")
    if scheme in ("tcp", "http"):
        if port is None:
            raise UsageError(f"invalid engine address {text!r}: tcp:// needs a port")
        return Endpoint("tcp", host=host, port=port)
    return Endpoint("ssh", host=host, user=user, port=port)


def ssh_argv(
    endpoint: Endpoint,
    *,
    config: str | None = None,
    control_path: str | None = None,
    remote: tuple[str, ...] = ("docker", "system", "dial-stdio"),
    ssh: str = "ssh",
    persist: int = 0,
) -> list[str]:
    """The argv of the ssh process that carries the Engine API for `endpoint`.

    - ``-T``: no TTY; the pipe carries raw bytes.
    - ``-o BatchMode=yes``: ssh never prompts (no password, passphrase or
      "are you sure" question): it fails with its own message instead, which
      coop reports. Host-key checking stays as the user configured it (an
      unknown or changed key fails with "Host key verification failed.").
    - ``-p`` only when the address names a port, so ``~/.ssh/config`` decides
      otherwise (aliases, ports, keys, ProxyJump, agent, known_hosts).
    - ``-F config`` only when an extra config is given (``$COOP_SSH_CONFIG``).
    - ControlMaster options only when a private control path is given: the
      first process becomes the master, later channels multiplex over it;
      with `persist` seconds the master stays up that long after the last
      channel closed (``ControlPersist``), for the next command.
    """
    if endpoint.scheme != "ssh" or not endpoint.host:
        raise ValueError(f"not an ssh endpoint: {endpoint}")
    argv = [ssh, "-T", "-o", "BatchMode=yes"]
    if config:
        argv += ["-F", config]
    if control_path:
        keep = f"{persist}s" if persist > 0 else "no"
        argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_path}", "-o", f"ControlPersist={keep}"]
    if endpoint.port is not None:
        argv += ["-p", str(endpoint.port)]
    target = f"{endpoint.user}@{endpoint.host}" if endpoint.user else endpoint.host
    argv += ["--", target, *remote]
    return argv


def ssh_hostname(value: str, environ: Mapping[str, str]) -> str | None:
    """The host ssh would connect to for the server address `value` (an alias resolved by ``ssh -G``,
    which reads the config and contacts no one); None for a local or tcp address, or when ssh cannot say."""
    import subprocess

    try:
        endpoint = parse_endpoint(value, environ)
    except Exception:
        return None
    if endpoint.scheme != "ssh":
        return None
    argv = ssh_argv(endpoint, config=environ.get(SSH_CONFIG_ENV) or None, remote=())
    argv.insert(1, "-G")
    try:
        p = subprocess.run(
            argv, capture_output=True, text=True, env=dict(environ), timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in p.stdout.splitlines():
        key, _, found = line.partition(" ")
        if key == "hostname":
            return found.strip()
    return None


_NO_SUCH_NAME = ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")


def getaddrinfo_addresses(name: str) -> set[str] | None:
    """Every address `name` resolves to (the system's resolver: /etc/hosts, DNS…); empty when the
    name has none, None when the resolver could not say (no network, a failing server)."""
    import socket

    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror as exc:
        return set() if exc.errno in {getattr(socket, n, None) for n in _NO_SUCH_NAME} else None
    except (UnicodeError, OSError):
        return set()
