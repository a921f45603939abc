"""metric_threshold rules reading the real Gnocchi from `ops/up.sh gnocchi` (a missing server fails).

Three generic resources in two fresh projects get hourly `cpu_util` measures; the reader's
one /v1/aggregates request (grouped by id and project_id, start/stop, granularity 3600) must
give per-resource, per-project and total points, and `evaluate_alarms` must turn them into
Aodh states. A metric Gnocchi does not have (the collector's client: no points) and a Gnocchi that is down
are insufficient_data. Reads go through the collector's client, `collectors.gnocchi_client`.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from stackledger.alarms import MetricPoints, Snapshot, evaluate
from stackledger.alarms.metrics import GnocchiReader
from stackledger.alarms.rules import MetricThresholdRule, parse_rules
from stackledger.collectors.gnocchi_client import GnocchiClient
from stackledger.pipeline.alarms import alarm_states, evaluate_alarms
from stackledger.settings import AlarmSettings, GnocchiSourceSettings, Settings
from tests.conftest import gnocchi_endpoint

pytestmark = pytest.mark.services

HOUR = dt.timedelta(hours=1)
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
HOURS = [NOW - (4 - i) * HOUR for i in range(4)]  # the 4 complete hours before NOW
# The resources are created now, up to an hour after NOW: use_history needs `stop` past that.
GRACE = 3 * HOUR
VALUES = {  # resource -> cpu_util per hour, oldest first
    "a": [95.0, 96.0, 97.0, 98.0],
    "b": [10.0, 20.0, 30.0, 40.0],
    "c": [50.0, 50.0, 50.0, 99.0],
}


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, Any]]:
    url, user = gnocchi_endpoint()
    auth = (user, "")
    projects = {"a": str(uuid.uuid4()), "b": str(uuid.uuid4())}
    ids = {name: str(uuid.uuid4()) for name in VALUES}
    project_of = {"a": projects["a"], "b": projects["a"], "c": projects["b"]}
    try:
        for name, rid in ids.items():
            body = {"id": rid, "project_id": project_of[name], "user_id": "u-alarms", "metrics": {"cpu_util": {}}}
            requests.post(f"{url}/v1/resource/generic", json=body, auth=auth, timeout=30).raise_for_status()
        batch = {rid: {"cpu_util": [{"timestamp": t.isoformat() + "+00:00", "value": v}
                                    for t, v in zip(HOURS, VALUES[name], strict=True)]}
                 for name, rid in ids.items()}  # fmt: skip
        requests.post(f"{url}/v1/batch/resources/metrics/measures", json=batch, auth=auth,
                      timeout=30).raise_for_status()  # fmt: skip
        _wait_processed(url, auth, ids.values())
        yield {"url": url, "user": user, "ids": ids, "projects": projects}
    finally:
        requests.delete(f"{url}/v1/resource/generic", json={"in": {"project_id": list(projects.values())}},
                        auth=auth, timeout=30)  # fmt: skip


def _wait_processed(url: str, auth: tuple[str, str], resources: Any) -> None:
    metrics = set()
    for rid in resources:
        found = requests.get(f"{url}/v1/resource/generic/{rid}", auth=auth, timeout=30).json()
        metrics.update(found["metrics"].values())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{url}/v1/status", params={"details": "true"}, auth=auth, timeout=30).json()
        if not metrics & set(status["storage"]["measures_to_process"]):
            return
        time.sleep(0.2)
    pytest.fail("gnocchi-metricd did not process the measures within 60 s")


def rule(seeded: dict[str, Any], **fields: Any) -> MetricThresholdRule:
    base = {"name": "cpu", "kind": "metric_threshold", "source": "gnocchi", "metric": "cpu_util",
            "aggregation": "mean", "resource_type": "generic", "comparison": "gt", "threshold": 90,
            "granularity": 3600, "evaluation_periods": 3, "projects": list(seeded["projects"].values())}  # fmt: skip
    return MetricThresholdRule.model_validate(base | fields)


def reader(seeded: dict[str, Any]) -> GnocchiReader:
    """Through the collector's client, as `evaluate_alarms` does."""
    client = GnocchiClient(seeded["url"], auth=(seeded["user"], ""), retries=0)
    return GnocchiReader(client, stop_grace=GRACE)


