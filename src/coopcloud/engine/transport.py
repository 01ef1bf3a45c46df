"""Byte channels to an engine: a unix socket, a TCP socket, or an ssh dial-stdio process.

A `Transport` opens `Channel`s; each channel is one connected stream socket
that carries HTTP/1.1 (keep-alive) to the engine. For ssh, a channel is one
``ssh … docker system dial-stdio`` process whose stdin and stdout are one end
of a `socket.socketpair()`; coop talks to the other end, so the HTTP client
sees an ordinary socket (timeouts, half-close, makefile) and no thread copies
bytes around.

ssh's stderr goes to an unnamed temporary file (never a pipe nobody reads,
which could block ssh) and is read only to explain a failure in ssh's own
words.

With `multiplex=True` (the default for ssh) channels share one ssh connection
(OpenSSH ControlMaster): the first channel's ssh is the master, and later
channels (a log stream, an exec) open over it in one round trip instead of a
new handshake. The master outlives the command for ``$COOP_SSH_PERSIST``
seconds (default 60, as Ansible does; ``0`` turns it off), so the next command
to the same server within that window pays no handshake either. Its socket
lives in a private directory (0700, ours, not a symlink, else persistence is
off) and is named by a hash of ssh's whole effective configuration for the
destination (``ssh -G``): a different known_hosts file, key, user, port or
proxy never reuses another's connection, so host keys are always verified by
the connection a command uses.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from typing import IO

from coopcloud.errors import EngineError, EngineUnreachable, ServerNotReady, UsageError

from .endpoint import SSH_CONFIG_ENV, Endpoint, ssh_argv

# How long close() waits for an ssh process to leave after its stdin closed.
_EXIT_GRACE = 3.0
_MUX_EXIT_GRACE = 0.02

PERSIST_ENV = "COOP_SSH_PERSIST"
DEFAULT_PERSIST = 60  # seconds an idle master connection stays up after the command (Ansible's default)


def persist_seconds(environ: Mapping[str, str]) -> int:
    """``$COOP_SSH_PERSIST`` in seconds (default 60); 0 closes the connection with the command."""
    value = (environ.get(PERSIST_ENV) or "").strip()
    if not value:
        return DEFAULT_PERSIST
    if not value.isdigit():
        raise UsageError(
            f"{PERSIST_ENV}={value!r} is not a number of seconds",
            hint=f"set {PERSIST_ENV}=0 to turn ssh connection reuse off",
        )
    return int(value)


def shared_control_dir(environ: Mapping[str, str]) -> str | None:
    """The private directory for master sockets that outlive a command, or None when none is safe.

    ``$XDG_RUNTIME_DIR/coop-ssh``, else ``<tmp>/coop-ssh-<uid>``; it must be a real directory owned
    by us with no group/other access (another user could otherwise plant or reach a socket there),
    and short enough for a unix socket path.
    """
    runtime = environ.get("XDG_RUNTIME_DIR")
    candidates = [os.path.join(runtime, "coop-ssh")] if runtime else []
    candidates.append(os.path.join(tempfile.gettempdir(), f"coop-ssh-{os.getuid()}"))
    for path in candidates:
        if len(path) <= _MAX_CONTROL_DIR and _private_dir(path):
            return path
    return None


# sun_path holds 108 bytes; ssh adds ".XXXXXXXXXXXXXXXX" while it binds, and our name is 21.
_MAX_CONTROL_DIR = 107 - 17 - 21


def _private_dir(path: str) -> bool:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


class Channel:
    """One connected socket to the engine (plus, for ssh, the process behind it)."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        proc: subprocess.Popen[bytes] | None = None,
        stderr: IO[bytes] | None = None,
        mux_client: bool = False,
    ) -> None:
        self.sock = sock
        self.proc = proc
        self.mux_client = mux_client  # ssh talks through a kept master: ending it ends one session only
        self._stderr = stderr
        self._stderr_text: str | None = None
        self.requests = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def ssh_stderr(self, wait: float = 5.0) -> tuple[int | None, str]:
        """(exit code or None if still running, ssh's stderr) — waits a little for ssh to finish."""
        if self.proc is None:
            return None, ""
        try:
            code = self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            code = None
        return code, self._read_stderr()

    def _read_stderr(self) -> str:
        if self._stderr_text is not None:
            return self._stderr_text
        text = ""
        if self._stderr is not None:
            try:
                self._stderr.seek(0)
                text = self._stderr.read().decode("utf-8", "replace")
            except (OSError, ValueError):
                pass
        return text

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        proc = self.proc
        if proc is not None:
            # Closing our end gives ssh EOF on stdin: it ends the remote
            # dial-stdio and exits. Reap it so no zombie is left behind.
            # A mux client's exit waits for the remote side to close the session (a round trip on
            # a slow link); ending it at once is as clean: the kept master closes the session.
            grace = _MUX_EXIT_GRACE if self.mux_client else _EXIT_GRACE
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=_EXIT_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._stderr is not None:
            self._stderr_text = self._read_stderr()  # kept to explain a failure after close
            try:
                self._stderr.close()
            except OSError:
                pass
            self._stderr = None


