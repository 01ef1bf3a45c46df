"""Errors of the registry client. Each names the image and the registry."""

from __future__ import annotations

from coopcloud.errors import CoopError, ExitStatus, InvalidError, NotFound


class RegistryError(CoopError):
    """The registry answered, but not with what was asked (5xx, bad JSON, auth refused...)."""

    exit_status = ExitStatus.ERROR


class RegistryUnreachable(RegistryError):
    """The registry could not be reached: DNS, refused connection, TLS, timeout."""

    exit_status = ExitStatus.ENGINE_UNREACHABLE


class RegistryOffline(RegistryUnreachable):
    """A registry request was needed under --offline; nothing was sent."""


class RegistryNotFound(RegistryError, NotFound):
    """Unknown repository, tag or digest (or access to it denied, which registries conflate)."""

    exit_status = ExitStatus.NOT_FOUND
    __str__ = CoopError.__str__


class ImageRefError(RegistryError, InvalidError):
    """The string is not a valid image reference."""

    exit_status = ExitStatus.INVALID
    __str__ = CoopError.__str__
