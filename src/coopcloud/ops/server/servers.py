"""Servers: the registry (abra's layout) and one engine connection per server per command.

A server is `$ABRA_DIR/servers/<name>/` plus a Docker context named <name>
under `$DOCKER_CONFIG/contexts/meta/<sha256(name)>/meta.json`, as abra stores
them, so servers added by abra work here and the other way round. `default`
is the local engine (docker's built-in context: $DOCKER_HOST or the socket).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coopcloud.domain.server import LOCAL, Server
from coopcloud.errors import Conflict, NotFound, ServerNotReady, UsageError
from coopcloud.rawdata import JSONDict
from coopcloud.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.server.nodes import NodeReach

LOCAL_SOCKET = "unix:///var/run/docker.sock"


def _context_dir(settings: Settings, name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return settings.docker_config / "contexts" / "meta" / digest


def read_context(settings: Settings, name: str) -> str | None:
    """The Docker endpoint stored in the context named `name`, or None."""
    meta = _context_dir(settings, name) / "meta.json"
    try:
        data = json.loads(meta.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"docker context {name}: cannot read {meta}: {exc}") from None
    return (data.get("Endpoints", {}).get("docker", {}) or {}).get("Host") or None


def write_context(settings: Settings, name: str, endpoint: str) -> None:
    folder = _context_dir(settings, name)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": endpoint, "SkipTLSVerify": False}}}
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, folder / "meta.json")


def remove_context(settings: Settings, name: str) -> None:
    shutil.rmtree(_context_dir(settings, name), ignore_errors=True)


def local_endpoint(settings: Settings) -> str:
    host = settings.environ.get("DOCKER_HOST", "")
    return host or LOCAL_SOCKET


def resolve(settings: Settings, name: str) -> Server:
    """A registered server by name. Unregistered names are refused with the command that adds them."""
    if name == LOCAL:
        return Server(LOCAL, read_context(settings, LOCAL) or local_endpoint(settings))
    if not settings.server_dir(name).is_dir():
        raise unknown_server(settings, name)
    # A server copied from another machine may lack its docker context: ssh to the name itself,
    # which ~/.ssh/config resolves as usual.
    return Server(name, read_context(settings, name) or f"ssh://{name}")


def server_names(settings: Settings) -> list[str]:
    try:
        return sorted(p.name for p in settings.servers_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def unknown_server(settings: Settings, name: str) -> NotFound:
    """``server nope is not registered — did you mean: cloud.example.org?`` (else: the command that adds it)."""
    from coopcloud.domain.words import did_you_mean

    hint = did_you_mean(name, server_names(settings))
    return NotFound(
        f"server {name} is not registered", hint=hint or f"see: coop server ls, or run: coop server add {name}"
    )


def list_servers(settings: Settings) -> list[Server]:
    return [resolve(settings, n) for n in server_names(settings)]


@dataclass(frozen=True)
class ServerStatus:
    name: str
    endpoint: str
    swarm: str  # active / inactive / pending / locked / error
    manager: bool
    engine_version: str
    proxy_network: bool


@dataclass(frozen=True)
class ServerAdded:
    """`server add`: the server as probed, and how coop reaches each node of its swarm."""

    status: ServerStatus
    nodes: Sequence[NodeReach]

    def to_json(self) -> JSONDict:
        s = self.status
        return {
            "server": s.name,
            "endpoint": s.endpoint,
            "swarm": s.swarm,
            "manager": s.manager,
            "proxy_network": s.proxy_network,
            "engine": s.engine_version,
            "nodes": [r.to_json() for r in self.nodes],
        }


@dataclass(frozen=True)
class ServerRemoved:
    """`server rm`: the server forgotten, with the app env files that went with it."""

    server: str
    app_env_files: list[str]

    def to_json(self) -> JSONDict:
        return {"server": self.server, "removed": True, "app_env_files": self.app_env_files}


@dataclass(frozen=True)
class ServerInitialised:
    """`server init`: what it did (empty when the server was ready)."""

    server: str
    done: list[str]

    def to_json(self) -> JSONDict:
        return {"server": self.server, "done": self.done}


def probe(client: Engine, server: Server) -> ServerStatus:
    from coopcloud.engine import views

    info = views.info(client)
    proxy = info.control_available and _has_proxy_network(client)
    return ServerStatus(
        server.name, server.endpoint, info.swarm_state, info.control_available, info.server_version, proxy
    )


@dataclass(frozen=True)
class ServerListed:
    """`server ls`, one server: its endpoint and, with `--status`, its status or why it did not answer."""

    server: Server
    status: ServerStatus | str | None = None  # None: not asked

    def to_json(self) -> JSONDict:
        doc: JSONDict = {"server": self.server.name, "endpoint": self.server.endpoint}
        st = self.status
        if isinstance(st, str):
            doc.update(swarm="unknown", manager=False, engine="", error=st)
        elif st is not None:
            doc.update(swarm=st.swarm, manager=st.manager, engine=st.engine_version, error=None)
        return doc


def listing(settings: Settings, pool: ServerPool | None = None) -> list[ServerListed]:
    """The registered servers; given a `pool`, each one's status too (asked in parallel)."""
    known = list_servers(settings)
    if pool is None:
        return [ServerListed(s) for s in known]
    return [ServerListed(s, st) for s, st in zip(known, probe_all(pool, known), strict=True)]


