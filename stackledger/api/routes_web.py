"""The web page: log in and out, My budgets, a project, finance — server-rendered jinja2.

Pages work without JavaScript (there is none: charts are inline SVG), every value is escaped
by jinja2's autoescape, a missing or invalid session sends the browser to the login page
(and back afterwards), another team's project is a 403 page. URLs carry only the month and
ids, so they can be shared: whoever opens one sees it if the policy lets them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from stackledger.api import svg, views
from stackledger.api.deps import CachedRoute, Services, request_token, services
from stackledger.api.identity import DEMO_USERS, IdentityUnavailable, Login, Unauthenticated
from stackledger.api.params import month_window
from stackledger.api.policy import Access
from stackledger.api.session import (
    LOGIN_COOKIE,
    LOGIN_COOKIE_SECONDS,
    SESSION_COOKIE,
    login_nonce_ok,
    new_login_nonce,
    safe_next,
)
from stackledger.reports.formatting import FILTERS, period_name
from stackledger.schema import INTERNAL_BOOK

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, route_class=CachedRoute)
Shared = Annotated[Services, Depends(services)]
TOP_RESOURCES: Final = 10
TOP_SERVICES: Final = 3


class LoginRequired(Exception):  # a redirect, handled in app.py
    def __init__(self, target: str) -> None:
        self.target = target


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("stackledger.api", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def page_caller(request: Request) -> Access:
    token = request_token(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise LoginRequired(target)
    try:
        return services(request).access(token)
    except Unauthenticated:
        raise LoginRequired(target) from None


Caller = Annotated[Access, Depends(page_caller)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    shared = services(request)
    context.setdefault("organisation", shared.figures.report_settings.report.organisation)
    context.setdefault("demo", shared.demo)
    context.setdefault("user", None)
    context.setdefault("month", None)
    context.setdefault("page", None)
    context.setdefault("cloud", False)
    context.setdefault("csrf", "")
    html = request.app.state.templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)


def page(request: Request, caller: Access, template: str, page_name: str, month: str, **context: Any) -> HTMLResponse:
    shared = services(request)
    months = shared.figures.months()
    index = months.index(month) if month in months else -1
    token = request_token(request) or ""
    return render(
        request,
        template,
        page=page_name,
        month=month,
        months=months or [month],
        prev_month=months[index - 1] if index > 0 else None,
        next_month=months[index + 1] if 0 <= index < len(months) - 1 else None,
        user=caller.principal.user_name,
        cloud=caller.cloud,
        csrf=shared.jar.csrf_for(token),
        period_name=period_name(month_window(month, shared.figures)),
        **context,
    )


# ---------------------------------------------------------------- login and logout


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, safe_next(next))


@router.post("/login")
def login(
    request: Request,
    shared: Shared,
    csrf: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "password",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    domain: Annotated[str, Form()] = "Default",
    credential_id: Annotated[str, Form()] = "",
    credential_secret: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    if not login_nonce_ok(request.cookies.get(LOGIN_COOKIE), csrf):
        return _login_page(request, target, "The login form expired or did not come from this site: try again.", 400)
    try:
        if method == "application_credential":
            done: Login = shared.identity.login_application_credential(credential_id.strip(), credential_secret)
        else:
            done = shared.identity.login_password(username.strip(), password, domain.strip() or "Default")
    except Unauthenticated:
        log.info("web login refused for %s", "an application credential" if method != "password" else "a user")
        return _login_page(request, target, "Keystone did not accept these credentials.", 401)
    except IdentityUnavailable as error:
        return _login_page(request, target, f"Cannot log in right now: {error}.", 503)
    log.info("web login: %s", done.principal.user_name)
    response = RedirectResponse(target, status_code=303)
    expires = done.principal.expires_at.replace(tzinfo=dt.UTC)
    seconds = max(int((expires - dt.datetime.now(dt.UTC)).total_seconds()), 1)
    response.set_cookie(
        SESSION_COOKIE,
        shared.jar.seal(done.token, expires.timestamp()),
        max_age=seconds,
        httponly=True,
        samesite="lax",
        secure=_secure(request, shared),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, shared: Shared, csrf: Annotated[str, Form()] = "") -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    token = shared.jar.open(cookie) if cookie else None
    if token and shared.jar.csrf_ok(token, csrf):
        shared.forget(token)
        try:
            shared.identity.revoke(token)
        except IdentityUnavailable:
            log.warning("logout: the token could not be revoked in Keystone; the cookie is cleared anyway")
    elif token:
        return Response("logout refused: the form did not come from this site", status_code=400)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _login_page(request: Request, target: str, error: str = "", status: int = 200) -> HTMLResponse:
    nonce = new_login_nonce()
    response = render(
        request, "login.html.j2", status, next=target, error=error, nonce=nonce, domain="Default", demo_users=DEMO_USERS
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_COOKIE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=_secure(request, services(request)),
        path="/login",
    )
    return response


def _secure(request: Request, shared: Services) -> bool:
    setting = shared.settings.api.cookie_secure
    return request.url.scheme == "https" if setting == "auto" else bool(setting)


# ---------------------------------------------------------------- pages


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/budgets" + (f"?{request.url.query}" if request.url.query else ""), status_code=303)


@router.get("/budgets")
def budgets(request: Request, caller: Caller, shared: Shared, month: str | None = None) -> HTMLResponse:
    figures = shared.figures
    label = month_window(month, figures).label
    documents = figures.month(label)
    rows: list[dict[str, Any]] = []
    for line in views.budget_lines(documents, caller):
        report = documents.projects.get(line.project_id)
        burn = report.burn_down if report else None
        rows.append(
            {
                "line": line,
                "burn": svg.burn_down_chart(burn, width=150, height=40, compact=True) if burn else None,
                "top": _top_services(report, documents.summary.currency),
            }
        )
    shown = {row["line"].project_id for row in rows}
    mine = sorted(
        (r.name for pid, r in figures.projects().items() if pid not in shown and caller.sees(pid, r.team)),
        key=str.casefold,
    )
    summary = documents.summary
    return page(
        request,
        caller,
        "budgets.html.j2",
        "budgets",
        label,
        rows=rows,
        currency=summary.currency,
        complete=summary.complete,
        days_done=summary.days_done,
        days_total=summary.days_total,
        leads=caller.leads,
        projects=bool(rows or mine),
        projects_without_cost=mine,
    )


@router.get("/projects/{project_id}")
def project(request: Request, caller: Caller, shared: Shared, project_id: str, month: str | None = None) -> Response:
    figures = shared.figures
    record = figures.projects().get(project_id)
    if not caller.sees(project_id, record.team if record else ""):
        return _error(request, caller, 403, "Forbidden", "This project belongs to a team you cannot see.")
    label = month_window(month, figures).label
    documents = figures.month(label)
    report = documents.projects.get(project_id)
    line = documents.lines.get(project_id)
    name = line.name if line else record.name if record else project_id
    team = line.team if line else record.team if record else ""
    states, fired, evaluated = _alarms(figures, documents, project_id, team, report)
    return page(
        request,
        caller,
        "project.html.j2",
        "project",
        label,
        project_id=project_id,
        name=name,
        team=team,
        line=line,
        report=report,
        currency=documents.summary.currency,
        top_resources=TOP_RESOURCES,
        daily_chart=svg.daily_chart(report.days, report.daily_groups, report.currency) if report else None,
        burn_chart=svg.burn_down_chart(report.burn_down) if report and report.burn_down else None,
        alarm_states=states,
        fired=fired,
        evaluated=evaluated,
        findings=[f for f in views.findings(documents.summary.facts.quality, caller) if f["project_id"] == project_id],
    )


@router.get("/finance")
def finance(request: Request, caller: Caller, shared: Shared, month: str | None = None) -> Response:
    if not caller.cloud:
        return _error(
            request,
            caller,
            403,
            "Forbidden",
            "The finance page shows the whole cloud: it needs the admin or reader role on the admin project.",
        )
    figures = shared.figures
    label = month_window(month, figures).label
    summary = figures.month(label).summary
    totals = [t for t in summary.data.price_book_totals if t.currency == summary.currency]
    totals.sort(key=lambda t: (t.label != INTERNAL_BOOK, t.label))
    return page(
        request,
        caller,
        "finance.html.j2",
        "finance",
        label,
        summary=summary,
        currency=summary.currency,
        previous_name=period_name(summary.facts.previous_window),
        book_totals=totals,
        books_chart=svg.book_bars([(t.label, t.amount) for t in totals], summary.currency),
    )


def _top_services(report: Any, currency: str) -> list[tuple[str, Any]]:
    if report is None or report.usage is None:
        return []
    internal = next(
        (i for i, c in enumerate(report.columns) if c.price_book == INTERNAL_BOOK and c.currency == currency), None
    )
    if internal is None:
        return []
    costs = [(item.service, item.costs[internal]) for item in report.usage.lines if item.costs[internal] is not None]
    return sorted(costs, key=lambda pair: -pair[1])[:TOP_SERVICES]


def _alarms(figures: Any, documents: Any, project_id: str, team: str, report: Any) -> tuple[list[Any], list[Any], bool]:
    resources = {r.resource_id for r in report.resources} if report else set()
    scopes = {f"project:{project_id}", *(f"resource:{rid}" for rid in resources)} | (
        {f"team:{team}"} if team else set()
    )
    states = [views.alarm_state_entry(row) for row in figures.alarm_states() if row["scope_key"] in scopes]
    events = documents.summary.facts.alarms
    fired = [e for e in events or () if e.scope_key in scopes and e.fired]
    return states, fired, events is not None


def _error(request: Request, caller: Access | None, status: int, title: str, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html.j2",
        status,
        status=status,
        title=title,
        message=message,
        user=caller.principal.user_name if caller else None,
        cloud=bool(caller and caller.cloud),
        csrf=services(request).jar.csrf_for(request_token(request) or ""),
    )


def login_redirect(target: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
