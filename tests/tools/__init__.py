"""Helpers for coop's tests (no production code depends on these)."""
