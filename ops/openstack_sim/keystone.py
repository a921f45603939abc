"""Talks to the real Keystone: validates request tokens, and maps project names to ids.

Only tokens Keystone itself issued work against the simulator, as with keystonemiddleware in Nova
and Cinder. A token is validated by presenting it as both caller and subject (Keystone's default
policy lets a token validate itself), so the simulator needs no service account for this.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .timeutil import parse_ts, utcnow
from .web import ApiError

CACHE_SECONDS = 30.0
CACHE_MAX = 2048


@dataclass(frozen=True)
class TokenInfo:
    user_id: str
    project_id: str | None  # None for domain- or system-scoped tokens
    roles: frozenset[str]
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def _call(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> tuple[Any, Any]:
    if not url.startswith(("http://", "https://")):  # urllib would also open file:// URLs
        raise ValueError(f"Keystone URL must be http(s): {url}")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json", "Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - scheme checked
        return json.loads(resp.read() or b"null"), resp.headers


class TokenValidator:
    """GET /v3/auth/tokens with a short cache keyed by the token's hash (tokens are not stored)."""

    def __init__(self, auth_url: str) -> None:
        self.auth_url = auth_url.rstrip("/")
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}
        self._lock = threading.Lock()

    def validate(self, token: str) -> TokenInfo | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic() and (hit[1] is None or hit[1].expires_at > utcnow()):
            return hit[1]
        info = self._fetch(token)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()  # crude bound; tests never hold thousands of live tokens
            self._cache[key] = (time.monotonic() + CACHE_SECONDS, info)
        return info

    def _fetch(self, token: str) -> TokenInfo | None:
        url = f"{self.auth_url}/auth/tokens?nocatalog"
        try:
            body, _ = _call(url, {"X-Auth-Token": token, "X-Subject-Token": token})
        except urllib.error.HTTPError as err:
            if err.code in (401, 403, 404):
                return None
            raise ApiError(503, f"Keystone answered {err.code} validating a token") from None
        except OSError as err:
            raise ApiError(503, f"Keystone is unreachable: {err}") from None
        tok = body["token"]
        return TokenInfo(
            user_id=tok["user"]["id"],
            project_id=(tok.get("project") or {}).get("id"),
            roles=frozenset(r["name"] for r in tok.get("roles", [])),
            expires_at=parse_ts(tok["expires_at"]),
        )


def project_ids(env: Mapping[str, str]) -> dict[str, str]:
    """Keystone project name -> id, using the OS_* admin credentials in `env`."""
    missing = [k for k in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD") if not env.get(k)]
    if missing:
        raise RuntimeError(f"fleet names projects but {', '.join(missing)} are not set")
    auth_url = env["OS_AUTH_URL"].rstrip("/")
    _, headers = _call(f"{auth_url}/auth/tokens?nocatalog", {}, _password_body(env))
    token = headers["X-Subject-Token"]
    names: dict[str, str] = {}
    url: str | None = f"{auth_url}/projects"
    while url:  # Keystone pages only when list_limit is set, but follow links.next regardless
        body, _ = _call(url, {"X-Auth-Token": token})
        names.update({p["name"]: p["id"] for p in body["projects"]})
        url = (body.get("links") or {}).get("next")
    return names


def _password_body(env: Mapping[str, str]) -> dict[str, Any]:
    user = {
        "name": env["OS_USERNAME"],
        "password": env["OS_PASSWORD"],
        "domain": {"name": env.get("OS_USER_DOMAIN_NAME", "Default")},
    }
    project = {
        "name": env.get("OS_PROJECT_NAME", "admin"),
        "domain": {"name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")},
    }
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}, "scope": {"project": project}}}
