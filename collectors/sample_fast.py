"""The fast way through the sample parser: Ceilometer messages decoded into msgspec Structs, their
`resource_metadata` kept as raw bytes and read once per distinct value, each accepted sample
handed to a sink as plain values — never a dict per sample or per metadata.

`read_message(raw, where, sink, rejects)` gives exactly what `collectors.samples.parse_message`
gives, faster: the same samples accepted with the same values, the same rejections with the
same reasons. It takes the fast way only when it is sure; anything unusual (a key outside
Ceilometer's message shapes, the short hand-written keys, a quoted volume, a NUL or a surrogate
escape anywhere, metadata that is not an object, any decode or check failing) sends the whole
message through `parse_message`, whose rows and errors are then passed on. Every check
`parse_message` makes of an accepted sample is made here too (types, widths, known meters'
units and types, signs, timestamps); the values msgspec does not materialise (the raw metadata)
are fully decoded and checked the first time they are met, and a later sample is only given
the same statement when its metadata is the same bytes.

A sample's statement (`transforms.usage.statements`) is what its metadata states (`described`,
cached per resource by the metadata's bytes) restated with its project and size (`restate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Final

import msgspec
from msgspec import UNSET, Meta, Raw, UnsetType, field

from stackledger.collectors import plausible
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.samples import (
    COUNTER_TYPES,
    KNOWN_METERS,
    MAX_ID,
    MAX_METER,
    MAX_UNIT,
    METERING_EVENT,
    OSLO_VERSION,
    STATUS_METERS,
    SampleError,
    parse_message,
    parse_timestamp,
)
from stackledger.errors import InputError
from stackledger.transforms.usage.statements import Statement, described

# An accepted sample: (message_id, meter, type, volume, project_id, resource_id, timestamp, what its
# metadata states, its number in its notification or 0 for a raw sample).
Accepted = tuple[str, str, str, float, "str | None", str, dt.datetime, Statement, int]
Sink = Callable[[Accepted], None]

_UNSEEN: Final[tuple[bool, float]] = (False, -1.0)  # a (meter, type, unit) not met yet (by identity)
_CACHE_MAX: Final = 200_000  # resources whose last metadata is remembered
_NUL: Final = b"\\u0000"
_BACKSLASH: Final = ord("\\")
_SURROGATE: Final = (b"\\ud", b"\\uD")


# What msgspec checks in C (a value of another type or length fails the decode: the slow way decides).
_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
_OptionalId = Annotated[str, Meta(max_length=MAX_ID)] | None | UnsetType  # "" and null: no owner


class _Sample(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A raw sample as `meter_message_from_counter` builds it; any other key is the slow way's to
    judge. The typed fields hold what `parse_message` accepts of them, or are absent."""

    source: _OptionalId = UNSET
    counter_name: Any = UNSET
    counter_type: Any = UNSET
    counter_unit: Any = UNSET
    counter_volume: int | float | UnsetType = UNSET  # a quoted number goes the slow way
    user_id: _OptionalId = UNSET
    user_name: Any = UNSET
    project_id: _OptionalId = UNSET
    project_name: Any = UNSET
    resource_id: _Id | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET
    resource_metadata: Raw | UnsetType = UNSET
    message_id: _Id | UnsetType = UNSET
    monotonic_time: Any = UNSET
    message_signature: Any = UNSET
    recorded_at: Any = UNSET


class _Message(_Sample, forbid_unknown_fields=True, gc=False):
    """Any of the three shapes: a raw sample, an oslo.messaging envelope, a metering notification."""

    oslo_version: Any = field(name="oslo.version", default=UNSET)
    oslo_message: Any = field(name="oslo.message", default=UNSET)
    event_type: Any = UNSET
    priority: Any = UNSET
    payload: list[_Sample] | UnsetType | None = UNSET
    publisher_id: Any = UNSET
    context: Any = field(name="_context", default=UNSET)


_DECODE: Final = msgspec.json.Decoder(_Message).decode
_DECODE_ANY: Final = msgspec.json.Decoder().decode


