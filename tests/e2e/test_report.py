"""`stackledger report` end to end on SQLite and PostgreSQL: cost lines in, PDF and CSV out.

The figures must reconcile to the cent: the grand total printed in the PDF equals the CSV's
Decimal sum rounded to cents, which equals the database's sum. The cost lines are chosen so
that summing rounded rows would be off by cents: each line costs a fraction ending in 5 at
the third decimal, so a renderer that rounds before summing fails here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from sqlalchemy import select

from reports.csv_export import CSV_COLUMNS
from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import tables

MONTH = "2026-10"
XSS_NAME = "<script>alert(1)</script> Ærø"
CJK_NAME = "数据平台 中文"
PROJECTS: list[dict[str, Any]] = [
    {"project_id": "p-xss", "name": XSS_NAME, "team": "Nordic & Co", "source": "keystone"},
    {"project_id": "p-cjk", "name": CJK_NAME, "team": "平台", "source": "keystone"},
    {"project_id": "p-muller", "name": "Müller Analytics", "team": "data", "source": "keystone"},
    {"project_id": "p-web", "name": "web-shop", "team": None, "source": "keystone"},
]
UNKNOWN_PROJECT = "p-not-in-keystone"  # has cost lines but no projects row
SERVICES = (("compute.vcpu", "vCPU-hour"), ("compute.ram", "GiB-hour"), ("block.volume", "GiB-hour"),
            ("network.egress", "GiB"))  # fmt: skip
BOOKS = (("internal", "EUR"), ("aws", "USD"))
GRAND_TOTAL = re.compile(r"Grand total \(all price books\)\s+([A-Z]{3}) ([\d,]+\.\d{2})")


def cost_lines() -> list[dict[str, Any]]:
    lines = []
    ids = [p["project_id"] for p in PROJECTS] + [UNKNOWN_PROJECT]
    for p, project_id in enumerate(ids):
        for s, (service, unit) in enumerate(SERVICES):
            for b, (book, currency) in enumerate(BOOKS):
                for day in (1, 2, 15, 31):
                    start = dt.datetime(2026, 10, day)
                    n = p * 1000 + s * 100 + b * 10 + day
                    lines.append({
                        "charge_period_start": start, "charge_period_end": start + dt.timedelta(days=1),
                        "project_id": project_id, "resource_id": f"r-{project_id}-{s}", "resource_type": "instance",
                        "service": service, "flavor_name": "", "consumed_quantity": 24.0 + n / 7,
                        "consumed_unit": unit, "price_book": book, "sku": f"{book}:{service}",
                        "list_unit_price": Decimal("0.0123456789"), "pricing_quantity": Decimal(24),
                        "pricing_unit": unit, "cost": Decimal(f"{n}.005{n % 1000:03d}"), "currency": currency,
                    })  # fmt: skip
    # Outside the month: must not be counted.
    outside = dict(lines[0], charge_period_start=dt.datetime(2026, 11, 1), charge_period_end=dt.datetime(2026, 11, 2))
    return [*lines, outside]


def seed(settings: Settings, projects: list[dict[str, Any]] = PROJECTS) -> None:
    store = store_for(settings)
    with store.transaction() as conn:
        store.insert(conn, tables.projects, projects)
        store.insert(conn, tables.cost_lines, cost_lines())


def config(settings: Settings, tmp_path: Path) -> str:
    path = tmp_path / "stackledger.yaml"
    path.write_text(
        f"database:\n  url: {settings.database.url}\nreport:\n  organisation: Nordlys Cloud Ørsted\n", encoding="utf-8"
    )
    return str(path)


def report(cfg: str, out: Path, *formats: str, capsys: pytest.CaptureFixture[str]) -> list[Path]:
    args = ["--config", cfg, "report", "--month", MONTH, "--out", str(out)]
    for name in formats:
        args += ["--format", name]
    assert main(args) == 0
    return [Path(line) for line in capsys.readouterr().out.splitlines()]


def db_sums(settings: Settings) -> dict[str, Decimal]:
    c = tables.cost_lines.c
    query = select(c.currency, c.cost).where(c.charge_period_start < dt.datetime(2026, 11, 1))
    sums: dict[str, Decimal] = defaultdict(Decimal)
    with store_for(settings).engine.connect() as conn:
        for currency, cost in conn.execute(query):
            sums[currency] += Decimal(cost)
    return dict(sums)


def csv_sums(path: Path) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        sums[row["currency"]] += Decimal(row["cost"])
    return dict(sums)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def page_images(path: Path, tmp_path: Path) -> list[Path]:
    prefix = tmp_path / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(prefix)], check=True)
    return sorted(tmp_path.glob("page-*.png"))


def pixel_variance(path: Path) -> float:
    with Image.open(path) as image:
        return float(ImageStat.Stat(image.convert("L")).var[0])


def test_report_reconciles_to_the_cent_and_renders_names_as_text(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    cfg = config(any_settings, tmp_path)
    paths = report(cfg, tmp_path / "out", "pdf", "csv", capsys=capsys)
    pdf, csv_path = paths
    assert [p.name for p in paths] == [f"stackledger-{MONTH}-summary.pdf", f"stackledger-{MONTH}.csv"]

    expected = db_sums(any_settings)
    assert set(expected) == {"EUR", "USD"}
    assert csv_sums(csv_path) == expected  # exact, to the micro-unit
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    rounded_rows = {cur: sum((cents(Decimal(r["cost"])) for r in rows if r["currency"] == cur), Decimal(0))
                    for cur in expected}  # fmt: skip
    assert all(rounded_rows[cur] != cents(expected[cur]) for cur in expected), "data must catch row rounding"

    text = pdf_text(pdf)
    printed = GRAND_TOTAL.findall(text)
    assert {cur for cur, _ in printed} == set(expected)
    for currency, amount in printed:  # headline and table footer
        assert Decimal(amount.replace(",", "")) == cents(expected[currency])

    assert XSS_NAME in text  # escaped by jinja2, rendered as text, not swallowed as markup
    assert CJK_NAME in text and "Müller Analytics" in text
    assert UNKNOWN_PROJECT in text and "not in the project inventory" in text
    assert "Nordlys Cloud Ørsted" in text and "October 2026" in text
    assert "Page 1 of" in text
    assert "SYNTHETIC" not in text

    images = page_images(pdf, tmp_path)
    assert images
    for image in images:
        assert pixel_variance(image) > 50, f"{image.name} looks blank"


def test_two_renders_give_identical_bytes(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    cfg = config(any_settings, tmp_path)
    first = report(cfg, tmp_path / "one", capsys=capsys)  # default: every format
    second = report(cfg, tmp_path / "two", capsys=capsys)
    names = [p.name for p in first]
    assert names == [p.name for p in second]
    assert {f"stackledger-{MONTH}-summary.pdf", f"stackledger-{MONTH}.csv"} <= set(names)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_csv_has_one_row_per_project_service_and_book(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(any_settings)
    (csv_path,) = report(config(any_settings, tmp_path), tmp_path / "out", "csv", capsys=capsys)
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(lines))
    assert len(rows) == (len(PROJECTS) + 1) * len(SERVICES) * len(BOOKS)
    unknown = [r for r in rows if r["project_id"] == UNKNOWN_PROJECT]
    assert {r["project_name"] for r in unknown} == {UNKNOWN_PROJECT} and {r["team"] for r in unknown} == {""}
    xss = next(r for r in rows if r["project_id"] == "p-xss" and r["service"] == "block.volume"
               and r["price_book"] == "internal")  # fmt: skip
    assert xss["project_name"] == XSS_NAME and xss["team"] == "Nordic & Co"
    assert xss["consumed_unit"] == "GiB-hour" and xss["currency"] == "EUR"
    # 4 days: n = 200 + day → costs n.005(n) summed exactly; quantities 24 + n/7 summed.
    days = (1, 2, 15, 31)
    assert Decimal(xss["cost"]) == sum((Decimal(f"{200 + d}.005{200 + d:03d}") for d in days), Decimal(0))
    assert float(xss["consumed_quantity"]) == pytest.approx(sum(24.0 + (200 + d) / 7 for d in days), abs=1e-9)
    assert re.fullmatch(r"-?\d+\.\d{6}", xss["cost"])


def test_synthetic_projects_carry_the_banner(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic = [dict(p, source="synthetic") for p in PROJECTS]
    synthetic.append({"project_id": UNKNOWN_PROJECT, "name": "ghost", "team": None, "source": "synthetic"})
    seed(any_settings, synthetic)
    (pdf,) = report(config(any_settings, tmp_path), tmp_path / "out", "pdf", capsys=capsys)
    assert "SYNTHETIC DEMO DATA" in pdf_text(pdf)


def test_unknown_format_lists_the_valid_ones(
    sqlite_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", config(sqlite_settings, tmp_path), "report", "--month", MONTH, "--format", "pdf,xlsx"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "'xlsx'" in error
    valid = error.rsplit("valid: ", 1)[1].strip().split(", ")
    assert {"csv", "pdf"} <= set(valid) and valid == sorted(valid)
    assert not (tmp_path / "out").exists()
