"""Docker object names for a stack, and the limits the engine enforces on them.

Measured on the engine (swarmkit's control API), not guessed:

- services and swarm networks: at most 63 characters, a DNS name component
  (``^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$``: no dots, no leading/trailing ``-``/``_``);
- secrets and configs: at most 64 characters of ``[a-zA-Z0-9-_.]``, starting
  and ending with a letter or digit.

`docker stack deploy` finds out object by object, after having created some;
coop refuses the whole stack before anything is created.
"""

from __future__ import annotations

import re

from coopcloud.errors import ConvertError

IMAGE_LABEL = "com.docker.stack.image"

SERVICE_NAME_MAX = 63
NETWORK_NAME_MAX = 63
SECRET_NAME_MAX = 64
CONFIG_NAME_MAX = 64

_DNS_COMPONENT = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
_SECRET_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")


def scope(stack: str, name: str) -> str:
    """``<stack>_<name>``: how `docker stack deploy` namespaces an object."""
    return f"{stack}_{name}"


def check_service_name(full: str, stack: str, service: str) -> None:
    if len(full) > SERVICE_NAME_MAX:
        raise ConvertError(
            f"service name {full!r} is {len(full)} characters; Docker allows at most {SERVICE_NAME_MAX}",
            hint=f"shorten the app name/domain (stack {stack!r}, {len(stack)} characters) "
            f"or the service name {service!r} by {len(full) - SERVICE_NAME_MAX}",
        )
    if not _DNS_COMPONENT.match(full):
        raise ConvertError(
            f"service name {full!r} is not valid for Docker: letters, digits, '-' and '_' only, "
            "starting and ending with a letter or digit",
            hint=f"rename the service {service!r} or the stack {stack!r} (dots become '_' in stack names)",
        )


def check_network_name(full: str, stack: str, key: str) -> None:
    if len(full) > NETWORK_NAME_MAX:
        raise ConvertError(
            f"network name {full!r} is {len(full)} characters; Docker allows at most {NETWORK_NAME_MAX}",
            hint=f"shorten the app name/domain (stack {stack!r}) or the network {key!r}, "
            "or give the network a shorter `name:`",
        )


def check_file_object_name(kind: str, full: str, stack: str, key: str) -> None:
    """`kind` is "secret" or "config"."""
    limit = SECRET_NAME_MAX if kind == "secret" else CONFIG_NAME_MAX
    if len(full) > limit:
        raise ConvertError(
            f"{kind} name {full!r} is {len(full)} characters; Docker allows at most {limit}",
            hint=f"shorten the app name/domain (stack {stack!r}) or the {kind} {key!r} "
            "(its name and version), or give it a shorter `name:`",
        )
    if not _SECRET_NAME.match(full):
        raise ConvertError(
            f"{kind} name {full!r} is not valid for Docker: letters, digits, '-', '_' and '.' only, "
            "starting and ending with a letter or digit",
            hint=f"rename the {kind} {key!r}",
        )