class FastReader:
    """Reads messages into a sink; keeps, per resource, the last metadata bytes and what they state."""

    def __init__(self, bounds: Bounds | None = None) -> None:
        # Implausible timestamps and volumes (`collectors.plausible`) go the slow way, which
        # dead-letters them with parse_message's reason; None: no such check.
        self.bounds = bounds
        # (meter, type, unit) -> what `_counter` says: few distinct values, checked once each
        self._counters: dict[tuple[Any, Any, Any], tuple[bool, float] | None] = {}
        self._said: dict[str, tuple[Raw, Statement]] = {}
        self.fast = 0  # messages read the fast way
        self.slow = 0  # messages given to parse_message

    @property
    def bounds(self) -> Bounds | None:
        return self._bounds

    @bounds.setter
    def bounds(self, bounds: Bounds | None) -> None:
        self._bounds = bounds
        self._earliest = bounds.earliest if bounds is not None else dt.datetime.min
        self._latest = bounds.latest if bounds is not None else dt.datetime.max
        self._stamp: str | UnsetType = UNSET  # the last timestamp text met, and its time (None: refused)
        self._when: dt.datetime | None = None

    def read_message(self, raw: bytes, sink: Sink, rejects: list[InputError], where: Callable[[], str]) -> None:
        """Every sample of one message to `sink`, every rejection to `rejects`, as `parse_message`
        gives them (`where()` is the message's place in the errors: "file.jsonl line 12")."""
        if self._fast(raw, sink):
            self.fast += 1
            return
        self.slow += 1
        rows, _errors = _slow(raw, where(), rejects, self.bounds)
        numbers = _sample_numbers(len(rows), rejects, _errors)
        for row, number in zip(rows, numbers, strict=True):
            sink((row["message_id"], row["meter"], row["type"], row["volume"], row["project_id"], row["resource_id"],
                  row["timestamp"], described(row["metadata"]), number))  # fmt: skip

    # ---------------------------------------------------------------- the fast way

    def _fast(self, raw: bytes, sink: Sink) -> bool:
        # A NUL or a surrogate can only be spelled with an escape: a backslash comes first (an int
        # is looked for with memchr, a bytes needle ~6 times slower).
        if _BACKSLASH in raw and (_NUL in raw or _SURROGATE[0] in raw or _SURROGATE[1] in raw):
            return False
        if not raw.isascii():
            try:
                raw.decode("utf-8")  # invalid UTF-8 in a value msgspec skips would otherwise pass
            except UnicodeDecodeError:
                return False
        try:
            message = _DECODE(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return False
        if message.oslo_version is not UNSET or message.oslo_message is not UNSET:
            if message.oslo_version != OSLO_VERSION or type(message.oslo_message) is not str:
                return False
            try:
                message = _DECODE(message.oslo_message.encode("utf-8"))
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeEncodeError):
                return False
            if message.oslo_version is not UNSET or message.oslo_message is not UNSET:
                return False  # an envelope in an envelope: parse_message reads it as a sample
        if message.payload is UNSET and message.event_type is UNSET:  # a raw sample, the usual line
            one = self._accept(message, 0)
            if one is None:
                return False
            sink(one)
            return True
        samples = self._notification(message)
        if samples is None:
            return False
        for sample in samples:
            sink(sample)
        return True

    def _notification(self, message: _Message) -> list[Accepted] | None:
        event_type, priority, payload = message.event_type, message.priority, message.payload
        if type(event_type) is not str or not (event_type == METERING_EVENT or event_type.startswith("metering.")):
            return None
        if (
            priority is not UNSET
            and priority is not None
            and (type(priority) is not str or priority.upper() != "SAMPLE")
        ):
            return None
        if not isinstance(payload, list) or not payload:
            return None
        accepted = []
        for number, item in enumerate(payload, 1):
            one = self._accept(item, number)
            if one is None:
                return None
            accepted.append(one)
        return accepted

    def _accept(self, s: _Sample, number: int) -> Accepted | None:
        """The sink's values of a sample `parse_message` accepts for sure, else None. The decoder
        has checked the ids, the source and the volume's type (`_Sample`)."""
        meter, kind, unit = s.counter_name, s.counter_type, s.counter_unit
        try:
            counter = self._counters.get((meter, kind, unit), _UNSEEN)
        except TypeError:  # a list or an object: not hashable, not a sample the fast way takes
            return None
        if counter is _UNSEEN:
            counter = self._counters[(meter, kind, unit)] = _counter(meter, kind, unit)
        if counter is None:
            return None
        message_id, resource_id, volume = s.message_id, s.resource_id, s.counter_volume
        if message_id is UNSET or resource_id is UNSET or volume is UNSET:
            return None
        if type(volume) is int:
            try:
                volume = float(volume)
            except OverflowError:
                return None
        negative_ok, largest = counter
        if (volume < 0 and not negative_ok) or abs(volume) > largest:
            return None
        stamp = s.timestamp  # the samples of one poll share their timestamp's text: one parse for all
        when = self._when if stamp == self._stamp else self._time(stamp)
        if when is None:
            return None
        metadata = s.resource_metadata
        last = self._said.get(resource_id)  # a resource's metadata is the same bytes poll after poll
        said: Statement | None = last[1] if last is not None and last[0] == metadata else None
        if said is None:
            said = self._described(resource_id, metadata)
            if said is None:
                return None
        return (message_id, meter, kind, volume, s.project_id or None, resource_id, when, said, number)

    def _time(self, stamp: str | UnsetType) -> dt.datetime | None:
        """The timestamp's naive UTC time when it is valid and plausible, else None; remembered
        for the next sample (`_stamp`, `_when`)."""
        if stamp is UNSET:
            return None
        when: dt.datetime | None
        try:
            parsed = parse_timestamp(stamp, "")
        except InputError:
            when = None
        else:
            when = parsed if self._earliest <= parsed < self._latest else None
        self._stamp, self._when = stamp, when
        return when

    def _described(self, resource_id: str, metadata: Raw | UnsetType) -> Statement | None:
        if metadata is UNSET:
            return described({})
        try:
            value = _DECODE_ANY(metadata)
        except (msgspec.DecodeError, RecursionError):
            return None
        if value is None:
            value = {}
        elif not isinstance(value, dict):
            return None
        said = described(value)
        if len(self._said) >= _CACHE_MAX:
            self._said.clear()
        self._said[resource_id] = (metadata.copy(), said)
        return said


