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


def run() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-v"]):
        from coopcloud import __version__

        sys.stdout.write(f"coop {__version__}\n")
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