def test_reader_groups_per_resource_project_and_total(seeded: dict[str, Any]) -> None:
    ids, projects = seeded["ids"], seeded["projects"]
    start, stop = NOW - 5 * HOUR, NOW
    per_resource = reader(seeded).read(rule(seeded), start, stop)
    assert per_resource.error is None
    assert per_resource.series[f"resource:{ids['a']}"] == list(zip(HOURS, VALUES["a"], strict=True))
    assert set(per_resource.series) == {f"resource:{rid}" for rid in ids.values()}

    per_project = reader(seeded).read(rule(seeded, group_by="project"), start, stop)
    mean_ab = [(x + y) / 2 for x, y in zip(VALUES["a"], VALUES["b"], strict=True)]  # mean combines by mean
    assert [v for _, v in per_project.series[f"project:{projects['a']}"]] == mean_ab

    total = reader(seeded).read(rule(seeded, group_by="total", aggregation="max"), start, stop)
    assert [v for _, v in total.series["total"]] == [95.0, 96.0, 97.0, 99.0]  # max combines by max

    searched = reader(seeded).read(rule(seeded, projects=[], search={"=": {"id": ids["c"]}}), start, stop)
    assert set(searched.series) == {f"resource:{ids['c']}"}


def test_evaluation_from_gnocchi_follows_aodh(seeded: dict[str, Any], any_settings: Settings, tmp_path: Path) -> None:
    ids = seeded["ids"]
    projects = ", ".join(seeded["projects"].values())
    rules = tmp_path / "alarms.yaml"
    rules.write_text(f"""
rules:
  - name: cpu
    kind: metric_threshold
    source: gnocchi
    metric: cpu_util
    aggregation: mean
    resource_type: generic
    projects: [{projects}]
    comparison: gt
    threshold: 90
    granularity: 3600
    evaluation_periods: 3
  - name: ghost
    kind: metric_threshold
    source: gnocchi
    metric: no_such_metric
    resource_type: generic
    group_by: total
    comparison: gt
    threshold: 1
""")  # fmt: skip
    alarms = AlarmSettings.model_validate({"rules": str(rules)})
    gnocchi = GnocchiSourceSettings(
        url=seeded["url"],
        user=seeded["user"],  # the collector's section
        stop_grace_minutes=int(GRACE.total_seconds() // 60),
    )
    settings = any_settings.model_copy(update={"alarms": alarms, "gnocchi": gnocchi})
    result = evaluate_alarms(settings, NOW)
    states = alarm_states(settings).set_index("scope_key")["state"].to_dict()
    assert states[f"resource:{ids['a']}"] == "alarm"  # all of the last 3 points above 90
    assert states[f"resource:{ids['b']}"] == "ok"  # none
    assert states[f"resource:{ids['c']}"] == "alarm"  # mixed from insufficient_data: the last point's trend
    # ghost: the collector's client takes Gnocchi's 404 "Metric [...] does not exist" as no data
    assert states["total"] == "insufficient_data"
    reason = alarm_states(settings, rule="ghost")["reason"].iloc[0]
    assert reason == "Remaining as insufficient_data due to 1 datapoints are unknown (0 found)"
    assert result.notifications == 2  # the two alarms, to the default `log`


def test_unreachable_gnocchi_is_insufficient_data(seeded: dict[str, Any]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = GnocchiReader(GnocchiClient(f"http://127.0.0.1:{port}", timeout_s=2, retries=1, backoff_s=0.01))
    found = down.read(rule(seeded), NOW - 4 * HOUR, NOW)
    refused = f"cannot connect to http://127.0.0.1:{port}/v1 ([Errno 111] Connection refused)"
    assert found.error == f"gnocchi: POST /aggregates: {refused}"
    snapshot = Snapshot(NOW, NOW.date(), pd.DataFrame(), pd.DataFrame(), {"cpu": found})
    rules = parse_rules("""
rules:
  - {name: cpu, kind: metric_threshold, source: gnocchi, metric: cpu_util, comparison: gt, threshold: 1,
     group_by: total}
""", notifiers=["log"])  # fmt: skip
    previous = evaluate(rules, Snapshot(NOW - HOUR, NOW.date(), pd.DataFrame(), pd.DataFrame(), {"cpu": MetricPoints(
        {"total": [(NOW - 3 * HOUR, 5.0)]})}), {}).states  # fmt: skip
    assert {s.state for s in previous.values()} == {"alarm"}
    result = evaluate(rules, snapshot, previous)
    assert [(t.previous, t.current) for t in result.transitions] == [("alarm", "insufficient_data")]
    assert "due to gnocchi: POST /aggregates: cannot connect" in result.transitions[0].reason