def _counter(meter: Any, kind: Any, unit: Any) -> tuple[bool, float] | None:
    """For a sample's (counter_name, counter_type, counter_unit): None when `parse_message` would
    not accept it for sure, else (whether the volume may be negative, the largest |volume|), the
    sign rule of `parse_message` and the volume bounds of `plausible.problem` in one."""
    if type(meter) is not str or not 0 < len(meter) <= MAX_METER:
        return None
    if type(kind) is not str or kind not in COUNTER_TYPES:
        return None
    if type(unit) is not str or not 0 < len(unit) <= MAX_UNIT:
        return None
    known = KNOWN_METERS.get(meter)
    if known is not None and (unit != known[0] or kind != known[1]):
        return None
    negative_ok, largest = plausible.volume_range(meter, kind)
    # parse_message refuses what plausible would allow (a negative gauge of a non-status meter)
    negative_ok = negative_ok and (kind == "delta" or meter in STATUS_METERS)
    return negative_ok, largest


def _slow(
    raw: bytes, where: str, rejects: list[InputError], bounds: Bounds | None
) -> tuple[list[dict[str, Any]], list[InputError]]:
    """`parse_message`'s rows; its errors go to `rejects` and are returned too."""
    errors: list[InputError] = []
    try:
        rows = parse_message(raw, where, rejects=errors, bounds=bounds)
    except InputError as unusable:
        errors.append(unusable)
        rows = []
    rejects.extend(errors)
    return rows, errors


def _sample_numbers(accepted: int, rejects: list[InputError], errors: list[InputError]) -> list[int]:
    """Each accepted row's number in its notification (0: a raw sample, or not known)."""
    bad = {error.index for error in errors if isinstance(error, SampleError)}
    if not bad:
        return [0] * accepted
    return [n for n in range(1, accepted + len(bad) + 1) if n not in bad][:accepted]


__all__ = ["Accepted", "FastReader", "Sink"]
