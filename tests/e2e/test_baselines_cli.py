"""AWS and DigitalOcean baselines end to end on SQLite and PostgreSQL: samples in, `rate` writes the
three price books in one go, `compare`, the report CSV and the FOCUS export agree to the cent.

The cloud: one m1.large (4 vCPU, 8 GiB) read every hour of October 2026 (744 hours), priced in
eu-north-1 with families [m6i] → AWS m6i.xlarge 744 × 0.204 = 151.776 USD, DigitalOcean
s-4vcpu-8gb 744 × 0.07143 = 53.14 capped at 48.00 USD.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.focus_checks import check_focus

CENT = Decimal("0.01")
MAPPING_AWS = "m1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h, eu-north-1, as of 2022-11-22"
MAPPING_DO = "m1.large 4 vCPU 8 GiB → s-4vcpu-8gb 0.07143 USD/h capped at 48 USD/month, all regions, as of 2025-06-23"
EU_NORTH_M6I = "baselines:\n  aws:\n    region: eu-north-1\n    families: [m6i]\n"
USD_CARD = """\
currency: USD
name: test card in USD
valid_from: 2026-01-01
rates:
  compute.instance: 0.05
  compute.vcpu: 0.01
  compute.ram: 0.002
"""


def write_samples(path: Path) -> Path:
    lines = []
    start = dt.datetime(2026, 10, 1, 0, 30)
    flavor = {"flavor_name": "m1.large", "vcpus": 4, "memory_mb": 8192}
    for hour in range(744):
        at = start + dt.timedelta(hours=hour)
        for meter, unit, volume in (("vcpus", "vcpu", 4), ("memory", "MiB", 8192)):
            lines.append(json.dumps({
                "message_id": f"vm-large-{meter}-{hour}", "meter": meter, "type": "gauge", "unit": unit,
                "volume": volume, "project_id": "p-large", "user_id": "u1", "resource_id": "vm-large",
                "timestamp": at.isoformat(), "metadata": flavor, "source": "openstack",
            }))  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(settings: Settings, tmp_path: Path, extra: str) -> str:
    path = tmp_path / "stackledger.yaml"
    base = f"database:\n  url: {settings.database.url}\nreport:\n  out_dir: {tmp_path / 'out'}\n"
    path.write_text(base + extra, encoding="utf-8")
    return str(path)


def book_totals(settings: Settings) -> dict[tuple[str, str], Decimal]:
    c = tables.cost_lines.c
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with store_for(settings).engine.connect() as conn:
        for book, currency, cost in conn.execute(select(c.price_book, c.currency, c.cost)):
            totals[(book, currency)] += Decimal(str(cost))
    return dict(totals)


def rated(settings: Settings, tmp_path: Path, extra: str, capsys: pytest.CaptureFixture[str]) -> str:
    cfg = config(settings, tmp_path, extra)
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "aws 31" in out and "digitalocean 31" in out
    return cfg


def test_one_m1_large_in_october(any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "card.yaml").write_text(USD_CARD, encoding="utf-8")
    cfg = rated(any_settings, tmp_path, "rate_card: card.yaml\n" + EU_NORTH_M6I, capsys)
    totals = book_totals(any_settings)
    assert totals[("aws", "USD")].quantize(CENT) == Decimal("151.78")
    assert totals[("aws", "USD")] == Decimal("151.776")
    assert totals[("digitalocean", "USD")] == Decimal("48.00")
    internal = totals[("internal", "USD")]  # 744 × (0.05 + 4 × 0.01 + 8 × 0.002) = 78.864
    assert internal == Decimal("78.864")
    c = tables.cost_lines.c
    with store_for(any_settings).engine.connect() as conn:
        rows = conn.execute(select(c.price_book, c.sku, c.mapping, c.pricing_region, c.price_as_of, c.fx_rate)
                            .where(c.price_book != "internal").distinct()).all()  # fmt: skip
    assert {(r.price_book, r.sku, r.mapping, r.pricing_region, r.price_as_of, r.fx_rate) for r in rows} == {
        ("aws", "m6i.xlarge", MAPPING_AWS, "eu-north-1", dt.date(2022, 11, 22), None),
        ("digitalocean", "s-4vcpu-8gb", MAPPING_DO, "all", dt.date(2025, 6, 23), None),
    }

    assert main(["--config", cfg, "compare", "--month", "2026-10"]) == 0
    table = capsys.readouterr().out
    assert MAPPING_AWS in table and MAPPING_DO in table
    total_line = next(line for line in table.splitlines() if line.startswith("TOTAL"))
    assert total_line.split() == ["TOTAL", "78.86", "151.78", "+72.91", "+92.5%", "48.00", "-30.86", "-39.1%"]

    assert main(["--config", cfg, "compare", "--month", "2026-10", "--format", "csv"]) == 0
    compare = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["project_name"] for row in compare] == ["p-large", "TOTAL"]
    assert compare[1]["aws"] == "151.776000" and compare[1]["digitalocean"] == "48.000000"
    assert compare[0]["aws_mapping"] == MAPPING_AWS

    assert_reports_agree(cfg, tmp_path, compare, capsys)


def assert_reports_agree(cfg: str, tmp_path: Path, compare: list[dict[str, str]],
                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The report CSV, the FOCUS export and `compare` show the same money per project and book."""
    assert main(["--config", cfg, "report", "--month", "2026-10", "--format", "csv,focus"]) == 0
    paths = capsys.readouterr().out.split()
    report = pd.read_csv(next(p for p in paths if p.endswith("2026-10.csv")), dtype=str, keep_default_na=False)
    focus = pd.read_csv(next(p for p in paths if p.endswith("-focus.csv")), dtype=str, keep_default_na=False)
    check_focus(focus)

    def sums(frame: pd.DataFrame, project: str, book: str, cost: str) -> dict[tuple[str, str], Decimal]:
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for p, b, value in zip(frame[project], frame[book], frame[cost], strict=True):
            out[(p, b)] += Decimal(value)
        return dict(out)

    from_csv = sums(report, "project_id", "price_book", "cost")
    # The FOCUS rows are the bill (internal); each comparison rides on them as x_ columns.
    from_focus = {(project, "internal"): cost for (project, _), cost in
                  sums(focus, "SubAccountId", "BillingCurrency", "BilledCost").items()}  # fmt: skip
    for book, prefix in (("aws", "x_Aws"), ("digitalocean", "x_DigitalOcean")):
        priced = focus[focus[f"{prefix}Cost"] != ""]
        from_focus |= {(project, book): cost for (project, _), cost in
                       sums(priced, "SubAccountId", f"{prefix}Currency", f"{prefix}Cost").items()}  # fmt: skip
    assert from_focus == from_csv  # exactly, not just to the cent
    for row in compare:
        project = row["project_id"]
        if not project:
            continue
        for book in ("internal", "aws", "digitalocean"):
            figure = Decimal(row[book].split()[0])
            assert figure.quantize(CENT) == from_csv[(project, book)].quantize(CENT)
    assert set(focus["ProviderName"]) == {"Example Cloud"}  # the export bills no other provider


