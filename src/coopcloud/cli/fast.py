"""The console script's entry: serves `--version` and cached help pages without importing click.

`coop --help` and `coop <group> --help` are asked for often and change only when coop does, so the
page click renders is kept in a small cache keyed by coop's version, the CLI modules' modification
times and the terminal width. Anything else, or any doubt, goes to the real CLI (`cli.main`).
Cache: `$XDG_CACHE_HOME/coop/` (default `~/.cache/coop/`); deleting it is always safe.
"""

from __future__ import annotations

import os
import sys

_HELP = ("--help", "-h")


def _help_request(argv: list[str]) -> str | None:
    """The cache key's command part for `[GROUP] --help`, else None."""
    if len(argv) == 1 and argv[0] in _HELP:
        return "coop"
    if len(argv) == 2 and argv[1] in _HELP and argv[0].isalpha():
        return argv[0]
    return None


def _cache_path(command: str) -> str | None:
    from coopcloud import __version__

    here = os.path.dirname(__file__)
    try:
        stamp = max(e.stat().st_mtime_ns for e in os.scandir(here) if e.name.endswith(".py"))
        width = os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 0
    except (OSError, ValueError):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "coop", f"help-{__version__}-{stamp}-{width}-{command}.txt")


def _terminate_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C: every `finally` runs, so a deploy lock is released and the
    history says "interrupted" instead of the lock lingering until its lease ends."""
    import signal

    def handler(signum: int, _frame: object) -> None:
        from coopcloud.errors import Terminated

        signal.signal(signum, signal.SIG_DFL)  # a second signal ends coop at once
        raise Terminated(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def run() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-v"]):
        from coopcloud import __version__
        from coopcloud.buildinfo import version_line

        sys.stdout.write(version_line(__version__) + "\n")
        sys.exit(0)
    command = _help_request(argv)
    path = _cache_path(command) if command else None
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                sys.stdout.write(fh.read())
            sys.exit(0)
        except OSError:
            pass
    _terminate_like_ctrl_c()
    _warm_up(argv)
    from coopcloud.cli.main import main

    if not path:
        sys.exit(main(argv))
    import contextlib
    import io

    page = io.StringIO()
    with contextlib.redirect_stdout(page):
        code = main(argv)
    sys.stdout.write(page.getvalue())
    if code == 0 and page.getvalue():
        _store(path, page.getvalue())
    sys.exit(code)


def _store(path: str, text: str) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed


# `coop app VERB APP …` commands that talk to the app's server.
_APP_VERBS = frozenset(
    [
        "ps",
        "logs",
        "errors",
        "services",
        "restart",
        "run",
        "cp",
        "cmd",
        "deploy",
        "upgrade",
        "rollback",
        "undeploy",
        "labels",
        "check",
        "volume",
        "secret",
        "backup",
        "lock",
        "unlock",
        "history",
    ]
)


def _warm_up(argv: list[str]) -> None:
    """Start the ssh connections a command will need before importing the CLI (~0.2 s): their
    handshakes then overlap coop's start-up. For `app VERB APP …`, the app's server; for
    `app ls --status`, each server with apps. Best effort: any doubt, and the command connects as usual."""
    from coopcloud.cli.aliases import GLOBAL_FLAGS, SHORT_GLOBAL_FLAGS, command_words

    words = [a for a in argv if a not in GLOBAL_FLAGS and a not in SHORT_GLOBAL_FLAGS]
    if len(words) < 2 or any(w in _HELP for w in words):  # help needs no server
        return
    words[:2] = command_words(words[:2])
    if words[0] != "app":
        return
    try:
        from coopcloud.settings import Settings

        settings = Settings.from_environ()
        if words[1] == "ls" and ("--status" in words or "-S" in words):
            named = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-s", "--server")]
            servers = named or sorted({p.parent.name for p in settings.servers_dir.glob("*/*.env")})
        elif len(words) >= 3 and words[1] in _APP_VERBS and not words[2].startswith("-"):
            if any(c in words[2] for c in "*?[/"):
                return
            servers = [p.parent.name for p in settings.servers_dir.glob(f"*/{words[2]}.env")]
            if len(servers) != 1:
                return
        else:
            return
        from coopcloud.engine.endpoint import parse_endpoint
        from coopcloud.engine.transport import preconnect
        from coopcloud.ops.server.servers import resolve

        for name in servers[:_MAX_WARM_UP]:
            server = resolve(settings, name)
            endpoint = parse_endpoint(server.endpoint, settings.environ)
            if endpoint.scheme == "ssh":
                preconnect(endpoint, server.name, settings.environ)
    except Exception:  # a bad name, file or config: the command itself will say what is wrong
        return


_MAX_WARM_UP = 8  # as many servers as `app ls --status` asks at once
