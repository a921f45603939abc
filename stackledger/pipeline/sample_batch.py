"""A batch of samples read but not stored yet (`SampleBatch`), and its compact rows (`compact`).

The readers (file ingest, the Kafka worker) add each accepted sample as the fast parser hands it
over (`collectors.sample_fast.Accepted`, one tuple, no dict) with the message it came from;
`compact` turns the batch into what `sample_store` writes, all at once with numpy:

- samples of meters StackLedger does not rate are counted per meter and dropped, unless
  `ingest.keep_meters` names them;
- a sample whose UTC day the store cannot hold (before 2000, after 2089-09-18) is refused as a
  dead letter, as is one whose day was retired (rated and its raw samples dropped: storing it
  would re-rate the day from a handful of samples);
- the same (day, message) twice in the batch: the first is kept, a later identical one is a
  duplicate, a later different one a conflict (a dead letter naming the first's location);
- codes for meters, resources and projects (`store.sample_codes`), 16-byte message keys, times
  in µs, days; what each rated sample states (`transforms.usage.statements`) as codes into a
  table of distinct statements.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

import numpy as np
import pandas as pd

from stackledger.collectors.sample_fast import Accepted
from stackledger.schema import METERS
from stackledger.store import Connection, Engine
from stackledger.store.sample_codes import NO_PROJECT, Dictionaries, message_keys
from stackledger.store.sample_days import DAY_NS, EPOCH, EPOCH_DAYS, day_date, storable
from stackledger.store.samples import DeadLetter
from stackledger.transforms.usage.statements import SIZE_METERS, Statement, columns, restate

_CUMULATIVE: Final = frozenset(name for name, m in METERS.items() if m.kind == "cumulative")
_EPOCH_2000: Final = dt.datetime.combine(EPOCH, dt.time())
_MICROSECOND: Final = dt.timedelta(microseconds=1)
T = TypeVar("T")


@dataclass
class SampleBatch:
    """Samples of one origin (a file, a topic) read since the last store, and dead letters."""

    origin: str  # stored with dead letters: an absolute path, "kafka:<topic>"
    locate: Callable[[int], str]  # message key -> "line 12", "partition 3 offset 991"
    name: str = ""  # the origin as errors name it (the path as typed); `origin` when empty
    samples: list[Accepted] = field(default_factory=list)
    message_of: list[int] = field(default_factory=list)  # the message key of each sample
    letters: list[DeadLetter] = field(default_factory=list)
    message: int = 0  # the key of the message being read: set by the reader before each message

    def add(self, sample: Accepted) -> None:
        self.samples.append(sample)
        self.message_of.append(self.message)

    def location(self, position: int) -> str:
        number = self.samples[position][8]
        where = self.locate(self.message_of[position])
        return f"{where} sample {number}" if number else where

    def __len__(self) -> int:
        return len(self.samples)


@dataclass
class Compact:
    """A batch's rows as `sample_rows` columns (but `batch`), each with the position of its sample."""

    rows: dict[str, np.ndarray]
    position: np.ndarray  # int64: the sample each row came from
    cumulative: np.ndarray  # bool: a cumulative counter (a late reading changes the next day's delta too)
    rated: np.ndarray  # bool: a meter usage rates (its statement feeds the revisions)
    said: np.ndarray  # int64: row -> index into `statements`
    statements: dict[str, np.ndarray]  # distinct statements (`statements.columns`)
    letters: list[DeadLetter]
    duplicates: int  # repeats inside the batch, identical to the first
    unrated: Counter[str]  # samples dropped: meters not rated and not kept


