"""Pure pieces of `stackledger serve`: the policy and its documented file, the session cookie,
redirect targets, CloudKitty's filter syntax and shapes, the JSON amounts, the SVG charts."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import HTTPException

from stackledger.api import cloudkitty, svg, views
from stackledger.api.identity import DEMO_USERS, DemoIdentity, Memberships, Principal, Unauthenticated
from stackledger.api.params import csv_list, instant
from stackledger.api.policy import Access, Policy, credentials, packaged_policy_path, sample_policy
from stackledger.api.session import CookieJar, login_nonce_ok, safe_next
from stackledger.errors import ConfigError
from stackledger.reports.budget import BurnDown
from stackledger.reports.findings import FindingLine
from stackledger.settings import TeamLeadRule, load_settings
from stackledger.store.serving import CostGroup

LATER = dt.datetime(2099, 1, 1)
LEADS = {"payments": TeamLeadRule(group="payments-leads"), "search": TeamLeadRule(role="search-lead")}
ADMIN = ("admin", "Default")


def principal(**kw: object) -> Principal:
    fields: dict[str, object] = {"user_id": "u1", "user_name": "u", "domain_id": "default", "expires_at": LATER}
    return Principal(**(fields | kw))  # type: ignore[arg-type]


def access(policy: Policy, who: Principal, memberships: Memberships) -> Access:
    return Access(who, credentials(who, memberships, LEADS, ADMIN), policy)


def test_the_packaged_policy_file_documents_the_registered_defaults() -> None:
    assert packaged_policy_path().read_text() == sample_policy()


def test_default_policy_decides_who_sees_what() -> None:
    policy = Policy()
    admin = access(policy, principal(project_name="admin", project_domain="Default", roles=("admin",)), Memberships())
    reader = access(policy, principal(project_name="admin", project_domain="default", roles=("reader",)), Memberships())
    member_elsewhere = access(policy, principal(project_name="web", roles=("admin",)), Memberships(frozenset({"p1"})))
    lead = access(policy, principal(), Memberships(groups=frozenset({"payments-leads"})))
    role_lead = access(policy, principal(), Memberships(roles=frozenset({"search-lead"})))
    nobody = access(policy, principal(), Memberships())
    assert admin.cloud and reader.cloud and admin.sees("any", "") and reader.sees("x", "web")
    assert not member_elsewhere.cloud  # admin on another project is no cloud reader
    assert member_elsewhere.sees("p1", "") and not member_elsewhere.sees("p2", "")
    assert lead.leads == ("payments",) and lead.sees("p9", "payments") and not lead.sees("p9", "search")
    assert lead.sees_team("payments") and not lead.sees_team("search") and not lead.cloud
    assert role_lead.sees("p3", "search") and not role_lead.sees("p3", "payments")
    assert not nobody.sees("p1", "") and not nobody.sees("", "") and not nobody.cloud
    assert lead.visible([("a", "payments"), ("b", "web"), ("c", "payments")]) == {"a", "c"}


def test_unpriced_findings_go_to_whoever_sees_their_project() -> None:
    def line(project_id: str, effect: str) -> FindingLine:
        return FindingLine(project_id=project_id, project_name=project_id or "Unallocated (no project)",
                           price_book="aws", kind="size unknown", effect=effect, service="compute.instance",
                           subject="(unnamed flavor)", quantity=72.0, consumed_unit="instance-hour", resources=1,
                           reason="no vCPUs and RAM")  # fmt: skip

    lines = [line("p1", "unpriced"), line("p2", "base price"), line("", "unpriced")]
    teams = {"p1": "payments", "p2": "search"}
    policy = Policy()
    lead = access(policy, principal(), Memberships(groups=frozenset({"payments-leads"})))
    admin = access(policy, principal(project_name="admin", project_domain="Default", roles=("admin",)), Memberships())
    seen = views.unpriced_findings(lines, teams, lead)
    assert [(f["project_id"], f["kind"]) for f in seen] == [("p1", "unpriced")]
    assert (
        seen[0]["message"]
        == "72 instance-hour of compute.instance left unpriced (size unknown: (unnamed flavor), 1 resource)"
    )
    assert seen[0]["detail"]["quantity"] == 72.0 and seen[0]["detail"]["price_book"] == "aws"
    everything = views.unpriced_findings(lines, teams, admin)
    assert [(f["project_id"], f["kind"]) for f in everything] == [
        ("p1", "unpriced"),
        ("p2", "base_price"),
        (None, "unpriced"),
    ]


def test_a_policy_file_overrides_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"team_lead": "!"\n"stackledger:cloud:read": "role:auditor"\n')
    policy = Policy(path)
    lead = access(policy, principal(), Memberships(groups=frozenset({"payments-leads"})))
    auditor = access(policy, principal(roles=("auditor",)), Memberships())
    assert not lead.sees("p9", "payments") and auditor.cloud
    with pytest.raises(ConfigError, match="does not exist"):
        Policy(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="exactly one of group or role"):
        load_settings(None, {"STACKLEDGER__API__TEAM_LEADS": "{x: {group: a, role: b}}"})


def test_the_session_cookie_refuses_tampering_other_keys_and_age() -> None:
    jar = CookieJar.from_secret("s3cret")
    sealed = jar.seal("the-token", time.time() + 60)
    assert jar.open(sealed) == "the-token" and "the-token" not in sealed
    assert jar.open(sealed[:-3] + "AAA") is None
    assert CookieJar.from_secret("other").open(sealed) is None
    assert jar.open(jar.seal("t", time.time() - 1)) is None
    assert jar.open("not a cookie") is None
    assert jar.csrf_ok("the-token", jar.csrf_for("the-token")) and not jar.csrf_ok("other", jar.csrf_for("the-token"))
    assert login_nonce_ok("n", "n") and not login_nonce_ok(None, "n") and not login_nonce_ok("n", "")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/budgets?month=2026-10", "/budgets?month=2026-10"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_login_only_returns_to_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_demo_identity_knows_two_users_and_their_tokens() -> None:
    demo = DemoIdentity()
    assert {u.name for u in DEMO_USERS} == {"finance", "payments-lead"}
    login = demo.login_password("payments-lead", "demo", "any")
    assert demo.validate(login.token).user_name == "payments-lead"
    assert demo.memberships(login.principal).leads(LEADS) == ("payments",)
    with pytest.raises(Unauthenticated):
        demo.login_password("finance", "wrong", "any")
    demo.revoke(login.token)
    with pytest.raises(Unauthenticated):
        demo.validate(login.token)


def test_cloudkitty_filters_and_time_parameters() -> None:
    assert cloudkitty.parse_filters(
        ["project_id:a,type:compute.vcpu", "type:block.volume"], unique=False, allowed=cloudkitty.FILTERS
    ) == {"project_id": ["a"], "type": ["compute.vcpu", "block.volume"]}
    for bad, unique in (["project_id"], False), (["flavor:x"], False), (["type:a,type:b"], True):
        with pytest.raises(HTTPException):
            cloudkitty.parse_filters(bad, unique=unique, allowed=cloudkitty.FILTERS)
    assert instant("2026-10-01 00:00:00+00:00", "begin") == dt.datetime(2026, 10, 1)  # as the client sends it
    assert instant("2026-10-01T02:00:00+02:00", "begin") == dt.datetime(2026, 10, 1)
    assert csv_list(["project,service", "day", "project"]) == ["project", "service", "day"]


def test_cloudkitty_summary_shape() -> None:
    policy = Policy()
    reader = access(policy, principal(project_name="admin", project_domain="Default", roles=("reader",)), Memberships())
    groups = [
        CostGroup(
            {"project": "p1", "service": "compute.vcpu", "price_book": "internal", "day": dt.date(2026, 10, 2)},
            "EUR",
            "vCPU-hour",
            24.0,
            Decimal("1.500001"),
        ),
        CostGroup(
            {"project": "p1", "service": "compute.vcpu", "price_book": "aws", "day": dt.date(2026, 10, 2)},
            "EUR",
            "vCPU-hour",
            24.0,
            Decimal("9"),
        ),
        CostGroup(
            {"project": "p2", "service": "block.volume", "price_book": "internal", "day": dt.date(2026, 10, 3)},
            "EUR",
            "GiB-hour",
            10.0,
            Decimal("0.25"),
        ),
    ]
    begin, end = dt.datetime(2026, 10, 1), dt.datetime(2026, 11, 1)
    rows = cloudkitty.summary_rows(groups, ["project_id"], {}, reader, {}, begin, end)
    assert rows == [
        {
            "begin": "2026-10-01T00:00:00+00:00",
            "end": "2026-11-01T00:00:00+00:00",
            "qty": Decimal("24.0"),
            "rate": Decimal("1.500001"),
            "project_id": "p1",
        },
        {
            "begin": "2026-10-01T00:00:00+00:00",
            "end": "2026-11-01T00:00:00+00:00",
            "qty": Decimal("10.0"),
            "rate": Decimal("0.25"),
            "project_id": "p2",
        },
    ]
    table = cloudkitty.summary_response(rows, "table", 0, 1)
    assert table["total"] == 2 and table["columns"] == ["begin", "end", "qty", "rate", "project_id"]
    assert len(table["results"]) == 1
    by_day = cloudkitty.summary_rows(groups, ["time"], {"type": ["block.volume"]}, reader, {}, begin, end)
    assert by_day == [
        {
            "begin": "2026-10-03T00:00:00+00:00",
            "end": "2026-10-04T00:00:00+00:00",
            "qty": Decimal("10.0"),
            "rate": Decimal("0.25"),
        }
    ]
    nobody = access(policy, principal(), Memberships())
    assert cloudkitty.summary_rows(groups, ["project_id"], {}, nobody, {}, begin, end) == []


def test_svg_charts_escape_their_text() -> None:
    days = (dt.date(2026, 10, 1), dt.date(2026, 10, 2))
    chart = svg.daily_chart(days, {"<b>Compute</b>": (Decimal(1), Decimal(2))}, "E<U>R")
    assert "<b>" not in chart and "&lt;b&gt;Compute" in chart and chart.startswith("<svg")
    burn = BurnDown(days, (Decimal(90), None), (Decimal(90), Decimal(75)), Decimal(100), "EUR")
    drawn = svg.burn_down_chart(burn)
    assert drawn.count("<polyline") == 2 and "100.00 EUR" in drawn
