"""`store.copy_text` on PostgreSQL: a frame copied as column-built COPY text is stored exactly as
psycopg's row-by-row COPY stores it — floats to the last bit, Decimals to the last digit,
timestamps to the microsecond, text with the characters COPY escapes, every kind of missing
value as NULL — and a column of values it does not know falls back to the row-by-row path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    select,
)

from stackledger.store import bulk
from stackledger.store.copy_text import copy_text

FLOATS = [0.1, 1 / 3, 5e-324, 1e300, -2.5, 123456789.123456789, float("nan"), 1e16]
DECIMALS = [Decimal("0.000001"), Decimal("12345678901234.123456"), None, Decimal("-3"), Decimal("1E+2"),
            Decimal("0"), Decimal("2.50"), float("nan")]  # fmt: skip
TEXT = ["plain", "tab\there", "line\nbreak", "back\\slash", "crlf\r\n", "ünïcødé €", "", None]
STAMPS = [dt.datetime(2026, 10, 1, 0, 0, 7, 754183), dt.datetime(2026, 12, 31, 23, 59, 59, 999999), None,
          dt.datetime(1970, 1, 1), dt.datetime(2026, 10, 1), dt.datetime(2000, 2, 29, 12), None,
          dt.datetime(2026, 10, 1, 0, 0, 0, 1)]  # fmt: skip

AS_OF = [dt.date(2026, 10, 1), None, dt.datetime(2026, 10, 2, 3, 4, 5, 6), *[dt.date(2025, 1, 31)] * 5]


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "n": np.arange(len(FLOATS), dtype=np.int64) * 7_000_000_000,
        "x": FLOATS,
        "amount": pd.Series(DECIMALS, dtype=object),
        "label": pd.Series(TEXT, dtype=object),
        "at": pd.to_datetime(pd.Series(STAMPS)),
        "flag": [True, False] * 4,
        "as_of": pd.Series(AS_OF, dtype=object),
    })  # fmt: skip


def table(name: str) -> Table:
    return Table(name, MetaData(), Column("n", Numeric), Column("x", Float), Column("amount", Numeric(20, 6)),
                 Column("label", String), Column("at", DateTime), Column("flag", Boolean), Column("as_of", DateTime),
                 Column("row", Integer))  # fmt: skip


def test_column_built_copy_stores_what_row_by_row_copy_stores(pg_url: str) -> None:
    engine = create_engine(pg_url)
    data = frame().assign(row=range(len(FLOATS)))
    columns = list(data.columns)
    fast, slow = table("copy_text_fast"), table("copy_text_slow")
    with engine.begin() as conn:
        for t in (fast, slow):
            t.drop(conn, checkfirst=True)
            t.create(conn)
        assert copy_text(data, columns) is not None  # the fast path is the one taken
        bulk.append_frame(conn, fast, data, columns)
        rows = zip(*(bulk._python_values(data[name]) for name in columns), strict=True)
        bulk._copy(conn, slow, columns, rows)
        stored = [conn.execute(select(t).order_by(t.c.row)).all() for t in (fast, slow)]
        for t in (fast, slow):
            t.drop(conn)
    assert stored[0] == stored[1]
    got = {row.row: row for row in stored[0]}
    assert got[1].x == 1 / 3 and got[2].x == 5e-324 and got[6].x is None  # exact, and NaN is NULL
    assert got[1].amount == Decimal("12345678901234.123456") and got[7].amount is None
    assert [got[i].label for i in range(len(TEXT))] == TEXT
    assert got[0].at == STAMPS[0] and got[2].at is None and got[7].at == STAMPS[7]
    assert got[0].as_of == dt.datetime(2026, 10, 1) and got[1].as_of is None
    assert got[2].as_of == dt.datetime(2026, 10, 2, 3, 4, 5, 6)


def test_unknown_values_fall_back_to_row_by_row_copy(pg_url: str) -> None:
    data = pd.DataFrame({"label": pd.Series(["a", dt.timedelta(days=1)], dtype=object), "row": [0, 1]})
    assert copy_text(data, ["label", "row"]) is None
    assert copy_text(pd.DataFrame({"x": [Decimal("NaN")]}), ["x"]) is None
    engine = create_engine(pg_url)
    t = Table("copy_text_fallback", MetaData(), Column("label", String), Column("row", Integer))
    with engine.begin() as conn:
        t.drop(conn, checkfirst=True)
        t.create(conn)
        assert bulk.append_frame(conn, t, data, ["label", "row"]) == 2
        stored = conn.execute(select(t.c.label).order_by(t.c.row)).scalars().all()
        t.drop(conn)
    assert stored == ["a", "1 day 0:00:00"]  # psycopg's own spelling of a timedelta


@pytest.mark.parametrize("value", ["a\tb", "a\\nb", "x\r", "\\"])
def test_escapes_round_trip(pg_url: str, value: str) -> None:
    engine = create_engine(pg_url)
    t = Table("copy_text_escape", MetaData(), Column("label", String))
    with engine.begin() as conn:
        t.drop(conn, checkfirst=True)
        t.create(conn)
        bulk.append_frame(conn, t, pd.DataFrame({"label": [value, "plain"]}), ["label"])
        stored = conn.execute(select(t.c.label)).scalars().all()
        t.drop(conn)
    assert sorted(stored) == sorted([value, "plain"])
