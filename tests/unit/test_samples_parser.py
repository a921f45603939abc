"""collectors.samples: Ceilometer samples in the shapes upstream really sends, and every rejection."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml

from stackledger.collectors.samples import SampleError, parse_message, parse_timestamp
from stackledger.errors import InputError
from stackledger.schema import METERS, SAMPLE_COLUMNS
from tests.conftest import OPENSTACK_FIXTURES

METERS_YAML = OPENSTACK_FIXTURES / "ceilometer" / "ceilometer" / "data" / "meters.d" / "meters.yaml"
WHERE = "samples.jsonl line 12"


def counter(name: str = "memory", kind: str = "gauge", unit: str = "MiB", volume: Any = 512, **extra: Any) -> dict:
    """A sample exactly as ceilometer/publisher/utils.py::meter_message_from_counter builds it."""
    message = {
        "source": "openstack",
        "counter_name": name,
        "counter_type": kind,
        "counter_unit": unit,
        "counter_volume": volume,
        "user_id": "fd87c7ab6d0c4d0b8b1b0fc9ac5ac66d",
        "user_name": None,
        "project_id": "6f70656e737461636b20342065766572",
        "project_name": None,
        "resource_id": "1f8bbd6b-8ad3-4a2c-9f6e-4f4e3a4c1d2e",
        "timestamp": "2026-10-01T10:15:02.123456+00:00",
        "resource_metadata": {  # polled instance metadata (compute/pollsters/util.py)
            "display_name": "web-1",
            "instance_type": "m1.small",
            "vcpus": 1,
            "memory_mb": 2048,
            "flavor": {"name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20, "id": "2"},
            "host": "compute-1",
            "status": "active",
            "image_ref": "70a599e0-31e7-49b7-b260-868f441e862b",
        },
        "message_id": "e3b0c442-a4b6-11ef-8f1c-0242ac120002",
        "monotonic_time": None,
        "publisher_id": "ceilometer.polling",
        "message_signature": "",
    }
    message.update(extra)
    return message


def notification(samples: list[dict], event_type: str = "metering", **extra: Any) -> dict:
    """The inner message oslo.messaging's notifier builds for Ceilometer's notifier publisher."""
    message = {
        "message_id": "4d4c7e4d-2a40-4f4c-b3c3-6b2f1d2f3f10",
        "publisher_id": "telemetry.publisher.controller-1",
        "event_type": event_type,
        "priority": "SAMPLE",
        "payload": samples,
        "timestamp": "2026-10-01 10:15:03.028195",
        "_context": {},
    }
    message.update(extra)
    return message


def envelope(message: dict | str, version: Any = "2.0") -> str:
    inner = message if isinstance(message, str) else json.dumps(message)
    return json.dumps({"oslo.version": version, "oslo.message": inner})


def parse_one(sample: dict) -> dict:
    rows = parse_message(json.dumps(sample).encode(), WHERE)
    assert len(rows) == 1
    return rows[0]


def reason(raw: Any) -> str:
    with pytest.raises(InputError) as caught:
        parse_message(raw, WHERE)
    assert caught.value.where is not None and caught.value.where.startswith(WHERE)
    return caught.value.reason


# ------------------------------------------------------------------ accepted shapes


def test_raw_meter_message_from_counter_becomes_one_canonical_row() -> None:
    row = parse_one(counter())
    assert list(row) == list(SAMPLE_COLUMNS)
    assert row == {
        "message_id": "e3b0c442-a4b6-11ef-8f1c-0242ac120002",
        "meter": "memory",
        "type": "gauge",
        "unit": "MiB",
        "volume": 512.0,
        "project_id": "6f70656e737461636b20342065766572",
        "user_id": "fd87c7ab6d0c4d0b8b1b0fc9ac5ac66d",
        "resource_id": "1f8bbd6b-8ad3-4a2c-9f6e-4f4e3a4c1d2e",
        "timestamp": dt.datetime(2026, 10, 1, 10, 15, 2, 123456),
        "metadata": counter()["resource_metadata"],
        "source": "openstack",
    }
    assert isinstance(row["volume"], float)
    assert row["timestamp"].tzinfo is None


def test_str_bytes_and_mapping_inputs_agree() -> None:
    sample = counter()
    assert parse_message(json.dumps(sample), WHERE) == parse_message(json.dumps(sample).encode(), WHERE)
    assert parse_message(sample, WHERE) == parse_message(json.dumps(sample), WHERE)


def _literal_meters() -> list[dict]:
    definitions = yaml.safe_load(METERS_YAML.read_text(encoding="utf-8"))["metric"]
    return [m for m in definitions if not str(m["name"]).startswith("$")]


@pytest.mark.parametrize("definition", _literal_meters(), ids=lambda m: m["name"])
def test_every_meter_ceilometer_defines_is_accepted_with_its_declared_type_and_unit(definition: dict) -> None:
    """Known meters must match schema.METERS; unknown ones (image.download, bandwidth …) are stored too."""
    row = parse_one(counter(definition["name"], definition["type"], str(definition["unit"]), volume=3))
    assert (row["meter"], row["type"], row["unit"], row["volume"]) == (
        definition["name"],
        definition["type"],
        str(definition["unit"]),
        3.0,
    )


@pytest.mark.parametrize("name", sorted(METERS))
def test_every_meter_we_rate_is_accepted(name: str) -> None:
    meter = METERS[name]
    kind = "gauge" if meter.kind == "status" else meter.kind
    assert parse_one(counter(name, kind, meter.unit, volume=1))["meter"] == name


def test_hand_written_short_keys_are_accepted() -> None:
    row = parse_one(
        {
            "message_id": "hand-1",
            "meter": "volume.size",
            "type": "gauge",
            "unit": "GiB",
            "volume": "20",
            "resource_id": "vol-1",
            "project_id": "p1",
            "timestamp": "2026-10-01T10:00:00Z",
            "metadata": {"volume_type": "ssd"},
        }
    )
    assert row["volume"] == 20.0
    assert row["metadata"] == {"volume_type": "ssd"}
    assert row["user_id"] is None and row["source"] is None


def test_null_owner_and_metadata_are_kept_as_none_and_empty() -> None:
    row = parse_one(counter(project_id=None, user_id="", resource_metadata=None))
    assert (row["project_id"], row["user_id"], row["metadata"]) == (None, None, {})


def test_oslo_envelope_with_several_samples() -> None:
    samples = [
        counter("vcpus", "gauge", "vcpu", 2, message_id="m-1"),
        counter("memory", "gauge", "MiB", 2048, message_id="m-2"),
        counter("cpu", "cumulative", "ns", 1.2e12, message_id="m-3"),
    ]
    rows = parse_message(envelope(notification(samples)).encode(), WHERE)
    assert [(r["message_id"], r["meter"], r["volume"]) for r in rows] == [
        ("m-1", "vcpus", 2.0),
        ("m-2", "memory", 2048.0),
        ("m-3", "cpu", 1.2e12),
    ]


def test_per_meter_topic_copies_carry_the_same_message_ids() -> None:
    """per_meter_topic=1 sends each sample again as `metering.<name>`: the rows are identical, so
    dedupe on message_id (in the store) absorbs the copy."""
    sample = counter("vcpus", "gauge", "vcpu", 2)
    plain = parse_message(envelope(notification([sample])), WHERE)
    per_meter = parse_message(envelope(notification([sample], "metering.vcpus")), WHERE)
    assert plain == per_meter


def test_unwrapped_notification_as_json_and_as_mapping() -> None:
    message = notification([counter(message_id="a"), counter(message_id="b")])
    assert [r["message_id"] for r in parse_message(json.dumps(message), WHERE)] == ["a", "b"]
    assert [r["message_id"] for r in parse_message(message, WHERE)] == ["a", "b"]


def test_lowercase_or_missing_priority_is_accepted() -> None:
    assert parse_message(notification([counter()], priority="sample"), WHERE)
    message = notification([counter()])
    del message["priority"]
    assert parse_message(message, WHERE)


# ------------------------------------------------------------------ timestamps (SUMMARY.md table)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2013-09-03T04:01:32Z", dt.datetime(2013, 9, 3, 4, 1, 32)),  # Nova servers, versioned notifications
        ("2013-09-23T13:53:12.774549", dt.datetime(2013, 9, 23, 13, 53, 12, 774549)),  # Nova launched_at, Cinder
        ("2012-05-08 20:23:41", dt.datetime(2012, 5, 8, 20, 23, 41)),  # Nova legacy created_at=str(datetime)
        ("2012-05-08 20:23:41+00:00", dt.datetime(2012, 5, 8, 20, 23, 41)),  # … with tz
        ("2015-11-07T02:58:43.578887Z", dt.datetime(2015, 11, 7, 2, 58, 43, 578887)),  # Keystone
        ("2014-10-06T14:00:00+00:00", dt.datetime(2014, 10, 6, 14, 0)),  # Gnocchi
        ("2012-05-08 20:23:48.028195", dt.datetime(2012, 5, 8, 20, 23, 48, 28195)),  # oslo envelope str(utcnow())
        ("2026-10-01T10:15:02.123456+00:00", dt.datetime(2026, 10, 1, 10, 15, 2, 123456)),  # notification meter
        ("2026-10-01T10:15:02.123456", dt.datetime(2026, 10, 1, 10, 15, 2, 123456)),  # polled: utcnow().isoformat()
        ("2026-10-01T12:15:02+02:00", dt.datetime(2026, 10, 1, 10, 15, 2)),  # any offset → UTC
        ("2026-10-01T00:30:00-05:00", dt.datetime(2026, 10, 1, 5, 30)),
    ],
)
def test_every_openstack_timestamp_form_becomes_naive_utc(text: str, expected: dt.datetime) -> None:
    assert parse_one(counter(timestamp=text))["timestamp"] == expected
    assert parse_timestamp(text, WHERE) == expected


def test_a_mapping_built_in_python_may_carry_a_datetime() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    sample = counter(timestamp=dt.datetime(2026, 10, 1, 12, 15, tzinfo=paris))
    assert parse_message(sample, WHERE)[0]["timestamp"] == dt.datetime(2026, 10, 1, 10, 15)


# ------------------------------------------------------------------ rejected samples


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"message_id": None}, "missing message_id"),
        ({"message_id": ""}, "empty message_id"),
        ({"message_id": 42}, "message_id must be a non-empty string, got number"),
        ({"message_id": "m" * 256}, "message_id longer than 255 characters"),
        ({"counter_name": None}, "missing counter_name"),
        ({"counter_name": ["cpu"]}, "counter_name must be a non-empty string, got array"),
        ({"resource_id": None}, "missing resource_id"),
        ({"project_id": 7}, "project_id must be a non-empty string, got number"),
        ({"timestamp": None}, "missing timestamp"),
        ({"timestamp": "yesterday at noon"}, "timestamp 'yesterday at noon' is not ISO 8601"),
        ({"timestamp": "2026-13-01T00:00:00"}, "is not ISO 8601"),
        ({"timestamp": "2026-10-01"}, "has no time of day"),
        ({"timestamp": 1727777702}, "timestamp must be an ISO 8601 string, got number"),
        ({"counter_type": "counter"}, "counter_type 'counter' is not one of gauge, delta, cumulative"),
        ({"counter_type": None}, "missing counter_type"),
        ({"counter_type": ["gauge"]}, "counter_type must be one of gauge, delta, cumulative, got array"),
        ({"counter_unit": None}, "missing counter_unit"),
        ({"counter_unit": "B"}, "unit 'B' does not match meter memory's unit 'MiB'"),
        ({"counter_type": "cumulative"}, "counter_type 'cumulative' does not match meter memory's type 'gauge'"),
        ({"counter_volume": None}, "missing counter_volume"),
        ({"counter_volume": "lots"}, "counter_volume 'lots' is not a number"),
        ({"counter_volume": True}, "counter_volume must be a number, got boolean"),
        ({"counter_volume": {"value": 1}}, "counter_volume must be a number, got object"),
        ({"counter_volume": "NaN"}, "not a finite number"),
        ({"counter_volume": "inf"}, "not a finite number"),
        ({"counter_volume": -512}, "negative volume -512 for gauge meter memory"),
        ({"resource_metadata": ["a"]}, "resource_metadata must be an object, got array"),
        ({"source": 3}, "source must be a string"),
        ({"counter_name": "memory", "meter": "vcpus"}, "counter_name 'memory' and meter 'vcpus' disagree"),
    ],
)
def test_bad_sample_is_rejected_with_a_clear_reason(change: dict, expected: str) -> None:
    assert expected in reason(json.dumps(counter(**change)))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"counter_volume": NaN', "not valid JSON"),
        (json.dumps(counter()).replace("512", "NaN"), "counter_volume nan is not a finite number"),
        (json.dumps(counter()).replace("512", "Infinity"), "counter_volume inf is not a finite number"),
        (json.dumps(counter()).replace("512", "1e999"), "counter_volume inf is not a finite number"),
        (
            json.dumps(counter(resource_metadata={"ratio": 1.0})).replace("1.0", "-Infinity"),
            "resource_metadata.ratio is not a finite number",
        ),
        (json.dumps(counter(resource_metadata={"name": "a\x00b"})), "resource_metadata.name contains a NUL character"),
        (json.dumps(counter(resource_metadata={"name": "caf\ud800"})), "contains invalid Unicode"),
        (json.dumps(counter(resource_id="r\x00")), "resource_id contains a NUL character"),
    ],
)
def test_values_no_database_could_store_are_rejected(line: str, expected: str) -> None:
    assert expected in reason(line)


def test_non_ascii_text_is_fine() -> None:
    row = parse_one(counter(resource_metadata={"display_name": "café ☕"}))
    assert row["metadata"]["display_name"] == "café ☕"


def test_negative_values_allowed_where_upstream_sends_them() -> None:
    # ip.floating's volume is a status code; -1 means "unknown" (ceilometer network/services/base.py).
    assert parse_one(counter("ip.floating", "gauge", "ip", -1))["volume"] == -1.0
    assert parse_one(counter("image.download", "delta", "B", -10))["volume"] == -10.0
    assert "negative volume" in reason(json.dumps(counter("cpu", "cumulative", "ns", -1)))


# ------------------------------------------------------------------ rejected messages


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty message"),
        ("   ", "empty message"),
        (b"\xff\xfe{not utf8", "not valid"),
        (b'{"counter_name": "memory", \xff}', "not valid UTF-8"),
        ("{'single': 'quotes'}", "not valid JSON"),
        ('{"a": 1} trailing', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('"a string"', "expected a JSON object, got string"),
        ("42", "expected a JSON object, got number"),
        ("null", "expected a JSON object, got null"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON (nested too deeply)"),
        (envelope(notification([counter()]), version="1.0"), "unsupported oslo.version '1.0'"),
        (json.dumps({"oslo.message": json.dumps(notification([counter()]))}), "unsupported oslo.version None"),
        (
            json.dumps({"oslo.version": "2.0", "oslo.message": notification([counter()])}),
            "oslo.message must be a JSON string, got object",
        ),
        (json.dumps({"oslo.version": "2.0"}), "oslo.message must be a JSON string, got null"),
        (envelope("{not json"), "oslo.message is not valid JSON"),
        (envelope("[]"), "oslo.message must hold a JSON object, got array"),
        (
            envelope(notification([counter()], "compute.instance.exists")),
            "event_type 'compute.instance.exists' is not a metering notification",
        ),
        (envelope(notification([counter()], "meteringfoo")), "is not a metering notification"),
        (envelope(notification([counter()], priority="INFO")), "priority 'INFO' is not SAMPLE"),
        (json.dumps({"payload": [counter()]}), "notification has no event_type"),
        (envelope(notification([])), "payload is an empty list"),
        (envelope(notification(counter())), "payload must be a list of samples, got object"),  # type: ignore[arg-type]
        (envelope(notification(None)), "payload must be a list of samples, got null"),  # type: ignore[arg-type]
    ],
)
def test_unusable_message_is_rejected_as_a_whole(raw: Any, expected: str) -> None:
    assert expected in reason(raw)


def test_one_bad_sample_in_an_envelope_rejects_only_that_sample() -> None:
    good_1, good_2 = counter(message_id="good-1"), counter(message_id="good-2")
    bad = counter(message_id="bad", counter_unit="GB")
    raw = envelope(notification([good_1, bad, "not a sample", good_2]))  # type: ignore[list-item]
    rejects: list[InputError] = []
    rows = parse_message(raw, WHERE, rejects=rejects)
    assert [r["message_id"] for r in rows] == ["good-1", "good-2"]
    assert [str(e) for e in rejects] == [
        f"{WHERE} sample 2: unit 'GB' does not match meter memory's unit 'MiB'",
        f"{WHERE} sample 3: sample is string, not an object",
    ]
    assert all(isinstance(e, SampleError) for e in rejects)
    first = rejects[0]
    assert isinstance(first, SampleError) and first.index == 2 and first.sample == bad


def test_without_a_rejects_list_a_bad_sample_raises_so_nothing_is_dropped_silently() -> None:
    raw = envelope(notification([counter(message_id="good"), counter(message_id="bad", counter_volume="x")]))
    with pytest.raises(SampleError, match=f"^{WHERE} sample 2: counter_volume 'x' is not a number$"):
        parse_message(raw, WHERE)
