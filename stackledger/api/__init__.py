"""`stackledger serve`: the team leads' API and web page over the store.

    app          the ASGI application: routes, security headers, error shapes (create_app)
    routes_v1    /v1 JSON: costs, budgets, alarms, findings, projects, report downloads
    routes_v2    /v2/summary, /v2/dataframes: CloudKitty's v2 shapes (cloudkitty: the mapping)
    routes_web   the page: login/logout, My budgets, a project, finance (templates/, static/, svg)
    metrics      /metrics for Prometheus
    figures      the month's report objects and other reads, cached by the store's data version
    views        the JSON shapes (pure)
    identity     Principal, Memberships, the demo users; keystone: Keystone as identity provider
    policy       oslo.policy rules: who sees which project, team and the whole cloud
    session      the signed, encrypted session cookie and CSRF tokens
    deps         the per-request caller (token → principal → access), shared services

The API reads the store (SQL in `stackledger.store.serving` and the report queries) and never
writes cost data. Its figures are the reports' own objects, so they equal the PDF and CSV.
"""

from __future__ import annotations

from stackledger.api.app import build_services, create_app

__all__ = ["build_services", "create_app"]
