"""`stackledger serve --demo`: the database `stackledger demo` wrote (three months), two built-in users, no Keystone.

The finance user sees the demo's grand total (EUR 2,848.41) on the finance page and gets the
very summary PDF the demo wrote (byte-identical) and the same CSV; the payments lead sees the
payments team's projects only; every page says the figures are synthetic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests import api_support as api
from tests.conftest import REPO

DEMO_TOTAL = "2,848.41"  # October, the month reported


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[api.Server, Path]]:
    out = tmp_path_factory.mktemp("api-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLEDGER_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "stackledger"), "demo", "--out", str(out)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"EUR {DEMO_TOTAL}" in done.stdout
    with api.serving({}, out / "serve.log", "--demo", "--out", str(out)) as server:
        yield server, out


def login(server: api.Server, user: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(server.url + "/login", timeout=60)
    assert "Demo users" in form.text and "payments-lead" in form.text
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    answer = browser.post(
        server.url + "/login", data={"csrf": nonce.group(1), "username": user, "password": "demo"}, timeout=120
    )
    assert answer.status_code == 200 and "SYNTHETIC DEMO DATA" in answer.text
    return browser


def test_demo_finance_sees_the_demo_total_and_the_same_documents(demo: tuple[api.Server, Path]) -> None:
    server, out = demo
    finance = login(server, "finance")
    page = finance.get(server.url + "/finance?month=2026-10", timeout=300)
    assert page.status_code == 200 and "SYNTHETIC DEMO DATA" in page.text
    total = re.search(r'data-figure="grand-total">([^<]+)<', page.text)
    assert total is not None and total.group(1).strip() == f"{DEMO_TOTAL} EUR"
    # the demo's three months are in the month picker, and the months before October have figures too
    picker = re.findall(r'<option value="(\d{4}-\d\d)"', page.text)
    assert picker == ["2026-10", "2026-09", "2026-08"]
    assert '<a href="?month=2026-09" rel="prev">' in page.text
    september = finance.get(server.url + "/v1/costs?month=2026-09&group_by=project&price_book=internal", timeout=300)
    assert september.status_code == 200
    assert len(september.json()["results"]) == 11  # search-staging's first server starts in October
    assert Decimal(september.json()["totals"][0]["cost"]) > 0
    pdf = finance.get(server.url + "/v1/reports/2026-10/pdf", timeout=300)
    assert pdf.status_code == 200 and pdf.content == (out / "stackledger-2026-10-summary.pdf").read_bytes()
    csv = finance.get(server.url + "/v1/reports/2026-10/csv", timeout=120)
    assert csv.content == (out / "stackledger-2026-10.csv").read_bytes()
    assert (
        finance.post(
            server.url + "/login", data={"username": "finance", "password": "wrong", "csrf": "x"}, timeout=60
        ).status_code
        == 400
    )


def test_demo_lead_sees_the_payments_team_only(demo: tuple[api.Server, Path]) -> None:
    server, _ = demo
    lead = login(server, "payments-lead")
    budgets = lead.get(server.url + "/v1/budgets?month=2026-10", timeout=120).json()["budgets"]
    assert {row["team"] for row in budgets} == {"payments"}
    assert {row["project_name"] for row in budgets} == {
        "payments-prod",
        "payments-staging",
        "payments-ci",
        "fraud-detection",
    }
    assert all(row["synthetic"] for row in budgets)
    assert lead.get(server.url + "/finance", timeout=60).status_code == 403
    assert requests.get(server.url + "/v1/budgets", headers={"X-Auth-Token": "demo"}, timeout=60).status_code == 401


def test_openapi_is_served_at_docs_from_the_package(demo: tuple[api.Server, Path]) -> None:
    server, _ = demo
    docs = requests.get(server.url + "/docs", timeout=60)
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert "script-src 'self'" in docs.headers["content-security-policy"]  # no inline script, no CDN
    assert requests.get(server.url + "/static/swagger/swagger-ui-bundle.js", timeout=60).status_code == 200
    spec = requests.get(server.url + "/openapi.json", timeout=60).json()
    assert {
        "/v1/costs",
        "/v1/budgets",
        "/v1/alarms",
        "/v1/findings",
        "/v1/reports/{month}/{format}",
        "/v2/summary",
        "/v2/dataframes",
        "/metrics",
    } <= set(spec["paths"])
    page = requests.get(server.url + "/login", timeout=60)
    assert "script-src" not in page.headers["content-security-policy"]  # the page allows no script at all
