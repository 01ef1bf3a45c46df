"""Commands registered onto a group by `register(group)`; filled in by the issue that builds them."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
