"""Shared test doubles. Import as ``from fakes.engine import FakeEngine`` (tests/ is on sys.path)."""
