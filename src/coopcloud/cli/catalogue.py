"""`coop catalogue ...`: the recipes.json catalogue."""

from __future__ import annotations

import click


@click.group()
def catalogue() -> None:
    """The catalogue of recipes (recipes.json): sync, generate, search."""
