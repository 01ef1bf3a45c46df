"""`--watch` on `app ps` and `app errors`: the same view again every interval until Ctrl-C.

At a terminal each round redraws in place (the screen is cleared first); without one, each round
is one more block, blocks separated by a blank line, so a log or a pipe keeps every round.
Ctrl-C (or SIGTERM) ends it cleanly, exit 0: a watch has nothing to leave half done.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from coopcloud.cli.context import P, R
from coopcloud.output.console import Output

CLEAR = "\x1b[H\x1b[2J"
DEFAULT_INTERVAL = 2.0


def watch_options(func: Callable[P, R]) -> Callable[P, R]:
    """`--watch/-w` (as abra) and `--interval SECONDS`."""
    func = click.option(
        "--interval",
        type=click.FloatRange(min=0.1),
        default=DEFAULT_INTERVAL,
        show_default=True,
        help="Seconds between rounds of --watch.",
    )(func)
    return click.option("--watch", "-w", is_flag=True, help="Show it again every interval until Ctrl-C.")(func)


def shown(out: Output, show: Callable[[], None], *, watch: bool, interval: float) -> None:
    """`show()` once, or every `interval` seconds until interrupted."""
    if not watch:
        show()
        return
    first = True
    try:
        while True:
            started = time.monotonic()
            if out.is_tty:
                out.stdout.write(CLEAR)
            elif not first:
                out.stdout.write("\n")
            first = False
            show()
            out.stdout.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        out.stdout.flush()
