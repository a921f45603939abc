"""`stackledger reconcile --month YYYY-MM [--tolerance 0.01|1%] [--source NAME] [--servers] [--format table|csv]`."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stackledger.cli.common import add_month, settings_from

if TYPE_CHECKING:
    from stackledger.pipeline.reconcile import Figures, Line, Reconciliation

EXIT_MISMATCH = 1
# pipeline.reconcile.DEFAULT_TOLERANCE's value, for the help text (tests/unit/test_cli.py keeps them the same).
DEFAULT_TOLERANCE = "0.01"

EPILOG = """\
Per project: our instance-hours (usage service compute.instance) and vCPU-hours (compute.vcpu) of
the month, from the usage source rating reads (usage.source, or --source), against Nova's
os-simple-tenant-usage for the same period, read live through openstacksdk (settings `openstack`).

Columns per measure: ours | excluded | nova | diff | diff%. `excluded` is our usage of a server
before its latest launched_at in Nova: a resize, rebuild or unshelve resets launched_at, and Nova
counts only from then, at the current flavor. diff = ours - excluded - nova; diff% is of nova.
Projects outside the tolerance are listed with the servers that make their difference (--servers:
every server). A month in progress is compared up to the last whole hour.

exit status: 0 every project within tolerance; 1 some project outside it; 2 configuration, cloud
or database error.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_month(parser)
    parser.add_argument(
        "--tolerance", default=DEFAULT_TOLERANCE, metavar="N|P%",
        help="largest difference accepted: hours and vCPU-hours (0.5), or percent of Nova's figure (1%%); "
        f"default {DEFAULT_TOLERANCE}",
    )  # fmt: skip
    parser.add_argument("--source", metavar="NAME", help="usage source to compare (default: usage.source)")
    parser.add_argument("--servers", action="store_true", help="show every server, not only those of mismatches")
    parser.add_argument("--format", choices=("table", "csv"), default="table", help="output format (default: table)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.reconcile import Tolerance, reconcile_month

    tolerance = Tolerance.parse(args.tolerance)  # a ConfigError naming --tolerance
    result = reconcile_month(settings_from(args), args.month, source=args.source, tolerance=tolerance)
    sys.stdout.write(render_csv(result, servers=args.servers) if args.format == "csv" else
                     render_table(result, servers=args.servers))  # fmt: skip
    return EXIT_MISMATCH if result.mismatched else 0


# ---------------------------------------------------------------- table

_MEASURE = "{:>10} {:>9} {:>10} {:>9} {:>8}"
_HEADER = _MEASURE.format("ours", "excluded", "nova", "diff", "diff%")


def render_table(result: Reconciliation, *, servers: bool = False) -> str:
    window = result.window
    so_far = "" if window == result.month else ", the month so far"
    out = [
        f"Reconcile {result.month.label} [{window.start:%Y-%m-%d %H:%M}, {window.end:%Y-%m-%d %H:%M}) UTC{so_far}: "
        f"usage {result.source!r} vs Nova os-simple-tenant-usage (compute {result.microversion or '?'})",
        f"tolerance: {result.tolerance.label}",
        "",
        f"{'':<28}  {'instance-hours':<50}  vCPU-hours",
        f"{'project':<28}  {_HEADER}  {_HEADER}",
    ]
    for line in [*result.projects, result.total]:
        label = line.name or line.project_id
        mark = "!" if line.project_id and result.outside(line) else " "
        out.append(f"{mark}{label[:27]:<27}  {_measure(line.hours)}  {_measure(line.vcpu_hours)}")
        if line.project_id and (servers or result.outside(line)):
            for server in result.servers_of(line.project_id):
                if servers or result.outside(server):
                    name = f"  {server.name or ''} {(server.resource_id or '')[:8]}"
                    out.append(f" {name[:27]:<27}  {_measure(server.hours)}  {_measure(server.vcpu_hours)}")
    out += [
        "",
        "excluded: our usage of a server before its latest launched_at in Nova, which a resize, rebuild or",
        "unshelve resets (Nova counts from then on, at the current flavor); diff = ours - excluded - nova.",
    ]
    total = result.total
    if not total.hours.ours and not total.vcpu_hours.ours:
        out.append(f"note: no {result.source!r} usage is stored for this period: collect or ingest, then compute it.")
    out.append(_verdict(result))
    return "\n".join(out) + "\n"


def _measure(figures: Figures) -> str:
    percent = figures.percent
    pct = "n/a" if percent is None else _signed(percent) + "%"
    return _MEASURE.format(f"{figures.ours:.2f}", f"{figures.excluded:.2f}", f"{figures.nova:.2f}",
                           _signed(figures.difference), pct)  # fmt: skip


def _signed(value: float) -> str:
    return "0.00" if abs(value) < 0.005 else f"{value:+.2f}"  # never "-0.00"


def _verdict(result: Reconciliation) -> str:
    bad = result.mismatched
    if not bad:
        return f"OK: all {len(result.projects)} projects within tolerance."
    parts = [
        f"{line.name or line.project_id} ({line.hours.difference:+.2f} h, {line.vcpu_hours.difference:+.2f} vCPU-h)"
        for line in bad
    ]
    return f"MISMATCH: {len(bad)} of {len(result.projects)} projects outside tolerance: " + "; ".join(parts)


# ---------------------------------------------------------------- csv

_FIELDS = ("ours", "excluded", "nova", "diff", "diff_pct")


def render_csv(result: Reconciliation, *, servers: bool = False) -> str:
    """Full precision; one row per project (level=project), the total, and servers when asked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["level", "project_id", "name", "resource_id",
                     *(f"hours_{f}" for f in _FIELDS), *(f"vcpu_hours_{f}" for f in _FIELDS), "outside"])  # fmt: skip
    rows: list[tuple[str, Line]] = [("project", line) for line in result.projects]
    rows.append(("total", result.total))
    if servers:
        rows += [("server", line) for line in result.servers]
    for level, line in rows:
        writer.writerow([level, line.project_id, line.name or "", line.resource_id or "",
                         *_cells(line.hours), *_cells(line.vcpu_hours),
                         str(level != "total" and result.outside(line)).lower()])  # fmt: skip
    return buffer.getvalue()


def _cells(figures: Figures) -> Sequence[object]:
    percent = figures.percent
    return (repr(figures.ours), repr(figures.excluded), repr(figures.nova), repr(figures.difference),
            "" if percent is None else repr(percent))  # fmt: skip