def test_usd_list_prices_convert_into_the_card_currency(any_settings: Settings, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    fx = "fx:\n  - {from: USD, to: EUR, rate: '0.92', valid_from: 2026-01-01}\n"
    cfg = rated(any_settings, tmp_path, EU_NORTH_M6I + fx, capsys)
    totals = book_totals(any_settings)
    assert set(totals) == {("internal", "EUR"), ("aws", "EUR"), ("digitalocean", "EUR")}
    assert totals[("aws", "EUR")] == Decimal("139.63392")  # 151.776 × 0.92
    assert totals[("digitalocean", "EUR")] == Decimal("44.16")  # 48 × 0.92
    c = tables.cost_lines.c
    with store_for(any_settings).engine.connect() as conn:
        rates = conn.execute(select(c.price_book, c.fx_rate, c.source_currency, c.source_unit_price).distinct()).all()
    assert {(r.price_book, r.fx_rate and Decimal(str(r.fx_rate)).normalize(), r.source_currency) for r in rates} == {
        ("internal", None, None), ("aws", Decimal("0.92"), "USD"), ("digitalocean", Decimal("0.92"), "USD"),
    }  # fmt: skip

    assert main(["--config", cfg, "compare", "--month", "2026-10"]) == 0
    table = capsys.readouterr().out
    assert "1 USD = 0.92 EUR" in table and "(EUR)" in table
    assert main(["--config", cfg, "compare", "--month", "2026-10", "--format", "csv"]) == 0
    compare = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert compare[-1]["fx_rates"] == "1 USD = 0.92 EUR"
    assert compare[-1]["aws_difference"] != ""
    assert_reports_agree(cfg, tmp_path, compare, capsys)
    focus = pd.read_csv(tmp_path / "out" / "stackledger-2026-10-focus.csv", dtype=str, keep_default_na=False)
    assert set(focus["BillingCurrency"]) == {"EUR"}
    assert set(focus["x_AwsCurrency"]) - {""} == set(focus["x_DigitalOceanCurrency"]) - {""} == {"EUR"}
    report = pd.read_csv(tmp_path / "out" / "stackledger-2026-10.csv", dtype=str, keep_default_na=False)
    assert dict(zip(report["price_book"], report["fx_rate"], strict=True)) == {
        "internal": "", "aws": "0.92", "digitalocean": "0.92",
    }  # fmt: skip
    assert main(["--config", cfg, "report", "--month", "2026-10", "--format", "pdf"]) == 0
    pdf = Path(capsys.readouterr().out.strip())
    from stackledger.pipeline.report import load_report_data
    from stackledger.reports.pdf import render_html

    html = render_html(load_report_data(any_settings, Window.month("2026-10")), organisation="X")
    assert "Public list prices converted at: 1 USD = 0.92 EUR." in html and pdf.exists()


def test_families_matching_no_instance_type_stop_rating_naming_them(sqlite_settings: Settings, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cfg = config(sqlite_settings, tmp_path, "baselines:\n  aws:\n    families: [t3]\n")
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    capsys.readouterr()
    (tmp_path / "card.yaml").write_text(USD_CARD, encoding="utf-8")
    Path(cfg).write_text(Path(cfg).read_text(encoding="utf-8").replace("families: [t3]", "families: [x1]")
                         + "rate_card: card.yaml\n", encoding="utf-8")  # fmt: skip
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert "flavor m1.large 4 vCPU 8 GiB: no aws instance in us-east-1 of families x1" in err
    with store_for(sqlite_settings).engine.connect() as conn:  # nothing written: one transaction
        assert conn.execute(select(tables.cost_lines.c.id)).first() is None


def test_prices_show_and_update(sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import PRICEBOOKS

    cfg = config(sqlite_settings, tmp_path, "baselines:\n  price_overrides: mine.csv\n")
    record = PRICEBOOKS / "aws" / "ec2-instance-selector_GetProducts_m5_large.json"
    assert main(["--config", cfg, "prices", "update", "--aws", str(record)]) == 0
    assert "read aws 1 rows" in capsys.readouterr().out
    assert "m5.large" in (tmp_path / "mine.csv").read_text(encoding="utf-8")
    assert main(["--config", cfg, "prices", "show", "--provider", "aws", "--region", "us-east-1", "--kind",
                 "instance"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    m5 = next(line for line in out.splitlines() if " m5.large " in line)
    assert "0.096" in m5 and "2021-02-01" in m5 and "m5_large.json" in m5
    assert main(["--config", cfg, "prices", "show", "--format", "csv", "--kind", "egress"]) == 0
    assert "egress-internet-first-10TB" in capsys.readouterr().out
