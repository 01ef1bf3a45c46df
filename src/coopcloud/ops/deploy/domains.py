"""abra's domain check, before a deploy changes anything: the app's DOMAIN (and the hosts its
EXTRA_DOMAINS adds) must resolve to an address of its server, as the server's entry resolves.

Not checked: the local server, and names under the reserved `.localhost`, `.test`, `.example` and
`.invalid` (and RFC 2606's example.com, .net, .org). A resolver that does not answer within 3 s, or
answers that it cannot (no network), is a warning, never a hang; `-D` skips it all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from coopcloud.domain.server import Server
from coopcloud.engine.endpoint import getaddrinfo_addresses
from coopcloud.errors import NotFound
from coopcloud.settings import Settings

RESOLVE_TIMEOUT = 3.0
UNCHECKED = ("localhost", "test", "example", "invalid")  # RFC 2606 / 6761 names, and their subdomains
UNCHECKED_DOMAINS = ("example.com", "example.net", "example.org")

Resolver = Callable[[str], "set[str] | None"]


def app_domains(values: Mapping[str, str], app_name: str) -> list[str]:
    """DOMAIN (the app name when unset) and EXTRA_DOMAINS' hosts: abra recipes write them as
    traefik rule fragments (", `www.example.org`"); plain comma- or space-separated names work too."""
    extra = values.get("EXTRA_DOMAINS", "")
    hosts = re.findall(r"`([^`]*)`", extra) if "`" in extra else re.split(r"[\s,]+", extra)
    names = [values.get("DOMAIN") or app_name, *hosts]
    return list(dict.fromkeys(n.strip().rstrip(".").lower() for n in names if n.strip().strip(".")))


def checked(name: str) -> bool:
    """Whether the domain check asks about `name`: not for reserved names that never point at a server."""
    if name.rsplit(".", 1)[-1] in UNCHECKED:
        return False
    return not any(name == d or name.endswith("." + d) for d in UNCHECKED_DOMAINS)


def resolve_all(names: Iterable[str], resolver: Resolver, timeout: float) -> dict[str, set[str] | None]:
    """name -> its addresses, or None for a name the resolver did not answer within `timeout`
    (all asked at once; a stuck lookup is left behind in a daemon thread, never waited for)."""
    from coopcloud.fanout import fan_out_within

    return fan_out_within(resolver, names, timeout)


def check_domains(
    settings: Settings,
    server: Server,
    app_name: str,
    values: Mapping[str, str],
    *,
    warn: Callable[[str], None],
    resolver: Resolver = getaddrinfo_addresses,
    timeout: float = RESOLVE_TIMEOUT,
) -> None:
    """NotFound (exit 3) when a domain of the app does not resolve to an address of `server`."""
    from coopcloud.engine.endpoint import parse_endpoint, ssh_hostname

    names = [n for n in app_domains(values, app_name) if checked(n)]
    if server.is_local or not names:
        return
    host = ssh_hostname(server.endpoint, settings.environ) or parse_endpoint(server.endpoint, settings.environ).host
    if not host:
        return
    found = resolve_all([host, *names], resolver, timeout)
    server_addrs = found.get(host)
    if not server_addrs:
        warn(f"app {app_name}: server {server.name} ({host}) did not resolve here, so its domains were not checked")
        return
    shown = ", ".join(sorted(server_addrs))
    for name in names:
        addrs = found.get(name)
        if addrs is None:
            warn(f"app {app_name}: the resolver gave no answer for {name} within {timeout:g} s; domain not checked")
        elif not addrs:
            raise NotFound(
                f"app {app_name}: domain {name} does not resolve (server {server.name} is {shown})",
                hint="point its DNS at the server, or pass -D/--no-domain-checks",
            )
        elif not addrs & server_addrs:
            raise NotFound(
                f"app {app_name}: domain {name} resolves to {', '.join(sorted(addrs))}, "
                f"not to server {server.name} ({shown})",
                hint="point its DNS at the server, or pass -D/--no-domain-checks",
            )


def check_app_domains(settings: Settings, app_name: str, *, warn: Callable[[str], None]) -> None:
    """The domain check of the app called `app_name` (its env file and its server's entry)."""
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.server.servers import resolve

    cfg = load_app(settings, app_name)
    check_domains(settings, resolve(settings, cfg.ref.server), cfg.ref.name, cfg.env.values(), warn=warn)