class Transport:
    """Opens channels to one engine; `close()` ends every channel it opened."""

    def __init__(self, endpoint: Endpoint, server: str):
        self.endpoint = endpoint
        self.server = server
        self.channels_opened = 0
        self._channels: list[Channel] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return self.endpoint.url

    def open(self, timeout: float | None = None) -> Channel:
        with self._lock:
            if self._closed:
                raise EngineUnreachable(f"server {self.server}: the engine client was already closed")
            channel = self._open(timeout)
            self.channels_opened += 1
            self._channels.append(channel)
            return channel

    def _open(self, timeout: float | None) -> Channel:
        raise NotImplementedError

    def release(self, channel: Channel) -> None:
        with self._lock:
            if channel in self._channels:
                self._channels.remove(channel)
        channel.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channels, self._channels = self._channels, []
        # Close slaves before the master, so the master can leave at once.
        for channel in reversed(channels):
            channel.close()

    def failure(self, channel: Channel | None, exc: BaseException) -> EngineError:
        """The coop error that explains a failed connect/send/receive on `channel`."""
        raise NotImplementedError


class UnixTransport(Transport):
    def _open(self, timeout: float | None) -> Channel:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        assert self.endpoint.path is not None  # a unix:// endpoint always names its socket
        try:
            sock.connect(self.endpoint.path)
        except OSError as exc:
            sock.close()
            raise self.failure(None, exc) from exc
        return Channel(sock)

    def _who(self) -> str:
        if self.server != self.url:
            return f"the Docker engine of server {self.server} at {self.url}"
        return f"the Docker engine at {self.url}"

    def failure(self, channel: Channel | None, exc: BaseException) -> EngineError:
        if isinstance(exc, PermissionError):
            return EngineUnreachable(
                f"permission denied on {self.url} (server {self.server})",
                hint="run as root or as a member of the docker group",
            )
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) or channel is None:
            return EngineUnreachable(f"cannot reach {self._who()}", hint="is dockerd running?")
        if isinstance(exc, TimeoutError):
            return EngineUnreachable(f"{self._who()} did not answer in time", hint="is dockerd overloaded or hung?")
        return EngineUnreachable(
            f"lost the connection to {self._who()} ({_describe(exc)})", hint="is dockerd running? run the command again"
        )


class TcpTransport(UnixTransport):
    """Plain HTTP over TCP (no TLS): for tests and ssh tunnels only."""

    def _open(self, timeout: float | None) -> Channel:
        try:
            sock = socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=timeout)
        except OSError as exc:
            raise self.failure(None, exc) from exc
        return Channel(sock)


# First channels opened ahead of the command (`preconnect`), by control path: the transport's first
# `open()` for that destination takes it instead of starting a second connection.
_PRECONNECTED: dict[str, Channel] = {}


