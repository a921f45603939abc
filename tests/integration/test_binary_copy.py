"""stackledger.store.binary_copy against the ops PostgreSQL: fixed-width columns to and from numpy
arrays, a round trip of two million rows through every path."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    create_engine,
    exc,
    select,
    text,
)
from sqlalchemy.types import REAL

from stackledger.errors import StoreError
from stackledger.store.binary_copy import CopyBinaryParser, copy_in, copy_out, packed_out

pytestmark = pytest.mark.postgres

ROWS = 2_000_000
MD = MetaData()
WIDE = Table(
    "bc_wide", MD,
    Column("a", SmallInteger, nullable=False), Column("b", Integer, nullable=False),
    Column("c", BigInteger, nullable=False), Column("d", Float, nullable=False), Column("e", REAL, nullable=False),
    Column("f", DateTime, nullable=False), Column("g", Date, nullable=False), Column("h", Uuid, nullable=False),
    Column("i", Boolean, nullable=False),
)  # fmt: skip
NULLABLE = Table("bc_nullable", MD, Column("a", Integer), Column("b", DateTime))


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    MD.drop_all(engine)
    MD.create_all(engine)
    yield engine
    MD.drop_all(engine)
    engine.dispose()


def random_columns(rows: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = {
        "a": rng.integers(-(2**15), 2**15, rows, dtype=np.int16),
        "b": rng.integers(-(2**31), 2**31, rows, dtype=np.int32),
        "c": rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64),
        "d": rng.normal(scale=1e12, size=rows),
        "e": rng.normal(size=rows).astype(np.float32),
        # whole microseconds from 1700 to 2250, as int64 ns since 1970
        "f": rng.integers(-8_520_336_000, 8_835_984_000, rows) * 1_000_000 + rng.integers(0, 10**6, rows) * 1000,
        "g": rng.integers(-100_000, 100_000, rows).astype(np.int32),
        "h": rng.integers(0, 256, (rows, 16), dtype=np.uint8).view("V16").ravel(),
        "i": rng.integers(0, 2, rows).astype(bool),
    }
    columns["d"][:4] = [0.0, -0.0, np.inf, -np.inf]  # float8 carries its special values
    columns["c"][:2] = [np.iinfo(np.int64).min, np.iinfo(np.int64).max]
    return columns


def joined(chunks: list[dict[str, np.ndarray]], names: list[str]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in names}


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        assert np.array_equal(got[name], values), name


def test_two_million_rows_round_trip_through_every_path(engine: Engine) -> None:
    expected = random_columns(ROWS)
    with engine.begin() as conn:
        assert copy_in(conn, WIDE, expected, chunk_rows=300_000) == ROWS
    names = list(expected)
    with engine.begin() as conn:  # COPY TO, in chunks of about 4 MiB (rows cut across messages)
        chunks = list(copy_out(conn, select(WIDE), chunk_bytes=4 << 20))
        assert len(chunks) > 10
        assert_same(joined(chunks, names), expected)
    with engine.begin() as conn:  # packed pages: a fresh table's rows come back in the order written
        chunks = list(packed_out(conn, WIDE, names, pages_per_chunk=1500))
        assert len(chunks) > 10
        assert_same(joined(chunks, names), expected)
    with engine.connect() as conn:  # and PostgreSQL read the values as they were meant
        first = conn.execute(select(WIDE).limit(1)).one()
    assert first.c == np.iinfo(np.int64).min and first.d == 0.0
    assert np.datetime64(first.f, "ns").astype(np.int64) == expected["f"][0]
    assert (first.g - np.datetime64("1970-01-01", "D").astype(object)).days == expected["g"][0]
    assert first.h.bytes == bytes(expected["h"][0])


def test_a_filtered_query_and_a_where_clause(engine: Engine) -> None:
    expected = random_columns(50_000, seed=3)
    with engine.begin() as conn:
        copy_in(conn, WIDE, expected)
    keep = expected["b"] > 0
    with engine.begin() as conn:
        chunks = list(copy_out(conn, select(WIDE.c.b, WIDE.c.f).where(WIDE.c.b > 0)))
        assert_same(joined(chunks, ["b", "f"]), {"b": expected["b"][keep], "f": expected["f"][keep]})
        packed = list(packed_out(conn, WIDE, ["b", "i"], where=WIDE.c.b > 0, pages_per_chunk=50))
        assert_same(joined(packed, ["b", "i"]), {"b": expected["b"][keep], "i": expected["i"][keep]})


def test_the_parser_takes_the_stream_in_any_pieces(engine: Engine) -> None:
    expected = random_columns(300, seed=5)
    with engine.begin() as conn:
        copy_in(conn, WIDE, expected)
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy("COPY bc_wide TO STDOUT (FORMAT BINARY)") as copy:
            stream = b"".join(bytes(message) for message in copy)
    kinds = ["int2", "int4", "int8", "float8", "float4", "timestamp", "date", "uuid", "bool"]
    columns = [(c.name, kind) for c, kind in zip(WIDE.columns, kinds, strict=True)]
    for size in (1, 7, 64, 4096, len(stream)):  # a byte at a time, pieces that cut every field, all at once
        parser = CopyBinaryParser(columns)
        chunks = [parser.feed(stream[at : at + size]) for at in range(0, len(stream), size)]
        parser.close()
        assert_same(joined(chunks, list(expected)), expected)


def test_a_null_is_named_not_read_as_a_value(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(NULLABLE.insert(), [{"a": 1, "b": None}, {"a": None, "b": None}])
    with engine.begin() as conn, pytest.raises(StoreError, match="column a is NULL in row 2"):
        list(copy_out(conn, select(NULLABLE.c.a)))


def test_times_beyond_nanoseconds_are_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bc_nullable VALUES (1, 'infinity'), (2, '2300-01-01')"))
    with engine.begin() as conn, pytest.raises(StoreError, match="column b holds a time outside 1677-2262"):
        list(copy_out(conn, select(NULLABLE.c.b).where(NULLABLE.c.a == 2)))


def test_a_stream_cut_short_or_with_a_bad_signature() -> None:
    parser = CopyBinaryParser([("a", "int4")])
    parser.feed(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07")
    with pytest.raises(StoreError, match="ended after 1 rows without its trailer"):
        parser.close()
    with pytest.raises(StoreError, match="bad signature"):
        CopyBinaryParser([("a", "int4")]).feed(b"COPY BINARY, honest" + bytes(20))


def test_types_without_a_fixed_width_are_refused(engine: Engine) -> None:
    table = Table("bc_text", MetaData(), Column("name", String(10)))
    with engine.begin() as conn, pytest.raises(StoreError, match="no fixed-width binary form"):
        list(copy_out(conn, select(table.c.name)))


def test_a_database_error_is_raised_as_sqlalchemys(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(exc.DBAPIError, match="bc_missing"):
        copy_in(conn, Table("bc_missing", MetaData(), Column("a", Integer)), {"a": np.arange(3, dtype=np.int32)})
