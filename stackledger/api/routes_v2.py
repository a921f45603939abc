"""`/v2/summary` and `/v2/dataframes`: CloudKitty's v2 API over StackLedger's figures
(`stackledger.api.cloudkitty` says what maps to what)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from stackledger.api import cloudkitty
from stackledger.api.deps import CachedRoute, Services, api_caller, services
from stackledger.api.params import csv_list, instant
from stackledger.api.policy import Access
from stackledger.schema import INTERNAL_BOOK
from stackledger.store import serving
from stackledger.window import Window, utcnow

router = APIRouter(prefix="/v2", tags=["CloudKitty v2"], route_class=CachedRoute)

Caller = Annotated[Access, Depends(api_caller)]
Shared = Annotated[Services, Depends(services)]
Many = Annotated[list[str] | None, Query()]

# CloudKitty writes Decimal amounts as JSON numbers; these keep every digit of them.
_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")


class ExactJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content)


@router.get("/summary", response_class=ExactJSON, summary="CloudKitty v2 summary: rated totals, grouped")
def summary(
    caller: Caller,
    shared: Shared,
    groupby: Many = None,
    filters: Many = None,
    begin: str | None = None,
    end: str | None = None,
    response_format: str = "table",
    custom_fields: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> ExactJSON:
    if response_format not in ("table", "object"):
        raise HTTPException(400, f"Invalid response format [{response_format}]. Valid format are [table, object].")
    if custom_fields:
        raise HTTPException(400, "custom_fields is not supported by StackLedger")
    groups = csv_list(groupby)
    unknown = [name for name in groups if name not in cloudkitty.SUMMARY_GROUPS]
    if unknown:
        raise HTTPException(
            400, f"groupby: cannot group by {', '.join(unknown)}; valid: {', '.join(cloudkitty.SUMMARY_GROUPS)}"
        )
    wanted = cloudkitty.parse_filters(filters or [], unique=False, allowed=cloudkitty.FILTERS)
    window = _window(begin, end)
    dimensions = {cloudkitty.SUMMARY_GROUPS[name] for name in groups} | {cloudkitty.FILTERS[k] for k in wanted}
    found = shared.figures.costs(window, dimensions, (INTERNAL_BOOK,))
    team_of = {pid: record.team for pid, record in shared.figures.projects().items()}
    rows = cloudkitty.summary_rows(found, groups, wanted, caller, team_of, window.start, window.end)
    return ExactJSON(cloudkitty.summary_response(rows, response_format, offset, limit))


@router.get("/dataframes", response_class=ExactJSON, summary="CloudKitty v2 dataframes: rated data points")
def dataframes(
    caller: Caller,
    shared: Shared,
    filters: Many = None,
    begin: str | None = None,
    end: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> ExactJSON:
    wanted = cloudkitty.parse_filters(filters or [], unique=True, allowed=cloudkitty.FILTERS)
    window = _window(begin, end)
    figures = shared.figures
    visible = None
    if not caller.cloud:
        visible = caller.visible((pid, record.team) for pid, record in figures.projects().items())
    where = {cloudkitty.POINT_FILTERS[key]: values[0] for key, values in wanted.items()}
    total, points = serving.cost_points(
        figures.store, window, price_book=INTERNAL_BOOK, project_ids=visible, where=where, offset=offset, limit=limit
    )
    if total < 1:
        raise HTTPException(404, "No resource found for provided filters.")
    return ExactJSON({"total": total, "dataframes": cloudkitty.dataframes(points)})


def _window(begin: str | None, end: str | None) -> Window:
    first, last = cloudkitty.month_bounds(utcnow())
    start = instant(begin, "begin") if begin else first
    stop = instant(end, "end") if end else last
    if stop <= start:
        raise HTTPException(400, "end must be after begin")
    return Window(start, stop)
