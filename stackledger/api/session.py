"""The web page's session cookie and its CSRF tokens.

The cookie holds the user's Keystone token, encrypted and authenticated with Fernet
(AES-CBC + HMAC-SHA256) under a key derived from `api.cookie_secret`: a changed byte, another
server's cookie or one older than its token's expiry reads as "no session". It is HttpOnly
(no script reads it), SameSite=Lax (no cross-site form post carries it) and Secure over https.

Forms carry a CSRF token: for the logout form an HMAC of the session cookie's token; for the
login form (no session yet) a random value that must equal the one in a short-lived
`stackledger_login` cookie (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

SESSION_COOKIE: Final = "stackledger_session"
LOGIN_COOKIE: Final = "stackledger_login"
LOGIN_COOKIE_SECONDS: Final = 1800


@dataclass(frozen=True)
class CookieJar:
    """Seals and opens session cookies with one secret."""

    secret: bytes

    @classmethod
    def from_secret(cls, secret: str | None) -> CookieJar:
        """A jar for `secret`; without one, a random key (sessions end when the server stops)."""
        return cls((secret or secrets.token_urlsafe(32)).encode("utf-8"))

    def _fernet(self) -> Fernet:
        key = hashlib.sha256(b"stackledger-session-v1\0" + self.secret).digest()
        return Fernet(base64.urlsafe_b64encode(key))

    def seal(self, token: str, expires_at: float, *, now: float | None = None) -> str:
        """The cookie value for `token`, valid until `expires_at` (epoch seconds)."""
        payload = json.dumps({"t": token, "e": int(expires_at)}).encode("utf-8")
        return self._fernet().encrypt_at_time(payload, int(now if now is not None else time.time())).decode("ascii")

    def open(self, value: str) -> str | None:
        """The token in a cookie value; None when it was tampered with, is foreign or has expired."""
        try:
            payload = json.loads(self._fernet().decrypt(value.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            return None
        if not isinstance(payload, dict) or payload.get("e", 0) <= time.time() or not payload.get("t"):
            return None
        return str(payload["t"])

    def csrf_for(self, token: str) -> str:
        """The logout form's CSRF token: bound to the session, useless without it."""
        return hmac.new(self.secret, b"csrf\0" + token.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str, submitted: str) -> bool:
        return hmac.compare_digest(self.csrf_for(token), submitted)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_nonce_ok(cookie: str | None, submitted: str) -> bool:
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), submitted)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (never `//host` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
