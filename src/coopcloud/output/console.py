"""Injectable output: the CLI writes through an `Output`, never to sys.stdout directly.

Tests pass their own streams (HTTPie's `Environment` pattern). rich is imported
only when a table or progress is drawn on a TTY, so `coop --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import IO

from coopcloud.domain.words import yes_no
from coopcloud.errors import Cancelled, NeedsInput


class Output:
    def __init__(
        self,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        *,
        json: bool = False,
        no_input: bool = False,
        debug: bool = False,
        wide: bool = False,
    ):
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.stdin = stdin if stdin is not None else sys.stdin
        self.json = json
        self.no_input = no_input
        self.debug_enabled = debug
        self.wide = wide

    # -- streams ---------------------------------------------------------
    @property
    def is_tty(self) -> bool:
        isatty = getattr(self.stdout, "isatty", None)
        return bool(isatty and isatty())

    @property
    def can_prompt(self) -> bool:
        if self.no_input:
            return False
        isatty = getattr(self.stdin, "isatty", None)
        return bool(isatty and isatty())

    def print(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def info(self, text: str) -> None:
        """Progress and notes go to stderr so stdout stays parseable."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def warn(self, text: str) -> None:
        self.info(f"warning: {text}")

    def error(self, text: str) -> None:
        self.info(f"error: {text}")

    def debug(self, text: str) -> None:
        if self.debug_enabled:
            self.info(f"debug: {text}")

    def emit_json(self, obj: object) -> None:
        import json as _json

        self.stdout.write(_json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
        self.stdout.flush()

    # -- tables ----------------------------------------------------------
    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None) -> None:
        cells = [[self._cell(c) for c in row] for row in rows]
        if self.is_tty:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title)
            for h in headers:
                table.add_column(h)
            for row in cells:
                table.add_row(*row)
            Console(file=self.stdout).print(table)
            return
        # Plain, aligned columns: stable for scripts and logs.
        widths = [len(h) for h in headers]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        self.print(fmt.format(*[h.upper() for h in headers]).rstrip())
        for row in cells:
            self.print(fmt.format(*row).rstrip())

    CELL_MAX = 72  # a longer cell is cut (…) unless --wide (a sha256 digest, 71, fits)

    def _cell(self, value: object) -> str:
        """One table cell: yes/no for booleans, cut to CELL_MAX characters unless --wide."""
        text = yes_no(value)
        if not self.wide and len(text) > self.CELL_MAX:
            return text[: self.CELL_MAX - 1] + "…"
        return text

    # -- questions -------------------------------------------------------
    def approve(self, subject: str, action: str, *, yes: bool, destroys: bool = False) -> None:
        """The one confirmation step of a command that changes something (docs/grammar.md).

        `subject` names the object ("app git.example.org"), `action` says exactly what will happen
        ("remove 2 volumes (db, files): their data is lost for good"). `--yes` goes ahead. At a terminal
        the question is asked; any answer but y/yes raises `Cancelled` (exit 14): nothing was changed.
        Without a terminal, or under --no-input, nothing is asked: a routine change goes ahead, one that
        destroys or overwrites data (`destroys`) is refused unless --yes.
        """
        if yes:
            return
        if not self.can_prompt:
            if destroys:
                raise NeedsInput(
                    f"{subject}: refused to {action} without a terminal to confirm it", hint="pass --yes to do it"
                )
            return
        self.stderr.write(f"{subject}: {action}? [y/N] ")
        self.stderr.flush()
        if self.stdin.readline().strip().lower() not in ("y", "yes"):
            raise Cancelled(f"{subject}: cancelled, nothing changed")

    def confirm(self, question: str, *, flag: str = "--force") -> bool:
        """Ask yes/no where a safety check can be overridden by `flag`. Without a TTY, refuse and name it."""
        if not self.can_prompt:
            raise NeedsInput(f"{question} needs an answer", hint=f"pass {flag} to proceed without a prompt")
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        answer = self.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def choose(self, question: str, choices: Sequence[str], *, flag: str) -> str:
        if not self.can_prompt:
            raise NeedsInput(f"{question} needs an answer", hint=f"pass {flag}")
        for i, choice in enumerate(choices, 1):
            self.stderr.write(f"  {i}) {choice}\n")
        self.stderr.write(f"{question} [1-{len(choices)}] ")
        self.stderr.flush()
        answer = self.stdin.readline().strip()
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        if answer in choices:
            return answer
        raise NeedsInput(f"{answer!r} is not one of the choices", hint=f"pass {flag}")