def preconnect(endpoint: Endpoint, server: str, environ: Mapping[str, str]) -> None:
    """Open the first channel to `server` now, in the background, when connections persist.

    coop calls this as early as it knows the server, so the ssh handshake, the session and the
    remote ``docker system dial-stdio`` (more than a second on a long link) overlap coop's own
    start-up; the first request then goes out on a channel that is ready or nearly so. Nothing
    happens when persistence is off; a failure shows on the first request, in ssh's words, as usual.
    """
    transport = SshTransport(endpoint, server, environ=environ)
    transport.argv()
    path = transport._control_path
    if not transport.persist or path is None or path in _PRECONNECTED:
        return
    _PRECONNECTED[path] = transport._spawn(None)


class SshTransport(Transport):
    """``ssh -T … -- host docker system dial-stdio``, one process per channel."""

    def __init__(
        self,
        endpoint: Endpoint,
        server: str,
        *,
        environ: Mapping[str, str] | None = None,
        multiplex: bool = True,
    ):
        super().__init__(endpoint, server)
        env = dict(os.environ if environ is None else environ)
        self.config = env.get(SSH_CONFIG_ENV) or None
        self._env = env
        self._multiplex = multiplex
        self.persist = persist_seconds(env) if multiplex else 0
        self._control_dir: str | None = None  # ours alone (removed at close) when not persisting
        self._control_path: str | None = None

    def argv(self) -> list[str]:
        if self._multiplex and self._control_path is None:
            self._control_path = self._persistent_control_path() if self.persist else None
            if self._control_path is None:
                self.persist = 0
                # mkdtemp makes the directory 0700: only we can reach the master socket.
                self._control_dir = tempfile.mkdtemp(prefix="coop-ssh-")
                self._control_path = os.path.join(self._control_dir, "cm")
        return ssh_argv(self.endpoint, config=self.config, control_path=self._control_path, persist=self.persist)

    def _persistent_control_path(self) -> str | None:
        """<private dir>/<hash of `ssh -G` for this destination>, or None (no reuse across commands)."""
        folder = shared_control_dir(self._env)
        if folder is None:
            return None
        probe = ssh_argv(self.endpoint, config=self.config, remote=())
        probe.insert(1, "-G")
        try:
            resolved = subprocess.run(probe, capture_output=True, env=self._env, timeout=10, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        if resolved.returncode != 0 or not resolved.stdout:
            return None  # ssh will fail with its own words when it connects
        digest = hashlib.sha256(resolved.stdout).hexdigest()[:20]
        return os.path.join(folder, digest)

    def _open(self, timeout: float | None) -> Channel:
        self.argv()
        early = _PRECONNECTED.pop(self._control_path, None) if self._control_path else None
        if early is not None:
            early.sock.settimeout(timeout)
            return early
        return self._spawn(timeout)

    def _spawn(self, timeout: float | None) -> Channel:
        argv = self.argv()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the channel, which outlives this call)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=stderr,
                env=self._env,
                close_fds=True,
                start_new_session=True,  # Ctrl-C reaches coop, which then closes ssh cleanly
            )
        except FileNotFoundError as exc:
            ours.close()
            stderr.close()
            raise EngineUnreachable(
                f"cannot reach server {self.server}: the ssh client ({argv[0]}) is not installed",
                hint="install openssh-client",
            ) from exc
        finally:
            theirs.close()
        ours.settimeout(timeout)
        return Channel(ours, proc=proc, stderr=stderr, mux_client=self.persist > 0)

    def close(self) -> None:
        super().close()
        if self._control_dir:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def failure(self, channel: Channel | None, exc: BaseException) -> EngineError:
        if channel is None:
            return EngineUnreachable(f"cannot reach server {self.server} over ssh ({_describe(exc)})")
        if isinstance(exc, TimeoutError) and channel.proc is not None and channel.proc.poll() is None:
            return EngineUnreachable(
                f"server {self.server} did not answer over ssh in time",
                hint="check the network, or run: ssh " + self._target() + " docker info",
            )
        code, text = channel.ssh_stderr(wait=5.0 if channel.requests == 0 else 1.0)
        return explain_ssh_failure(
            self.server,
            code,
            text,
            target=self._target(),
            established=channel.requests > 0,
            detail=_describe(exc),
        )

    def _target(self) -> str:
        e = self.endpoint
        target = f"{e.user}@{e.host}" if e.user else (e.host or "")
        return f"-p {e.port} {target}" if e.port is not None else target


