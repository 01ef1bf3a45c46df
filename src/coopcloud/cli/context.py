"""What one command invocation carries: settings, output, and its engine connections.

Kept light on purpose: `coop --help` builds a Runtime, so settings (pathlib)
are made on first use.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

from coopcloud.output.console import Output

if TYPE_CHECKING:
    from coopcloud.ops.server.servers import ServerPool
    from coopcloud.settings import Settings


class Runtime:
    def __init__(self, *, environ: dict[str, str] | None, out: Output, flags: dict[str, bool]):
        self._environ = environ
        self._flags = flags
        self._settings: Settings | None = None
        self._pool: ServerPool | None = None
        self.out = out

    @classmethod
    def create(
        cls,
        *,
        environ: dict[str, str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        **flags: bool,
    ) -> Runtime:
        out = Output(
            stdout,
            stderr,
            stdin,
            json=flags.get("json", False),
            no_input=flags.get("no_input", False),
            debug=flags.get("debug", False),
        )
        return cls(environ=environ, out=out, flags=flags)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from coopcloud.settings import Settings

            self._settings = Settings.from_environ(self._environ, **self._flags)
        return self._settings

    def servers(self) -> Any:
        """The per-invocation server pool: one engine connection per server, reused, closed at exit."""
        if self._pool is None:
            from coopcloud.ops.server.servers import ServerPool

            self._pool = ServerPool(self.settings)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


pass_runtime = click.make_pass_decorator(Runtime)
