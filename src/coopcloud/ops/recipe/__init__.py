"""Recipes: where they are, scaffolding, the catalogue, and the maintainer's tools."""