# (ssh's words, what it means, the next step). The first match wins.
_SSH_FAILURES: list[tuple[str, str, str]] = [
    (
        "host key verification failed",
        "its ssh host key is unknown or has changed",
        "check the key, then add it to known_hosts (e.g. ssh {target} once by hand)",
    ),
    (
        "remote host identification has changed",
        "its ssh host key has changed",
        "check the key, then update known_hosts",
    ),
    (
        "could not resolve hostname",
        "the host name does not resolve",
        "check the server name (an alias in ~/.ssh/config, or a DNS name)",
    ),
    (
        "name or service not known",
        "the host name does not resolve",
        "check the server name (an alias in ~/.ssh/config, or a DNS name)",
    ),
    ("connection refused", "nothing accepts ssh connections there", "is sshd running, and is the port right?"),
    ("connection timed out", "the connection timed out", "check the network and the firewall"),
    ("operation timed out", "the connection timed out", "check the network and the firewall"),
    ("no route to host", "there is no route to the host", "check the network"),
    ("network is unreachable", "the network is unreachable", "check the network"),
    ("permission denied", "ssh refused the login", "check the user and key (ssh-add, IdentityFile in ~/.ssh/config)"),
    (
        "too many authentication failures",
        "ssh refused the login",
        "set IdentitiesOnly and the right IdentityFile in ~/.ssh/config",
    ),
]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Warning: Permanently added")]
    return lines[-1] if lines else ""


def _ssh_words(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line.lower():
            return line.strip()
    return _last_line(text)


def explain_ssh_failure(
    server: str,
    code: int | None,
    stderr: str,
    *,
    target: str | None = None,
    established: bool = False,
    detail: str = "",
) -> EngineError:
    """One line, in ssh's own words, naming the server and the next step."""
    low = stderr.lower()
    target = target or server
    # The remote shell ran but has no docker (127: command not found).
    if code == 127 or "docker: command not found" in low or "docker: not found" in low:
        return ServerNotReady(f"docker is not installed on {server}", hint="install Docker Engine there")
    if "cannot connect to the docker daemon" in low or "is the docker daemon running" in low:
        return EngineUnreachable(
            f"server {server}: the Docker daemon is not running ({_last_line(stderr)})", hint="start dockerd there"
        )
    if "permission denied while trying to connect to the docker" in low or (
        "permission denied" in low and "docker.sock" in low
    ):
        return ServerNotReady(
            f"server {server}: the ssh user may not use the Docker socket",
            hint="log in as root or add the user to the docker group",
        )
    if ("unknown command" in low and "dial-stdio" in low) or "is not a docker command" in low:
        return ServerNotReady(
            f"the docker client on {server} is too old for 'docker system dial-stdio'",
            hint="install Docker 18.09 or newer there",
        )
    if established:
        words = _last_line(stderr) or detail or "connection closed"
        return EngineUnreachable(
            f"lost the ssh connection to server {server} ({words})", hint="check the network and run the command again"
        )
    for needle, meaning, step in _SSH_FAILURES:
        if needle in low:
            words = _ssh_words(stderr, needle)
            return EngineUnreachable(
                f"cannot reach server {server} over ssh: {meaning} ({words})", hint=step.format(target=target)
            )
    words = _last_line(stderr)
    if words:
        return EngineUnreachable(
            f"cannot reach server {server} over ssh ({words})", hint=f"try: ssh {target} docker info"
        )
    why = f"ssh exited with status {code}" if code is not None else (detail or "no answer")
    return EngineUnreachable(f"cannot reach server {server} over ssh ({why})", hint=f"try: ssh {target} docker info")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def make_transport(
    endpoint: Endpoint, server: str, *, environ: Mapping[str, str] | None = None, multiplex: bool = True
) -> Transport:
    if endpoint.scheme == "unix":
        return UnixTransport(endpoint, server)
    if endpoint.scheme == "tcp":
        return TcpTransport(endpoint, server)
    return SshTransport(endpoint, server, environ=environ, multiplex=multiplex)
