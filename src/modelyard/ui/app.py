"""The dashboard's application: the routes, the sign-in, the error pages, the static files, and `run`.

Every error modelyard raises on purpose becomes a page with its HTTP status and its one-line message (an unknown
model is a 404 that names it, a write without the token a 401); anything else is a 500 page that says where the
log is, never a traceback in the browser.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from modelyard.errors import ModelyardError
from modelyard.registry import Registry
from modelyard.ui import aliases, evidence, models, servers
from modelyard.ui.access import COOKIE, SESSION_S, Access
from modelyard.ui.render import page

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("modelyard.ui")


async def signin(request: Request) -> Response:
    access: Access = request.app.state.access
    if request.method == "GET":
        return page(request, "signin.html", error="", back=request.query_params.get("back", "/"))
    fields = await aliases.form(request)
    back = fields.get("back", "/")
    back = back if back.startswith("/") and not back.startswith("//") else "/"  # only ever back into this page
    try:
        value = access.cookie(fields.get("token", ""), fields.get("name", "").strip())
    except ModelyardError as error:
        return page(request, "signin.html", error.http_status, error=str(error), back=back)
    response = RedirectResponse(back, status_code=303)
    secure = request.url.scheme == "https"  # behind a TLS proxy that says so: the cookie never goes out in clear
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", max_age=SESSION_S, secure=secure)
    return response


async def signout(request: Request) -> Response:
    request.app.state.access.check_form(request, await aliases.form(request))  # no other site signs you out
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def _failed(request: Request, status: int, message: str) -> Response:
    """A page that says why, or for the charts' JSON API (`/api/`) `{"error": ...}`."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status)
    return page(request, "error.html", status, code=status, message=message)


async def _known(request: Request, error: Exception) -> Response:
    assert isinstance(error, ModelyardError)
    return _failed(request, error.http_status, str(error))


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _failed(request, error.status_code,
                   f"no page at {request.url.path}" if error.status_code == 404 else str(error.detail))  # fmt: skip


async def _unknown(request: Request, error: Exception) -> Response:
    log.exception("the page %s failed", request.url.path)
    return _failed(request, 500, "this page failed on the dashboard's side; its log has the details")


def home(_: Request) -> Response:
    return RedirectResponse("/models", status_code=307)


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(
    registry: Registry, token: str | None, cache_dir: Path, hosts: Sequence[str] | None = LOOPBACK
) -> Starlette:
    """The dashboard over `registry`: read-only without `token`; `cache_dir` is where versions are unpacked when a
    promotion must run its validation now. `hosts`: the Host headers answered (None: any). On loopback only
    loopback names, so a page on another site cannot read this one through DNS rebinding."""
    routes = [
        Route("/", home),
        Route("/models", models.models),
        Route("/models/{name}", models.model),
        Route("/models/{name}/versions/{version}", models.version),
        Route("/models/{name}/compare", models.compare),
        Route("/models/{name}/aliases", aliases.aliases),
        Route("/models/{name}/promote", aliases.promote, methods=["POST"]),
        Route("/models/{name}/rollback", aliases.rollback, methods=["POST"]),
        Route("/models/{name}/validations", evidence.validations),
        Route("/models/{name}/validations/{id}", evidence.validation),
        Route("/models/{name}/drift", evidence.drift),
        Route("/jobs", evidence.jobs),
        Route("/servers", servers.servers),
        Route("/api/servers/{id}/live", servers.live),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {ModelyardError: _known, HTTPException: _http, Exception: _unknown}
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))] if hosts is not None else []
    app = Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
    app.state.registry = registry
    app.state.access = Access(token)
    app.state.cache_dir = cache_dir
    app.state.sampler = servers.sampler()
    return app
