"""`stackledger serve` against the real Keystone (ops/keystone.sh seeds the users of
ops/keystone/access.json) and PostgreSQL: who sees what through the API and the page, how a
missing, tampered, revoked or expired token or cookie is refused, logging in and out, and the
figures against the CSV and the alarms' forecast.

Users: admin (admin on the admin project), finance-reader (reader there), lead-payments
(no role; member of the group payments-leads, which api.team_leads makes payments' lead),
search-member (member of the project search-api), no-role (nothing).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from stackledger.api.session import LOGIN_COOKIE, SESSION_COOKIE, CookieJar
from stackledger.settings import Settings
from tests import api_support as api
from tests.conftest import REPO

pytestmark = pytest.mark.services

XSS_ID = "xss-0000000000000000000000000000001"
XSS_NAME = "<script>alert(1)</script>"
# A month rated through its 12th day after a complete one: the forecast learns from the last 7
# rated days, which the report and the alarm engine both find inside the month.
LAST_MONTH, THIS_MONTH, DAYS_DONE = "2026-10", "2026-11", 12
RATED_THROUGH = dt.datetime(2026, 11, 1 + DAYS_DONE)
PROJECTS = [
    api.SeedProject("payments", "payments", Decimal("900"), Decimal("11.5")),
    api.SeedProject(XSS_NAME, "payments", None, Decimal("2.25")),
    api.SeedProject("search-api", "search", Decimal("400"), Decimal("9.75")),
    api.SeedProject("search-index", "search", None, Decimal("4.5")),
    api.SeedProject("data-platform", "data", Decimal("1000"), Decimal("21")),
    api.SeedProject("web-frontend", "web", Decimal("300"), Decimal("7.125")),
]
EVERYONE = {p.name for p in PROJECTS}
SEES = {
    "admin": EVERYONE,
    "finance-reader": EVERYONE,
    "lead-payments": {"payments", XSS_NAME},
    "search-member": {"search-api"},
    "no-role": set(),
}


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    found = api.keystone_projects()
    return {**found, XSS_NAME: XSS_ID}


@pytest.fixture(scope="module")
def settings(pg_url: str, tmp_path_factory: pytest.TempPathFactory, ids: dict[str, str]) -> Settings:
    out = tmp_path_factory.mktemp("api-keystone")
    settings = api.fresh_settings(pg_url, out)
    api.seed_costs(settings, ids, PROJECTS, [LAST_MONTH, THIS_MONTH], days=DAYS_DONE)
    return settings


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Server]:
    out = tmp_path_factory.mktemp("api-keystone-server")
    with api.serving({**api.server_env(settings, out), **api.keystone_env()}, out / "serve.log") as server:
        yield server


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {name: api.token(name) for name in SEES}


def names(ids: dict[str, str], project_ids: list[str]) -> set[str]:
    by_id = {pid: name for name, pid in ids.items()}
    return {by_id.get(pid, pid) for pid in project_ids}


# ---------------------------------------------------------------- who sees what


@pytest.mark.parametrize("user", sorted(SEES))
def test_each_user_sees_exactly_their_projects_through_the_api(
    server: api.Server, tokens: dict[str, str], ids: dict[str, str], user: str
) -> None:
    me = server.get("/v1/me", tokens[user])
    assert me.status_code == 200, me.text
    seeded = {ids[p.name] for p in PROJECTS}
    assert names(ids, [pid for pid in me.json()["projects"] if pid in seeded]) == SEES[user]
    listed = server.get("/v1/projects", tokens[user]).json()["projects"]
    assert {p["name"] for p in listed if p["project_id"] in seeded} == SEES[user]
    costs = server.get("/v1/costs", tokens[user], params={"month": LAST_MONTH, "group_by": "project"}).json()
    assert names(ids, [row["project_id"] for row in costs["results"]]) == SEES[user]
    budgets = server.get("/v1/budgets", tokens[user], params={"month": THIS_MONTH}).json()["budgets"]
    assert {row["project_name"] for row in budgets} == SEES[user]
    assert me.json()["cloud"] is (user in ("admin", "finance-reader"))
    assert me.json()["leads"] == (["payments"] if user == "lead-payments" else [])


@pytest.mark.parametrize("user", sorted(SEES))
def test_each_user_sees_exactly_their_projects_on_the_page(server: api.Server, ids: dict[str, str], user: str) -> None:
    browser = login(server, user)
    page = browser.get(server.url + f"/budgets?month={THIS_MONTH}", timeout=120)
    assert page.status_code == 200
    shown = set(re.findall(r'<tr data-project="([^"]+)"', page.text))
    assert names(ids, sorted(shown)) == SEES[user]
    if user == "no-role":
        assert "None of your projects has costs" in page.text


def test_another_teams_project_is_forbidden(server: api.Server, tokens: dict[str, str], ids: dict[str, str]) -> None:
    lead, member = tokens["lead-payments"], tokens["search-member"]
    search = ids["search-api"]
    for path, params in (
        ("/v1/costs", {"project_id": search}),
        (f"/v1/reports/{LAST_MONTH}/pdf", {"project_id": search}),
        (f"/v1/reports/{LAST_MONTH}/csv", {"project_id": search}),
    ):
        answer = server.get(path, lead, params=params)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == 403
    assert server.get("/v1/costs", member, params={"project_id": ids["payments"]}).status_code == 403
    assert server.get(f"/v1/reports/{LAST_MONTH}/pdf", lead).status_code == 403  # the whole cloud's summary
    browser = login(server, "lead-payments")
    page = browser.get(server.url + f"/projects/{search}?month={LAST_MONTH}", timeout=60, allow_redirects=False)
    assert page.status_code == 403 and "Forbidden" in page.text
    assert browser.get(server.url + "/finance", timeout=60, allow_redirects=False).status_code == 403
    assert browser.get(server.url + f"/projects/{ids['payments']}?month={LAST_MONTH}", timeout=60).status_code == 200


# ---------------------------------------------------------------- refused tokens and cookies


def test_no_tampered_revoked_or_expired_token_gets_in(server: api.Server, tokens: dict[str, str]) -> None:
    answer = server.get("/v1/budgets")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Keystone uri=")
    good = tokens["admin"]
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert server.get("/v1/budgets", tampered).status_code == 401
    assert server.get("/v1/budgets", "not-a-token").status_code == 401
    fresh = api.token("search-member")
    assert server.get("/v1/budgets", fresh).status_code == 200
    revoked = api.token("search-member")
    revoke(revoked)
    assert keystone_refuses(revoked)
    assert server.get("/v1/budgets", revoked).status_code == 401


def test_a_token_that_expired_is_refused(server: api.Server, ids: dict[str, str]) -> None:
    """An application credential expiring in a few seconds gives a token that expires with it."""
    credential = make_application_credential("search-member", expires_in=8)
    answer = requests.post(
        api.user_auth("admin")["auth_url"] + "/auth/tokens",
        json={"auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}},
        timeout=30,
    )
    short = answer.headers["X-Subject-Token"]
    assert server.get("/v1/budgets", short).status_code == 200  # valid now, and cached by the server
    time.sleep(10)
    assert server.get("/v1/budgets", short).status_code == 401  # expired: refused despite the cache


def test_a_tampered_foreign_or_expired_cookie_shows_the_login_page(server: api.Server) -> None:
    browser = login(server, "lead-payments")
    assert browser.get(server.url + "/budgets", timeout=60, allow_redirects=False).status_code == 200
    cookie = browser.cookies[SESSION_COOKIE].strip('"')
    for value in (
        cookie[:-6] + "AAAAAA",
        CookieJar.from_secret("another secret").seal("x", time.time() + 600),
        CookieJar.from_secret(api.COOKIE_SECRET).seal(api.token("lead-payments"), time.time() - 1),
    ):
        answer = requests.get(
            server.url + "/budgets?month=2026-01", cookies={SESSION_COOKIE: value}, timeout=60, allow_redirects=False
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Fbudgets%3Fmonth%3D2026-01"
        api_answer = requests.get(server.url + "/v1/budgets", cookies={SESSION_COOKIE: value}, timeout=60)
        assert api_answer.status_code == 401


# ---------------------------------------------------------------- logging in and out


def test_login_with_password_and_application_credential_then_logout(server: api.Server) -> None:
    browser = login(server, "lead-payments")
    cookie = browser.cookies.get(SESSION_COOKIE)
    assert cookie and api.user_auth("lead-payments")["password"] not in cookie
    set_cookie = browser.last_set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/" in set_cookie
    token = CookieJar.from_secret(api.COOKIE_SECRET).open(cookie.strip('"'))
    assert token is not None and server.get("/v1/me", token).json()["user"]["name"] == "lead-payments"
    page = browser.get(server.url + "/budgets", timeout=60)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = browser.post(server.url + "/logout", data={"csrf": "forged"}, timeout=60, allow_redirects=False)
    assert refused.status_code == 400  # a cross-site form cannot log anyone out
    done = browser.post(server.url + "/logout", data={"csrf": csrf.group(1)}, timeout=60, allow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert server.get("/v1/me", token).status_code == 401  # revoked in Keystone and dropped from the cache
    assert keystone_refuses(token)

    credential = make_application_credential("search-member", expires_in=600)
    other = login(server, None, application_credential=credential)
    me = other.get(server.url + "/v1/me", timeout=60).json()
    assert me["user"]["name"] == "search-member" and me["project"]["name"] == "search-api"


def test_login_refuses_wrong_passwords_and_forged_forms(server: api.Server) -> None:
    browser = requests.Session()
    form = browser.get(server.url + "/login", timeout=60)
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    wrong = browser.post(
        server.url + "/login",
        data={"csrf": nonce.group(1), "username": "lead-payments", "password": "wrong", "domain": "Default"},
        timeout=60,
    )
    assert wrong.status_code == 401 and "did not accept" in wrong.text and SESSION_COOKIE not in browser.cookies
    forged = requests.post(
        server.url + "/login",
        data={"csrf": "x", "username": "lead-payments", "password": api.user_auth("lead-payments")["password"]},
        timeout=60,
    )
    assert forged.status_code == 400 and SESSION_COOKIE not in forged.cookies
    redirect = login(server, "lead-payments", next_page="//evil.example/steal")
    assert redirect.last_location == "/"


def test_tokens_and_passwords_never_reach_the_log(server: api.Server, tokens: dict[str, str]) -> None:
    log = server.log_text()
    assert "GET /v1/" in log  # the access log is there, and what follows is really checked
    for user, value in tokens.items():
        assert value not in log, user
        assert api.user_auth(user)["password"] not in log, user


# ---------------------------------------------------------------- figures


def test_costs_and_budgets_equal_the_csv_and_the_alarms_forecast(
    server: api.Server, settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    for month in (LAST_MONTH, THIS_MONTH):
        cli(settings, "report", "--month", month, "--format", "csv", "--out", str(out))
        expected = api.csv_totals(out / f"stackledger-{month}.csv")
        costs = server.get(
            "/v1/costs", tokens["admin"], params={"month": month, "group_by": "project", "price_book": "internal"}
        ).json()
        got = {row["project_id"]: Decimal(row["cost"]) for row in costs["results"]}
        assert got == expected and got  # exactly, to the last decimal
        assert Decimal(costs["totals"][0]["cost"]) == sum(expected.values())
        by_team = server.get(
            "/v1/costs",
            tokens["lead-payments"],
            params={"month": month, "group_by": "team,service", "price_book": "internal"},
        ).json()
        assert {row["team"] for row in by_team["results"]} == {"payments"}
        lead_total = sum(Decimal(row["cost"]) for row in by_team["results"])
        assert lead_total == sum(v for k, v in expected.items() if k in lead_ids(server, tokens))
        daily = server.get(
            "/v1/costs", tokens["admin"], params={"month": month, "group_by": "day", "price_book": "internal"}
        ).json()
        assert sum(Decimal(row["cost"]) for row in daily["results"]) == sum(expected.values())
    budgets = server.get("/v1/budgets", tokens["admin"], params={"month": THIS_MONTH}).json()["budgets"]
    forecasts = {row["project_id"]: row["forecast"] for row in budgets if row["budget"] is not None}
    alarms = evaluate_budget_alarms(settings, tmp_path)
    assert forecasts and alarms.keys() == forecasts.keys()
    for project_id, forecast in forecasts.items():
        cents = None if forecast is None else str(Decimal(forecast).quantize(Decimal("0.01")))
        assert alarms[project_id] == cents, project_id


def lead_ids(server: api.Server, tokens: dict[str, str]) -> set[str]:
    return set(server.get("/v1/me", tokens["lead-payments"]).json()["projects"])


def evaluate_budget_alarms(settings: Settings, tmp_path: Path) -> dict[str, str | None]:
    """project id -> the month-end forecast the alarm engine stated (cents), at the end of the rated days."""
    import json

    from sqlalchemy import select

    from stackledger.pipeline.base import store_for
    from stackledger.store import tables

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: budgets\n    kind: budget\n    scope: project\n"
        "    thresholds: [{at: 100%, basis: forecast, severity: critical}]\n"
    )
    cli(
        settings,
        "alarms",
        "evaluate",
        "--at",
        RATED_THROUGH.isoformat(),
        env={"STACKLEDGER__ALARMS__RULES": str(rules)},
    )
    h = tables.alarm_history.c
    with store_for(settings).engine.connect() as conn:
        rows = conn.execute(select(h.scope_key, h.reason_data).where(h.event == "transition", h.rule == "budgets"))
        found = {key.split(":", 1)[1]: (data if isinstance(data, dict) else json.loads(data)) for key, data in rows}
    return {pid: data.get("forecast") for pid, data in found.items() if data.get("budget") is not None}


# ---------------------------------------------------------------- helpers


class Browser(requests.Session):
    last_set_cookie = ""
    last_location = ""


def login(
    server: api.Server,
    user: str | None,
    *,
    application_credential: dict[str, str] | None = None,
    next_page: str = "/budgets",
) -> Browser:
    """A requests session logged in through the page's form, as a browser would."""
    browser = Browser()
    form = browser.get(server.url + "/login", timeout=60)
    assert LOGIN_COOKIE in browser.cookies
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    if application_credential is not None:
        data = {
            "method": "application_credential",
            "credential_id": application_credential["id"],
            "credential_secret": application_credential["secret"],
        }
    else:
        assert user is not None
        data = {
            "method": "password",
            "username": user,
            "password": api.user_auth(user)["password"],
            "domain": "Default",
        }
    answer = browser.post(
        server.url + "/login",
        data={**data, "csrf": nonce.group(1), "next": next_page},
        timeout=60,
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[-500:]
    browser.last_set_cookie = answer.headers.get("set-cookie", "")
    browser.last_location = answer.headers["location"]
    return browser


def revoke(token: str) -> None:
    sess = api.admin_session()
    sess.delete(api.user_auth("admin")["auth_url"] + "/auth/tokens", headers={"X-Subject-Token": token})


def keystone_refuses(token: str) -> bool:
    sess = api.admin_session()
    answer = sess.get(
        api.user_auth("admin")["auth_url"] + "/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False
    )
    return bool(answer.status_code == 404)


def make_application_credential(user: str, *, expires_in: int) -> dict[str, str]:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = api.user_auth(user)
    sess = session.Session(auth=v3.Password(**auth))
    user_id = sess.get_user_id()
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%S")
    body = {"application_credential": {"name": f"stackledger-test-{time.time_ns()}", "expires_at": expires}}
    made = sess.post(auth["auth_url"] + f"/users/{user_id}/application_credentials", json=body).json()
    return {"id": made["application_credential"]["id"], "secret": made["application_credential"]["secret"]}


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None) -> str:
    import os

    full = {**os.environ, "STACKLEDGER__DATABASE__URL": settings.database.url, **(env or {})}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "stackledger"), *args],
        env=full,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
