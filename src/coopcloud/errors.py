"""Every error coop raises, and the exit status each one maps to.

One root (`CoopError`), families below it. The CLI maps an exception to an
exit status in exactly one place (`exit_status_for`); scripts and CI branch on
these codes, so they never change meaning. The README documents them.

A message is one line that names the object and, where there is one, the next
step: ``app git.example.org: secret db_password (v1) is missing on server
cloud.example.org — run: coop app secret generate git.example.org db_password v1``.

Answering no at a confirmation is `Cancelled` (exit 14, "cancelled, nothing changed"): not a failure,
so it is printed without "error:" (docs/grammar.md).
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # anything not listed below
    USAGE = 2  # bad arguments, or an answer was needed under --no-input
    NOT_FOUND = 3  # app, server, recipe, version, service... does not exist
    INVALID = 4  # recipe, compose file or env file failed validation
    ENGINE_UNREACHABLE = 5  # ssh or the Docker daemon could not be reached
    LINT_FAILED = 6  # an error-level lint rule failed
    DEPLOY_FAILED = 7  # the change was applied but did not converge
    ROLLED_BACK = 8  # it failed and was rolled back to what ran before
    LOCK_HELD = 9  # another operator holds the app's deploy lock
    CONFLICT = 10  # exists already / already deployed / name in use
    ENGINE_ERROR = 11  # the engine refused a request
    SERVER_NOT_READY = 12  # reachable, but not a swarm manager or docker missing
    DRIFT = 13  # `app diff`: the server differs from what the recipe and env would deploy
    CANCELLED = 14  # you answered no at a confirmation: nothing was changed
    INTERRUPTED = 130  # Ctrl-C


class CoopError(Exception):
    """Root of every error coop raises on purpose. `str()` is the one line shown."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class UsageError(CoopError):
    exit_status = ExitStatus.USAGE


class NeedsInput(UsageError):
    """A prompt would be needed but --no-input was given or there is no TTY."""


class Cancelled(CoopError):
    """The operator answered no at a confirmation: nothing was changed (not an error of coop's)."""

    exit_status = ExitStatus.CANCELLED


class NotFound(CoopError, KeyError):
    exit_status = ExitStatus.NOT_FOUND

    # KeyError quotes its message in str(); we want the plain line.
    __str__ = CoopError.__str__


class Conflict(CoopError):
    exit_status = ExitStatus.CONFLICT


class InvalidError(CoopError, ValueError):
    """Input failed validation: nothing was changed anywhere."""

    exit_status = ExitStatus.INVALID


class EnvFileError(InvalidError):
    pass


class RecipeError(InvalidError):
    pass


class ComposeError(InvalidError):
    pass


class ConvertError(InvalidError):
    pass


class LintFailed(CoopError):
    exit_status = ExitStatus.LINT_FAILED


class EngineError(CoopError):
    """The engine answered, and said no."""

    exit_status = ExitStatus.ENGINE_ERROR

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status


class EngineNotFound(EngineError, NotFound):
    exit_status = ExitStatus.NOT_FOUND
    __str__ = CoopError.__str__


class EngineConflict(EngineError):
    exit_status = ExitStatus.CONFLICT


class EngineUnreachable(EngineError):
    """ssh failed, the daemon is down, or the connection was lost."""

    exit_status = ExitStatus.ENGINE_UNREACHABLE


class ServerNotReady(EngineError):
    """Reachable, but not usable: not a swarm manager, docker missing."""

    exit_status = ExitStatus.SERVER_NOT_READY


class DeployFailed(CoopError):
    """Applied, and it did not converge. `details`: task errors and last log lines, shown above the line."""

    exit_status = ExitStatus.DEPLOY_FAILED

    def __init__(self, message: str, *, hint: str | None = None, details: list[str] | None = None):
        super().__init__(message, hint=hint)
        self.details: list[str] = list(details or [])


class RolledBack(DeployFailed):
    exit_status = ExitStatus.ROLLED_BACK


class Terminated(KeyboardInterrupt):
    """An interruption with what coop knows about it: SIGTERM or SIGHUP (a closed terminal, a killed CI
    job), handled as Ctrl-C is so the deploy lock is released and the history says "interrupted";
    or a Ctrl-C that a command caught to say what state it left (`detail`)."""

    def __init__(self, signal_name: str = "Ctrl-C", detail: str = "") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.detail = detail


def interrupted(exc: KeyboardInterrupt, detail: str) -> Terminated:
    """The same interruption, now saying what state the command left behind."""
    return Terminated(getattr(exc, "signal_name", "Ctrl-C"), detail)


def describe_interrupt(exc: KeyboardInterrupt) -> str:
    """``interrupted (SIGTERM)``, with the command's own account when it gave one."""
    detail = getattr(exc, "detail", "")
    return f"interrupted ({getattr(exc, 'signal_name', 'Ctrl-C')})" + (f": {detail}" if detail else "")


class LockHeld(CoopError):
    exit_status = ExitStatus.LOCK_HELD


class Drifted(CoopError):
    """`app diff` found differences (not an error of coop's: an answer scripts branch on)."""

    exit_status = ExitStatus.DRIFT


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The one place an exception becomes an exit status."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(exc, CoopError):
        return exc.exit_status
    return ExitStatus.ERROR
