"""A frame as the data of PostgreSQL's `COPY … FROM STDIN` (text format), built a column at a time.

psycopg's `Copy.write_row` formats each value in Python (~11 µs a row of hourly usage, which
was most of `rate`'s client CPU); here each column is turned into strings in one pass and the
rows are joined in C. The values are the ones psycopg would send: floats as `repr` (exact round
trip), Decimals as `str` (exact), timestamps to the microsecond (naive UTC, as `_python_values`
gives them), dates in ISO 8601, booleans as t/f, every kind of missing value as NULL, and text escaped as the
format requires. A column holding anything else gives None: the caller copies row by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

NULL: Final = "\\N"
# What the text format requires escaped inside a value (PostgreSQL docs, COPY, "Text Format").
_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL: Final = ("\\", "\t", "\n", "\r")


class _Unknown(Exception):
    """A value this encoder does not format like psycopg: copy the frame row by row instead."""


def copy_text(frame: pd.DataFrame, columns: Sequence[str]) -> str | None:
    """`frame`'s `columns` as COPY text rows (each ending in a newline), or None when some
    column holds a value this module does not know how psycopg would send."""
    try:
        cells = [_column(frame[name]) for name in columns]
    except _Unknown:
        return None
    if not cells:
        return None
    return "".join(["\n".join(map("\t".join, zip(*cells, strict=True))), "\n"])


def _column(column: pd.Series) -> list[str]:
    kind = column.dtype.kind
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = column.to_numpy(dtype="datetime64[us]")
        # Few distinct instants (hours, days): each formatted once.
        distinct, index = np.unique(stamps, return_inverse=True)
        text: list[str] = np.datetime_as_string(distinct, unit="us").astype(object)[index].tolist()
        return _nulls(text, np.isnat(stamps))
    if kind == "f":
        values = column.to_numpy(dtype=float)
        return _nulls(list(map(repr, values.tolist())), np.isnan(values))
    if kind in "iu":
        return list(map(str, column.to_numpy().tolist()))
    if kind == "b":
        return ["t" if value else "f" for value in column.to_numpy().tolist()]
    if kind == "O":
        return _objects(column.to_numpy(dtype=object).tolist())
    raise _Unknown(column.dtype)


def _nulls(text: list[str], missing: np.ndarray) -> list[str]:
    for index in np.flatnonzero(missing).tolist():
        text[index] = NULL
    return text


def _objects(values: list[Any]) -> list[str]:
    """Text, Decimals, ints, floats and missing values of an object column."""
    if all(type(value) is str for value in values):
        return _escaped(values)
    return [_object(value) for value in values]


def _escaped(text: list[str]) -> list[str]:
    joined = "".join(text)
    if any(char in joined for char in _SPECIAL):
        return [value.translate(_ESCAPES) for value in text]
    return text


def _object(value: Any) -> str:
    kind = type(value)
    if value is None or value is pd.NaT:
        return NULL
    if kind is str:
        return str(value.translate(_ESCAPES))
    if kind is Decimal:
        if not value.is_finite():  # psycopg spells NaN and the infinities its own way
            raise _Unknown(value)
        return str(value)
    if kind is float or kind is np.float64:
        return NULL if value != value else repr(float(value))
    if kind is int or kind is np.int64:
        return str(int(value))
    if kind is bool or kind is np.bool_:
        return "t" if value else "f"
    if kind is dt.date:
        return value.isoformat()
    if kind is dt.datetime and value.tzinfo is None:
        return value.isoformat(sep=" ")
    raise _Unknown(kind)


__all__ = ["NULL", "copy_text"]
