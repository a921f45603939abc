"""The pure builders fed by the store's records, on hand-made records: `reports.data.report_data`,
`reports.facts.month_facts` (with data quality clipped to the rated hours), the methodology,
the alarm events, `alarms.metrics.hourly_points` and the alarm step's `states_from`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from stackledger.alarms.metrics import hourly_points
from stackledger.alarms.rules import MetricThresholdRule
from stackledger.alarms.states import AlarmKey, AlarmState
from stackledger.pipeline.alarms import states_from
from stackledger.reports.alarm_history import alarm_events
from stackledger.reports.compare import group_mappings
from stackledger.reports.data import report_data
from stackledger.reports.facts import month_facts, previous_window
from stackledger.reports.quality import Gap
from stackledger.store.alarm_evaluations import Evaluations
from stackledger.store.alarms import AlarmTransition, StateRecord
from stackledger.store.quality import CheckpointRecord, QualityRecords
from stackledger.store.reports import (
    CostSum,
    DailyCostSum,
    FxUse,
    MappingRecord,
    MonthRecords,
    PriceRecord,
    ProjectCostSum,
    ProjectRecord,
    ResourceCostSum,
    ResourceRevision,
)
from stackledger.window import Window

OCT = Window.month("2026-10")
HOUR = dt.timedelta(hours=1)
D = Decimal


def cost(project: str | None, book: str, amount: str, *, name: str | None = None, source: str | None = None,
         known: bool = True) -> CostSum:  # fmt: skip
    return CostSum(project, name, "t", source, known, "compute.vcpu", book, "vCPU-hour", "EUR", 2.0, D(amount))


def test_report_data_rows_fx_rates_and_synthetic_flags() -> None:
    sums = [
        cost("p2", "aws", "3.000000", name="beta", source="synthetic"),
        cost("p1", "internal", "1.000000", name="Alpha", source="synthetic"),
        cost(None, "internal", "0.500000", known=False),
    ]
    fx = [FxUse("p2", "compute.vcpu", "aws", "vCPU-hour", "EUR", "USD", D(rate)) for rate in ("0.920", "0.91")]
    data = report_data(OCT, sums, fx)
    assert [(r.project_id, r.project_name, r.known_project) for r in data.rows] == [
        ("p1", "Alpha", True), ("p2", "beta", True), ("", "Unallocated (no project)", False),
    ]  # fmt: skip
    assert data.rows[1].fx_rates == "0.91;0.92" and data.rows[0].fx_rates == ""
    assert data.fx == ("1 USD = 0.91 EUR", "1 USD = 0.92 EUR")
    assert [(t.label, t.amount) for t in data.internal_totals] == [("internal", D("1.500000"))]
    assert data.synthetic_ids == {"p1", "p2"} and data.some_synthetic and not data.synthetic
    assert report_data(OCT, sums[:2]).synthetic  # every project from the demo cloud
    assert report_data(OCT, []).rows == () and not report_data(OCT, []).synthetic


def records(**changes: object) -> MonthRecords:
    start = OCT.start
    values: dict[str, object] = {
        "window": OCT, "previous_window": previous_window(OCT),
        "projects": (ProjectRecord("p1", None, "t", None, D(100), "EUR", "month", "nova"),),
        "previous_costs": (ProjectCostSum(None, "EUR", D("1.000000")), ProjectCostSum("", "EUR", D("2.000000"))),
        # a window starting mid-day rates a short line before the day's full one: both count on the day
        "daily_costs": (DailyCostSum("p1", start.date(), "compute.vcpu", "EUR", D("1.000000")),
                        DailyCostSum("p1", start.date(), "compute.vcpu", "EUR", D("0.500000"))),
        "rated_through": start + 3 * HOUR,
        "resource_costs": (ResourceCostSum("p1", "vol", "volume", "block.volume", "", "EUR", D("2.000000")),
                           ResourceCostSum("p1", "vm", "instance", "compute.vcpu", "m1.small", "EUR", D("1.000000")),
                           ResourceCostSum("p1", "vm", "instance", "compute.ram", "m1.large", "EUR", D("1.500000"))),
        "resources": {"vol": ResourceRevision("data", None, 20.0, "ssd")},
        "quality": QualityRecords(
            usage_hours=frozenset({start, start + 2 * HOUR, start + 5 * HOUR}),
            checkpoints=(CheckpointRecord("gnocchi", start, start + HOUR, 4),
                         CheckpointRecord("gnocchi", start + 4 * HOUR, start + 6 * HOUR, 9)),
            dead_letter_reasons=("bad at column 1", "bad at column 2", "other"),
            instance_hours=3.0,
        ),
        "prices": (PriceRecord("aws", "m5.large", "all", D("0.096"), "hour", "EUR", dt.date(2026, 7, 1), D("0.92"),
                               D("0.104"), "USD", 3),
                   PriceRecord("internal", "compute.vcpu", None, D("0.021"), "vCPU-hour", "EUR", None, None, None,
                               None, 5)),
        "instance_mappings": (MappingRecord("m1.small", "aws", "m1.small 2 vCPU 4 GiB → m5.large 0.096 USD/h, all"),),
        "alarm_transitions": None,
        "evaluations": Evaluations(0, None, None),
    }  # fmt: skip
    values.update(changes)
    return MonthRecords(**values)  # type: ignore[arg-type]


def test_month_facts_from_records() -> None:
    facts = month_facts(records(), price_sources={}, internal_source="the rate card card.yaml")
    assert facts.projects["p1"].name == "p1" and facts.projects["p1"].budget_amount == D(100)
    assert facts.previous == {"": {"EUR": D("3.000000")}}  # no project and '' are the same line
    (day,) = facts.daily["p1"]
    assert (day.day, day.cost) == (OCT.start.date(), D("1.500000"))
    assert [(r.resource_id, r.cost, r.detail, r.name) for r in facts.resources] == [
        ("vm", D("2.500000"), "m1.large, m1.small", ""), ("vol", D("2.000000"), "20 GiB ssd", "data"),
    ]  # fmt: skip
    assert facts.rated_through == OCT.start + 3 * HOUR and not facts.complete
    assert facts.alarms is None  # no alarm history in the store: the section says so
    assert [p.price_book for p in facts.methodology.prices] == ["internal", "aws"]  # internal first
    assert facts.methodology.prices[0].source.source == "the rate card card.yaml"
    assert facts.methodology.prices[1].region == ""  # 'all': no provider region
    assert facts.methodology.flavors[0].targets == {"aws": "m5.large 0.096 USD/h"}


def test_data_quality_is_checked_up_to_the_rated_hours_only() -> None:
    quality = month_facts(records()).quality
    assert quality is not None and quality.span == Window(OCT.start, OCT.start + 3 * HOUR)
    assert (quality.hours, quality.hours_with_usage) == (3, 2)  # the usage at 05:00 is past the rated hours
    assert quality.usage_gaps == (Gap(OCT.start + HOUR, OCT.start + 2 * HOUR),)
    (gnocchi,) = quality.sources  # the checkpoint from 04:00 lies past the span: not counted
    assert (gnocchi.windows, gnocchi.rows, gnocchi.gaps) == (1, 4, (Gap(OCT.start + HOUR, OCT.start + 3 * HOUR),))
    assert [(r.reason, r.count) for r in quality.dead_letters] == [("bad at column #", 2), ("other", 1)]
    assert quality.dead_letter_total == 3 and quality.instance_hours == 3.0
    unrated = month_facts(records(rated_through=None)).quality
    assert unrated is not None and unrated.hours == 31 * 24  # nothing rated: the whole window is checked


def test_alarm_events_keep_the_stores_order_and_none() -> None:
    at = OCT.start + HOUR
    found = alarm_events([AlarmTransition(at, "r", "", "project:p1", "ok", "alarm", "low", "over")])
    assert found is not None and found[0].fired and found[0].scope_key == "project:p1"
    assert alarm_events(None) is None and alarm_events([]) == ()


def test_group_mappings_per_project_and_book() -> None:
    rows = [(None, "aws", "compute.instance", "x → y"), ("p1", "aws", "compute.instance", "a → b"),
            ("p1", "digitalocean", "block.volume", "v → w")]  # fmt: skip
    assert group_mappings(rows) == {
        ("", "aws"): [("compute.instance", "x → y")], ("p1", "aws"): [("compute.instance", "a → b")],
        ("p1", "digitalocean"): [("block.volume", "v → w")],
    }  # fmt: skip


def test_hourly_points_sum_flavors_then_aggregate_buckets() -> None:
    rule = MetricThresholdRule.model_validate({
        "name": "r", "kind": "metric_threshold", "metric": "compute.vcpu", "aggregation": "max",
        "group_by": "project", "comparison": "gt", "threshold": 1, "granularity": 7200,
    })  # fmt: skip
    start = OCT.start
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime([start, start, start + HOUR, start, start + 2 * HOUR]),
        "project_id": ["p1", "p1", "p1", "p2", "p1"],
        "resource_id": ["vm", "vm", "vm", "other", "vm"],
        "value": [2.0, 3.0, 4.0, 1.0, 6.0],  # vm at 00:00: two flavors in the hour, 5 in all
    })  # fmt: skip
    points = hourly_points(frame, rule)
    assert points.series == {
        "project:p1": [(start, 5.0), (start + 2 * HOUR, 6.0)], "project:p2": [(start, 1.0)],
    }  # fmt: skip
    assert hourly_points(frame.iloc[0:0], rule).series == {}


def test_states_from_stored_records() -> None:
    at = OCT.start
    found = states_from([StateRecord("r", "actual 80%", "team:x", "alarm", "high", at, at + HOUR, "over", None, True)])
    key = AlarmKey("r", "actual 80%", "team:x")
    assert found == {key: AlarmState(key, "alarm", "high", at, at + HOUR, "over", None, True)}
