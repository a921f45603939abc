"""The FOCUS 1.2 CSV export: the window's bill, one row per internal cost line, with the AWS and
DigitalOcean prices of the same usage as `x_` columns on that row.

The columns and the mapping are `transforms.focus` (its docstring lists the 21 mandatory
columns with the spec reference, and argues the comparison columns). Costs are printed exactly
as stored, so summing BilledCost per SubAccountId gives the report CSV's internal figures to the
cent (and beyond), and summing `x_AwsCost` the AWS comparison's.
UTF-8, `\\n` line ends, rows ordered by charge period, project, resource, service and SKU: the
same data gives the same bytes. Free-text columns (names, ids) that a spreadsheet would run as a
formula are prefixed with a single quote (`reports.formatting.neutralise`).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd

from stackledger.reports.formatting import neutralise
from stackledger.store import Store
from stackledger.store.reports import focus_lines, focus_resource_names
from stackledger.transforms.focus import FOCUS_COLUMNS, to_focus
from stackledger.window import Window

log = logging.getLogger(__name__)

# Columns holding names and ids that come from users (projects, resources, the organisation).
TEXT_COLUMNS = ("BillingAccountId", "BillingAccountName", "InvoiceIssuerName", "ProviderName", "PublisherName",
                "ResourceId", "ResourceName", "SubAccountId", "SubAccountName")  # fmt: skip
ORDER = ["charge_period_start", "price_book", "project_id", "resource_id", "service", "sku", "flavor_name"]


def focus_frame(store: Store, window: Window, *, organisation: str) -> pd.DataFrame:
    """The window's internal cost lines as FOCUS rows (strings), the comparisons in x_ columns."""
    lines = focus_lines(store, window)
    if lines.empty:
        return pd.DataFrame(columns=list(FOCUS_COLUMNS))
    names = focus_resource_names(store, window)
    latest = names.sort_values(["resource_id", "valid_from"]).drop_duplicates("resource_id", keep="last")
    lines = lines.merge(latest[["resource_id", "resource_name"]], on="resource_id", how="left")
    lines = lines.sort_values(ORDER, kind="stable", na_position="first")
    return to_focus(lines, organisation=organisation)


def write_focus(store: Store, window: Window, path: Path, *, organisation: str) -> Path:
    frame = focus_frame(store, window, organisation=organisation)
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].map(neutralise)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FOCUS_COLUMNS)
        writer.writerows(frame.itertuples(index=False, name=None))
    log.info("focus %s: %d rows → %s", window.label, len(frame), path)
    return path
