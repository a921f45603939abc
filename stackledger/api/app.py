"""The ASGI application: routes, authentication, security headers and error shapes.

`create_app(settings, demo=False)` builds it; `stackledger serve` runs it under uvicorn.
- `/v1/…` the JSON API, `/v2/summary` and `/v2/dataframes` CloudKitty's, `/metrics`
  Prometheus', `/docs` + `/openapi.json` the API's description (Swagger UI served from the
  package), and the web page (`/login`, `/budgets`, `/projects/{id}`, `/finance`).
- Errors are JSON `{"error": {"code", "title", "message"}}` (OpenStack's shape) on the API and
  an HTML page on the web page; a 401 names Keystone in `WWW-Authenticate`, a page without a
  session redirects to the login page.
- Every response carries a Content-Security-Policy that allows no script (the page has none;
  /docs loads only the package's own Swagger UI files), no framing and forms to this site only.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackledger import __version__
from stackledger.api import routes_v1, routes_v2, routes_web
from stackledger.api.deps import Services, request_token, services
from stackledger.api.figures import Figures
from stackledger.api.identity import DemoIdentity, IdentityProvider, IdentityUnavailable, Unauthenticated
from stackledger.api.metrics import KafkaLag, render
from stackledger.api.policy import METRICS_READ, Policy
from stackledger.api.session import CookieJar
from stackledger.settings import Settings

log = logging.getLogger(__name__)

PAGE_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
API_PREFIXES: Final = ("/v1", "/v2", "/metrics", "/openapi.json")
DOCS_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>StackLedger API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script><script src="/static/docs-init.js"></script>
</body></html>
"""


def build_services(settings: Settings, *, demo: bool = False, identity: IdentityProvider | None = None) -> Services:
    if identity is None:
        if demo:
            identity = DemoIdentity()
        else:
            from stackledger.api.keystone import KeystoneIdentity

            identity = KeystoneIdentity(settings.api.keystone)
    secret = settings.api.cookie_secret.get_secret_value() if settings.api.cookie_secret else None
    return Services(
        settings,
        Figures(settings, demo=demo),
        identity,
        Policy(settings.api.policy_file),
        CookieJar.from_secret(secret),
        demo=demo,
    )


def create_app(settings: Settings, *, demo: bool = False, shared: Services | None = None) -> FastAPI:
    app = FastAPI(
        title="StackLedger API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Costs, budgets, alarms and findings of an OpenStack cloud, as the monthly reports "
        "show them; and CloudKitty's v2 summary and dataframes. Authenticate with a Keystone "
        "token in X-Auth-Token.",
    )
    app.state.services = shared or build_services(settings, demo=demo)
    app.state.templates = routes_web.environment()
    app.state.kafka = KafkaLag(settings.kafka)
    app.include_router(routes_v1.router)
    app.include_router(routes_v2.router)
    app.include_router(routes_web.router)
    app.mount("/static/swagger", StaticFiles(directory=_swagger_dir()), name="swagger")
    app.mount(
        "/static", StaticFiles(directory=str(resources.files("stackledger.api").joinpath("static"))), name="static"
    )
    app.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route(
        "/metrics",
        metrics,
        include_in_schema=True,
        response_class=Response,
        tags=["metrics"],
        summary="Prometheus metrics: collection, rating, Kafka lag, month-to-date cost, alarms",
    )
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(routes_web.LoginRequired, login_required)  # type: ignore[arg-type]
    app.add_exception_handler(IdentityUnavailable, identity_unavailable)  # type: ignore[arg-type]
    return app


def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE)


def metrics(request: Request) -> Response:
    """A scraper sends `Authorization: Bearer <api.metrics_token>`, or a Keystone token allowed
    `stackledger:metrics:read` (by default: admin or reader on the admin project)."""
    shared = services(request)
    allowed = _metrics_allowed(request, shared)
    if allowed is not True:
        status = 403 if allowed is False else 401
        message = "not allowed to read metrics" if status == 403 else "send a Keystone token or the metrics token"
        return _error_json(status, message, _auth_uri(request))
    body = render(shared.figures, request.app.state.kafka)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _metrics_allowed(request: Request, shared: Services) -> bool | None:
    """True: allowed; False: authenticated but not allowed; None: not authenticated."""
    import hmac

    expected = shared.settings.api.metrics_token
    header = request.headers.get("Authorization", "")
    if expected is not None and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].encode(), expected.get_secret_value().encode()) or None
    token = request_token(request)
    if not token:
        return None
    try:
        return shared.access(token).can(METRICS_READ)
    except Unauthenticated:
        return None


class SecurityHeaders:
    """Pure ASGI middleware (lighter than BaseHTTPMiddleware): the CSP and friends on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        docs_page = path == "/docs" or path.startswith("/static/swagger")
        extra = [(b"content-security-policy", (DOCS_CSP if docs_page else PAGE_CSP).encode()),
                 (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"same-origin")]  # fmt: skip
        if not path.startswith("/static"):
            extra.append((b"cache-control", b"no-store"))  # figures of a user: never in a shared cache

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


async def http_error(request: Request, error: StarletteHTTPException) -> Response:
    message = str(error.detail)
    response: Response
    if _is_api(request):
        response = _error_json(error.status_code, message, _auth_uri(request))
    else:
        response = routes_web.render(
            request,
            "error.html.j2",
            error.status_code,
            status=error.status_code,
            title=_title(error.status_code),
            message=message,
        )
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


async def validation_error(request: Request, error: RequestValidationError) -> Response:
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path"))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
    return await http_error(request, StarletteHTTPException(400, message))


async def login_required(request: Request, error: routes_web.LoginRequired) -> Response:
    return routes_web.login_redirect(error.target)


async def identity_unavailable(request: Request, error: IdentityUnavailable) -> Response:
    return await http_error(request, StarletteHTTPException(503, str(error)))


def _error_json(status: int, message: str, auth_uri: str = "") -> JSONResponse:
    response = JSONResponse({"error": {"code": status, "title": _title(status), "message": message}}, status)
    if status == 401:  # where to get a token, as keystonemiddleware says it
        response.headers["WWW-Authenticate"] = f'Keystone uri="{auth_uri}"'
    return response


def _auth_uri(request: Request) -> str:
    return str(getattr(services(request).identity, "auth_url", "") or "")


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith(API_PREFIXES) or "application/json" in request.headers.get("accept", "")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _swagger_dir() -> str:
    import swagger_ui_bundle

    return str(Path(swagger_ui_bundle.swagger_ui_path))