def compact(batch: SampleBatch, bind: Engine | Connection, codes: Dictionaries, keep: Collection[str],
            retired: Callable[[set[dt.date]], set[dt.date]]) -> Compact:  # fmt: skip
    """The batch as compact rows (module docstring): new codes are made through `bind`
    (`Dictionaries.resolve`); `retired(days)` says which of the days are retired."""
    letters: list[DeadLetter] = []
    if not batch.samples:
        return _empty(letters)
    ids, meters, _kinds, volumes, projects, resources, stamps, bases, _numbers = zip(*batch.samples, strict=True)
    meter_of, meter_names = pd.factorize(np.asarray(meters, dtype=object))  # a batch has a few meters
    kept = _of_meters(meter_of, meter_names, set(METERS).union(keep))
    dropped = np.bincount(meter_of[~kept], minlength=len(meter_names)).tolist()
    unrated = Counter({name: count for name, count in zip(meter_names.tolist(), dropped, strict=True) if count})
    micros = _micros(stamps)
    days = np.floor_divide(micros, DAY_NS // 1000)
    unstorable = kept & ~storable(days)
    for at in np.flatnonzero(unstorable).tolist():
        reason = f"timestamp {stamps[at].isoformat()} is outside the days the store keeps (2000-01-01 to 2089-09-18)"
        letters.append(_letter(batch, at, reason))
    kept &= ~unstorable
    candidate_days = {day_date(d) for d in np.unique(days[kept])}
    gone = retired(candidate_days)
    if gone:
        numbers = np.array([(day - EPOCH).days for day in gone])
        refused = kept & np.isin(days, numbers)
        for at in np.flatnonzero(refused).tolist():
            day = day_date(int(days[at]))
            letters.append(_letter(batch, at, f"day {day} was rated and its raw samples dropped: not re-rated"))
        kept &= ~refused
    position = np.flatnonzero(kept)
    if not len(position):
        return _empty(letters, unrated=unrated)
    take = None if len(position) == len(kept) else position.tolist()  # usually every sample: no lists to pick
    rows = {
        "ts": (micros[position] + EPOCH_DAYS * (DAY_NS // 1000)) * 1000,
        "volume": np.asarray(volumes, dtype=np.float64)[position],
        "message": message_keys(_picked(ids, take)),
        "resource": codes.resolve(bind, "resource", _picked(resources, take)).astype(np.int32),
        "project": _project_codes(bind, codes, list(_picked(projects, take))),
        "meter": _meter_codes(bind, codes, meter_of[position], meter_names),
        "day": days[position].astype(np.int16),
    }
    first, duplicates, conflicts = _repeats(rows)
    for later, earlier in conflicts:
        where = batch.location(int(position[earlier]))
        reason = (f"message_id {ids[position[later]]!r} was used before with other content (meter, resource, project, "
                  f"time or volume) by the sample at {where} of this batch: not stored")  # fmt: skip
        letters.append(_letter(batch, int(position[later]), reason))
    rows = {name: values[first] for name, values in rows.items()}
    position = position[first]
    ours = meter_of[position]
    rated = _of_meters(ours, meter_names, METERS.keys())
    said, table = _statements(position, bases, projects, meters, volumes)
    return Compact(rows, position, _of_meters(ours, meter_names, _CUMULATIVE), rated, said, table, letters,
                   duplicates, unrated)  # fmt: skip


def _picked(values: Sequence[T], take: list[int] | None) -> Sequence[T]:
    return values if take is None else [values[i] for i in take]


def _meter_codes(
    bind: Engine | Connection, codes: Dictionaries, meter_of: np.ndarray, meter_names: np.ndarray
) -> np.ndarray:
    """The meter codes of samples given as indexes into the batch's distinct meters (only the
    meters of these samples are looked up, so a dropped meter never gets a code)."""
    present = np.unique(meter_of)
    by_index = np.zeros(len(meter_names), dtype=np.int64)
    by_index[present] = codes.resolve(bind, "meter", meter_names[present].tolist())
    return by_index[meter_of].astype(np.int16)


def _of_meters(meter_of: np.ndarray, meter_names: np.ndarray, names: Collection[str]) -> np.ndarray:
    """Which samples (`meter_of`: an index into the batch's distinct `meter_names`) are of one of
    the meters `names` (bool)."""
    member = np.array([meter in names for meter in meter_names.tolist()], dtype=bool)
    return member[meter_of]


def conflict_letter(batch: SampleBatch, position: int, stored_at: str) -> DeadLetter:
    """The dead letter of a sample whose message id a stored sample of other content has."""
    message_id = batch.samples[position][0]
    reason = (f"message_id {message_id!r} was stored before with other content (meter, resource, project, time or "
              f"volume), from {stored_at}: not stored")  # fmt: skip
    return _letter(batch, position, reason)


def _letter(batch: SampleBatch, position: int, reason: str) -> DeadLetter:
    """A dead letter for one accepted sample: its canonical fields stand for the message (the raw
    line is not kept once parsed)."""
    message_id, meter, kind, volume, project_id, resource_id, stamp, _said, _number = batch.samples[position]
    sample = {"message_id": message_id, "counter_name": meter, "counter_type": kind, "counter_volume": volume,
              "project_id": project_id, "resource_id": resource_id, "timestamp": stamp.isoformat()}  # fmt: skip
    payload = json.dumps(sample, sort_keys=True)
    return DeadLetter(batch.origin, batch.location(position), reason, payload)


def _micros(stamps: tuple[dt.datetime, ...]) -> np.ndarray:
    """Times as int64 µs since 2000-01-01 (any datetime: those pandas cannot hold are computed one by one)."""
    try:
        return pd.DatetimeIndex(stamps).as_unit("us").asi8 - EPOCH_DAYS * (DAY_NS // 1000)
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        limit = np.iinfo(np.int64).max // 2
        values = [max(-limit, min(limit, (stamp - _EPOCH_2000) // _MICROSECOND)) for stamp in stamps]
        return np.asarray(values, dtype=np.int64)


def _project_codes(bind: Engine | Connection, codes: Dictionaries, projects: list[str | None]) -> np.ndarray:
    if None not in projects:  # the usual batch: every sample names its project
        return codes.resolve(bind, "project", cast(list[str], projects)).astype(np.int32)
    named = [i for i, project in enumerate(projects) if project is not None]
    out = np.full(len(projects), NO_PROJECT, dtype=np.int32)
    if named:
        out[named] = codes.resolve(bind, "project", [str(projects[i]) for i in named])
    return out


def _repeats(rows: dict[str, np.ndarray]) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """(rows to keep: the first of each (day, message), in order; identical repeats; (later, first) conflicts)."""
    size = len(rows["day"])
    halves = np.ascontiguousarray(rows["message"]).view(">u8").reshape(-1, 2)
    order = np.lexsort((np.arange(size), halves[:, 1], halves[:, 0], rows["day"]))
    same = np.zeros(size, dtype=bool)
    same[1:] = (rows["day"][order][1:] == rows["day"][order][:-1]) & (halves[order][1:] == halves[order][:-1]).all(1)
    if not same.any():
        return np.arange(size), 0, []
    group_first = order[np.maximum.accumulate(np.where(~same, np.arange(size), 0))]
    later = order[same]
    earlier = group_first[same]
    content = ("meter", "resource", "project", "ts", "volume")
    differ = np.zeros(len(later), dtype=bool)
    for name in content:
        differ |= rows[name][later] != rows[name][earlier]
    keep = np.ones(size, dtype=bool)
    keep[later] = False
    conflicts = sorted(zip(later[differ].tolist(), earlier[differ].tolist(), strict=True))
    return np.flatnonzero(keep), int((~differ).sum()), conflicts


def _statements(
    position: np.ndarray,
    bases: tuple[Statement, ...],
    projects: tuple[Any, ...],
    meters: tuple[str, ...],
    volumes: tuple[float, ...],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each row's statement as an index into a table of distinct statements; the metadata part of a
    statement is one object per distinct metadata, so the key is its identity plus what `restate` adds."""
    by_key: dict[tuple[int, Any, Any, float], int] = {}
    by_value: dict[Statement, int] = {}
    table: list[Statement] = []
    said: list[int] = []
    if len(position) == len(bases):  # every sample: no indexing per sample
        items: Iterable[tuple[Statement, Any, str, float]] = zip(bases, projects, meters, volumes, strict=True)
    else:
        items = ((bases[i], projects[i], meters[i], volumes[i]) for i in position.tolist())
    for base, project, meter, volume in items:
        key = (id(base), project, meter, volume) if meter in SIZE_METERS else (id(base), project, None, 0.0)
        code = by_key.get(key)
        if code is None:
            value = restate(base, project, meter, volume)
            code = by_value.setdefault(value, len(table))
            if code == len(table):
                table.append(value)
            by_key[key] = code
        said.append(code)
    return np.asarray(said, dtype=np.int64), columns(table)


def _empty(letters: list[DeadLetter], unrated: Counter[str] | None = None) -> Compact:
    nothing = np.zeros(0, dtype=np.int64)
    return Compact({}, nothing, nothing.astype(bool), nothing.astype(bool), nothing, columns([]), letters, 0,
                   unrated or Counter())  # fmt: skip


__all__ = ["Compact", "SampleBatch", "compact", "conflict_letter"]
