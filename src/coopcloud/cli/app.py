"""`coop app ...`: create, deploy and inspect apps."""

from __future__ import annotations

import click


@click.group()
def app() -> None:
    """Create, deploy and inspect apps (an app is a recipe deployed as a stack on a server)."""