def probe_all(pool: ServerPool, known: Sequence[Server]) -> list[ServerStatus | str]:
    """Each server's status, or the line saying why it did not answer; in parallel, in the order of `known`."""
    from coopcloud.fanout import fan_out

    def check(server: Server) -> ServerStatus | str:
        try:
            return probe(pool.client_for(server), server)
        except Exception as exc:  # one unreachable server must not hide the others
            return str(exc)

    return fan_out(check, known)


def _has_proxy_network(client: Engine) -> bool:
    from coopcloud.engine import views

    return any(n.name == "proxy" for n in views.networks(client, {"name": ["proxy"]}))


def add(settings: Settings, pool: ServerPool, dest: str | None, *, local: bool = False) -> ServerStatus:
    """Register a server after checking it answers. Nothing is written when the check fails."""
    if local:
        server = Server(LOCAL, local_endpoint(settings))
    else:
        from coopcloud.domain.server import parse_destination

        server = parse_destination(dest or "")
        if settings.server_dir(server.name).is_dir():
            raise Conflict(f"server {server.name} is already registered", hint="see: coop server ls")
    status = probe(pool.client_for(server), server)
    if not local:
        write_context(settings, server.name, server.endpoint)
    settings.server_dir(server.name).mkdir(parents=True, exist_ok=True)
    return status


def app_env_files(settings: Settings, name: str, *, force: bool = False) -> list[str]:
    """The apps whose env files `remove` would delete with the server (refused unless forced)."""
    from coopcloud.domain.words import plural

    folder = settings.server_dir(name)
    if not folder.is_dir():
        raise unknown_server(settings, name)
    apps = sorted(p.stem for p in folder.glob("*.env"))
    if apps and not force:
        raise Conflict(
            f"server {name} still has {plural(len(apps), 'app')}: {', '.join(apps)}",
            hint="remove them first, or pass --force to forget the server and their env files",
        )
    return apps


def remove(settings: Settings, name: str, *, force: bool = False) -> ServerRemoved:
    """Unregister a server. Refuses while app env files remain, unless forced; returns those apps."""
    apps = app_env_files(settings, name, force=force)
    shutil.rmtree(settings.server_dir(name))
    if name != LOCAL:
        remove_context(settings, name)
    return ServerRemoved(name, apps)


def init(
    pool: ServerPool, server: Server, *, listen_addr: str | None = None, advertise_addr: str | None = None
) -> ServerInitialised:
    """Make the server ready for apps: swarm mode and the `proxy` overlay network. Idempotent.

    Returns what was done (empty when nothing was needed).
    """
    client = pool.client_for(server)
    done = []
    from coopcloud.engine import views

    info = views.info(client)
    if info.swarm_state != "active":
        spec = {"ListenAddr": listen_addr or "0.0.0.0:2377"}
        if advertise_addr:
            spec["AdvertiseAddr"] = advertise_addr
        elif server.is_local:
            spec["AdvertiseAddr"] = "127.0.0.1"  # a one-node local swarm; remote engines pick their address
        client.swarm_init(spec)
        done.append("initialised swarm")
    elif not info.control_available:
        raise ServerNotReady(
            f"server {server.name} is a swarm worker, not a manager",
            hint="add the manager node instead, or promote this node with: docker node promote",
        )
    if not _has_proxy_network(client):
        client.network_create(
            {"Name": "proxy", "Driver": "overlay", "Attachable": True, "CheckDuplicate": True, "Labels": {}}
        )
        done.append("created the proxy network")
    return ServerInitialised(server.name, done)


class ServerPool:
    """One engine connection per server for the whole command, opened on first use, thread-safe.

    Servers by name (as `resolve` finds them) over `engine.Pool`, which keeps the connections.
    """

    def __init__(self, settings: Settings):
        from coopcloud.engine.pool import Pool

        self.settings = settings
        self._pool = Pool(environ=settings.environ)

    def server(self, name: str) -> Server:
        return resolve(self.settings, name)

    def client(self, name: str) -> Engine:
        return self.client_for(self.server(name))

    def client_for(self, server: Server) -> Engine:
        return self._pool.get(server.endpoint, name=server.name)

    def close(self) -> None:
        self._pool.close()
