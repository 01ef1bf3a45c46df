"""`coop dashboard`: a read-only web dashboard (the optional extra `coopcloud[dashboard]`)."""

from __future__ import annotations

import click

from coopcloud.cli.context import Runtime, no_json, pass_runtime


@no_json
@click.command("dashboard")
@click.option(
    "--bind",
    default=None,
    metavar="ADDRESS",
    help="Address to listen on (default 127.0.0.1). Any other than loopback is reachable by others: warned.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port; 0 picks a free one."
)
@click.option("--no-open", is_flag=True, help="Do not open a browser (none is opened without a display anyway).")
@pass_runtime
def dashboard(rt: Runtime, bind: str | None, port: int, no_open: bool) -> None:
    """Serve a read-only web dashboard until Ctrl-C.

    Servers, apps, status, versions, drift, locks, history.

    Prints its URL with a random token (or $COOP_DASHBOARD_TOKEN); the first visit trades the token
    for a cookie. Only GET, only on the bound address; nothing on it changes anything.
    """
    from coopcloud.web import require_extra

    require_extra()
    from coopcloud.web.serve import DEFAULT_BIND, listen, parse_bind, serve, token_from

    host = parse_bind(bind) if bind is not None else DEFAULT_BIND
    token = token_from(rt.settings.environ)
    sock, address = listen(host, port)
    if not address.loopback:
        rt.out.warn(
            f"dashboard: listening on {address.netloc}, not loopback: anyone who can reach it and has the "
            "token sees your servers and apps, over plain HTTP"
        )
    url = address.url(token)
    rt.out.print(url)
    if not no_open and _has_display(rt.settings.environ):
        import webbrowser

        webbrowser.open(url)
    try:
        serve(rt.settings, sock, address, token)
    except KeyboardInterrupt:
        rt.out.info("dashboard: stopped")


def _has_display(environ: dict[str, str]) -> bool:
    import sys

    return sys.platform in ("darwin", "win32") or bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
