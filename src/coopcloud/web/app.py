"""The dashboard's Starlette app: read-only pages behind a guard.

Every request passes `Guard` first, in this order:

1. a ``Host`` header that is not the bound address → 403 (a DNS-rebinding page cannot read us);
2. any method but GET → 405 (nothing here changes anything);
3. the token: ``?token=`` on the first request sets an HttpOnly, SameSite=Strict cookie and redirects
   to the same page without it (so it leaves the address bar); later requests carry the cookie;
   neither → 401.

Every answer carries a strict Content-Security-Policy (scripts, styles and requests from this origin
only; no inline script or style, no frames, no forms) and is not cached. Pages are server-rendered
and complete without JavaScript; on the overview and app pages htmx (vendored) re-fetches the page's
fragment every few seconds (requests marked ``HX-Request`` get the fragment only).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coopcloud.errors import CoopError, NotFound
from coopcloud.web import views
from coopcloud.web.board import Board

HERE = Path(__file__).parent
COOKIE = "coop_dashboard_{port}"  # per port: cookies ignore ports, and two dashboards may run side by side
REFRESH_SECONDS = 5  # how often a page re-fetches its fragment (a change shows within ~7 s)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"htmx.min.js": "text/javascript", "coop.css": "text/css", "htmx.LICENSE": "text/plain"}


class Guard:
    """ASGI middleware: Host, method and token checks, then the security headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str, hosts: frozenset[str], cookie: str):
        self.app = app
        self.token = token
        self.hosts = hosts
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k.lower().encode() not in present
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        refusal = self.refuse(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def refuse(self, scope: Scope) -> Response | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host", "").lower() not in self.hosts:
            return PlainTextResponse("forbidden: this dashboard answers only on the address it was started on\n", 403)
        if scope["method"] != "GET":
            return PlainTextResponse("method not allowed: the dashboard is read-only\n", 405, headers={"Allow": "GET"})
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            target = scope["path"] + (f"?{rest}" if rest else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
            return answer
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie = SimpleCookie()
        held = cookie[self.cookie].value if self.cookie in cookie else ""
        if not hmac.compare_digest(held.encode(), self.token.encode()):
            return PlainTextResponse(
                "unauthorized: open the address `coop dashboard` printed (with its ?token=)\n", 401
            )
        return None


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["refresh"] = REFRESH_SECONDS
    env.filters.update(views.FILTERS)
    return env


def create_app(board: Board, *, token: str, hosts: frozenset[str], port: int) -> ASGIApp:
    """The dashboard as an ASGI app answering only GET, only on `hosts` (the address on `port`), only with `token`."""
    templates = _templates()

    def page(request: Request, template_name: str, context: Mapping[str, object], status: int = 200) -> HTMLResponse:
        fragment = request.headers.get("HX-Request") == "true"
        template = templates.get_template(f"{template_name}.html")
        body = template.render(fragment=fragment, path=request.url.path, **context)
        return HTMLResponse(body, status_code=status, headers={"Vary": "HX-Request"})

    def failed(request: Request, exc: Exception) -> HTMLResponse:
        status = 404 if isinstance(exc, NotFound) else 502 if isinstance(exc, CoopError) else 500
        text = str(exc) if isinstance(exc, CoopError) else f"unexpected {type(exc).__name__}: {exc}"
        return page(request, "error", {"message": text}, status=status)

    def guarded(
        template_name: str, read: Callable[[Request], Mapping[str, object]], *, poll: bool = False
    ) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return page(request, template_name, {"poll": poll, **read(request)})
            except Exception as exc:  # one line on the page, as the CLI would print it
                return failed(request, exc)

        return endpoint

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found\n", 404)
        body = (HERE / "static" / name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "private, max-age=3600"})

    routes = [
        Route("/", guarded("overview", lambda r: {"view": board.overview()}, poll=True)),
        Route("/app/{name}", guarded("app", lambda r: {"view": board.app(r.path_params["name"])}, poll=True)),
        Route("/app/{name}/snapshots", guarded("snapshots", lambda r: views.snapshots(board, r.path_params["name"]))),
        Route("/app/{name}/drift", guarded("drift", lambda r: views.drift(board, r.path_params["name"]))),
        Route("/server/{name}", guarded("server", lambda r: {"view": board.server(r.path_params["name"])})),
        Route("/static/{name}", static),
    ]
    app = Starlette(routes=routes)
    return Guard(app, token=token, hosts=hosts, cookie=COOKIE.format(port=port))
