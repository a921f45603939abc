"""What Nova and Cinder have in common: the fleet state, token checks, microversions, routing.

A request flows: admin path or version discovery (no token, like upstream) -> Keystone token ->
microversion -> optional project id in the URL -> route -> JSON view. Each service module only
declares its routes and builds its views.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fleet import Fleet, FleetError, Resolver, read_document
from .keystone import TokenInfo, TokenValidator
from .loader import build_fleet
from .microversion import Version, VersionPolicy
from .web import ApiError, Request, Response

LOG = logging.getLogger(__name__)
ADMIN_PATH = "/_sim/fleet"
# oslo strutils.bool_from_string, which both services use for boolean query parameters
TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE = frozenset({"0", "f", "false", "off", "n", "no"})


class SimState:
    """The current fleet, swapped whole so a request always reads one consistent fleet."""

    def __init__(self, fleet_path: Path, validator: TokenValidator, resolver: Resolver) -> None:
        self.fleet_path = fleet_path
        self.validator = validator
        self.resolver = resolver
        self._lock = threading.Lock()
        self.fleet = self.load(None)

    def load(self, doc: dict[str, Any] | None) -> Fleet:
        """Load `doc`, or re-read the fleet file when doc is None; the old fleet stays on error."""
        source = str(self.fleet_path) if doc is None else "POST " + ADMIN_PATH
        document = read_document(self.fleet_path) if doc is None else doc
        if not isinstance(document, dict):
            raise FleetError("a fleet document is a JSON object")
        fleet = build_fleet(document, self.resolver, source)
        with self._lock:
            self.fleet = fleet
        LOG.info("fleet loaded from %s: %s", source, fleet.summary())
        return fleet


@dataclass(frozen=True)
class Call:
    """One authenticated API request with everything a view needs."""

    req: Request
    token: TokenInfo
    version: Version
    fleet: Fleet
    url_project: str | None  # the project id segment, when the client's URL carried one
    prefix: str  # "/v2.1" or "/v3"

    def at_least(self, version: str) -> bool:
        return self.version >= Version.parse(version)

    def link(self, *parts: str) -> str:
        """Versioned URL in the shape the client used (with or without the project segment)."""
        return "/".join([self.req.host_url + self.prefix, *self._project(), *parts])

    def bookmark(self, *parts: str) -> str:
        return "/".join([self.req.host_url, *self._project(), *parts])

    def _project(self) -> list[str]:
        return [self.url_project] if self.url_project else []


Handler = Callable[..., Any]
Route = tuple[tuple[str, ...], Handler]  # "{}" segments match any id and are passed positionally


class ServiceApp:
    prefix: str
    collections: frozenset[str]

    def __init__(self, state: SimState, keystone_url: str) -> None:
        self.state = state
        self.keystone_url = keystone_url

    # -- what each service provides ------------------------------------------------------------
    def policy(self, fleet: Fleet) -> VersionPolicy:
        raise NotImplementedError

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def versions(self, req: Request) -> Response:
        raise NotImplementedError

    def version(self, req: Request) -> Response:
        raise NotImplementedError

    # -- dispatch ------------------------------------------------------------------------------
    def __call__(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path == ADMIN_PATH:
            return self.admin(req)
        if path == "/":
            return self.versions(req)
        if path == self.prefix:
            return self.version(req)
        if not path.startswith(self.prefix + "/"):
            raise ApiError(404, "The resource could not be found.")
        return self.api(req, path[len(self.prefix) + 1 :].split("/"))

    def api(self, req: Request, segments: list[str]) -> Response:
        token = self.authenticate(req)
        fleet = self.state.fleet
        policy = self.policy(fleet)
        version = policy.negotiate(req.headers)
        headers = policy.response_headers(version)
        try:
            url_project = self.split_project(segments, token)
            if req.method not in ("GET", "HEAD"):
                raise ApiError(405, "The simulator is read-only.")
            handler, args = self.match(segments)
            call = Call(req, token, version, fleet, url_project, self.prefix)
            return Response(200, handler(call, *args), headers)
        except ApiError as err:  # errors, too, say which microversion answered
            err.headers = {**headers, **err.headers}
            raise

    def split_project(self, segments: list[str], token: TokenInfo) -> str | None:
        if len(segments) < 2 or segments[0] in self.collections:
            return None
        project = segments.pop(0)
        if project != token.project_id:
            raise ApiError(
                400,
                f"Malformed request URL: URL's project_id '{project}' doesn't "
                f"match Context's project_id '{token.project_id}'",
            )
        return project

    def match(self, segments: list[str]) -> tuple[Handler, list[str]]:
        for pattern, handler in self.routes():
            if len(pattern) == len(segments) and all(
                p == "{}" or p == s for p, s in zip(pattern, segments, strict=True)
            ):
                return handler, [s for p, s in zip(pattern, segments, strict=True) if p == "{}"]
        raise ApiError(404, "The resource could not be found.")

    def authenticate(self, req: Request) -> TokenInfo:
        token = req.header("X-Auth-Token")
        info = self.state.validator.validate(token) if token else None
        if info is None:
            raise ApiError(
                401,
                "The request you have made requires authentication.",
                {"WWW-Authenticate": f'Keystone uri="{self.keystone_url}"'},
            )
        return info

    def admin(self, req: Request) -> Response:
        """GET: what is loaded. POST: load the JSON body as the fleet, or re-read the file."""
        if not self.authenticate(req).is_admin:
            raise ApiError(403, "Policy doesn't allow sim:fleet to be performed.")
        if req.method == "POST":
            try:
                doc = json.loads(req.body) if req.body.strip() else None
                self.state.load(doc)
            except (FleetError, ValueError, OSError, RuntimeError, ImportError) as err:
                raise ApiError(400, f"fleet not loaded: {err}") from None
        elif req.method != "GET":
            raise ApiError(405, "Use GET or POST.")
        return Response(200, {"fleet": self.state.fleet.summary()})
