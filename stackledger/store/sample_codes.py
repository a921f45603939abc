"""The dictionaries of compact sample rows (meters, resources, projects ↔ small integer codes) and
message keys.

- **Codes** come from each dictionary's identity column: `resolve` inserts the names it has not
  seen (`INSERT … ON CONFLICT DO NOTHING`) in a short transaction of its own, then reads their
  codes, so two consumers meeting a new resource get the same code, and a batch that later fails
  leaves only an unused dictionary entry behind (never a code the cache knows but the database
  lost). Codes never change once made: each process caches them (`Dictionaries`), a 10,000-instance
  cloud's ~25,000 resources in a few MB. Project code 0 is "no project" and has no row.
- **Message keys**: a `message_id` that reads as a UUID is that UUID (Ceilometer's are uuid1
  strings; two spellings of one UUID are one message); any other id is the first 16 bytes of its
  BLAKE2b digest with RFC 9562's version 8 and variant bits set (a collision needs ~2^64 ids).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Final

import numpy as np
from sqlalchemy import Column, Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from stackledger.errors import StoreError
from stackledger.store import tables
from stackledger.store.bulk import chunks

KINDS: Final[dict[str, tuple[Table, str]]] = {
    "meter": (tables.sample_meters, "name"),
    "resource": (tables.sample_resources, "resource_id"),
    "project": (tables.sample_projects, "project_id"),
}
NO_PROJECT: Final = 0
METER_CODE_MAX: Final = int(np.iinfo(np.int16).max)  # sample_rows.meter is an int2
_HYPHENS: Final = (8, 13, 18, 23)
_HEX: Final = np.full(256, 255, dtype=np.uint8)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF", start=10):
    _HEX[_char] = _digit


class Dictionaries:
    """One process's codes of one database, filled as names are met (module docstring)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}

    def resolve(self, bind: Engine | Connection, kind: str, names: Sequence[str]) -> np.ndarray:
        """The codes of `names` (distinct or not), creating the missing ones; int64, in order.
        With an engine, new names are committed at once, in a transaction of their own; with a
        connection (a migration), inside the caller's."""
        known = self.codes[kind]
        missing = sorted(set(names).difference(known))
        if missing:
            if isinstance(bind, Connection):
                known.update(_create(bind, kind, missing))
            else:
                with bind.begin() as conn:
                    known.update(_create(conn, kind, missing))
        return np.fromiter(map(known.__getitem__, names), dtype=np.int64, count=len(names))


def _create(conn: Connection, kind: str, names: list[str]) -> dict[str, int]:
    table, column = KINDS[kind]
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    found: dict[str, int] = {}
    for chunk in chunks(names):
        conn.execute(insert.on_conflict_do_nothing(index_elements=[column]), [{column: n} for n in chunk])
        query = select(table.c.code, table.c[column]).where(table.c[column].in_(chunk))
        found.update({str(name): int(code) for code, name in conn.execute(query)})
    if kind == "meter" and found and max(found.values()) > METER_CODE_MAX:
        raise StoreError(f"more than {METER_CODE_MAX} meters in sample_meters: keep fewer (ingest.keep_meters)")
    return found


def names_by_code(conn: Connection, kind: str, missing: object = None) -> np.ndarray:
    """Every name of a dictionary at its code (an object array; `missing` where no name has that
    code, and at project code 0)."""
    table, column = KINDS[kind]
    rows = conn.execute(select(table.c.code, table.c[column])).all()
    size = max((int(code) for code, _ in rows), default=0) + 1
    out = np.full(size, missing, dtype=object)
    for code, name in rows:
        out[int(code)] = name
    return out


def code_column(kind: str) -> Column[int]:
    return KINDS[kind][0].c.code


# ---------------------------------------------------------------- message keys


def message_key(message_id: str) -> uuid.UUID:
    """The fixed-width dedupe key of a message id (module docstring)."""
    try:
        return uuid.UUID(message_id)
    except ValueError:
        digest = bytearray(hashlib.blake2b(message_id.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: "custom"
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
        return uuid.UUID(bytes=bytes(digest))


def message_keys(message_ids: Sequence[str]) -> np.ndarray:
    """`message_key` of many ids as 16-byte items (`V16`, what binary copy sends). Canonical UUID
    strings (36 characters, hyphenated, either case: Ceilometer's) are read by numpy at once."""
    size = len(message_ids)
    out = np.zeros((size, 16), dtype=np.uint8)
    lengths = np.fromiter(map(len, message_ids), dtype=np.int64, count=size)
    uuid_like = np.flatnonzero(lengths == 36)
    done = np.zeros(size, dtype=bool)
    if len(uuid_like):
        chosen = message_ids if len(uuid_like) == size else [message_ids[i] for i in uuid_like.tolist()]
        text = "".join(chosen).encode("ascii", "replace")  # one byte per character
        chars = np.frombuffer(text, dtype=np.uint8).reshape(-1, 36)
        hex_columns = [c for c in range(36) if c not in _HYPHENS]
        digits = _HEX[chars[:, hex_columns]]
        good = (digits < 16).all(axis=1) & (chars[:, list(_HYPHENS)] == ord("-")).all(axis=1)
        out[uuid_like[good]] = (digits[good, 0::2] << 4) | digits[good, 1::2]
        done[uuid_like[good]] = True
    for i in np.flatnonzero(~done):
        out[i] = np.frombuffer(message_key(message_ids[int(i)]).bytes, dtype=np.uint8)
    return out.view("V16").reshape(size)


__all__ = ["KINDS", "METER_CODE_MAX", "NO_PROJECT", "Dictionaries", "code_column", "message_key", "message_keys",
           "names_by_code"]  # fmt: skip
