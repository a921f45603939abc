"""marker/limit pagination and `*_links` next links, shared by Nova and Cinder.

Both services order by a key, return the items strictly after the marker's key, and add a next
link whenever a page is full -- even when nothing follows, so the last page may be empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from .web import ApiError, Request

MAX_LIMIT = 1000  # Nova [api]max_limit and Cinder osapi_max_limit defaults
T = TypeVar("T")


def parse_limit(req: Request) -> int:
    raw = req.param("limit")
    if raw is None:
        return MAX_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "limit param must be an integer") from None
    if value < 0:
        raise ApiError(400, "limit param must be positive")
    return min(value, MAX_LIMIT)


def after_marker(
    items: Sequence[T],
    universe: Sequence[T],
    key: Callable[[T], Any],
    marker: str | None,
    ident: Callable[[T], str],
    descending: bool,
) -> list[T]:
    """Items (already filtered and sorted) whose sort key comes after the marker's.

    The marker is looked up in `universe`, not the filtered list, as Nova looks it up with
    read_deleted=yes: a marker that a filter hides still positions the page.
    """
    if marker is None:
        return list(items)
    found = next((u for u in universe if ident(u) == marker), None)
    if found is None:
        raise ApiError(400, f"marker [{marker}] not found")
    mark = key(found)
    return [i for i in items if (key(i) < mark if descending else key(i) > mark)]


def next_links(
    req: Request, page: Sequence[T], limit: int, collection_url: str, ident: Callable[[T], str]
) -> list[dict[str, str]]:
    if not page or len(page) < limit:
        return []
    params = {k: v[0] for k, v in sorted(req.query.items()) if k != "marker"}
    params["marker"] = ident(page[-1])
    return [{"href": f"{collection_url}?{urlencode(sorted(params.items()))}", "rel": "next"}]
