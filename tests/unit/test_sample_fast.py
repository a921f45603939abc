"""collectors.sample_fast: `FastReader.read_message` gives exactly what `parse_message` gives, for
the values msgspec checks in C (ids, owner, source, the volume's type) and the timestamp it
remembers from one sample to the next."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_fast import Accepted, FastReader
from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError
from stackledger.transforms.usage.statements import described
from tests.unit.test_samples_parser import counter, envelope, notification

WHERE = "samples.jsonl line 7"
BOUNDS = Bounds(dt.datetime(2026, 10, 2))
LONG = "x" * 256
WIDE = "é" * 255  # 255 characters in 510 bytes: as long as an id may be


def expected(raw: bytes, bounds: Bounds | None) -> tuple[list[tuple[Any, ...]], list[tuple[str, str | None]]]:
    """What `parse_message` gives: the sink's values but the sample number, and the rejections."""
    errors: list[InputError] = []
    try:
        rows = parse_message(raw, WHERE, rejects=errors, bounds=bounds)
    except InputError as unusable:
        rows, errors = [], [unusable]
    values = [(r["message_id"], r["meter"], r["type"], r["volume"], r["project_id"], r["resource_id"],
               r["timestamp"], described(r["metadata"])) for r in rows]  # fmt: skip
    return values, [(e.reason, e.where) for e in errors]


def read(reader: FastReader, raw: bytes) -> tuple[list[tuple[Any, ...]], list[tuple[str, str | None]]]:
    accepted: list[Accepted] = []
    rejects: list[InputError] = []
    reader.read_message(raw, accepted.append, rejects, lambda: WHERE)
    for sample in accepted:
        assert type(sample[3]) is float
    return [sample[:8] for sample in accepted], [(e.reason, e.where) for e in rejects]


def same_as_parse_message(raw: bytes, reader: FastReader | None = None) -> FastReader:
    reader = reader if reader is not None else FastReader(BOUNDS)
    assert read(reader, raw) == expected(raw, reader.bounds)
    return reader


def line(**change: Any) -> bytes:
    sample = counter()
    for key, value in change.items():
        if value is KeyError:
            del sample[key]
        else:
            sample[key] = value
    return json.dumps(sample, ensure_ascii=False).encode()


CHANGES: dict[str, list[Any]] = {
    "message_id": ["m", WIDE, "x" * 255, LONG, "", None, 12, ["m"], KeyError],
    "resource_id": ["r", WIDE, LONG, "", None, 3.5, {"id": "r"}, KeyError],
    "project_id": ["p", WIDE, LONG, "", None, 7, False, KeyError],
    "user_id": ["u", LONG, "", None, ["u"], KeyError],
    "source": ["openstack", "", LONG, None, 1, KeyError],
    "counter_volume": [0, -1, 2.5, -0.0, 2**64, 10**400, "5", "x", True, None, [1], KeyError],
    "timestamp": ["2026-10-01T00:00:00Z", "2026-10-01 00:00:00", "2026-10-01", "2027-01-01T00:00:00", "noon",
                  "", 1, None, KeyError],
}  # fmt: skip
CASES = [(key, value) for key, values in CHANGES.items() for value in values]


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{key}={value!r}"[:40] for key, value in CASES])
def test_a_sample_with_one_value_changed_gives_what_parse_message_gives(key: str, value: Any) -> None:
    same_as_parse_message(line(**{key: value}))
    same_as_parse_message(line(**{key: value}), FastReader(None))  # no plausible bounds


def test_values_the_decoder_checks_in_c_still_take_the_fast_way_when_good() -> None:
    reader = FastReader(BOUNDS)
    for raw in (line(), line(message_id=WIDE, resource_id=WIDE, project_id=WIDE), line(project_id=None, user_id=""),
                line(source=None), line(counter_volume=2**64, counter_name="my.meter", counter_unit="thing"),
                line(counter_volume=-0.0, counter_name="ip.floating", counter_unit="ip")):  # fmt: skip
        same_as_parse_message(raw, reader)
    assert (reader.fast, reader.slow) == (6, 0)
    for raw in (line(message_id=LONG), line(project_id=LONG), line(source=1), line(counter_volume="5")):
        same_as_parse_message(raw, reader)
    assert (reader.fast, reader.slow) == (6, 4)


def test_a_notification_with_one_mistyped_sample_rejects_only_that_one() -> None:
    samples = [counter(message_id=f"m{i}") for i in range(3)]
    for sample in samples:
        del sample["publisher_id"]  # a key of the notification, not of a sample: the slow way's
    samples[1]["project_id"] = LONG
    reader = same_as_parse_message(envelope(notification(samples)).encode())
    assert reader.slow == 1
    samples[1]["project_id"] = ""
    same_as_parse_message(envelope(notification(samples)).encode(), reader)
    assert reader.fast == 1


def test_the_timestamp_remembered_from_the_last_sample_is_only_reused_for_the_same_text() -> None:
    reader = FastReader(BOUNDS)
    stamps = ["2026-10-01T10:00:00", "2026-10-01T10:00:00", "2026-10-01T10:00:00+02:00", "2026-10-01T10:00:00+02:00",
              "2026-13-01T10:00:00", "2026-13-01T10:00:00", "2026-10-01T10:00:00", "2030-01-01T00:00:00",
              "2030-01-01T00:00:00", "2026-10-01T10:00:00"]  # fmt: skip
    for stamp in stamps:
        same_as_parse_message(line(timestamp=stamp), reader)
    for bounds in (Bounds(dt.datetime(2026, 9, 1)), BOUNDS):  # a new bound forgets the time it remembered
        reader.bounds = bounds
        same_as_parse_message(line(timestamp="2026-10-01T10:00:00"), reader)
    assert reader.slow == 5  # the bad month twice, 2030 twice, 2026-10-01 when it was after the latest


@pytest.mark.parametrize(
    "escaped",
    [rb"a\u0000b", rb"\ud800", rb"\uDC00x", rb"\ud7ff", rb"a\\b", rb"\u00e9", rb"\"quoted\""],
    ids=["nul", "surrogate", "low-surrogate", "hangul", "backslash", "e-acute", "quotes"],
)
def test_escapes_in_an_id_or_the_metadata_give_what_parse_message_gives(escaped: bytes) -> None:
    for key in (b"message_id", b"resource_id", b"display_name"):
        raw = line().replace(b'"%s": "' % key, b'"%s": "%s' % (key, escaped), 1)
        assert escaped in raw
        same_as_parse_message(raw)
