"""What one command invocation carries: settings, output, and its engine connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

import click

from coopcloud.output.console import Output
from coopcloud.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    out: Output
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        environ: dict[str, str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        **flags: bool,
    ) -> "Runtime":
        settings = Settings.from_environ(environ, **flags)
        out = Output(
            stdout,
            stderr,
            stdin,
            json=settings.json,
            no_input=settings.no_input,
            debug=settings.debug,
        )
        return cls(settings=settings, out=out)

    def servers(self):
        """The per-invocation server registry: one engine connection per server, reused."""
        for closer in self._closers:
            if getattr(closer, "_is_server_pool", False):
                return closer
        from coopcloud.ops.servers import ServerPool

        pool = ServerPool(self.settings)
        pool._is_server_pool = True
        self._closers.append(pool)
        return pool

    def close(self) -> None:
        while self._closers:
            self._closers.pop().close()


pass_runtime = click.make_pass_decorator(Runtime)
