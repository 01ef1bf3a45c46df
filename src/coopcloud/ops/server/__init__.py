"""Servers: the registry of server entries and their swarm nodes."""
