"""Ceilometer samples as they arrive on the wire or in files → canonical sample rows.

Accepted shapes (one JSON object per message):

- a raw sample, as Ceilometer's `publisher/utils.py::meter_message_from_counter` builds it
  (`counter_name`, `counter_type`, `counter_unit`, `counter_volume`, `resource_metadata`, …),
  or with the canonical short keys (`meter`, `type`, `unit`, `volume`, `metadata`) people write by hand;
- an oslo.messaging 2.0 envelope `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}` whose
  inner notification has `event_type` `metering` (or `metering.<meter>` with `per_meter_topic`,
  which repeats the same samples: dedupe on `message_id` absorbs them), priority `SAMPLE` and
  `payload` = a list of samples — what `notifier://?driver=kafka` publishes;
- that inner notification without the envelope.

Rows have exactly `schema.SAMPLE_COLUMNS`: `timestamp` is a naive UTC datetime, `metadata` a dict,
`volume` a finite float, `source` the sample's own `source` (None when absent).

Decisions:
- Unknown meters are stored (we may rate them later), checked only for the generic rules. Known
  meters (`schema.METERS`) must carry their declared unit and type: `memory` in B would be priced
  1024² times too high, so it is rejected, not converted.
- Negative volumes are rejected for gauges and cumulative counters, except for status meters
  (`ip.floating` uses -1 for "unknown"); deltas may be negative.
- One bad sample inside a notification rejects that sample only: pass `rejects=[]` and the others
  are returned, each rejected one appended as a `SampleError` ("… line 12 sample 3"). Without
  `rejects`, the first bad sample raises, so nothing is ever dropped silently.
- Strings the database cannot hold (NUL, lone surrogates, over-long ids) and NaN/Infinity anywhere
  in the sample are rejected here, so one poison message cannot fail a whole batch insert.

Plain dicts and a C JSON decoder only (`collectors.sample_json`: msgspec's when installed, else
json's, same results): the Kafka consumer calls this for every sample it stores.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from stackledger.collectors import plausible
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_json import json_kind as _kind
from stackledger.collectors.sample_json import loads as _loads
from stackledger.collectors.sample_json import unstorable as _unstorable
from stackledger.errors import InputError
from stackledger.schema import METERS

COUNTER_TYPES: Final = frozenset({"gauge", "delta", "cumulative"})
OSLO_VERSION: Final = "2.0"
METERING_EVENT: Final = "metering"

# Column widths in stackledger.store.tables.samples: longer values would fail a whole batch.
MAX_ID: Final = 255
MAX_METER: Final = 128
MAX_UNIT: Final = 32

# Expected (unit, counter_type) per known meter; "status" meters travel as gauges.
KNOWN_METERS: Final = {m.name: (m.unit, "gauge" if m.kind == "status" else m.kind) for m in METERS.values()}
STATUS_METERS: Final = frozenset(m.name for m in METERS.values() if m.kind == "status")
_KNOWN: Final = KNOWN_METERS
_STATUS_METERS: Final = STATUS_METERS

# Long Ceilometer key → short canonical key: either may be used, not both with different values.
_SHORT: Final = {
    "counter_name": "meter",
    "counter_type": "type",
    "counter_unit": "unit",
    "counter_volume": "volume",
    "resource_metadata": "metadata",
}
_SHORT_KEYS: Final = frozenset(_SHORT.values())


class SampleError(InputError):
    """One sample inside a notification is unusable; `sample` is what was rejected, `index` is 1-based."""

    def __init__(self, reason: str, *, where: str, index: int, sample: object) -> None:
        super().__init__(reason, where=where)
        self.index = index
        self.sample = sample


def parse_message(
    raw: bytes | str | Mapping[str, Any],
    where: str,
    *,
    rejects: list[InputError] | None = None,
    bounds: Bounds | None = None,
) -> list[dict[str, Any]]:
    """Parse one message (a file line or a Kafka value) into sample rows.

    Raises `InputError(reason, where=where)` when the message as a whole is unusable. A bad sample
    inside a notification raises too, unless `rejects` is given: then it is appended there and the
    good samples are returned. With `bounds`, an implausible timestamp or volume is a bad sample
    too (`collectors.plausible`).
    """
    obj, suspicious = _decode(raw, where)
    if "oslo.message" in obj or "oslo.version" in obj:
        # The samples come from the inner text alone, so its gate is the one that counts.
        obj, suspicious = _unwrap(obj, where)
    if "payload" in obj or "event_type" in obj:
        return _notification(obj, where, suspicious, rejects, bounds)
    return [_sample(obj, where, suspicious, bounds)]


# ------------------------------------------------------------------ envelope and notification


def _decode(raw: bytes | str | Mapping[str, Any], where: str) -> tuple[Any, bool]:
    """(the decoded object, whether it may hold unstorable values, as `_loads` says)."""
    if isinstance(raw, Mapping):
        return raw, True  # built in Python: always walked
    try:
        obj, suspicious = _loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _undecodable(raw, exc, where) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {_kind(obj)}", where=where)
    return obj, suspicious


def _undecodable(raw: bytes | str, error: Exception, where: str) -> InputError:
    if not raw.strip():  # only asked once decoding failed: strip() copies the whole message
        return InputError("empty message", where=where)
    if isinstance(error, UnicodeDecodeError):
        return InputError("not valid UTF-8", where=where)
    if isinstance(error, json.JSONDecodeError):
        return InputError(f"not valid JSON ({error.msg} at column {error.colno})", where=where)
    return InputError("not valid JSON (nested too deeply)", where=where)


def _unwrap(envelope: Mapping[str, Any], where: str) -> tuple[dict[str, Any], bool]:
    version = envelope.get("oslo.version")
    if version != OSLO_VERSION:
        raise InputError(f"unsupported oslo.version {version!r} (expected {OSLO_VERSION!r})", where=where)
    inner = envelope.get("oslo.message")
    if not isinstance(inner, str):
        raise InputError(f"oslo.message must be a JSON string, got {_kind(inner)}", where=where)
    try:
        message, suspicious = _loads(inner)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f" ({exc.msg} at column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"oslo.message is not valid JSON{detail}", where=where) from None
    if not isinstance(message, dict):
        raise InputError(f"oslo.message must hold a JSON object, got {_kind(message)}", where=where)
    return message, suspicious


def _notification(
    message: Mapping[str, Any],
    where: str,
    suspicious: bool,
    rejects: list[InputError] | None,
    bounds: Bounds | None,
) -> list[dict[str, Any]]:
    event_type = message.get("event_type")
    if not isinstance(event_type, str):
        raise InputError("notification has no event_type", where=where)
    if event_type != METERING_EVENT and not event_type.startswith(METERING_EVENT + "."):
        raise InputError(f"event_type {event_type!r} is not a metering notification", where=where)
    priority = message.get("priority")
    if priority is not None and (not isinstance(priority, str) or priority.upper() != "SAMPLE"):
        raise InputError(f"priority {priority!r} is not SAMPLE", where=where)
    payload = message.get("payload")
    if not isinstance(payload, list):
        raise InputError(f"payload must be a list of samples, got {_kind(payload)}", where=where)
    if not payload:
        raise InputError("payload is an empty list", where=where)
    rows = []
    for index, item in enumerate(payload, 1):
        try:
            if not isinstance(item, dict):
                raise InputError(f"sample is {_kind(item)}, not an object", where=where)
            rows.append(_sample(item, where, suspicious, bounds))
        except InputError as exc:  # where it is, spelled out only now: most samples are fine
            error = SampleError(exc.reason, where=f"{where} sample {index}", index=index, sample=item)
            if rejects is None:
                raise error from None
            rejects.append(error)
    return rows


# ------------------------------------------------------------------ one sample


def _sample(s: Mapping[str, Any], where: str, suspicious: bool, bounds: Bounds | None) -> dict[str, Any]:
    """Validate one sample dict and return its canonical row. Raises InputError."""
    get = s.get
    # Ceilometer sends only the long keys; a short one as well means comparing each pair (`_field`).
    field = get if _SHORT_KEYS.isdisjoint(s) else _aliased(s, where)
    message_id = _ident(get("message_id"), "message_id", where, required=True)
    meter = field("counter_name")
    if not isinstance(meter, str) or not meter:
        raise InputError(_missing_or_bad("counter_name", meter, "a non-empty string"), where=where)
    if len(meter) > MAX_METER:
        raise InputError(f"counter_name longer than {MAX_METER} characters", where=where)
    kind = field("counter_type")
    if not isinstance(kind, str) or kind not in COUNTER_TYPES:  # a list or object is not hashable
        expected = "one of gauge, delta, cumulative"
        raise InputError(_missing_or_bad("counter_type", kind, expected), where=where)
    unit = field("counter_unit")
    if not isinstance(unit, str) or not unit or len(unit) > MAX_UNIT:
        raise InputError(_missing_or_bad("counter_unit", unit, f"a string of 1-{MAX_UNIT} characters"), where=where)
    known = _KNOWN.get(meter)
    if known is not None:
        if unit != known[0]:
            raise InputError(f"unit {unit!r} does not match meter {meter}'s unit {known[0]!r}", where=where)
        if kind != known[1]:
            raise InputError(f"counter_type {kind!r} does not match meter {meter}'s type {known[1]!r}", where=where)
    volume = _volume(field("counter_volume"), where)
    if volume < 0 and kind != "delta" and meter not in _STATUS_METERS:
        raise InputError(f"negative volume {volume:g} for {kind} meter {meter}", where=where)
    metadata = field("resource_metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise InputError(f"resource_metadata must be an object, got {_kind(metadata)}", where=where)
    source = get("source")
    if source is not None and (not isinstance(source, str) or len(source) > MAX_ID):
        raise InputError(f"source must be a string of at most {MAX_ID} characters", where=where)
    if suspicious:
        problem = _unstorable(s, "")
        if problem:
            raise InputError(problem, where=where)
    timestamp = parse_timestamp(get("timestamp"), where)
    if bounds is not None:
        reason = plausible.problem(timestamp, volume, meter, kind, bounds)
        if reason is not None:
            raise InputError(reason, where=where)
    return {
        "message_id": message_id,
        "meter": meter,
        "type": kind,
        "unit": unit,
        "volume": volume,
        "project_id": _ident(get("project_id"), "project_id", where, required=False),
        "user_id": _ident(get("user_id"), "user_id", where, required=False),
        "resource_id": _ident(get("resource_id"), "resource_id", where, required=True),
        "timestamp": timestamp,
        "metadata": metadata,
        "source": source,
    }


def _aliased(s: Mapping[str, Any], where: str) -> Callable[[str], Any]:
    """`s.get` for a sample that may spell a field both ways: the value under either key, and an
    error when the two disagree."""

    def field(long_key: str) -> Any:
        return _field(s, long_key, _SHORT[long_key], where)

    return field


def _field(s: Mapping[str, Any], long_key: str, short_key: str, where: str) -> Any:
    value = s.get(long_key)
    if value is None:
        return s.get(short_key)
    short = s.get(short_key)
    if short is not None and short != value:
        raise InputError(f"{long_key} {value!r} and {short_key} {short!r} disagree", where=where)
    return value


def _ident(value: Any, name: str, where: str, *, required: bool) -> str | None:
    if type(value) is str and 0 < len(value) <= MAX_ID:
        return value
    if not required and (value is None or value == ""):
        return None  # Ceilometer sends null for samples with no owner; "" is the hand-written null
    if isinstance(value, str) and value:
        raise InputError(f"{name} longer than {MAX_ID} characters", where=where)
    raise InputError(_missing_or_bad(name, value, "a non-empty string"), where=where)


def _volume(value: Any, where: str) -> float:
    kind = type(value)
    if kind is float or kind is int:  # the common case, first (bool is a subclass, not this type)
        try:
            volume = float(value)
        except OverflowError:
            raise InputError("counter_volume is too large to be a finite number", where=where) from None
    elif value is None:
        raise InputError("missing counter_volume", where=where)
    elif kind is str:  # hand-written JSON sometimes quotes numbers; the value is unambiguous
        try:
            volume = float(value)
        except ValueError:
            raise InputError(f"counter_volume {value!r} is not a number", where=where) from None
    else:
        raise InputError(f"counter_volume must be a number, got {_kind(value)}", where=where)
    if not math.isfinite(volume):
        raise InputError(f"counter_volume {value!r} is not a finite number", where=where)
    return volume


def parse_timestamp(value: Any, where: str) -> dt.datetime:
    """ISO 8601 as OpenStack writes it (`Z`, `+00:00`, naive, space separator, µs) → naive UTC.
    A datetime (from a mapping built in Python) is taken as is, naive meaning UTC."""
    if type(value) is str and len(value) >= 13:  # the common case first: a string with a time of day
        try:
            stamp = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"timestamp {value!r} is not ISO 8601", where=where) from None
        if stamp.tzinfo is None:
            return stamp
        return _as_naive_utc(stamp, value, where)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if not isinstance(value, str) or not value:
        raise InputError(_missing_or_bad("timestamp", value, "an ISO 8601 string"), where=where)
    if len(value) < 13:  # a bare date has no time of day: a hand-written mistake, not a sample time
        raise InputError(f"timestamp {value!r} has no time of day", where=where)
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"timestamp {value!r} is not ISO 8601", where=where) from None
    return stamp if stamp.tzinfo is None else _as_naive_utc(stamp, value, where)


def _as_naive_utc(stamp: dt.datetime, text: str, where: str) -> dt.datetime:
    try:
        return stamp.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first UTC instant a datetime holds
        raise InputError(f"timestamp {text!r} is not ISO 8601", where=where) from None


def _missing_or_bad(name: str, value: Any, expected: str) -> str:
    if value is None:
        return f"missing {name}"
    if isinstance(value, str):
        return f"{name} {value!r} is not {expected}" if value else f"empty {name}"
    return f"{name} must be {expected}, got {_kind(value)}"


__all__ = [
    "COUNTER_TYPES", "KNOWN_METERS", "MAX_ID", "MAX_METER", "MAX_UNIT", "METERING_EVENT", "OSLO_VERSION",
    "STATUS_METERS", "SampleError", "parse_message", "parse_timestamp",
]  # fmt: skip
