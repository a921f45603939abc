"""Daily usage (`daily_usage`): usage summed per UTC day, what the price books read.

`stackledger rate` writes a day's rows with its hourly rows, per day or per resource shard of
a day (`delete_rows` + `append`), and the books whose prices depend on the month so far read
the month back in units (`read_unit`): all rows of the services priced over the whole cloud
(AWS's egress tiers), or all rows of a set of projects. `month_layout` says how many rows each
project has, and which resources have rows in more than one project, so units can be cut
without splitting what a book prices together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from stackledger.schema import USAGE_COLUMNS
from stackledger.store import tables
from stackledger.store.bulk import append_frame, chunks, delete_owned
from stackledger.store.frames import canonical_frame, read_frame
from stackledger.window import Window

_COLUMNS: Final = tuple(USAGE_COLUMNS)


@dataclass(frozen=True)
class MonthLayout:
    """What a month of daily usage looks like, for cutting it into units."""

    project_rows: dict[str | None, int]  # rows per project, outside the cloud-wide services
    shared_resources: list[tuple[str, list[str | None]]]  # resources with rows in several projects
    cloud_wide_rows: int  # rows of the cloud-wide services
    unsized_instances: int  # compute.instance rows without vCPUs or RAM


def append(conn: Connection, frame: pd.DataFrame) -> int:
    """Add daily rows (USAGE_COLUMNS, one UTC day each); `flavor_name` '' when unknown."""
    rows = frame.assign(flavor_name=frame["flavor_name"].where(frame["flavor_name"].notna(), ""))
    return append_frame(conn, tables.daily_usage, rows, _COLUMNS)


def delete_rows(conn: Connection, days: Window, source: str, owns: Callable[[str], bool] | None = None) -> int:
    """Delete `source`'s rows of the days in `days` — only those of the resources `owns` accepts, when given."""
    return delete_owned(conn, tables.daily_usage, [_of(days, source)], owns=owns)


def month_layout(conn: Connection, context: Window, source: str, cloud_wide: Sequence[str]) -> MonthLayout:
    """Counts and shared resources of `source`'s rows in `context` (see MonthLayout)."""
    table = tables.daily_usage
    c = table.c
    where = _of(context, source)
    shared_ids = (
        select(c.resource_id)
        .where(where, c.service.not_in(list(cloud_wide)))
        .group_by(c.resource_id)
        .having(func.count(func.distinct(func.coalesce(c.project_id, ""))) > 1)
    )
    pairs = conn.execute(
        select(c.resource_id, c.project_id).where(where, c.resource_id.in_(shared_ids)).distinct()
    ).all()
    shared: dict[str, list[str | None]] = {}
    for resource_id, project_id in pairs:
        shared.setdefault(str(resource_id), []).append(project_id)
    counts = conn.execute(
        select(c.project_id, func.count()).where(where, c.service.not_in(list(cloud_wide))).group_by(c.project_id)
    ).all()
    wide = conn.execute(select(func.count()).where(where, c.service.in_(list(cloud_wide)))).scalar_one()
    unsized = conn.execute(
        select(func.count()).where(where, c.service == "compute.instance", or_(c.vcpus.is_(None), c.ram_mib.is_(None)))
    ).scalar_one()
    return MonthLayout({p: int(n) for p, n in counts}, sorted(shared.items()), int(wide), int(unsized))


def read_unit(
    conn: Connection,
    context: Window,
    source: str,
    *,
    services: Sequence[str] | None = None,
    other_services: Sequence[str] = (),
    projects: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """`source`'s rows in `context` (USAGE_COLUMNS): of `services` when given, else of the services
    not in `other_services`, of `projects` (None: the rows without a project) when given."""
    table = tables.daily_usage
    c = table.c
    where = [_of(context, source)]
    if services is not None:
        where.append(c.service.in_(list(services)))
    elif other_services:
        where.append(c.service.not_in(list(other_services)))
    query = select(*(c[name] for name in _COLUMNS)).where(*where)
    if projects is None:
        frames = [read_frame(conn, query)]
    else:
        named = sorted(p for p in projects if p is not None)
        frames = [read_frame(conn, query.where(c.project_id.in_(chunk))) for chunk in chunks(named)]
        if None in projects:
            frames.append(read_frame(conn, query.where(c.project_id.is_(None))))
    frames = [frame for frame in frames if len(frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else read_frame(conn, query.limit(0))
    return canonical_frame(frame, USAGE_COLUMNS, stage="stored daily usage")


def _of(window: Window, source: str) -> ColumnElement[bool]:
    c = tables.daily_usage.c
    return and_(c.source == source, c.charge_period_start >= window.start, c.charge_period_start < window.end)


__all__ = ["MonthLayout", "append", "delete_rows", "month_layout", "read_unit"]
