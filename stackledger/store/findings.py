"""Findings (`findings`): usage a price book could not price as usual (`transforms.findings`).

They are written with the cost lines, in the same transaction, and replaced the same way: per
price book and span of days, so a re-run replaces, never adds. Reads come back as canonical
frames (`schema.FINDING_COLUMNS`) or as sums per project, book, kind, service and subject.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Connection, and_, func, select

from stackledger.schema import FINDING_COLUMNS
from stackledger.store import Store, costs, tables
from stackledger.store.bulk import append_frame
from stackledger.store.frames import canonical_frame, frame_rows, read_frame, reading
from stackledger.window import Window

QUANTITY_DECIMALS = 6  # sums are shown to people: a float sum rounded to 6 decimals is exact enough


class FindingSum(NamedTuple):
    """The findings of one project, price book, kind, service, subject and unit over a window."""

    project_id: str | None  # None: unallocated usage
    price_book: str
    kind: str
    effect: str  # unpriced | base price
    service: str
    subject: str
    consumed_unit: str
    quantity: float  # in consumed_unit, rounded to QUANTITY_DECIMALS
    resources: int  # distinct resources
    lines: int  # daily usage rows
    reason: str  # one of the rows' reasons (they differ only in the day)


def replace_findings(store: Store, conn: Connection, price_book: str, span: Window, findings: pd.DataFrame) -> int:
    """Replace `price_book`'s findings of the days in `span` with `findings` (FINDING_COLUMNS)."""
    column = tables.findings.c
    where = and_(
        column.price_book == price_book, column.charge_period_start >= span.start, column.charge_period_start < span.end
    )
    return store.replace(conn, tables.findings, where, frame_rows(findings, FINDING_COLUMNS))


def append_findings(conn: Connection, findings: pd.DataFrame) -> int:
    """Add findings (FINDING_COLUMNS) by bulk copy, inside the caller's transaction (the
    bounded rating path: deleted first with `delete_findings`, like the cost lines beside them)."""
    return append_frame(conn, tables.findings, findings, list(FINDING_COLUMNS))


def delete_findings(conn: Connection, price_book: str, span: Window, **which: Any) -> int:
    """Delete `price_book`'s findings of `span` chosen as `costs.delete_lines` chooses lines."""
    return costs.delete_lines(conn, price_book, span, table=tables.findings, **which)


def finding_projects(conn: Connection, price_book: str, span: Window) -> set[str | None]:
    """The projects with `price_book` findings in `span`."""
    return costs.line_projects(conn, price_book, span, tables.findings)


def read_findings(target: Store | Connection, window: Window, price_book: str | None = None) -> pd.DataFrame:
    """The findings starting in `window` (of one book, or all), ordered by day, book, kind, project
    and resource."""
    column = tables.findings.c
    query = select(*(column[name] for name in FINDING_COLUMNS)).where(_in(window))
    if price_book is not None:
        query = query.where(column.price_book == price_book)
    query = query.order_by(column.charge_period_start, column.price_book, column.kind, column.project_id,
                           column.resource_id, column.service, column.id)  # fmt: skip
    with reading(target) as conn:
        return canonical_frame(read_frame(conn, query), FINDING_COLUMNS, stage="read findings")


def finding_sums(target: Store | Connection, window: Window) -> tuple[FindingSum, ...]:
    """The window's findings summed per project, book, kind, effect, service, subject and unit,
    in that order (unallocated first)."""
    column = tables.findings.c
    keys = (column.project_id, column.price_book, column.kind, column.effect, column.service, column.subject,
            column.consumed_unit)  # fmt: skip
    totals = (func.sum(column.consumed_quantity), func.count(func.distinct(column.resource_id)), func.count(),
              func.min(column.reason))  # fmt: skip
    query = select(*keys, *totals).where(_in(window)).group_by(*keys)
    with reading(target) as conn:
        sums = [_sum(row) for row in conn.execute(query)]
    # Sorted here, not in SQL: collations differ between SQLite and PostgreSQL.
    # Every key: rows the database returns in another order (a parallel or hash aggregate) still
    # sort the same, so float sums over them (`reports.csv_export.unpriced_quantity`) do too.
    return tuple(sorted(sums, key=lambda s: (s.project_id or "", s.price_book, s.kind, s.service, s.subject,
                                             s.effect, s.consumed_unit)))  # fmt: skip


def _in(window: Window) -> Any:
    column = tables.findings.c
    return and_(column.charge_period_start >= window.start, column.charge_period_start < window.end)


def _sum(row: Any) -> FindingSum:
    project_id, book, kind, effect, service, subject, unit, quantity, resources, lines, reason = row
    total = round(float(quantity or 0.0), QUANTITY_DECIMALS)
    return FindingSum(project_id, book, kind, effect, service, subject, unit, total, int(resources), int(lines),
                      str(reason))  # fmt: skip


__all__ = [
    "FindingSum",
    "append_findings",
    "delete_findings",
    "finding_projects",
    "finding_sums",
    "read_findings",
    "replace_findings",
]
