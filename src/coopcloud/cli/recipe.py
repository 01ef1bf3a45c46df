"""`coop recipe ...`: inspect and render recipes."""

from __future__ import annotations

import click


@click.group()
def recipe() -> None:
    """Inspect and render recipes (git repos with compose.yml, .env.sample and abra.sh)."""
