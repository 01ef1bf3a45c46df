"""The only code that talks to Docker: a small Engine API client over a unix socket or ssh."""
