"""Fixed-width, non-null columns between PostgreSQL and numpy arrays, with no Python per row.

PostgreSQL's binary formats are big-endian fixed-width records for fixed-width types, so a
numpy structured dtype laid over the received buffer *is* the parser: one `frombuffer`, one
vectorised check of the field counts and lengths, one byte-swapping `astype` per column.

- `copy_in(conn, table, arrays)`: `COPY table (…) FROM STDIN (FORMAT BINARY)`, the buffer built
  by numpy in chunks of `chunk_rows`. The ingest path for compact sample rows.
- `copy_out(conn, query)`: `COPY (query) TO STDOUT (FORMAT BINARY)` → chunks of arrays of about
  `chunk_bytes`. psycopg hands over PostgreSQL's CopyData messages one at a time, and the server
  sends one per row, so the client still pays a Python call per row (docs/dev/SCALE.md §5).
- `packed_out(conn, table, names)`: the fast big read. Each chunk is one query over a range of
  heap pages (a TID range scan: no index) returning `string_agg` of every row's binary send
  functions as one bytea, so the client receives one value per chunk (and half the bytes of
  COPY's per-field lengths). Chunks follow the table's
  physical order; rows inserted after the read's snapshot are not seen (read inside one
  REPEATABLE READ transaction for a consistent view of several chunks).
- `CopyBinaryParser`: the COPY BINARY stream format (header, tuples, trailer) for bytes from any
  source, fed in any pieces.

Column types come from SQLAlchemy: SmallInteger, Integer, BigInteger, Float (double), REAL,
Boolean, DateTime (timestamp without time zone), Date, Uuid. Times cross as PostgreSQL's integer
microseconds since 2000-01-01 and come back as int64 **nanoseconds since 1970** (what
`transforms` use); dates as int32 days since 1970; UUIDs as 16-byte `V16` items. A NULL, a
varying width, or a timestamp outside what int64 nanoseconds hold (years 1677-2262) raises
`StoreError` naming the column.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Uuid,
    bindparam,
    cast,
    exc,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.types import REAL, TypeEngine

from stackledger.errors import StoreError

SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00"
TRAILER: Final = b"\xff\xff"
_EPOCH_2000_US: Final = 946_684_800_000_000  # 2000-01-01 in µs since 1970: PostgreSQL's epoch
_EPOCH_2000_DAYS: Final = 10_957
_NS_MIN_US: Final = np.iinfo(np.int64).min // 1000 + 1 - _EPOCH_2000_US  # wire µs that fit ns since 1970
_NS_MAX_US: Final = np.iinfo(np.int64).max // 1000 - _EPOCH_2000_US


@dataclass(frozen=True)
class Wire:
    """How one PostgreSQL type crosses: its big-endian wire dtype, the array dtype it becomes,
    and the function that sends it in binary."""

    pg_type: str
    wire: str
    native: str
    send: str


WIRES: Final = {
    w.pg_type: w
    for w in (
        Wire("int2", ">i2", "int16", "int2send"),
        Wire("int4", ">i4", "int32", "int4send"),
        Wire("int8", ">i8", "int64", "int8send"),
        Wire("float4", ">f4", "float32", "float4send"),
        Wire("float8", ">f8", "float64", "float8send"),
        Wire("bool", "?", "bool", "boolsend"),
        Wire("timestamp", ">i8", "int64", "timestamp_send"),
        Wire("date", ">i4", "int32", "date_send"),
        Wire("uuid", "V16", "V16", "uuid_send"),
    )
}


def pg_type(sa_type: TypeEngine[Any]) -> str:
    """The PostgreSQL type name (a WIRES key) of a SQLAlchemy column type."""
    for kind, name in ((SmallInteger, "int2"), (BigInteger, "int8"), (Integer, "int4"), (Boolean, "bool"),
                       (DateTime, "timestamp"), (Date, "date"), (Uuid, "uuid"), (REAL, "float4"),
                       (Float, "float8")):  # fmt: skip
        if isinstance(sa_type, kind):
            if name == "timestamp" and getattr(sa_type, "timezone", False):
                break
            return name
    raise StoreError(f"binary copy: no fixed-width binary form for column type {sa_type}")


# ---------------------------------------------------------------- the COPY BINARY format


class CopyBinaryParser:
    """A COPY BINARY stream of fixed-width, non-null columns → arrays, fed in any pieces.

    `feed(data)` returns the columns of the whole rows received so far that were not returned
    yet (a dict of arrays, maybe of length 0); `close()` checks the stream ended with the trailer."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        self.columns = [(name, WIRES[kind]) for name, kind in columns]
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for n, (_, wire) in enumerate(self.columns):
            fields += [(f"length{n}", ">i4"), (f"value{n}", wire.wire)]
        self.record = np.dtype(fields)
        self.widths = [np.dtype(wire.wire).itemsize for _, wire in self.columns]
        self.pending = bytearray()
        self.header_done = False
        self.ended = False
        self.rows = 0

    def feed(self, data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
        self.pending += data
        if not self.header_done and not self._header():
            return self._empty()
        if self.ended:
            if self.pending:
                raise StoreError("binary copy: data after the end of the stream")
            return self._empty()
        count = len(self.pending) // self.record.itemsize
        records = np.frombuffer(self.pending, dtype=self.record, count=count)
        ends = np.flatnonzero(records["count"] == -1)
        if len(ends):  # the trailer, read as the start of a record
            count = int(ends[0])
            records = records[:count]
        out = self._columns(records)
        del records
        rest = self.pending[count * self.record.itemsize :]
        self.pending = bytearray(rest)
        if self.pending[:2] == TRAILER and (len(ends) or len(self.pending) == 2):
            self.ended = True
            self.pending = self.pending[2:]
        return out

    def close(self) -> None:
        if not self.ended:
            self._diagnose(bytes(self.pending))
            raise StoreError(f"binary copy: the stream ended after {self.rows} rows without its trailer")

    def _diagnose(self, tail: bytes) -> None:
        """Why the rest of a stream is no whole record: a NULL or a field of another width
        shortens a row (read field by field: only ever on the way to an error)."""
        at = 2
        for (name, _), width in zip(self.columns, self.widths, strict=True):
            if len(tail) < at + 4:
                return
            length = int.from_bytes(tail[at : at + 4], "big", signed=True)
            if length != width:
                what = "NULL" if length == -1 else f"{length} bytes wide, expected {width}"
                raise StoreError(f"binary copy: column {name} is {what} in row {self.rows + 1}")
            at += 4 + width

    def _header(self) -> bool:
        if len(self.pending) < len(SIGNATURE) + 8:
            return False
        if bytes(self.pending[: len(SIGNATURE)]) != SIGNATURE:
            raise StoreError("binary copy: not a COPY BINARY stream (bad signature)")
        extension = int.from_bytes(self.pending[len(SIGNATURE) + 4 : len(SIGNATURE) + 8], "big", signed=True)
        start = len(SIGNATURE) + 8 + extension
        if len(self.pending) < start:
            return False
        self.pending = self.pending[start:]
        self.header_done = True
        return True

    def _columns(self, records: np.ndarray) -> dict[str, np.ndarray]:
        if len(records) and (records["count"] != len(self.columns)).any():
            bad = int(np.flatnonzero(records["count"] != len(self.columns))[0])
            raise StoreError(f"binary copy: row {self.rows + bad + 1} has {records['count'][bad]} fields, "
                             f"expected {len(self.columns)}")  # fmt: skip
        out = {}
        for n, (name, wire) in enumerate(self.columns):
            lengths = records[f"length{n}"]
            if (lengths != self.widths[n]).any():
                bad = int(np.flatnonzero(lengths != self.widths[n])[0])
                what = "NULL" if lengths[bad] == -1 else f"{lengths[bad]} bytes wide, expected {self.widths[n]}"
                raise StoreError(f"binary copy: column {name} is {what} in row {self.rows + bad + 1}")
            out[name] = from_wire(records[f"value{n}"], wire, name)
        self.rows += len(records)
        return out

    def _empty(self) -> dict[str, np.ndarray]:
        return {name: np.zeros(0, dtype=wire.native) for name, wire in self.columns}


def from_wire(values: np.ndarray, wire: Wire, name: str) -> np.ndarray:
    """Wire values (big-endian) → native arrays; times to ns since 1970, dates to days since 1970."""
    if wire.pg_type == "timestamp":
        micros = values.astype(np.int64)
        if len(micros) and (micros.min() < _NS_MIN_US or micros.max() > _NS_MAX_US):
            raise StoreError(f"binary copy: column {name} holds a time outside 1677-2262 (or infinity)")
        return (micros + _EPOCH_2000_US) * 1000
    if wire.pg_type == "date":
        return values.astype(np.int32) + _EPOCH_2000_DAYS
    return values.astype(wire.native)


def to_wire(values: np.ndarray, wire: Wire) -> np.ndarray:
    """Native arrays → wire values; times from ns since 1970 (whole µs kept, the rest truncated)."""
    if wire.pg_type == "timestamp":
        return np.floor_divide(np.asarray(values, dtype=np.int64), 1000) - _EPOCH_2000_US
    if wire.pg_type == "date":
        return np.asarray(values, dtype=np.int32) - _EPOCH_2000_DAYS
    array = np.asarray(values)
    if wire.pg_type == "uuid" and array.dtype.itemsize == 16 and array.dtype.kind != "V":
        return array.view("V16")  # 16-byte strings
    return array


# ---------------------------------------------------------------- COPY through psycopg


def copy_in(conn: Connection, table: Table, arrays: Mapping[str, np.ndarray], *, chunk_rows: int = 262_144) -> int:
    """Append the rows given as equal-length arrays (one per column of `table` named) with one
    binary COPY, inside the caller's transaction. Returns the number of rows."""
    names = list(arrays)
    kinds = [WIRES[pg_type(table.c[name].type)] for name in names]
    size = _length(arrays)
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for n, wire in enumerate(kinds):
        fields += [(f"length{n}", ">i4"), (f"value{n}", wire.wire)]
    record = np.dtype(fields)
    quote = postgresql.dialect().identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN (FORMAT BINARY)"
    with _driver_cursor(conn, statement) as cursor, cursor.copy(statement) as copy:
        copy.write(SIGNATURE + bytes(8))  # flags 0, no header extension
        for start in range(0, size, chunk_rows):
            stop = min(start + chunk_rows, size)
            rows = np.empty(stop - start, dtype=record)
            rows["count"] = len(names)
            for n, (name, wire) in enumerate(zip(names, kinds, strict=True)):
                rows[f"length{n}"] = np.dtype(wire.wire).itemsize
                rows[f"value{n}"] = to_wire(arrays[name][start:stop], wire)
            copy.write(rows.tobytes())
        copy.write(TRAILER)
    return size


def copy_out(conn: Connection, query: Select[Any], *, chunk_bytes: int = 8 << 20) -> Iterator[dict[str, np.ndarray]]:
    """`COPY (query) TO STDOUT (FORMAT BINARY)` as chunks of arrays, one per selected column.

    COPY takes no bound parameters: the query is rendered with its literals inline by
    SQLAlchemy (numbers, times), so build it from values, never from text."""
    columns = [(column.name, pg_type(column.type)) for column in query.selected_columns]
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    statement = f"COPY ({sql}) TO STDOUT (FORMAT BINARY)"
    parser = CopyBinaryParser(columns)
    buffered: list[memoryview] = []
    size = 0
    with _driver_cursor(conn, statement) as cursor, cursor.copy(statement) as copy:
        for message in copy:
            buffered.append(message)
            size += len(message)
            if size >= chunk_bytes:
                yield parser.feed(b"".join(buffered))
                buffered, size = [], 0
    last = parser.feed(b"".join(buffered))
    parser.close()
    if len(next(iter(last.values()), ())):
        yield last


def packed_out(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    *,
    where: ColumnElement[bool] | None = None,
    pages_per_chunk: int = 4096,
) -> Iterator[dict[str, np.ndarray]]:
    """The named columns of `table`'s rows (that `where` selects) as chunks of arrays: one query
    per `pages_per_chunk` heap pages (about 100 rows a page for compact rows), each returning the
    rows packed into one bytea. Chunks may be empty; their union is every selected row once.
    `table` must be a plain table (one partition), not a partitioned one: page numbers are a
    table's own."""
    kinds = [(name, WIRES[pg_type(table.c[name].type)]) for name in names]
    record = np.dtype([(name, wire.wire) for name, wire in kinds])
    packed = None
    for name, wire in kinds:
        sent = getattr(func, wire.send)(table.c[name])
        packed = sent if packed is None else packed.op("||")(sent)
    tid = text("ctid >= CAST(:low AS tid) AND ctid < CAST(:high AS tid)")
    query = select(func.string_agg(packed, cast(literal(b""), LargeBinary))).select_from(table).where(tid)
    if where is not None:
        query = query.where(where)
    pages = conn.execute(select(func.pg_relation_size(cast(bindparam("name"), postgresql.REGCLASS)) / 8192),
                         {"name": table.name}).scalar_one()  # fmt: skip
    for low in range(0, int(pages) + 1, pages_per_chunk):
        high = low + pages_per_chunk if low + pages_per_chunk <= pages else 2**32 - 1  # the last: to the end
        data = conn.execute(query, {"low": f"({low},0)", "high": f"({high},0)"}).scalar_one() or b""
        if len(data) % record.itemsize:
            raise StoreError(f"binary copy: {table.name} pages {low}-{high} gave {len(data)} bytes, "
                             f"not whole rows of {record.itemsize}")  # fmt: skip
        rows = np.frombuffer(data, dtype=record)
        yield {name: from_wire(rows[name], wire, name) for name, wire in kinds}


def _length(arrays: Mapping[str, np.ndarray]) -> int:
    sizes = {len(values) for values in arrays.values()}
    if len(sizes) != 1:
        raise StoreError(f"binary copy: columns of different lengths {sorted(sizes)}")
    return sizes.pop()


@contextmanager
def _driver_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """The psycopg cursor under a SQLAlchemy connection (in its transaction), psycopg's errors
    raised as SQLAlchemy's, as a statement through SQLAlchemy would raise them."""
    driver = conn.connection.driver_connection
    if driver is None or conn.dialect.driver != "psycopg":
        raise StoreError("binary copy needs PostgreSQL through psycopg (postgresql+psycopg://…)")
    try:
        with driver.cursor() as cursor:
            yield cursor
    except driver.Error as error:
        raise exc.DBAPIError.instance(statement, None, error, driver.Error) from error


__all__ = ["WIRES", "CopyBinaryParser", "Wire", "copy_in", "copy_out", "from_wire", "packed_out", "pg_type", "to_wire"]
