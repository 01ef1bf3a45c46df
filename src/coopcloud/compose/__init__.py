"""Compose files in: load, interpolate, merge, validate. One entry point: ``load()``.

``load(files, env, working_dir=...)`` returns the same plain dict as ``yaml.safe_load`` of what
``docker stack config -c f1 -c f2 ...`` prints for those files, that environment, run in
``working_dir``. Every failure is a `ComposeError` naming the file, the line when known, the key
path and what to do. This package imports nothing heavy until ``load()`` is called.

    >>> from coopcloud.compose import ComposeFile, load
    >>> load([ComposeFile("compose.yml", "services: {app: {image: 'nginx:${TAG:-1}'}}")],
    ...      {}, working_dir="/srv")["services"]["app"]["image"]
    'nginx:1'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["ComposeFile", "KeyPath", "format_path", "load"]

# Where a value sits in a compose document: mapping keys and list indexes, from the top.
KeyPath: TypeAlias = tuple[str | int, ...]


@dataclass(frozen=True)
class ComposeFile:
    name: str  # shown in errors, e.g. "compose.smtp.yml"
    text: str


def format_path(path: KeyPath) -> str:
    """("services", "app", "ports", 1) → ``services.app.ports[1]``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def load(
    files: Sequence[ComposeFile],
    env: Mapping[str, str],
    *,
    working_dir: str,
    warn: Callable[[str], None] | None = None,
    read_file: Callable[[str], str] | None = None,
) -> dict[str, object]:
    """Load, interpolate, validate, normalize and merge compose files, like ``docker stack config``.

    ``env`` is the whole interpolation environment (docker uses the process environment).
    ``warn`` receives one-line warnings (unset variables, options ``stack deploy`` ignores).
    ``read_file`` reads ``env_file`` entries (absolute paths); default: the local filesystem.
    """
    from coopcloud.compose._load import load as _load

    return _load(files, env, working_dir=working_dir, warn=warn, read_file=read_file)
