"""Settings of `stackledger serve`: the team leads' API and web page (`stackledger/api`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from stackledger.sections import Section


class KeystoneAuthSettings(Section):
    """How `stackledger serve` checks Keystone tokens: as a service user of its own (like any
    OpenStack service), which validates tokens and reads users' role assignments and groups.

    The user needs `reader` on the system scope (or `admin`). Either `cloud` names its
    clouds.yaml entry, or `auth_url` + `username` + `password` (+ a scope) give it here."""

    cloud: str | None = None  # clouds.yaml entry of the service user (OS_CLIENT_CONFIG_FILE)
    auth_url: str | None = None  # e.g. https://keystone.example.com/v3
    username: str = "stackledger"
    password: SecretStr | None = None
    user_domain_name: str = "Default"
    system_scope: str | None = "all"  # or a project scope below
    project_name: str | None = None
    project_domain_name: str = "Default"
    # Tokens scoped to this project with role admin or reader see every project (policy
    # `context_is_cloud_reader`); a web login holding a role there is scoped to it.
    admin_project: str = "admin"
    admin_project_domain: str = "Default"
    token_cache_seconds: int = Field(default=300, ge=0, le=3600)  # a validated token is trusted this long
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None


class TeamLeadRule(Section):
    """Who leads a team: the members of a Keystone group, or the holders of a role (anywhere)."""

    group: str | None = None  # group name or id
    role: str | None = None  # role name

    @model_validator(mode="after")
    def _one_of(self) -> TeamLeadRule:
        if (self.group is None) == (self.role is None):
            raise ValueError("give exactly one of group or role")
        return self


class ApiSettings(Section):
    """`stackledger serve`: the team leads' API and web page (stackledger/api; README "The API")."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    workers: int = Field(default=1, ge=1, le=32)  # uvicorn worker processes
    keystone: KeystoneAuthSettings = KeystoneAuthSettings()
    policy_file: Path | None = None  # oslo.policy overrides (YAML); None: the packaged defaults
    team_leads: dict[str, TeamLeadRule] = Field(default_factory=dict)  # team -> who leads it
    # Signs and encrypts the session cookie. Unset: a random key per start (sessions end on
    # restart; with workers > 1, set it so every worker reads every cookie).
    cookie_secret: SecretStr | None = None
    cookie_secure: Literal["auto"] | bool = "auto"  # auto: Secure when the request came over https
    metrics_token: SecretStr | None = None  # `Authorization: Bearer …` for /metrics scrapers
    cache_seconds: float = Field(default=30.0, ge=0)  # query results live at most this long (see figures)
    demo: bool = False  # as `serve --demo`: the demo database, built-in demo users, no Keystone
