"""Keystone as the API's identity provider, the way OpenStack services use it.

The API holds a service user session (keystoneauth1; settings `api.keystone`) and with it:
- validates a caller's token: `GET /v3/auth/tokens` with `X-Subject-Token` (what
  keystonemiddleware's auth_token does), cached per token for `token_cache_seconds` and never
  past the token's expiry; a token Keystone refused is remembered briefly too, so a flood of
  bad tokens does not become a flood of Keystone requests;
- reads what a user holds: effective role assignments (projects with a role, through groups
  and inherited ones included; every role name held anywhere) and group memberships, cached
  per user for the same time.

Logging in (the web page) asks Keystone for a token with the user's password or application
credential; a user holding a role on the admin project gets a token scoped to it (so admins
and readers there see everything, as policy says), anyone else an unscoped token.
Tokens never appear in logs or exception messages.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from stackledger.api.identity import IdentityUnavailable, Login, Memberships, Principal, Unauthenticated, fingerprint
from stackledger.errors import ConfigError
from stackledger.settings import KeystoneAuthSettings

log = logging.getLogger(__name__)

REFUSED_CACHE_SECONDS: Final = 30.0
T = TypeVar("T")


class KeystoneIdentity:
    def __init__(self, settings: KeystoneAuthSettings, session: Any = None, auth_url: str | None = None) -> None:
        self.settings = settings
        if session is None:
            session, auth_url = service_session(settings)
        assert auth_url is not None
        self.session = session
        self.auth_url = auth_url.rstrip("/")
        self._tokens: _TtlCache[Principal | None] = _TtlCache()
        self._members: _TtlCache[Memberships] = _TtlCache()

    @property
    def admin_project(self) -> tuple[str, str]:
        return (self.settings.admin_project, self.settings.admin_project_domain)

    # ------------------------------------------------------------ tokens

    def validate(self, token: str) -> Principal:
        key = fingerprint(token)
        found, hit = self._tokens.get(key)
        if hit:
            if found is None or found.expired:
                raise Unauthenticated("the token is not valid")
            return found
        response = self._request("GET", "/auth/tokens", headers={"X-Subject-Token": token}, params={"nocatalog": ""})
        if response.status_code in (401, 403, 404):
            self._tokens.put(key, None, min(REFUSED_CACHE_SECONDS, self.settings.token_cache_seconds))
            raise Unauthenticated("the token is not valid (expired, revoked or unknown to Keystone)")
        principal = principal_from(self._ok(response, "token validation")["token"])
        if principal.expired:
            raise Unauthenticated("the token has expired")
        ttl = min(self.settings.token_cache_seconds, (principal.expires_at - _now()).total_seconds())
        self._tokens.put(key, principal, ttl)
        log.debug("validated token %s of user %s", key, principal.user_name)
        return principal

    def revoke(self, token: str) -> None:
        self._tokens.drop(fingerprint(token))
        # A user may revoke their own token (the service user may not: it only reads).
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        response = self._request("DELETE", "/auth/tokens", headers=headers, authenticated=False)
        if response.status_code not in (204, 404):
            log.warning("Keystone did not revoke a token at logout (HTTP %s)", response.status_code)

    # ------------------------------------------------------------ memberships

    def memberships(self, principal: Principal) -> Memberships:
        found, hit = self._members.get(principal.user_id)
        if hit and found is not None:
            return found
        user = principal.user_id
        assignments = self._ok(
            self._request("GET", "/role_assignments", params={"user.id": user, "effective": "", "include_names": ""}),
            "role assignments",
        )["role_assignments"]
        groups = self._ok(self._request("GET", f"/users/{user}/groups"), "group memberships")["groups"]
        memberships = Memberships(
            project_ids=frozenset(a["scope"]["project"]["id"] for a in assignments if "project" in a.get("scope", {})),
            roles=frozenset(a["role"].get("name") or a["role"]["id"] for a in assignments),
            groups=frozenset([g["name"] for g in groups] + [g["id"] for g in groups]),
        )
        self._members.put(user, memberships, self.settings.token_cache_seconds)
        return memberships

    # ------------------------------------------------------------ logging in

    def login_password(self, username: str, password: str, domain: str) -> Login:
        identity = {
            "methods": ["password"],
            "password": {"user": {"name": username, "password": password, "domain": {"name": domain}}},
        }
        token, _ = self._issue({"identity": identity})
        return self._scope_for_admins(token)

    def login_application_credential(self, credential_id: str, secret: str) -> Login:
        identity = {
            "methods": ["application_credential"],
            "application_credential": {"id": credential_id, "secret": secret},
        }
        token, body = self._issue({"identity": identity})
        return Login(token, principal_from(body["token"]))

    def _scope_for_admins(self, token: str) -> Login:
        """Rescope to the admin project when the user holds a role there; else stay unscoped."""
        name, domain = self.admin_project
        response = self._request("GET", "/auth/projects", headers={"X-Auth-Token": token}, authenticated=False)
        projects = self._ok(response, "the user's projects")["projects"]
        admin = next((p for p in projects if p["name"] == name and _domain_matches(p, domain)), None)
        if admin is not None:
            scoped, body = self._issue(
                {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"id": admin["id"]}}}
            )
            return Login(scoped, principal_from(body["token"]))
        return Login(token, self.validate(token))

    def _issue(self, auth: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self._request(
            "POST", "/auth/tokens", json={"auth": auth}, params={"nocatalog": ""}, authenticated=False
        )
        if response.status_code in (400, 401, 403, 404):
            raise Unauthenticated("Keystone refused the credentials")
        body = self._ok(response, "login")
        return response.headers["X-Subject-Token"], body

    # ------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, *, authenticated: bool = True, **kwargs: Any) -> Any:
        try:
            # log=False: keystoneauth's debug log would print request bodies (passwords, tokens).
            return self.session.request(
                self.auth_url + path,
                method,
                raise_exc=False,
                authenticated=authenticated,
                timeout=self.settings.timeout_s,
                log=False,
                **kwargs,
            )
        except Exception as error:  # keystoneauth raises its own tree for every transport failure
            log.warning("Keystone %s %s failed: %s", method, path, type(error).__name__)
            raise IdentityUnavailable(f"Keystone is not reachable ({type(error).__name__})") from None

    def _ok(self, response: Any, what: str) -> dict[str, Any]:
        if response.status_code >= 400:
            log.warning("Keystone refused %s: HTTP %s", what, response.status_code)
            raise IdentityUnavailable(f"Keystone answered {what} with HTTP {response.status_code}")
        return dict(response.json())


def principal_from(token: dict[str, Any]) -> Principal:
    """A Keystone v3 token body as a Principal."""
    user, project = token["user"], token.get("project")
    return Principal(
        user_id=user["id"],
        user_name=user["name"],
        domain_id=user.get("domain", {}).get("id", ""),
        expires_at=_instant(token["expires_at"]),
        project_id=project["id"] if project else None,
        project_name=project["name"] if project else None,
        project_domain=project.get("domain", {}).get("name") if project else None,
        roles=tuple(sorted(role["name"] for role in token.get("roles", []))),
        system_scope="system" in token,
    )


def service_session(settings: KeystoneAuthSettings) -> tuple[Any, str]:
    """A keystoneauth1 session of the API's service user, and the identity endpoint (…/v3)."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    if settings.cloud:
        import openstack.config

        cloud = openstack.config.OpenStackConfig().get_one(cloud=settings.cloud)
        auth_url = str(cloud.config["auth"]["auth_url"])
        return cloud.get_session(), _v3(auth_url)
    if not settings.auth_url or settings.password is None:
        raise ConfigError(
            "set api.keystone.cloud, or auth_url and password (or run `serve --demo`)", key="api.keystone"
        )
    scope: dict[str, Any] = {}
    if settings.project_name:
        scope = {"project_name": settings.project_name, "project_domain_name": settings.project_domain_name}
    elif settings.system_scope:
        scope = {"system_scope": settings.system_scope}
    auth = v3.Password(
        auth_url=settings.auth_url,
        username=settings.username,
        password=settings.password.get_secret_value(),
        user_domain_name=settings.user_domain_name,
        **scope,
    )
    return ks_session.Session(auth=auth, verify=verify), _v3(settings.auth_url)


def _v3(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def _domain_matches(project: dict[str, Any], domain: str) -> bool:
    """`domain` is the domain's id, or a name equal to its id but for case (Default / default)."""
    return str(project.get("domain_id", "")).lower() == domain.lower()


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _TtlCache(Generic[T]):
    """A small thread-safe map whose entries expire; the clock is monotonic."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = 100_000) -> None:
        self._items: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._limit = limit

    def get(self, key: str) -> tuple[T | None, bool]:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] <= self._clock():
                return None, False
            return found[1], True

    def put(self, key: str, value: T, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._items) >= self._limit:  # a flood of distinct tokens: start over, never grow unbounded
                self._items.clear()
            self._items[key] = (self._clock() + ttl, value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)
