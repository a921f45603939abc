#!/usr/bin/env python3
"""Build the packaged public price books from the collected raw price data.

    .venv/bin/python ops/build_pricebooks.py [SHARED_PRICEBOOKS_DIR] [--check]

Reads `../shared/pricebooks/` (SOURCES.md documents every file there) and writes
`transforms/pricebooks/aws.csv` and `transforms/pricebooks/digitalocean.csv`.
`--check` writes nothing and fails when the packaged files differ from a fresh build, so CI
(and `tests/unit/test_pricebooks_build.py`) proves the packaged prices are reproducible.

What it does, so every packaged price can be traced:

- The rows are those of `baseline.csv` (the curated selection described in SOURCES.md), kept
  with their `source_file` as `source`. Prices are rewritten as plain decimals
  (`1.1E+2` → `110`) and the rows are sorted; nothing else about a price changes.
- Each row is checked against the raw file it came from, where that file is kept: tedivm's
  `ec2instances.json` (Linux, Shared), the SkyPilot subset, the doctl size table. A mismatch
  stops the build.
- `as_of` is the date the source states for its data (SOURCES.md), `strength` is how good the
  source is (good, medium, weak, assumption), `note` says what the reader should know.
- A few rows that `baseline.csv` lacks are added from STORAGE_AND_EGRESS.md, or as documented
  assumptions (`strength = assumption`, price 0 where the provider charges nothing for the
  item); `EXTRA_ROWS` below lists them with their reasons.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "transforms" / "pricebooks"
DEFAULT_SOURCE = REPO.parent / "shared" / "pricebooks"

COLUMNS = (
    "provider", "region", "sku", "kind", "family", "vcpus", "memory_gib", "unit", "price", "currency",
    "tier_group", "tier_start", "tier_end", "source", "as_of", "strength", "note",
)  # fmt: skip

KARPENTER = "karpenter-provider-aws pricing table (us-east-1; not kept)"
TEDIVM = "aws/tedivm_ec2details_ec2instances.json"
SKYPILOT = "aws/skypilot_catalog_v7_aws_vms_SUBSET.csv"
DOCTL = "digitalocean/polymathrobotics_oci_doctl_README.md"
EBS_GOLDEN = "aws/infracost_testdata/ebs_volume_test.golden"
S3_GOLDEN = "aws/infracost_testdata/s3_bucket_test.golden"
EGRESS_GOLDEN = "aws/infracost_testdata/data_transfer_test.golden"
NOTES = "STORAGE_AND_EGRESS.md"

# source_file (without "(specs)" part) -> (as_of, strength, note), from SOURCES.md.
PROVENANCE = {
    KARPENTER: ("2026-07-20", "good",
                "Karpenter zz_generated.pricing_aws.go generated 2026-07-20 from the AWS Pricing API"),
    TEDIVM: ("2022-11-22", "good",
             "tedivm/ec2details (built from the official bulk offer file); list prices corroborated 2025/2026"),
    SKYPILOT: ("", "weak", "SkyPilot catalog v7; commit date not retrievable (probably about 2025)"),
    DOCTL: ("2025-06-23", "good", "captured `doctl compute size list` output (renders /v2/sizes)"),
    EBS_GOLDEN: ("2024-07-01", "good", "infracost test golden (us-east-1): monthly cost / monthly quantity"),
    S3_GOLDEN: ("2024-07-01", "good", "infracost test golden (us-east-1): $230 / 10,000 GB"),
    EGRESS_GOLDEN: ("2024-09-25", "good",
                    "infracost data-transfer golden; the first 100 GB/month free allowance is not reflected"),
}  # fmt: skip

# (provider, region, sku) -> (as_of, strength, note) for rows whose source is STORAGE_AND_EGRESS.md.
NOTE_ROWS = {
    ("aws", "eu-central-1", "ebs-gp3-storage"): (
        "2026-08-01", "weak", "two public notes quoting the AWS Price List API (2026-08; day not stated)"),
    ("aws", "eu-north-1", "ebs-gp3-storage"): (
        "2026-10-01", "weak", "a public note quoting the AWS Price List API, effective 2026-10-01"),
    ("digitalocean", "all", "droplet-outbound-transfer-overage"): (
        "2026-11-24", "good",
        "DigitalOcean droplet pricing docs as read 2026-11-24; priced without the pooled allowance"),
    ("digitalocean", "all", "volume-block-storage"): (
        "2026-11-24", "medium",
        "public documents citing the DigitalOcean volume pricing page (page itself not available)"),
    ("digitalocean", "all", "snapshot-storage"): (
        "2026-11-24", "good", "DigitalOcean snapshot pricing docs as read 2026-11-24"),
    ("digitalocean", "all", "spaces-subscription"): (
        "2018-01-01", "medium",
        "DigitalOcean community answer (2018; day not stated); includes 250 GiB storage and 1 TiB transfer"),
    ("digitalocean", "all", "spaces-additional-storage"): (
        "2018-01-01", "medium", "DigitalOcean community answer (2018; day not stated)"),
    ("digitalocean", "all", "spaces-additional-outbound-transfer"): (
        "2018-01-01", "medium", "DigitalOcean community answer (2018; day not stated)"),
}  # fmt: skip

# baseline.csv SKUs renamed to identifiers without spaces or parentheses.
RENAMED = {
    "s3-standard-storage(first-50TB-tier)": "s3-standard-storage-first-50TB",
    "spaces-subscription(incl-250GiB-storage+1TiB-egress)": "spaces-subscription",
}

# Graduated tiers: sku -> (tier group, start, end) in the row's unit, per calendar month
# (AWS "TB" tiers are 1024 GB, as the golden's 10,240 GB first tier shows).
TIERS = {
    "egress-internet-first-10TB": ("egress-internet", "0", "10240"),
    "egress-internet-next-40TB": ("egress-internet", "10240", "51200"),
    "egress-internet-next-100TB": ("egress-internet", "51200", "153600"),
    "egress-internet-over-150TB": ("egress-internet", "153600", ""),
    "s3-standard-storage-first-50TB": ("s3-standard-storage", "0", "51200"),
}
NO_TIER = ("", "", "")

KINDS = {"snapshot-storage": "snapshot", "droplet-inbound-transfer": "ingress"}

ASSUMPTION = "assumption"
EXTRA_ROWS: tuple[dict[str, str], ...] = (
    # STORAGE_AND_EGRESS.md states the four internet egress tiers for all three regions; the
    # us-east-1 section of the golden stops before the last tier (its usage was 56.6 TB).
    {"provider": "aws", "region": "us-east-1", "sku": "egress-internet-over-150TB", "kind": "egress",
     "unit": "GB", "price": "0.05", "source": NOTES, "as_of": "2024-09-25", "strength": "good",
     "note": "STORAGE_AND_EGRESS.md: 0.05 USD/GB over 150 TB for us-east-1, eu-central-1 and eu-north-1"},
    {"provider": "aws", "region": "eu-central-1", "sku": "public-ipv4", "kind": "ip", "unit": "hour",
     "price": "0.005", "source": f"{NOTES}(weak)", "as_of": "2026-08-01", "strength": "weak",
     "note": "public note quoting the AWS Price List API (2026-08; day not stated)"},
    *(
        {"provider": "aws", "region": region, "sku": "public-ipv4", "kind": "ip", "unit": "hour",
         "price": "0.005", "source": f"{NOTES}(weak)", "as_of": "2026-08-01", "strength": "weak",
         "note": "no quote for this region: the eu-central-1 quote, AWS publishes one public IPv4 price for all"
                 " commercial regions; override if your source differs"}
        for region in ("eu-north-1", "us-east-1")
    ),
    *(
        {"provider": "aws", "region": region, "sku": "data-transfer-in-internet", "kind": "ingress", "unit": "GB",
         "price": "0", "source": "documented choice", "as_of": "", "strength": ASSUMPTION,
         "note": "AWS charges nothing for data transferred in from the internet"}
        for region in ("eu-central-1", "eu-north-1", "us-east-1")
    ),
    {"provider": "digitalocean", "region": "all", "sku": "droplet-inbound-transfer", "kind": "ingress",
     "unit": "GiB", "price": "0", "source": NOTES, "as_of": "2026-11-24", "strength": "good",
     "note": "DigitalOcean droplet pricing docs: inbound transfer is free"},
    {"provider": "digitalocean", "region": "all", "sku": "reserved-ip-assigned", "kind": "ip", "unit": "hour",
     "price": "0", "source": "documented choice", "as_of": "", "strength": ASSUMPTION,
     "note": "a reserved IP assigned to a Droplet is not charged; OpenStack meters only active (associated)"
             " floating IPs; no source for the unassigned charge"},
)  # fmt: skip


class BuildError(Exception):
    pass


def plain(value: str) -> str:
    """A decimal as plain text without exponent or trailing zeros ('1.1E+2' → '110')."""
    if value == "":
        return ""
    number = Decimal(value).normalize()
    text = format(number, "f")
    return text


def family(provider: str, sku: str, kind: str) -> str:
    if kind != "instance":
        return ""
    return sku.split(".")[0] if provider == "aws" else sku.split("-")[0]


# ---------------------------------------------------------------- raw checks


def tedivm_prices(source: Path) -> dict[tuple[str, str], tuple[Decimal, int, Decimal]]:
    data = json.loads((source / TEDIVM).read_text(encoding="utf-8"))
    out = {}
    for itype, info in data.items():
        memory = Decimal(str(info["memory"]).split()[0])
        for region, tenancy in info.get("prices", {}).get("Linux", {}).items():
            if "Shared" in tenancy:
                out[(itype, region)] = (Decimal(str(tenancy["Shared"])), int(info["vcpu"]), memory)
    return out


def skypilot_prices(source: Path) -> dict[tuple[str, str], tuple[Decimal, int, Decimal]]:
    out: dict[tuple[str, str], tuple[Decimal, int, Decimal]] = {}
    with (source / SKYPILOT).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            value = (Decimal(row["Price"]), int(float(row["vCPUs"])), Decimal(row["MemoryGiB"]))
            if out.setdefault((row["InstanceType"], row["Region"]), value) != value:
                raise BuildError(f"{SKYPILOT}: {row['InstanceType']} {row['Region']} has two prices")
    return out


def doctl_sizes(source: Path) -> dict[str, dict[str, Decimal | str]]:
    """The `doctl compute size list` table: slug -> memory MB, vcpus, monthly, hourly, description."""
    lines = (source / DOCTL).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Slug") and "Price Hourly" in line)
    sizes: dict[str, dict[str, Decimal | str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("```"):
            break
        parts = line.split()
        memory, vcpus, _disk, monthly, hourly = parts[-5:]
        sizes[parts[0]] = {
            "memory_mb": Decimal(memory), "vcpus": Decimal(vcpus), "month": Decimal(monthly),
            "hour": Decimal(hourly), "description": " ".join(parts[1:-5]),
        }  # fmt: skip
    return sizes


def check_row(row: dict[str, str], raw: dict[str, object]) -> str:
    """Verify one baseline row against its raw file; returns an extra note (may be empty)."""
    source, sku, region, price = row["source_file"], row["sku"], row["region"], Decimal(row["usd_per_unit"])
    tedivm = raw["tedivm"]
    skypilot = raw["skypilot"]
    assert isinstance(tedivm, dict) and isinstance(skypilot, dict)
    if source == TEDIVM:
        found = tedivm.get((sku, region))
        if found is None or found[0] != price:
            raise BuildError(f"{sku} {region}: baseline {price} but tedivm {found}")
        return ""
    if source == SKYPILOT:
        found = skypilot.get((sku, region))
        if found is None or found[0] != price:
            raise BuildError(f"{sku} {region}: baseline {price} but SkyPilot {found}")
        dated = tedivm.get((sku, region))
        if dated is not None and dated[0] == price:
            return "same price in tedivm 2022-11-22"
        return ""
    if source.startswith(KARPENTER):
        dated = tedivm.get((sku, region))
        if dated is not None:
            if dated[0] != price:
                raise BuildError(f"{sku} {region}: Karpenter {price} but tedivm {dated[0]} (SOURCES.md says equal)")
            return "tedivm 2022-11-22 agrees"
        return ""
    if source == DOCTL:
        sizes = raw["doctl"]
        assert isinstance(sizes, dict)
        size = sizes.get(sku)
        if size is None or size[row["unit"]] != price:
            raise BuildError(f"{sku}: baseline {row['unit']} price {price} but doctl table {size}")
        return str(size["description"])
    return ""


# ---------------------------------------------------------------- build


def provenance(row: dict[str, str], sku: str) -> tuple[str, str, str]:
    source = row["source_file"]
    if source.startswith(NOTES):
        return NOTE_ROWS[(row["provider"], row["region"], sku)]
    base = source.split("+")[0]
    if base not in PROVENANCE:
        raise BuildError(f"no provenance for source {source!r}")
    return PROVENANCE[base]


def build_rows(source: Path) -> list[dict[str, str]]:
    raw: dict[str, object] = {
        "tedivm": tedivm_prices(source),
        "skypilot": skypilot_prices(source),
        "doctl": doctl_sizes(source),
    }
    rows: list[dict[str, str]] = []
    with (source / "baseline.csv").open(encoding="utf-8") as handle:
        for base in csv.DictReader(handle):
            sku = RENAMED.get(base["sku"], base["sku"])
            as_of, strength, note = provenance(base, sku)
            extra = check_row(base, raw)
            if extra.startswith("same price in tedivm"):
                as_of, strength = "2022-11-22", "good"  # a dated source states the same price
            kind = KINDS.get(sku, base["kind"])
            tier_group, tier_start, tier_end = TIERS.get(sku, NO_TIER)
            rows.append({
                "provider": base["provider"], "region": base["region"], "sku": sku, "kind": kind,
                "family": family(base["provider"], sku, kind), "vcpus": base["vcpus"],
                "memory_gib": plain(base["memory_gib"]), "unit": base["unit"],
                "price": plain(base["usd_per_unit"]), "currency": "USD",
                "tier_group": tier_group, "tier_start": tier_start, "tier_end": tier_end, "source": base["source_file"],
                "as_of": as_of, "strength": strength, "note": "; ".join(n for n in (note, extra) if n),
            })  # fmt: skip
    for extra_row in EXTRA_ROWS:
        row = {column: "" for column in COLUMNS} | extra_row
        row["currency"] = "USD"
        row["tier_group"], row["tier_start"], row["tier_end"] = TIERS.get(row["sku"], NO_TIER)
        rows.append(row)
    check_complete(rows, raw)
    return sorted(rows, key=sort_key)


def check_complete(rows: list[dict[str, str]], raw: dict[str, object]) -> None:
    sizes = raw["doctl"]
    assert isinstance(sizes, dict)
    droplets = {
        (row["sku"], row["unit"]) for row in rows if row["provider"] == "digitalocean" and row["kind"] == "instance"
    }
    missing = sorted({(slug, unit) for slug in sizes for unit in ("hour", "month")} - droplets)
    if missing:
        raise BuildError(f"DigitalOcean sizes missing from baseline.csv: {missing[:5]}")
    keys = [(row["provider"], row["region"], row["sku"], row["unit"]) for row in rows]
    if len(keys) != len(set(keys)):
        raise BuildError("duplicate (provider, region, sku, unit) rows")


def sort_key(row: dict[str, str]) -> tuple[object, ...]:
    vcpus = int(row["vcpus"]) if row["vcpus"] else 0
    memory = Decimal(row["memory_gib"]) if row["memory_gib"] else Decimal(0)
    tier = Decimal(row["tier_start"]) if row["tier_start"] else Decimal(0)
    return (row["provider"], row["kind"], row["region"], row["family"], vcpus, memory, tier, row["sku"], row["unit"])


def render(rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def build(source: Path) -> dict[str, str]:
    """provider -> CSV text of its packaged price book."""
    rows = build_rows(source)
    return {provider: render(r for r in rows if r["provider"] == provider) for provider in ("aws", "digitalocean")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="the shared pricebooks directory")
    parser.add_argument("--check", action="store_true", help="fail if the packaged files differ from a fresh build")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the CSV files")
    args = parser.parse_args(argv)
    try:
        books = build(args.source)
    except (BuildError, OSError, KeyError) as error:
        print(f"build_pricebooks: {error}", file=sys.stderr)
        return 1
    stale = []
    for provider, text in books.items():
        path = args.out / f"{provider}.csv"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    if stale:
        print(f"build_pricebooks: stale, re-run ops/build_pricebooks.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
