"""Compose files in: load, interpolate, merge, validate. One entry point: ``load()``."""
