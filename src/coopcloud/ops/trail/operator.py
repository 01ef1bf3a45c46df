"""Who is acting: the name shown in lock messages and written to the audit trail.

Lookup order (the first that gives a name wins):

1. ``$COOP_OPERATOR``;
2. ``git config user.email`` as seen from ``$ABRA_DIR`` (a collective that shares
   its state root through git has each member's identity there);
3. ``user@host`` of this machine.
"""

from __future__ import annotations

import getpass
import socket

from coopcloud.settings import Settings


def operator(settings: Settings) -> str:
    named = settings.environ.get("COOP_OPERATOR", "").strip()
    if named:
        return named
    from coopcloud.gitops import config_value

    email = config_value("user.email", settings.root)
    if email:
        return email
    return f"{_user(settings)}@{hostname()}"


def hostname() -> str:
    return socket.gethostname() or "localhost"


def _user(settings: Settings) -> str:
    for key in ("USER", "LOGNAME"):
        if settings.environ.get(key):
            return settings.environ[key]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        return "unknown"
