"""Who is calling: the principal a token stands for, and the identity providers that vouch for it.

An `IdentityProvider` turns a token into a `Principal` (or raises `Unauthenticated`), logs a
user in (returning a new token) and says what the user belongs to (`Memberships`). Two exist:
`stackledger.api.keystone.KeystoneIdentity` (the real one) and `DemoIdentity` (`serve --demo`:
two built-in users, no Keystone).

Tokens are secrets: they are never logged or put in an exception message; `fingerprint`
names one in logs when that is needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from stackledger.settings import TeamLeadRule
from stackledger.window import utcnow


class Unauthenticated(Exception):  # an HTTP outcome (401), not a bug
    """The token (or the user name and password) is missing, wrong, expired or revoked."""


class IdentityUnavailable(Exception):
    """The identity service could not be asked (down, misconfigured): a 503, never a 401."""


@dataclass(frozen=True)
class Principal:
    """A validated token's subject and scope (Keystone's token body, as policy needs it)."""

    user_id: str
    user_name: str
    domain_id: str
    expires_at: dt.datetime  # naive UTC
    project_id: str | None = None  # the token's scope; None: unscoped or system-scoped
    project_name: str | None = None
    project_domain: str | None = None
    roles: tuple[str, ...] = ()  # roles on the token's scope
    system_scope: bool = False
    demo: bool = False

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()


@dataclass(frozen=True)
class Memberships:
    """What the user holds anywhere: projects with a role (effective: through groups and
    inheritance too), every role name held on any scope, and the groups they are in."""

    project_ids: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()  # names and ids

    def leads(self, rules: Mapping[str, TeamLeadRule]) -> tuple[str, ...]:
        """The teams whose lead rule this user meets."""
        return tuple(
            sorted(
                team
                for team, rule in rules.items()
                if (rule.group is not None and rule.group in self.groups)
                or (rule.role is not None and rule.role in self.roles)
            )
        )


@dataclass(frozen=True)
class Login:
    token: str
    principal: Principal


class IdentityProvider(Protocol):
    def validate(self, token: str) -> Principal: ...

    def memberships(self, principal: Principal) -> Memberships: ...

    def login_password(self, username: str, password: str, domain: str) -> Login: ...

    def login_application_credential(self, credential_id: str, secret: str) -> Login: ...

    def revoke(self, token: str) -> None: ...

    @property
    def admin_project(self) -> tuple[str, str]:
        """(name, domain name) of the project whose admins and readers see everything."""
        ...


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token in logs and cache keys."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- demo mode

DEMO_PASSWORD: Final = "demo"  # noqa: S105 - public on purpose: demo mode, loopback only
DEMO_DOMAIN: Final = "demo"
DEMO_LEAD_GROUP: Final = "payments-leads"
DEMO_TEAM_LEADS: Final = {"payments": TeamLeadRule(group=DEMO_LEAD_GROUP)}


@dataclass(frozen=True)
class DemoUser:
    name: str
    description: str
    roles: tuple[str, ...]  # on the admin project
    groups: frozenset[str] = frozenset()


DEMO_USERS: Final = (
    DemoUser("finance", "finance: reader on the admin project, sees every project", ("reader",)),
    DemoUser(
        "payments-lead", "team lead of payments: sees the payments team's projects", (), frozenset({DEMO_LEAD_GROUP})
    ),
)


@dataclass
class DemoIdentity:
    """`serve --demo`: two built-in users (password `demo`), tokens kept in this process.

    Only for the synthetic demo database on loopback: the passwords are printed on the page."""

    lifetime: dt.timedelta = dt.timedelta(hours=8)
    _tokens: dict[str, Principal] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def admin_project(self) -> tuple[str, str]:
        return ("admin", DEMO_DOMAIN)

    def validate(self, token: str) -> Principal:
        with self._lock:
            principal = self._tokens.get(fingerprint(token))
        if principal is None or principal.expired:
            raise Unauthenticated("the token is not valid (demo mode: log in again)")
        return principal

    def memberships(self, principal: Principal) -> Memberships:
        user = _demo_user(principal.user_name)
        return Memberships(roles=frozenset(user.roles), groups=user.groups)

    def login_password(self, username: str, password: str, domain: str) -> Login:
        user = next((u for u in DEMO_USERS if u.name == username), None)
        if user is None or not hmac.compare_digest(password.encode("utf-8"), DEMO_PASSWORD.encode("utf-8")):
            raise Unauthenticated("unknown user or wrong password")
        token = secrets.token_urlsafe(32)
        principal = Principal(
            user_id=f"demo-{user.name}",
            user_name=user.name,
            domain_id=DEMO_DOMAIN,
            expires_at=utcnow() + self.lifetime,
            project_id="demo-admin" if user.roles else None,
            project_name="admin" if user.roles else None,
            project_domain=DEMO_DOMAIN if user.roles else None,
            roles=user.roles,
            demo=True,
        )
        with self._lock:
            self._tokens[fingerprint(token)] = principal
        return Login(token, principal)

    def login_application_credential(self, credential_id: str, secret: str) -> Login:
        raise Unauthenticated("demo mode has no application credentials: log in with a demo user")

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(fingerprint(token), None)


def _demo_user(name: str) -> DemoUser:
    return next(user for user in DEMO_USERS if user.name == name)
