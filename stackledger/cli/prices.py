"""`stackledger prices show|update`: the public price books (AWS, DigitalOcean)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from stackledger.cli.common import settings_from

if TYPE_CHECKING:
    import pandas as pd

# `stackledger.model.PROVIDERS` and `transforms.pricebooks.KINDS`, for the choices without
# importing them (tests/unit/test_cli.py keeps them the same).
PROVIDERS = ("aws", "digitalocean")
KINDS = ("egress", "ingress", "instance", "ip", "object", "snapshot", "volume")

SHOW_COLUMNS = ("provider", "region", "sku", "kind", "vcpus", "memory_gib", "unit", "price", "currency", "tier",
                "as_of", "strength", "source")  # fmt: skip

UPDATE_EPILOG = """\
Reads the official formats and merges their rows into the file named by
baselines.price_overrides (created if missing; rows with the same provider, region, SKU and
unit are replaced, the rest kept):

  --aws           an AWS Price List bulk offer file, e.g.
                  https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/eu-north-1/index.json
                  (also a GetProducts record or response). On-demand Linux, Shared tenancy,
                  no pre-installed software, capacity status Used; EBS, snapshots, public IPv4,
                  internet egress tiers and S3 Standard when the file has them.
  --digitalocean  a /v2/sizes response, e.g. https://api.digitalocean.com/v2/sizes?per_page=200
                  ($DIGITALOCEAN_ACCESS_TOKEN is sent to api.digitalocean.com; pages are followed).

Each option may be repeated. Every row keeps its source and date (the offer's effectiveDate;
for DigitalOcean, which gives no date, today).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prices")
    actions = parser.add_subparsers(dest="prices_action", required=True)
    show = actions.add_parser("show", help="print the price books (packaged rows with your overrides)")
    show.add_argument("--provider", choices=PROVIDERS)
    show.add_argument("--region", help="e.g. eu-north-1 (rows valid in all regions are included)")
    show.add_argument("--kind", choices=KINDS)
    show.add_argument("--format", choices=("table", "csv"), default="table")
    show.set_defaults(run=_show)
    update = actions.add_parser(
        "update",
        help="read official AWS / DigitalOcean price files into your price book file",
        epilog=UPDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    update.add_argument("--aws", action="append", default=[], metavar="FILE_OR_URL")
    update.add_argument("--digitalocean", action="append", default=[], metavar="FILE_OR_URL")
    update.set_defaults(run=_update)


def _show(args: argparse.Namespace) -> int:
    from stackledger.pipeline import prices

    book = prices.show_prices(settings_from(args), provider=args.provider, region=args.region, kind=args.kind)
    if args.format == "csv":
        from stackledger.transforms.pricebooks import render_price_book

        sys.stdout.write(render_price_book(book))
        return 0
    sys.stdout.write(render_table(book))
    return 0


def render_table(book: pd.DataFrame) -> str:
    """The rows as an aligned text table, one price per line."""
    from stackledger.transforms.pricebooks import cell_text

    rows = [list(SHOW_COLUMNS)]
    for record in book.to_dict("records"):
        tier = ""
        if record["tier_group"]:
            tier = f"{cell_text(record['tier_start'])}–{cell_text(record['tier_end']) or '∞'}"
        rows.append([tier if c == "tier" else cell_text(record[c]) for c in SHOW_COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(SHOW_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]]) + f"\n{len(book)} prices\n"


def _update(args: argparse.Namespace) -> int:
    from stackledger.pipeline import prices

    result = prices.update_prices(settings_from(args), aws=args.aws, digitalocean=args.digitalocean)
    read = ", ".join(f"{provider} {count}" for provider, count in result.rows.items() if count)
    print(f"{result.path}: read {read} rows; the file now holds {result.total} rows")
    return 0
