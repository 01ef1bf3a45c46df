"""Where coop's state lives, and the flags every command shares.

Lookup order for the state root (Co-op Cloud's layout, so an abra user's
files keep working):

1. ``$ABRA_DIR`` when set and not empty;
2. ``~/.abra``.

Under it: ``servers/<server>/<app>.env``, ``recipes/<recipe>/`` (git clones),
``catalogue/recipes.json``. Each of them may be a symlink.

Docker contexts (one per server, as abra stores them) live under
``$DOCKER_CONFIG`` (default ``~/.docker``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_root(environ: dict[str, str]) -> Path:
    value = environ.get("ABRA_DIR", "")
    if value:
        return Path(value).expanduser()
    return Path(environ.get("HOME", str(Path.home()))) / ".abra"


def _default_docker_config(environ: dict[str, str]) -> Path:
    value = environ.get("DOCKER_CONFIG", "")
    if value:
        return Path(value).expanduser()
    return Path(environ.get("HOME", str(Path.home()))) / ".docker"


@dataclass(frozen=True)
class Settings:
    root: Path
    docker_config: Path
    no_input: bool = False
    json: bool = False
    debug: bool = False
    offline: bool = False
    wide: bool = False  # tables: cells whole (output only)
    environ: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None, **flags: bool) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            root=_default_root(env),
            docker_config=_default_docker_config(env),
            environ=env,
            **flags,
        )

    @property
    def servers_dir(self) -> Path:
        return self.root / "servers"

    @property
    def recipes_dir(self) -> Path:
        return self.root / "recipes"

    @property
    def catalogue_dir(self) -> Path:
        return self.root / "catalogue"

    @property
    def catalogue_file(self) -> Path:
        return self.catalogue_dir / "recipes.json"

    def server_dir(self, server: str) -> Path:
        return self.servers_dir / server
