"""The store's report, alarm and delivery records (stackledger.store.reports / alarms / deliveries)
on SQLite and a real PostgreSQL: exact sums, the window rule, drivers' values settled into
Decimals, dates and naive instants, and the alarm and delivery writes read back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.store import alarms as alarm_store
from stackledger.store.deliveries import SentRecord, record_sent, sent_messages
from stackledger.store.reports import (
    CostSum,
    FxUse,
    MappingRecord,
    baseline_mappings,
    cost_records,
    focus_lines,
    focus_resource_names,
    month_records,
)
from stackledger.window import Window

OCT = Window.month("2026-10")
SEP = Window.month("2026-09")
DAY = dt.timedelta(days=1)
D = Decimal
MAPPING = "m1.large 4 vCPU 8 GiB → m6i.xlarge 0.192 USD/h, us-east-1, as of 2026-07-20"


def line(day: dt.datetime, cost: str, *, project: str | None = "p1", resource: str = "r1", book: str = "internal",
         service: str = "compute.vcpu", **extra: Any) -> dict[str, Any]:  # fmt: skip
    row = {
        "charge_period_start": day, "charge_period_end": day + DAY, "project_id": project, "resource_id": resource,
        "resource_type": "instance", "service": service, "flavor_name": "m1.large", "volume_type": None,
        "region": "RegionOne", "consumed_quantity": 24.0, "consumed_unit": "vCPU-hour", "price_book": book,
        "sku": f"{book}-{service}", "list_unit_price": Decimal("0.021"), "pricing_quantity": Decimal(24),
        "pricing_unit": "vCPU-hour", "cost": Decimal(cost), "currency": "EUR", "price_as_of": dt.date(2026, 1, 1),
        "fx_rate": None, "source_unit_price": None, "source_currency": None, "pricing_region": None, "mapping": None,
    }  # fmt: skip
    row.update(extra)
    return row


def seed(store: Store) -> None:
    start = OCT.start
    lines = [line(start + i * DAY, "0.333333") for i in range(3)]  # 0.999999: a float SUM would drift
    lines.append(line(start, "1.5", project=None, resource="r-orphan"))
    lines.append(line(start + DAY, "0.7", book="aws", service="compute.instance", fx_rate=Decimal("0.92"),
                      source_currency="USD", source_unit_price=Decimal("0.192"), pricing_region="us-east-1",
                      mapping=MAPPING))  # fmt: skip
    lines.append(line(SEP.end - DAY, "5"))  # September: only the previous window sees it
    lines.append(line(OCT.end, "9"))  # November: outside both
    revision = {"resource_type": "instance", "project_id": "p1", "source": "nova", "flavor_name": "m1.large"}
    usage = {"charge_period_end": start, "project_id": "p1", "resource_id": "r1", "resource_type": "instance",
             "consumed_unit": "instance-hour", "flavor_name": "m1.large", "source": "ceilometer"}  # fmt: skip
    with store.transaction() as conn:
        store.insert(conn, tables.projects, [{"project_id": "p1", "name": "One", "team": "t", "source": "synthetic",
                                              "budget_amount": Decimal("100"), "budget_currency": "EUR"}])  # fmt: skip
        store.insert(conn, tables.cost_lines, lines)
        store.insert(conn, tables.resources, [
            {**revision, "resource_id": "r1", "valid_from": SEP.start, "name": "old"},
            {**revision, "resource_id": "r1", "valid_from": start + DAY, "name": "new"},
            {**revision, "resource_id": "r-idle", "valid_from": SEP.start, "name": "no cost lines"},
        ])  # fmt: skip
        store.insert(conn, tables.usage, [
            {**usage, "charge_period_start": start + h * dt.timedelta(hours=1),
             "charge_period_end": start + (h + 1) * dt.timedelta(hours=1), "service": "compute.instance",
             "consumed_quantity": 1.0}
            for h in (0, 1)
        ])  # fmt: skip
        store.insert(conn, tables.checkpoints, [
            {"source": "gnocchi", "window_start": start, "window_end": start + DAY, "rows": 7, "completed_at": start},
            {"source": "gnocchi", "window_start": SEP.start, "window_end": SEP.start + DAY, "rows": 1,
             "completed_at": SEP.start},
        ])  # fmt: skip
        store.insert(conn, tables.dead_letters, [
            {"fingerprint": f"f{i}", "origin": "kafka", "location": "offset 1", "reason": reason, "received_at": at}
            for i, (reason, at) in enumerate([("bad at column 3", start + DAY), ("older", SEP.start)])
        ])  # fmt: skip


def test_cost_records_sum_exactly_per_project_service_and_book(any_settings: Settings) -> None:
    store = store_for(any_settings)
    seed(store)
    records = cost_records(store, OCT)
    assert sorted(records.sums, key=lambda s: (s.project_id or "", s.price_book)) == [
        CostSum(None, None, None, None, False, "compute.vcpu", "internal", "vCPU-hour", "EUR", 24.0, Decimal("1.5")),
        CostSum("p1", "One", "t", "synthetic", True, "compute.instance", "aws", "vCPU-hour", "EUR", 24.0,
                Decimal("0.700000")),
        CostSum("p1", "One", "t", "synthetic", True, "compute.vcpu", "internal", "vCPU-hour", "EUR", 72.0,
                Decimal("0.999999")),
    ]  # fmt: skip
    assert all(s.cost.as_tuple().exponent == -6 for s in records.sums)  # the cost-line scale, never re-rounded
    assert records.fx == (FxUse("p1", "compute.instance", "aws", "vCPU-hour", "EUR", "USD", Decimal("0.92")),)
    assert baseline_mappings(store, OCT, ["aws", "digitalocean"]) == [("p1", "aws", "compute.instance", MAPPING)]
    assert baseline_mappings(store, OCT, ["digitalocean"]) == []


def test_month_records_settle_the_drivers_values(any_settings: Settings) -> None:
    store = store_for(any_settings)
    seed(store)
    records = month_records(store, OCT, SEP)
    assert [(p.project_id, p.budget_amount) for p in records.projects] == [("p1", Decimal("100"))]
    assert [(c.project_id, c.cost) for c in records.previous_costs] == [("p1", Decimal("5.000000"))]
    assert sorted((d.project_id or "", d.day, d.cost) for d in records.daily_costs) == [
        ("", dt.date(2026, 10, 1), Decimal("1.500000")),
        *(("p1", dt.date(2026, 10, day), Decimal("0.333333")) for day in (1, 2, 3)),
    ]  # internal only: the aws line is not a daily cost
    assert records.rated_through == OCT.start + 3 * DAY
    assert records.resources["r1"].name == "new" and "r-idle" not in records.resources  # the latest revision
    quality = records.quality
    assert sorted(quality.usage_hours) == [OCT.start, OCT.start + dt.timedelta(hours=1)]
    assert [(c.source, c.window_start, c.rows) for c in quality.checkpoints] == [("gnocchi", OCT.start, 7)]
    assert quality.dead_letter_reasons == ("bad at column 3",)
    assert quality.instance_hours == 2.0
    prices = {(p.price_book, p.sku): p for p in records.prices}
    internal = prices[("internal", "internal-compute.vcpu")]
    assert (internal.list_unit_price, internal.price_as_of, internal.lines) == (D("0.021"), dt.date(2026, 1, 1), 4)
    aws = prices[("aws", "aws-compute.instance")]
    assert (aws.fx_rate, aws.source_unit_price, aws.pricing_region) == (D("0.92"), D("0.192"), "us-east-1")
    assert records.instance_mappings == (MappingRecord("m1.large", "aws", MAPPING),)
    assert records.alarm_transitions == ()


def test_focus_lines_are_every_line_of_the_window(any_settings: Settings) -> None:
    store = store_for(any_settings)
    seed(store)
    lines = focus_lines(store, OCT)
    assert len(lines) == 5 and set(lines["price_book"]) == {"internal", "aws"}
    assert set(lines["project_name"].dropna()) == {"One"}
    names = focus_resource_names(store, OCT)
    assert sorted(names["resource_name"]) == ["new", "old"]  # every revision; the export keeps the latest


def state(rule: str, state: str, at: dt.datetime) -> dict[str, Any]:
    return {"rule": rule, "condition": "", "scope_key": "project:p1", "alarm_id": f"id-{rule}", "kind": "budget",
            "state": state, "severity": "low", "since": at, "evaluated_at": at, "last_notified_at": None,
            "snoozed_pending": False, "reason": None}  # fmt: skip


def history(rule: str, at: dt.datetime, event: str, delivery: str | None = None) -> dict[str, Any]:
    return {"at": at, "recorded_at": at, "rule": rule, "condition": "", "scope_key": "project:p1", "alarm_id": "a",
            "event": event, "previous": "ok", "current": "alarm", "severity": "low", "reason": "over",
            "reason_data": {"spent": "1"}, "notifier": "log" if delivery else None, "attempts": None,
            "outcome": "pending" if delivery else None, "error": None, "delivery": delivery}  # fmt: skip


def test_alarm_states_and_history_round_trip(any_settings: Settings) -> None:
    store = store_for(any_settings)
    at = OCT.start + 5 * DAY
    with store.transaction() as conn:
        alarm_store.lock_evaluations(conn)
        assert alarm_store.read_states(conn) == []
        alarm_store.replace_states(conn, [state("a", "ok", at), state("b", "alarm", at)])
        alarm_store.append_history(conn, [history("a", at, "transition"), history("a", at, "notification", "d-1"),
                                          history("a", SEP.start, "transition")])  # fmt: skip
    with store.transaction() as conn:
        alarm_store.lock_evaluations(conn)
        found = alarm_store.read_states(conn)
        alarm_store.replace_states(conn, [state("b", "ok", at + DAY)])  # rule a left the file: its state goes
        alarm_store.record_outcomes(conn, [{"delivery": "d-1", "outcome": "sent", "attempts": 2, "error": None,
                                            "recorded_at": at + DAY}])  # fmt: skip
    assert sorted((s.rule, s.state, s.reason, s.snoozed_pending) for s in found) == [
        ("a", "ok", "", False), ("b", "alarm", "", False)
    ]  # fmt: skip
    assert list(alarm_store.states_frame(store)["rule"]) == ["b"]
    rows = alarm_store.history_frame(store, rule="a")
    assert list(rows["event"]) == ["transition", "notification", "transition"]  # newest last
    assert list(rows["outcome"].fillna("")) == ["", "sent", ""] and rows["attempts"].max() == 2
    assert len(alarm_store.history_frame(store, limit=1)) == 1
    with store.engine.connect() as conn:
        (event,) = alarm_store.transitions(conn, OCT) or ()
    assert (event.at, event.rule, event.current) == (at, "a", "alarm")  # transitions only, in the window


def test_report_deliveries_read_back_oldest_first(any_settings: Settings) -> None:
    store = store_for(any_settings)
    first, later = OCT.end + DAY, OCT.end + 2 * DAY
    row = {"kind": "finance", "recipient": "f@example.org", "audience": "finance", "attachments": ["s.pdf"],
           "message_id": "<m@x>"}  # fmt: skip
    with store.transaction() as conn:
        record_sent(conn, [{**row, "window_label": "2026-10", "digest": "new", "sent_at": later},
                           {**row, "window_label": "2026-10", "digest": "old", "sent_at": first},
                           {**row, "window_label": "2026-09", "digest": "other", "sent_at": first}])  # fmt: skip
        record_sent(conn, [])
    assert sent_messages(store, "2026-10") == [
        SentRecord("finance", "f@example.org", "old", first), SentRecord("finance", "f@example.org", "new", later),
    ]  # fmt: skip
