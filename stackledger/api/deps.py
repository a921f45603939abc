"""What every request needs: the shared services, and the caller's identity and rights.

An API caller sends its Keystone token in `X-Auth-Token` (as every OpenStack API); the web
page's browser sends the session cookie instead. Either way the token is validated (cached),
the user's memberships read (cached) and turned into an `Access` (cached per token), so a
repeated caller costs dictionary lookups, not Keystone requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from stackledger.api.figures import Figures
from stackledger.api.identity import (
    DEMO_TEAM_LEADS,
    IdentityProvider,
    IdentityUnavailable,
    Principal,
    Unauthenticated,
    fingerprint,
)
from stackledger.api.policy import Access, Policy, credentials
from stackledger.api.session import SESSION_COOKIE, CookieJar
from stackledger.settings import Settings

log = logging.getLogger(__name__)

TOKEN_HEADER: Final = "X-Auth-Token"  # noqa: S105 - a header name
ACCESS_ENTRIES: Final = 10_000
CACHED_TYPES: Final = ("application/json", "text/html")
CACHED_MAX_BYTES: Final = 2 * 1024 * 1024


@dataclass
class Services:
    settings: Settings
    figures: Figures
    identity: IdentityProvider
    policy: Policy
    jar: CookieJar
    demo: bool = False
    _access: dict[str, tuple[float, Access]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def team_leads(self) -> dict[str, Any]:
        return dict(DEMO_TEAM_LEADS) if self.demo else dict(self.settings.api.team_leads)

    def access(self, token: str) -> Access:
        """The rights of `token`'s holder. Raises Unauthenticated (401) or IdentityUnavailable (503)."""
        principal = self.identity.validate(token)
        key = fingerprint(token)
        now = time.monotonic()
        with self._lock:
            found = self._access.get(key)
        if found is not None and found[0] > now and not principal.expired:
            return found[1]
        access = self._build(principal)
        with self._lock:
            if len(self._access) >= ACCESS_ENTRIES:
                self._access.clear()
            ttl = self.settings.api.keystone.token_cache_seconds
            self._access[key] = (now + ttl, access)
        return access

    def access_if_known(self, token: str) -> Access | None:
        """The caller's rights when this server checked the token recently (no I/O), else None."""
        with self._lock:
            found = self._access.get(fingerprint(token))
        if found is None or found[0] <= time.monotonic() or found[1].principal.expired:
            return None
        return found[1]

    def forget(self, token: str) -> None:
        with self._lock:
            self._access.pop(fingerprint(token), None)

    def _build(self, principal: Principal) -> Access:
        memberships = self.identity.memberships(principal)
        creds = credentials(principal, memberships, self.team_leads, self.identity.admin_project)
        return Access(principal, creds, self.policy)


def services(request: Request) -> Services:
    return request.app.state.services


def request_token(request: Request) -> str | None:
    """The caller's token: the X-Auth-Token header, else the session cookie's (never a URL)."""
    header = request.headers.get(TOKEN_HEADER)
    if header:
        return header.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    return services(request).jar.open(cookie) if cookie else None


def api_caller(request: Request) -> Access:
    """The API's dependency: 401 without a valid token, 503 when Keystone cannot be asked."""
    token = request_token(request)
    if not token:
        raise HTTPException(401, "authentication required: send a Keystone token in X-Auth-Token")
    try:
        return services(request).access(token)
    except Unauthenticated as error:
        raise HTTPException(401, str(error)) from None
    except IdentityUnavailable as error:
        raise HTTPException(503, str(error)) from None


def forbidden(what: str) -> HTTPException:
    return HTTPException(403, f"not allowed: {what}")


class CachedRoute(APIRoute):
    """A GET route whose successful JSON or HTML answers are kept per token and URL at the current
    data version: a repeat still checks the token (and the caller's rights) first, then is served
    from the cache without running the handler or serializing again."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            token = request_token(request)
            if request.method != "GET" or not token:
                return await original(request)
            shared = services(request)
            key = ("response", fingerprint(token), request.url.path, request.url.query)
            # The common case answers from memory, on the event loop: a token checked recently and
            # an answer kept at a data version asked about less than a second ago.
            if shared.access_if_known(token) is not None:
                quick = shared.figures.peek_nowait(key)
                if quick is not None:
                    status, body, headers = quick
                    return Response(body, status_code=status, headers=headers)
            try:  # one trip to a worker thread: both may block (Keystone, the data version query)
                found = await run_in_threadpool(_checked_lookup, shared, token, key)
            except (Unauthenticated, IdentityUnavailable):
                return await original(request)  # answers 401 / 503 (or the login page) the usual way
            if found is not None:
                status, body, headers = found
                return Response(body, status_code=status, headers=headers)
            response = await original(request)
            body = getattr(response, "body", None)
            kind = response.headers.get("content-type", "")
            if response.status_code == 200 and isinstance(body, bytes) and len(body) <= CACHED_MAX_BYTES \
                    and kind.startswith(CACHED_TYPES) and "set-cookie" not in response.headers:  # fmt: skip
                headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                await run_in_threadpool(shared.figures.keep, key, (response.status_code, body, headers))
            return response

        return handler


def _checked_lookup(shared: Services, token: str, key: tuple[str, ...]) -> Any:
    shared.access(token)  # raises when the token is no longer good
    return shared.figures.peek(key)
